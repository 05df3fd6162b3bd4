//! Pauses longer than the receiver's idle timeout, against shairport-sync 3.3.8 with a
//! `session_timeout` of a few seconds: it ends a session in which no frame played for that
//! long (its watchdog counts played frames only; RTSP keep-alives and sync packets do not
//! count), so the stream must get the receiver back on resume and lose nothing.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::{align_and_compare, compare_across_pause};
use airstream_testkit::process::wait_until;
use airstream_testkit::shairport::{Rig, ShairportConfig};
use airstream_testkit::signal::music;
use std::time::Duration;

/// shairport-sync's words when its watchdog ends an idle session.
const IDLE_END: &str = "Too long a silence";

#[test]
fn a_pause_longer_than_the_receivers_idle_timeout_loses_nothing() {
    let config = ShairportConfig {
        output_buffer_seconds: Some(0.1),
        session_timeout: 3,
        ..ShairportConfig::default()
    };
    let rig = Rig::start(&config).unwrap();
    let source = music(44_100 * 4, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let runtime = rig.dir.path().join("run");
    let stream = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["stream", "--address", &rig.address(), &file])
        .env("AIRSTREAM_RUNTIME_DIR", &runtime)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let control = |what: &str| {
        let out = rig
            .ns
            .command(env!("CARGO_BIN_EXE_airstream"))
            .args([what, "--address", &rig.address()])
            .env("AIRSTREAM_RUNTIME_DIR", &runtime)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Pause once about a second of audio has been heard (the first ~2 s are latency).
    std::thread::sleep(Duration::from_millis(3300));
    control("pause");
    // The receiver's watchdog ends the session 3 to 5 s after its last frame played.
    assert!(
        wait_until(Duration::from_secs(15), || rig
            .receiver
            .log_text()
            .contains(IDLE_END)),
        "shairport-sync kept the paused session: {}",
        rig.receiver.log_text()
    );
    control("resume");
    let out = stream.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    eprintln!("{stderr}");

    let captured = rig.receiver.captured().unwrap();
    let aligned = align_and_compare(&source, &captured).expect("audio in the capture");
    let pause = compare_across_pause(
        &source,
        &captured[aligned.offset * 2..],
        44_100 / 10 + 4 * 352,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{pause:?}");
    assert!(pause.cut > 0 && pause.cut < source.len() / 2, "{pause:?}");
    assert_eq!(rig.receiver.log_errors(), Vec::<String>::new());
}
