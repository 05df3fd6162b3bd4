//! Controlling a running stream from other processes, against shairport-sync 3.3.8 in a
//! network namespace of its own: signals end it cleanly, and a group is found and controlled
//! through any of its receivers (`status`, `volume`, `pause`, `resume`, `stop`).

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::{align_and_compare, compare_across_pause};
use airstream_testkit::shairport::{PORT, Rig, Shairport, ShairportConfig};
use airstream_testkit::signal::music;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_airstream");

/// Runs `airstream args` in the rig's namespace with the test's runtime directory.
fn control(rig: &Rig, runtime: &Path, args: &[&str]) -> Output {
    rig.ns
        .command(BIN)
        .args(args)
        .env("AIRSTREAM_RUNTIME_DIR", runtime)
        .output()
        .unwrap()
}

fn succeeded(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sockets(runtime: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(runtime)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "sock"))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `status --json` through `args` satisfies `done` (the stream reports its
/// state changes as they happen; the bound only keeps a broken stream from hanging the test).
fn status_until(
    rig: &Rig,
    runtime: &Path,
    stream: &mut Child,
    args: &[&str],
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            stream.try_wait().unwrap().is_none(),
            "the stream ended early"
        );
        let mut full = vec!["status", "--json"];
        full.extend_from_slice(args);
        let out = control(rig, runtime, &full);
        if out.status.success() {
            let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if done(&status) {
                return status;
            }
        }
        assert!(
            Instant::now() < deadline,
            "status never got there: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn playing(status: &serde_json::Value) -> bool {
    status["state"] == "playing"
}

/// Playing, and the receiver has played a second and a half (the position is what it plays).
fn heard(status: &serde_json::Value) -> bool {
    playing(status) && status["stream_position"].as_f64().unwrap() > 1.5
}

#[test]
fn sigterm_tears_the_stream_down_exits_143_and_removes_the_socket() {
    let rig = Rig::start(&ShairportConfig::default()).unwrap();
    let source = music(44_100 * 20, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let runtime = rig.dir.path().join("run");
    let address = rig.address();
    let mut stream = rig
        .ns
        .command(BIN)
        .args(["stream", "--address", &address, &file])
        .env("AIRSTREAM_RUNTIME_DIR", &runtime)
        .spawn()
        .unwrap();
    status_until(&rig, &runtime, &mut stream, &["--address", &address], heard);
    assert_eq!(sockets(&runtime).len(), 1);

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &stream.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = stream.wait().unwrap();
    assert_eq!(status.code(), Some(143), "exit code after SIGTERM");
    assert_eq!(sockets(&runtime), Vec::<PathBuf>::new(), "socket removed");
    let log = rig.receiver.log_text();
    assert!(log.contains("TEARDOWN"), "{log}");
    // What was played is the source from its first frame, unchanged, up to the stop.
    let captured = rig.receiver.captured().unwrap();
    let cmp = align_and_compare(&source, &captured).expect("audio in the capture");
    assert_eq!(cmp.mismatched_frames, 0, "{cmp:?}");
    assert!(cmp.missing_frames > 0, "stopped before the end: {cmp:?}");
}

/// Waits for a metadata item `ssnc/pvol` starting with `prefix` from `receiver`.
fn volume_reached(receiver: &Shairport, db: f32) {
    let prefix = format!("{db:.2},");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let items = receiver.metadata();
        if items.iter().any(|i| {
            i.kind == "ssnc"
                && i.code == "pvol"
                && String::from_utf8_lossy(&i.data).starts_with(&prefix)
        }) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no pvol {prefix} in {:?}",
            items
                .iter()
                .filter(|i| i.code == "pvol")
                .map(|i| String::from_utf8_lossy(&i.data).to_string())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_group_of_two_is_controlled_through_either_receiver() {
    let first_config = ShairportConfig {
        name: "Kitchen Speaker".into(),
        metadata: true,
        output_buffer_seconds: Some(0.1),
        ..ShairportConfig::default()
    };
    let rig = Rig::start(&first_config).unwrap();
    let second_dir = rig.dir.path().join("second");
    std::fs::create_dir(&second_dir).unwrap();
    let second_config = ShairportConfig {
        name: "Lounge Speaker".into(),
        port: PORT + 1,
        udp_port_base: 6101,
        ..first_config.clone()
    };
    let second = rig
        .receiver
        .start_beside(&rig.ns, &second_dir, &second_config)
        .unwrap();
    let source = music(44_100 * 12, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let runtime = rig.dir.path().join("run");
    let (first_address, second_address) = (rig.address(), format!("127.0.0.1:{}", PORT + 1));
    let mut stream = rig
        .ns
        .command(BIN)
        .args([
            "stream",
            "--device",
            "kitchen speaker",
            "--device",
            "Lounge Speaker",
            "--volume",
            "30",
            "--title",
            "Control Test",
            &file,
        ])
        .env("AIRSTREAM_RUNTIME_DIR", &runtime)
        .spawn()
        .unwrap();

    // Found through the second's name, without mDNS: the stream's sockets know it.
    let status = status_until(
        &rig,
        &runtime,
        &mut stream,
        &["--device", "LOUNGE SPEAKER"],
        heard,
    );
    assert_eq!(sockets(&runtime).len(), 2, "one socket per receiver");
    assert_eq!(status["pid"], stream.id());
    assert_eq!(status["track"]["title"], "Control Test");
    assert_eq!(status["track"]["index"], 0);
    assert!((status["duration"].as_f64().unwrap() - 12.0).abs() < 0.001);
    let receivers = status["receivers"].as_array().unwrap();
    assert_eq!(receivers.len(), 2);
    assert_eq!(receivers[0]["name"], "Kitchen Speaker");
    assert_eq!(receivers[0]["address"], first_address);
    assert_eq!(receivers[1]["name"], "Lounge Speaker");
    assert_eq!(receivers[1]["address"], second_address);
    for r in receivers {
        assert_eq!(r["state"], "streaming");
        assert_eq!(r["volume"], 30);
    }

    // Each through the other's name or address: the lounge by the kitchen's address is
    // not possible (that names the kitchen), so each command names the other receiver of
    // the one it changes, and the level lands on the one named.
    succeeded(
        control(
            &rig,
            &runtime,
            &["volume", "--address", &second_address, "60"],
        ),
        "volume of the second",
    );
    succeeded(
        control(
            &rig,
            &runtime,
            &["volume", "--device", "Kitchen Speaker", "45"],
        ),
        "volume of the first",
    );
    let printed = succeeded(
        control(&rig, &runtime, &["volume", "--device", "lounge speaker"]),
        "volume without a level",
    );
    assert_eq!(printed.trim(), "60");
    let status = succeeded(
        control(
            &rig,
            &runtime,
            &["status", "--json", "--address", &first_address],
        ),
        "status",
    );
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["receivers"][0]["volume"], 45);
    assert_eq!(status["receivers"][1]["volume"], 60);
    volume_reached(&rig.receiver, airstream::raop::volume_db(45));
    volume_reached(&second, airstream::raop::volume_db(60));

    // Pause through the second, resume through the first; stop through the second.
    succeeded(
        control(&rig, &runtime, &["pause", "--device", "Lounge Speaker"]),
        "pause",
    );
    status_until(
        &rig,
        &runtime,
        &mut stream,
        &["--address", &first_address],
        |s| s["state"] == "paused",
    );
    succeeded(
        control(&rig, &runtime, &["resume", "--device", "kitchen speaker"]),
        "resume",
    );
    // Heard at the pause, plus 1.5 s: by then at least a second of resumed audio has been
    // played by both.
    let paused_at = status_until(
        &rig,
        &runtime,
        &mut stream,
        &["--device", "Lounge Speaker"],
        playing,
    )["stream_position"]
        .as_f64()
        .unwrap();
    status_until(
        &rig,
        &runtime,
        &mut stream,
        &["--device", "Lounge Speaker"],
        |s| s["stream_position"].as_f64().unwrap() > paused_at + 1.5,
    );
    let text = succeeded(
        control(&rig, &runtime, &["status", "--device", "Kitchen Speaker"]),
        "status text",
    );
    assert!(text.starts_with("playing "), "{text}");
    assert!(text.contains("\"Control Test\""), "{text}");
    assert!(
        text.contains("Lounge Speaker (127.0.0.1:5001): streaming, volume 60"),
        "{text}"
    );
    succeeded(
        control(&rig, &runtime, &["stop", "--address", &second_address]),
        "stop",
    );
    assert!(
        stream.wait().unwrap().success(),
        "a stop asked for is no failure"
    );
    assert_eq!(sockets(&runtime), Vec::<PathBuf>::new(), "sockets removed");
    for receiver in [&rig.receiver, &second] {
        assert!(receiver.log_text().contains("TEARDOWN"));
        let captured = receiver.captured().unwrap();
        let aligned = align_and_compare(&source, &captured).expect("audio in the capture");
        let captured = &captured[aligned.offset * 2..];
        // The stop cut the source short: compare up to a second after the pause's cut.
        let cut = source
            .chunks_exact(2)
            .zip(captured.chunks_exact(2))
            .position(|(s, c)| s != c)
            .expect("a pause in the capture");
        let pause = compare_across_pause(
            &source[..2 * (cut + 44_100)],
            captured,
            44_100 / 10 + 4 * 352,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", receiver.dir.display()));
        assert!(pause.cut > 0, "{pause:?}");
    }
}

#[test]
fn no_stream_says_what_was_looked_for_and_where() {
    let runtime = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["pause", "--address", "10.9.9.9:5000"])
        .env("AIRSTREAM_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(19));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no stream is running on \"10.9.9.9:5000\"")
            && stderr.contains(&runtime.path().display().to_string())
            && stderr.contains("name, id or address")
            && stderr.contains("AIRSTREAM_RUNTIME_DIR"),
        "{stderr}"
    );
}
