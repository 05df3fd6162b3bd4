//! `airstream receive` with real senders: a wrong `--output` is refused before anyone
//! streams, and a second sender during a session is told the receiver is busy (RTSP 453)
//! while the first plays on into its own WAV file.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::ErrorKind;
use airstream::raop::{self, StreamOptions, StreamState};
use airstream_audio::{PcmFormat, VecSource};
use airstream_testkit::compare::compare_across_pause;
use airstream_testkit::receive_process::ReceiveProcess;
use airstream_testkit::signal::{music, wav_bytes};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Reads the summary line the receiver prints when a session has ended and its WAV is written.
fn session_ended(receive: &mut ReceiveProcess) {
    let line = receive.next_stdout_line();
    assert!(line.starts_with("received "), "the receiver said {line:?}");
}

fn wav_samples(path: &Path) -> Vec<i16> {
    hound::WavReader::open(path)
        .unwrap()
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn options() -> StreamOptions {
    StreamOptions {
        latency: Duration::from_millis(300),
        ..StreamOptions::default()
    }
}

fn source(samples: &[i16]) -> Box<VecSource> {
    Box::new(VecSource::new(PcmFormat::RAOP, samples.to_vec()))
}

#[test]
fn an_output_in_a_missing_directory_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("missing").join("out.wav");
    let mut child = Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args(["receive", "--no-advertise", "--port", "0", "--output"])
        .arg(&output)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its first words: the refusal, not "listening on".
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    if first.starts_with("listening on ") {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the receiver started with an --output it cannot write");
    }
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(
        first,
        format!(
            "airstream: cannot write {}: there is no directory {}\n",
            output.display(),
            dir.path().join("missing").display()
        )
    );
    assert_eq!(rest, "", "one line");
    assert_eq!(status.code(), Some(18), "unusable input, as the table says");
}

#[test]
fn a_port_in_use_is_refused_as_an_unusable_flag_value() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args([
            "receive",
            "--no-advertise",
            "--port",
            &port.to_string(),
            "--output",
        ])
        .arg(dir.path().join("out.wav"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "airstream: cannot listen on 127.0.0.1:{port}: Address already in use (os error 98): \
             another program has it; choose another --port\n"
        )
    );
    assert_eq!(output.status.code(), Some(18), "as the table says");
}

#[tokio::test]
async fn a_second_sender_is_told_busy_and_the_first_plays_on() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.wav");
    let mut receive = ReceiveProcess::start(env!("CARGO_BIN_EXE_airstream"), &output);
    let first = music(44_100 * 2, 44_100);

    // The first session, held paused (the session stays on) while the others try.
    let (handle, driver) = raop::start(receive.addr, source(&first), options())
        .await
        .unwrap();
    let task = tokio::spawn(driver);
    let mut progress = handle.progress();
    while progress.borrow_and_update().frames_sent < 44_100 / 2 {
        progress.changed().await.unwrap();
    }
    handle.pause();
    while progress.borrow_and_update().state != StreamState::Paused {
        progress.changed().await.unwrap();
    }

    // The library's sender: a typed "busy".
    let intruder = music(44_100 / 2, 22_050);
    let refused = raop::stream_to_end(receive.addr, source(&intruder), options())
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::DeviceBusy, "{refused}");
    // The command: exit code 13, as the table says.
    let input = dir.path().join("intruder.wav");
    std::fs::write(&input, wav_bytes(&intruder, 44_100)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_airstream"));
    command
        .args(["stream", "--latency", "300", "--address"])
        .arg(receive.addr.to_string())
        .arg(&input)
        .env("AIRSTREAM_CONFIG_DIR", dir.path());
    // Off the runtime's thread: the paused session keeps running meanwhile.
    let cli = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cli.status.code(),
        Some(13),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );

    // The first session was not disturbed: it resumes and ends with every frame.
    handle.resume();
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.frames_sent, 44_100 * 2);
    session_ended(&mut receive);
    let received = wav_samples(&output);
    let lead = report.lead_in_frames as usize * 2;
    let pause = compare_across_pause(&first, &received[lead..], 2 * 352).unwrap();
    eprintln!("first session: {pause:?}");

    // Once it has ended (the receiver said so), the next sender is welcome.
    let second = music(44_100, 44_100);
    let report = raop::stream_to_end(receive.addr, source(&second), options())
        .await
        .unwrap();
    session_ended(&mut receive);
    let received = wav_samples(&output);
    let lead = report.lead_in_frames as usize * 2;
    assert!(received[..lead].iter().all(|s| *s == 0), "lead-in");
    assert_eq!(&received[lead..lead + second.len()], &second[..]);
    assert!(
        received[lead + second.len()..].iter().all(|s| *s == 0),
        "then only padding: nothing of the refused senders"
    );
}
