//! A signal while the stream is being set up ends `airstream stream` the clean way: the
//! receiver that already has a session gets a TEARDOWN, and the exit code is the signal's
//! (130 after SIGINT, 143 after SIGTERM). The receiver here is a tiny fake on loopback that
//! answers up to SETUP and never answers RECORD, as a receiver slow to answer does.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::signal::{music, wav_bytes};
use airstream_testkit::stalling::StallingReceiver;
use std::process::Command;

#[test]
fn a_signal_during_setup_tears_the_session_down_and_exits_with_the_signals_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("song.wav");
    std::fs::write(&file, wav_bytes(&music(44_100, 44_100), 44_100)).unwrap();
    for (signal, code) in [("-TERM", 143), ("-INT", 130)] {
        let receiver = StallingReceiver::start();
        let mut stream = Command::new(env!("CARGO_BIN_EXE_airstream"))
            .args([
                "stream",
                "--codec",
                "pcm",
                "--address",
                &format!("127.0.0.1:{}", receiver.port),
            ])
            .arg(&file)
            .env("AIRSTREAM_RUNTIME_DIR", dir.path().join("run"))
            .spawn()
            .unwrap();
        assert!(receiver.wait_for("RECORD"), "{:?}", receiver.requests());
        let killed = Command::new("kill")
            .args([signal, &stream.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = stream.wait().unwrap();
        assert_eq!(status.code(), Some(code), "after {signal}: {status:?}");
        // The TEARDOWN is sent before the process exits.
        let requests = receiver.requests();
        let record = requests.iter().position(|m| m == "RECORD").unwrap();
        assert_eq!(
            requests[record + 1..],
            ["TEARDOWN".to_string()],
            "after {signal}: {requests:?}"
        );
    }
}
