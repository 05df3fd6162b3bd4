//! Receivers added to and removed from a running `airstream session`, against two
//! shairport-sync 3.3.8 instances: the one added plays the source from the frame it joined
//! at, on the shared timeline; the one removed played it until it left; `status` and the
//! `receiver` events show each one's state, volume and counters as they change.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::{align_and_compare, compare_at, joined_at};
use airstream_testkit::shairport::{PORT, Rig, ShairportConfig};
use airstream_testkit::signal::{music, wav_bytes};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// The next event that satisfies `want`; the bound only keeps a broken session from
/// hanging the test.
fn until(
    rx: &Receiver<Value>,
    seen: &mut Vec<Value>,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(event) => {
                seen.push(event.clone());
                if want(&event) {
                    return event;
                }
            }
            Err(e) => panic!("no {what} event ({e}); events: {seen:#?}"),
        }
    }
}

fn receiver_is(event: &Value, index: u64, state: &str) -> bool {
    event["event"] == "receiver" && event["index"] == index && event["state"] == state
}

/// The RTP frame shairport-sync says it started at.
fn first_frame(log: &str) -> i64 {
    log.lines()
        .find_map(|l| l.split("first_packet_time set for frame ").nth(1))
        .map(|rest| rest.trim_end_matches(['.', '"', ' ']).parse().unwrap())
        .expect("shairport-sync logs its first frame")
}

#[test]
fn a_receiver_added_mid_stream_joins_in_sync_and_the_one_removed_leaves_alone() {
    let rig = Rig::start(&ShairportConfig::default()).unwrap();
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
                ..ShairportConfig::default()
            },
        )
        .unwrap();
    let second_address = format!("127.0.0.1:{}", second.port);
    let source = music(44_100 * 10, 44_100);
    let path = rig.dir.path().join("source.wav");
    std::fs::write(&path, wav_bytes(&source, 44_100)).unwrap();
    let runtime = rig.dir.path().join("run");
    let mut session = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["session", "--address", &rig.address(), "--volume", "70"])
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
            let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut send = |line: &str| {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    };
    until(&rx, &mut seen, "ready", |e| e["event"] == "ready");
    send(&format!(
        r#"{{"cmd":"enqueue","source":"{}"}}"#,
        path.display()
    ));
    until(&rx, &mut seen, "first streaming", |e| {
        receiver_is(e, 0, "streaming")
    });
    until(&rx, &mut seen, "position", |e| {
        e["event"] == "position" && e["stream_position"].as_f64().unwrap() > 1.0
    });

    send(&format!(r#"{{"cmd":"add","receiver":"{second_address}"}}"#));
    let joined = until(&rx, &mut seen, "second streaming", |e| {
        receiver_is(e, 1, "streaming")
    });
    assert_eq!(joined["address"], second_address);
    assert_eq!(joined["volume"], 70, "the session's volume: {joined}");

    // Both play for a while; the position events and the status show each one live.
    let position = until(&rx, &mut seen, "position", |e| {
        e["event"] == "position" && e["stream_position"].as_f64().unwrap() > 4.0
    });
    let live = position["receivers"].as_array().unwrap();
    assert_eq!(live.len(), 2, "{position}");
    for r in live {
        assert_eq!(r["state"], "streaming", "{position}");
        assert!(r["packets_sent"].as_u64().unwrap() > 100, "{position}");
    }
    let status = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["status", "--json", "--address", &second_address])
        .env("AIRSTREAM_RUNTIME_DIR", &runtime)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let receivers = status["receivers"].as_array().unwrap();
    assert_eq!(receivers.len(), 2, "{status}");
    for r in receivers {
        assert_eq!(r["state"], "streaming", "{status}");
        assert_eq!(r["volume"], 70, "{status}");
        assert!(r["packets_sent"].as_u64().unwrap() > 100, "{status}");
    }
    assert!(
        receivers[0]["packets_sent"].as_u64() > receivers[1]["packets_sent"].as_u64(),
        "the first got more: {status}"
    );

    send(r#"{"cmd":"remove","receiver":0}"#);
    until(&rx, &mut seen, "removed", |e| e["event"] == "removed");
    until(&rx, &mut seen, "first removed", |e| {
        receiver_is(e, 0, "removed")
    });
    drop(stdin);
    until(&rx, &mut seen, "finished", |e| e["event"] == "finished");
    assert!(session.wait().unwrap().success());

    // The first played the source from its start until it left.
    let first = rig.receiver.captured().unwrap();
    let aligned = align_and_compare(&source, &first).expect("audio in the first capture");
    let played = aligned.first_mismatch.unwrap_or(aligned.frames_compared);
    eprintln!("first: {aligned:?}, played {played} frames");
    // The second played the source from where it joined to the end, every frame.
    let captured = second.captured().unwrap();
    let (start, at) = joined_at(&source, &captured).expect("the capture continues the source");
    let rest = compare_at(&source[2 * start..], &captured, at);
    eprintln!("second: joined at source frame {start}: {rest:?}");
    assert!(rest.is_bit_exact(), "{rest:?}");
    assert!(
        played > start + 44_100,
        "the first played on after the second joined"
    );
    // On one timeline: the second's first packet carried the RTP time of the source frame
    // it then played first (after the packets it mutes at a start).
    let (one, two) = (
        first_frame(&rig.receiver.log_text()),
        first_frame(&second.log_text()),
    );
    let lead_in = 13 * 352;
    let first_rtp_of_two = (two - one - lead_in) as usize;
    eprintln!("second's first packet: source frame {first_rtp_of_two}");
    assert!(
        start >= first_rtp_of_two && start <= first_rtp_of_two + 16 * 352,
        "it started at {start}, its first packet was {first_rtp_of_two}"
    );
    assert_eq!(rig.receiver.log_errors(), Vec::<String>::new());
    assert_eq!(
        second.log_errors(),
        Vec::<String>::new(),
        "{}",
        second.log_text()
    );
}
