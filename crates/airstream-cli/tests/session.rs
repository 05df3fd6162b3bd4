//! `airstream session`: a scripted JSON-lines transcript against shairport-sync 3.3.8 in a
//! network namespace of its own. Each command is written when the events show the session
//! is ready for it; the events and the captured audio are both checked.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::{align_and_compare, compare_across_pause};
use airstream_testkit::shairport::{Rig, ShairportConfig};
use airstream_testkit::signal::{music, wav_bytes};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The events read so far, and the rest as they come.
struct Events {
    rx: Receiver<Value>,
    seen: Vec<Value>,
}

impl Events {
    /// The next event that satisfies `want`; the bound only keeps a broken session from
    /// hanging the test.
    fn until(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if want(&event) {
                        return event;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("no {what} event; events: {:#?}", self.seen)
                }
            }
        }
    }
}

fn send(stdin: &mut ChildStdin, line: &str) {
    writeln!(stdin, "{line}").unwrap();
    stdin.flush().unwrap();
}

fn is(event: &Value, name: &str) -> bool {
    event["event"] == name
}

#[test]
fn a_scripted_session_plays_its_queue_and_answers_every_command() {
    let rig = Rig::start(&ShairportConfig {
        metadata: true,
        output_buffer_seconds: Some(0.1),
        ..ShairportConfig::default()
    })
    .unwrap();
    let one = music(44_100 * 6, 44_100);
    let two: Vec<i16> = music(44_100 * 3, 44_100).iter().map(|s| s / 2).collect();
    let (one_path, two_path) = (
        rig.dir.path().join("one.wav"),
        rig.dir.path().join("two.wav"),
    );
    std::fs::write(&one_path, wav_bytes(&one, 44_100)).unwrap();
    std::fs::write(&two_path, wav_bytes(&two, 44_100)).unwrap();
    let runtime = rig.dir.path().join("run");

    let mut session = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["session", "--address", &rig.address()])
        .env("AIRSTREAM_RUNTIME_DIR", &runtime)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = session.stdin.take().unwrap();
    let stdout = session.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let event: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {e}: {line}"));
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    let mut events = Events {
        rx,
        seen: Vec::new(),
    };

    let ready = events.until("ready", |e| is(e, "ready"));
    assert_eq!(ready["receivers"][0]["address"], rig.address());
    send(
        &mut stdin,
        &format!(r#"{{"cmd":"enqueue","source":"{}"}}"#, one_path.display()),
    );
    send(
        &mut stdin,
        &format!(r#"{{"cmd":"enqueue","source":"{}"}}"#, two_path.display()),
    );
    events.until("started", |e| is(e, "started"));
    let track = events.until("track", |e| is(e, "track"));
    assert_eq!(
        (&track["index"], &track["title"]),
        (&0.into(), &"one.wav".into())
    );
    assert!((track["duration"].as_f64().unwrap() - 6.0).abs() < 0.001);
    // A second and a half heard (positions are what the receiver plays).
    events.until("position", |e| {
        is(e, "position") && e["stream_position"].as_f64().unwrap() > 1.5
    });

    send(&mut stdin, r#"{"cmd":"volume","level":40,"receiver":0}"#);
    let volume = events.until("volume", |e| is(e, "volume"));
    assert_eq!(volume["level"], 40);
    // (A seek that lands is checked in tests/seek.rs; here one without a position.)
    send(&mut stdin, r#"{"cmd":"seek","position":-1}"#);
    let refused = events.until("error", |e| is(e, "error"));
    assert_eq!(refused["kind"], "input");
    assert_eq!(refused["command"], "seek");
    send(&mut stdin, r#"{"cmd":"dance"}"#);
    let bad = events.until("error", |e| is(e, "error"));
    assert_eq!(bad["kind"], "input");
    assert!(bad["message"].as_str().unwrap().contains("dance"), "{bad}");

    send(&mut stdin, r#"{"cmd":"pause"}"#);
    events.until("paused", |e| is(e, "state") && e["state"] == "paused");
    send(&mut stdin, r#"{"cmd":"resume"}"#);
    events.until("playing", |e| is(e, "state") && e["state"] == "playing");
    // The end of stdin: the queue plays out, then the session ends.
    drop(stdin);
    events.until("input_closed", |e| is(e, "input_closed"));
    let second = events.until("second track", |e| is(e, "track"));
    assert_eq!(
        (&second["index"], &second["title"]),
        (&1.into(), &"two.wav".into())
    );
    let finished = events.until("finished", |e| is(e, "finished"));
    for event in &events.seen {
        eprintln!("{event}");
    }
    let status = session.wait().unwrap();
    assert!(status.success(), "{status:?}; events: {:#?}", events.seen);
    let report = &finished["report"];
    assert!(
        report["frames_sent"].as_u64().unwrap() >= (one.len() + two.len()) as u64 / 2,
        "{report}"
    );
    assert_eq!(report["stopped"], false);
    assert!(
        std::fs::read_dir(&runtime).unwrap().next().is_none(),
        "the control socket is removed"
    );

    // Both items in order, whole, with one pause in between: nothing lost, and at most what
    // shairport-sync wrote ahead (0.1 s) plus what it played while the FLUSH travelled
    // played twice. On a loaded machine the FLUSH can take a few hundred milliseconds to be
    // handled, hence half a second; a restart after the cut (a loss) is never accepted.
    let expected = [one, two].concat();
    let captured = rig.receiver.captured().unwrap();
    let aligned = align_and_compare(&expected, &captured).expect("audio in the capture");
    let pause = compare_across_pause(&expected, &captured[aligned.offset * 2..], 44_100 / 2)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(pause.cut > 0 && pause.cut < expected.len() / 2, "{pause:?}");
    assert_eq!(rig.receiver.log_errors(), Vec::<String>::new());
    let pvol = rig
        .receiver
        .metadata()
        .iter()
        .filter(|i| i.kind == "ssnc" && i.code == "pvol")
        .map(|i| String::from_utf8_lossy(&i.data).to_string())
        .collect::<Vec<_>>();
    let db = format!("{:.2},", airstream::raop::volume_db(40));
    assert!(pvol.iter().any(|p| p.starts_with(&db)), "{pvol:?}");
}

#[test]
fn sigterm_ends_an_idle_session_with_finished_and_exit_143() {
    let runtime = tempfile::tempdir().unwrap();
    // Nothing connects before the first enqueue: the address is never dialled.
    let mut session = std::process::Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args(["session", "--address", "127.0.0.1:9"])
        .env("AIRSTREAM_RUNTIME_DIR", runtime.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(session.stdout.take().unwrap()).lines();
    let ready: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(ready["event"], "ready");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &session.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let last: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["report"], Value::Null);
    assert_eq!(session.wait().unwrap().code(), Some(143));
}
