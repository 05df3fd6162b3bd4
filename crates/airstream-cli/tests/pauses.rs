//! Pauses longer than the receiver's idle timeout, against shairport-sync 3.3.8 with a
//! `session_timeout` of a few seconds: it ends a session in which no frame played for that
//! long (its watchdog counts played frames only; RTSP keep-alives and sync packets do not
//! count), so the stream must get the receiver back on resume and lose nothing.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::{align_and_compare, compare_across_pause};
use airstream_testkit::process::wait_until;
use airstream_testkit::shairport::{PORT, Rig, Shairport, ShairportConfig};
use airstream_testkit::signal::music;
use std::time::Duration;

/// shairport-sync's words when its watchdog ends an idle session.
const IDLE_END: &str = "Too long a silence";

fn config() -> ShairportConfig {
    ShairportConfig {
        output_buffer_seconds: Some(0.1),
        session_timeout: 3,
        ..ShairportConfig::default()
    }
}

/// Streams 4 s of music to `receivers`, pauses once about a second was heard, waits until
/// every receiver ended its session on its own, resumes; checks every capture.
fn pause_past_the_idle_timeout(rig: &Rig, receivers: &[&Shairport]) {
    let source = music(44_100 * 4, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let runtime = rig.dir.path().join("run");
    let mut args = vec!["stream".to_string()];
    for r in receivers {
        args.extend(["--address".to_string(), format!("127.0.0.1:{}", r.port)]);
    }
    args.push(file);
    let stream = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(&args)
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
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // Pause once about a second of audio has been heard (the first ~2 s are latency).
    std::thread::sleep(Duration::from_millis(3300));
    control("pause");
    // The receivers' watchdogs end the sessions 3 to 5 s after their last frame played.
    for r in receivers {
        assert!(
            wait_until(Duration::from_secs(15), || r.log_text().contains(IDLE_END)),
            "shairport-sync kept the paused session: {}",
            r.log_text()
        );
    }
    let status = control("status");
    assert_eq!(
        status.matches(": ended, ").count(),
        receivers.len(),
        "{status}"
    );
    control("resume");
    let out = stream.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("ended its session while paused").count(),
        receivers.len(),
        "said in plain words: {stderr}"
    );

    for r in receivers {
        let captured = r.captured().unwrap();
        let aligned = align_and_compare(&source, &captured).expect("audio in the capture");
        // What it wrote ahead of time before the FLUSH (0.1 s) plays twice in the capture.
        let pause = compare_across_pause(
            &source,
            &captured[aligned.offset * 2..],
            44_100 / 10 + 4 * 352,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{}: {pause:?}", r.port);
        assert!(pause.cut > 0 && pause.cut < source.len() / 2, "{pause:?}");
        assert_eq!(r.log_errors(), Vec::<String>::new());
        assert_eq!(
            r.log_text().matches(IDLE_END).count(),
            1,
            "one session ended, the next one played to the end"
        );
    }
}

#[test]
fn a_pause_longer_than_the_receivers_idle_timeout_loses_nothing() {
    let rig = Rig::start(&config()).unwrap();
    pause_past_the_idle_timeout(&rig, &[&rig.receiver]);
}

#[test]
fn a_group_paused_past_the_idle_timeout_comes_back_whole() {
    let rig = Rig::start(&config()).unwrap();
    let second_dir = rig.dir.path().join("second");
    std::fs::create_dir(&second_dir).unwrap();
    let second = rig
        .receiver
        .start_beside(
            &rig.ns,
            &second_dir,
            &ShairportConfig {
                name: "airstream-test-2".into(),
                port: PORT + 1,
                udp_port_base: 6101,
                ..config()
            },
        )
        .unwrap();
    pause_past_the_idle_timeout(&rig, &[&rig.receiver, &second]);
}
