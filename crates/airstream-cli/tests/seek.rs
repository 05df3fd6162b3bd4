//! `airstream seek` end to end against shairport-sync 3.3.8: after a seek, every frame the
//! receiver plays is the source from the target frame on, sample for sample, forward and
//! backward; the progress it shows follows; a stream from a pipe refuses to seek and plays
//! on with nothing lost.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::align_and_compare;
use airstream_testkit::shairport::{Rig, ShairportConfig};
use airstream_testkit::signal::{music, wav_bytes};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

const RATE: usize = 44_100;

/// Runs `airstream ARGS` in the rig's namespace against the stream's control sockets.
fn control(rig: &Rig, runtime: &Path, args: &[&str]) -> Output {
    rig.ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(args)
        .env("AIRSTREAM_RUNTIME_DIR", runtime)
        .output()
        .unwrap()
}

fn is_quiet(s: &[i16], i: usize) -> bool {
    s[2 * i].unsigned_abs() <= 2 && s[2 * i + 1].unsigned_abs() <= 2
}

/// Frames from capture frame `at` on that equal the source from frame `from` on.
fn run_length(source: &[i16], capture: &[i16], at: usize, from: usize) -> usize {
    source[from * 2..]
        .chunks_exact(2)
        .zip(capture[at * 2..].chunks_exact(2))
        .take_while(|(s, c)| s == c)
        .count()
}

/// After capture frame `after`: the silence of the flush (shairport-sync's own dither of
/// ±2 at most), then — aligned on the first frame that is not silent — the source from
/// `target` on. Returns the capture frame of source frame `target` and how many frames
/// follow it equal to the source.
fn after_the_flush(source: &[i16], capture: &[i16], after: usize, target: usize) -> (usize, usize) {
    let resumed = (after..capture.len() / 2)
        .find(|&i| !is_quiet(capture, i))
        .unwrap_or_else(|| panic!("no audio after capture frame {after}"));
    // The source may itself be quiet for a few frames at the target.
    let quiet_lead = (target..source.len() / 2)
        .take_while(|&i| is_quiet(source, i))
        .count();
    let at = resumed - quiet_lead;
    let run = run_length(source, capture, at, target);
    assert!(
        run > RATE / 2,
        "the audio after the flush (capture frame {resumed}) is not the source from frame \
         {target}: {run} frames match"
    );
    (at, run)
}

#[test]
fn seeking_forward_and_back_plays_the_source_from_the_exact_frame_on_shairport_sync() {
    let config = ShairportConfig {
        metadata: true,
        // What it wrote ahead before a FLUSH cannot be taken back: keep that short.
        output_buffer_seconds: Some(0.1),
        ..ShairportConfig::default()
    };
    let rig = Rig::start(&config).unwrap();
    let source = music(RATE * 7, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let runtime = rig.dir.path().join("run");
    let mut stream = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["stream", "--address", &rig.address(), &file])
        .env("AIRSTREAM_RUNTIME_DIR", &runtime)
        .spawn()
        .unwrap();
    let seek = |position: &str| {
        let out = control(
            &rig,
            &runtime,
            &["seek", "--address", &rig.address(), position],
        );
        assert!(
            out.status.success(),
            "seek {position}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // About a second heard (the first 2 s are latency), then forward to 5.000 s, the
    // issue's figure: frame 220 500.
    std::thread::sleep(Duration::from_millis(3300));
    seek("0:05");
    let status = control(
        &rig,
        &runtime,
        &["status", "--address", &rig.address(), "--json"],
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let position = status["position"].as_f64().unwrap();
    assert!(
        (5.0..7.0).contains(&position),
        "status after the seek: {status}"
    );
    // Then back to 4.0 s once about a second from 5 s was heard: after a seek the receiver
    // plays what it buffered no more, and the new audio comes after the latency (2 s) and
    // the packets already sent ahead (up to 0.5 s).
    std::thread::sleep(Duration::from_millis(3500));
    seek("4");
    let status = stream.wait().unwrap();
    assert!(status.success(), "{status}");

    let captured = rig.receiver.captured().unwrap();
    let start = align_and_compare(&source, &captured).expect("audio in the capture");
    // From the start: the source up to where the first seek cut it.
    let heard_first = run_length(&source, &captured, start.offset, 0);
    assert!(
        heard_first > RATE / 2 && heard_first < 5 * RATE,
        "{heard_first} frames before the first seek"
    );
    let (second_at, heard_second) =
        after_the_flush(&source, &captured, start.offset + heard_first, 5 * RATE);
    assert!(
        heard_second < 2 * RATE,
        "the second seek cut it: {heard_second}"
    );
    let (third_at, heard_third) =
        after_the_flush(&source, &captured, second_at + heard_second, 4 * RATE);
    // The last part runs to the source's end, every frame.
    assert_eq!(heard_third, 3 * RATE, "from 4.0 s to the end");
    eprintln!(
        "heard 0..{heard_first}, then 220500..{} (capture frame {second_at}), then \
         176400..308700 (capture frame {third_at}); gaps {} and {} frames",
        5 * RATE + heard_second,
        second_at - start.offset - heard_first,
        third_at - second_at - heard_second
    );
    // The progress shown follows each seek: current - start is the new position.
    let progress: Vec<[u32; 3]> = rig
        .receiver
        .metadata()
        .iter()
        .filter(|i| i.kind == "ssnc" && i.code == "prgr")
        .map(|i| {
            let text = String::from_utf8_lossy(&i.data).to_string();
            let parts: Vec<u32> = text.split('/').map(|p| p.parse().unwrap()).collect();
            [parts[0], parts[1], parts[2]]
        })
        .collect();
    let at: Vec<u32> = progress.iter().map(|p| p[1].wrapping_sub(p[0])).collect();
    assert!(at.contains(&(5 * RATE as u32)), "{progress:?}");
    assert!(at.contains(&(4 * RATE as u32)), "{progress:?}");
    assert!(
        progress
            .iter()
            .all(|p| p[2].wrapping_sub(p[0]) == 7 * RATE as u32),
        "end - start is the length: {progress:?}"
    );
    assert_eq!(rig.receiver.log_errors(), Vec::<String>::new());
}

#[test]
fn a_stream_from_a_pipe_refuses_to_seek_and_loses_nothing() {
    let rig = Rig::start(&ShairportConfig::default()).unwrap();
    let source = music(RATE * 4, 44_100);
    let runtime = rig.dir.path().join("run");
    let mut stream = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["stream", "--address", &rig.address(), "-"])
        .env("AIRSTREAM_RUNTIME_DIR", &runtime)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = stream.stdin.take().unwrap();
    let bytes = wav_bytes(&source, 44_100);
    let feeder = std::thread::spawn(move || stdin.write_all(&bytes).unwrap());
    std::thread::sleep(Duration::from_millis(2500));
    let out = control(&rig, &runtime, &["seek", "--address", &rig.address(), "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(18), "input error: {stderr}");
    assert!(
        stderr.contains("stdin: cannot seek: it is read as a stream"),
        "{stderr}"
    );
    feeder.join().unwrap();
    assert!(stream.wait().unwrap().success());
    let captured = rig.receiver.captured().unwrap();
    let cmp = align_and_compare(&source, &captured).expect("audio in the capture");
    assert!(cmp.is_bit_exact(), "{cmp:?}");
}

#[test]
fn a_session_seeks_in_the_item_playing_to_the_exact_frame() {
    let rig = Rig::start(&ShairportConfig {
        output_buffer_seconds: Some(0.1),
        ..ShairportConfig::default()
    })
    .unwrap();
    let source = music(RATE * 8, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let Session {
        mut child,
        mut stdin,
        until,
    } = session(&rig);
    until(&|e| e["event"] == "ready");
    writeln!(stdin, r#"{{"cmd":"enqueue","source":"{file}"}}"#).unwrap();
    until(&|e| e["event"] == "position");
    // 5.000 s into the item: frame 220 500.
    writeln!(stdin, r#"{{"cmd":"seek","position":5.0}}"#).unwrap();
    let seeked = until(&|e| e["event"] == "seeked" || e["event"] == "error");
    assert_eq!(seeked["event"], "seeked", "{seeked}");
    assert_eq!(
        (seeked["position"].as_f64(), seeked["track"].as_u64()),
        (Some(5.0), Some(0))
    );
    let position = until(&|e| e["event"] == "position");
    let at = position["position"].as_f64().unwrap();
    assert!(
        (5.0..6.5).contains(&at),
        "the position follows the seek: {position}"
    );
    drop(stdin);
    until(&|e| e["event"] == "finished");
    assert!(child.wait().unwrap().success());

    let captured = rig.receiver.captured().unwrap();
    let start = align_and_compare(&source, &captured).expect("audio in the capture");
    let heard = run_length(&source, &captured, start.offset, 0);
    let (_, after) = after_the_flush(&source, &captured, start.offset + heard, 5 * RATE);
    assert_eq!(after, 3 * RATE, "from 5.0 s to the end, every frame");
}

/// Waits for the next event that the predicate wants, skipping others (30 s at most each).
type Until = Box<dyn Fn(&dyn Fn(&Value) -> bool) -> Value>;

/// `airstream session` on the rig's receiver, with its events read on a thread.
struct Session {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    until: Until,
}

fn session(rig: &Rig) -> Session {
    let mut child = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["session", "--address", &rig.address()])
        .env("AIRSTREAM_RUNTIME_DIR", rig.dir.path().join("run"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let (tx, events) = std::sync::mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    let until = move |want: &dyn Fn(&Value) -> bool| loop {
        let event = events.recv_timeout(Duration::from_secs(30)).unwrap();
        if want(&event) {
            return event;
        }
    };
    Session {
        child,
        stdin,
        until: Box::new(until),
    }
}

#[test]
fn a_session_skip_plays_the_next_item_whole_from_its_first_frame() {
    let rig = Rig::start(&ShairportConfig {
        output_buffer_seconds: Some(0.1),
        metadata: true,
        ..ShairportConfig::default()
    })
    .unwrap();
    let one = music(RATE * 8, 44_100);
    let two: Vec<i16> = music(RATE * 3, 44_100).iter().map(|s| s / 2).collect();
    let paths = [("one.wav", &one), ("two.wav", &two)].map(|(name, samples)| {
        let path = rig.dir.path().join(name);
        std::fs::write(&path, wav_bytes(samples, 44_100)).unwrap();
        path.display().to_string()
    });
    let Session {
        mut child,
        mut stdin,
        until,
    } = session(&rig);
    until(&|e| e["event"] == "ready");
    for path in &paths {
        writeln!(stdin, r#"{{"cmd":"enqueue","source":"{path}"}}"#).unwrap();
    }
    until(&|e| e["event"] == "position" && e["position"].as_f64().unwrap() > 1.0);
    writeln!(stdin, r#"{{"cmd":"skip"}}"#).unwrap();
    let skipped = until(&|e| e["event"] == "skipped" || e["event"] == "error");
    assert_eq!(
        (&skipped["event"], &skipped["track"]),
        (&"skipped".into(), &0.into())
    );
    let track = until(&|e| e["event"] == "track");
    assert_eq!(
        (&track["index"], &track["title"]),
        (&1.into(), &"two.wav".into())
    );
    let position = until(&|e| e["event"] == "position");
    assert_eq!(position["track"], 1, "{position}");
    assert!(position["position"].as_f64().unwrap() < 1.5, "{position}");
    drop(stdin);
    until(&|e| e["event"] == "finished");
    assert!(child.wait().unwrap().success());

    // one from its start up to the skip, the flush's silence, then two whole.
    let captured = rig.receiver.captured().unwrap();
    let start = align_and_compare(&one, &captured).expect("audio in the capture");
    let heard = run_length(&one, &captured, start.offset, 0);
    assert!(heard > RATE && heard < 4 * RATE, "{heard} frames of one");
    let (at, run) = after_the_flush(&two, &captured, start.offset + heard, 0);
    assert_eq!(run, 3 * RATE, "two, every frame");
    eprintln!(
        "one 0..{heard}, {} frames of silence, then two whole",
        at - start.offset - heard
    );
    // The receiver showed each title, in order.
    let titles: Vec<String> = rig
        .receiver
        .metadata_to_the_end(Duration::from_secs(5))
        .iter()
        .filter(|i| i.kind == "core" && i.code == "minm")
        .map(|i| String::from_utf8_lossy(&i.data).to_string())
        .collect();
    assert_eq!(
        titles.last().map(String::as_str),
        Some("two.wav"),
        "{titles:?}"
    );
    assert!(titles.iter().any(|t| t == "one.wav"), "{titles:?}");
}
