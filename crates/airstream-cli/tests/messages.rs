//! What a user reads on stderr, and the exit codes: plain one-line words on a pipe, colour
//! only on a terminal without `NO_COLOR`, each cause once, a documented exit code for every
//! failure, and the progress display under a 50-column terminal. The receivers are the
//! in-repo one on loopback; terminals are `script`'s pseudo-terminals.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_receiver::{Behaviour, Receiver, ReceiverConfig};
use airstream_testkit::signal::{music, wav_bytes};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn airstream() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airstream"));
    // No config file of the machine's user may change what these tests see.
    command
        .env("AIRSTREAM_CONFIG_DIR", "/nonexistent-airstream-config")
        .env_remove("AIRSTREAM_PASSWORD")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
    command
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn receiver(behaviour: Behaviour) -> Receiver {
    Receiver::start(ReceiverConfig {
        behaviour,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../airstream-audio/tests/data")
        .join(name)
}

fn wav_file(dir: &tempfile::TempDir, seconds: usize) -> PathBuf {
    let path = dir.path().join("in.wav");
    std::fs::write(&path, wav_bytes(&music(44_100 * seconds, 44_100), 44_100)).unwrap();
    path
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// Runs `command` (a shell command line) under a pseudo-terminal `columns` wide, typing
/// `input` into it; returns the terminal transcript and the exit status of the command.
fn in_terminal(command: &str, columns: u16, input: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new("script")
        .args([
            "-q",
            "-e",
            "-c",
            &format!("stty cols {columns} rows 24; exec {command}"),
            "/dev/null",
        ])
        .env("AIRSTREAM_CONFIG_DIR", "/nonexistent-airstream-config")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    // Kept open until the command ends: script stops forwarding at end of input.
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    out
}

/// A line of ours: `airstream: …` or `warning: …` and so on; never a timestamp, a module
/// path or an escape code.
fn assert_plain(stderr: &str) {
    assert!(
        !stderr.contains('\x1b'),
        "escape codes on a pipe: {stderr:?}"
    );
    for line in stderr.lines() {
        assert!(
            ["airstream: ", "warning: ", "error: ", "info: "]
                .iter()
                .any(|p| line.starts_with(p)),
            "not a plain line: {line:?}"
        );
        assert!(!line.contains("::"), "a module path: {line:?}");
        assert!(
            !line.chars().take(4).all(|c| c.is_ascii_digit()),
            "a timestamp: {line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_pipe_messages_are_plain_words_and_dependencies_wait_for_two_v() {
    let rx = receiver(Behaviour::default()).await;
    let address = rx.local_addr().to_string();
    let stream = |verbose: Option<&str>, file: &str| {
        let mut command = airstream();
        command.args(verbose);
        command.args(["stream", "--latency", "300", "--address", &address]);
        command.arg(fixture(file));
        command
    };

    // Our own warning, in words, without prefix noise.
    let out = run(stream(None, "corrupt.mp3")).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_plain(&stderr);
    assert!(
        stderr.contains("warning: skipping a damaged packet"),
        "{stderr}"
    );

    // symphonia's chatter about an M4A: nothing by default, nor at -v; there at -vv.
    for verbose in [None, Some("-v")] {
        let out = run(stream(verbose, "music_aac.m4a")).await;
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("junk"), "{verbose:?}: {stderr}");
        assert_plain(&stderr);
        if verbose.is_some() {
            // -v speaks in words: the route, not a Rust struct.
            assert!(
                stderr.contains(&format!(
                    "info: route to {address}: RAOP, compressed ALAC, no encryption"
                )),
                "{stderr}"
            );
            assert!(!stderr.contains("AudioRoute {"), "{stderr}");
            assert!(!stderr.contains("AlacCompressed"), "{stderr}");
        }
    }
    let out = run(stream(Some("-vv"), "music_aac.m4a")).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[symphonia_core::formats::probe] skipped 4 bytes of junk"),
        "{stderr}"
    );
    assert!(!stderr.contains("log.file"), "{stderr}");
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wav");
    // A warning needs a stream; a message with a level is enough: -v on a failing stream
    // logs the route at info.
    let command = format!(
        "{} -v stream --address {} {}",
        env!("CARGO_BIN_EXE_airstream"),
        closed_port(),
        missing.display()
    );
    let coloured = in_terminal(&command, 80, b"", &[]);
    let transcript = text(&coloured.stdout);
    assert!(
        transcript.contains("\x1b[32minfo\x1b[0m: route to"),
        "{transcript:?}"
    );
    let plain = in_terminal(&command, 80, b"", &[("NO_COLOR", "1")]);
    let transcript = text(&plain.stdout);
    assert!(transcript.contains("info: route to"), "{transcript:?}");
    assert!(!transcript.contains('\x1b'), "{transcript:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_cause_is_said_once() {
    let address = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(&dir, 1);
    let mut command = airstream();
    command.args(["stream", "--address", &address]).arg(&file);
    let out = run(command).await;
    assert_eq!(out.status.code(), Some(10));
    assert_eq!(
        text(&out.stderr),
        format!("airstream: cannot connect to {address}: Connection refused (os error 111)\n")
    );

    let missing = dir.path().join("missing.wav");
    let mut command = airstream();
    command
        .args(["stream", "--address", &address])
        .arg(&missing);
    let out = run(command).await;
    assert_eq!(out.status.code(), Some(18));
    assert_eq!(
        text(&out.stderr),
        format!(
            "airstream: {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

/// Every failure a user met outside the table now exits with a code from it.
#[tokio::test(flavor = "multi_thread")]
async fn every_failure_has_a_documented_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(&dir, 1);
    let file = file.to_str().unwrap();
    let closed = closed_port();
    let config_dir = dir.path().join("config");
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::write(config_dir.join("config.toml"), "latensy = 300\n").unwrap();
    let store_dir = dir.path().join("store");
    std::fs::create_dir(&store_dir).unwrap();
    std::fs::write(store_dir.join("credentials.json"), "{ not json").unwrap();
    // Private, as a store must be: what is wrong with it is its content.
    std::fs::set_permissions(
        store_dir.join("credentials.json"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let cases: Vec<(Vec<&str>, Option<&Path>, u8, &str)> = vec![
        (
            vec![
                "stream",
                "--address",
                &closed,
                "--artwork",
                "nope.jpg",
                file,
            ],
            None,
            18,
            "cannot read --artwork nope.jpg: No such file or directory (os error 2)",
        ),
        (
            vec!["demo", "--output", "/nonexistent/x.wav"],
            None,
            18,
            "cannot write /nonexistent/x.wav: there is no directory /nonexistent",
        ),
        (
            vec!["stream", "--address", "127.0.0.1", file],
            None,
            18,
            "--address 127.0.0.1: expected HOST:PORT",
        ),
        (
            vec!["info", "--device", "x", "--discovery-timeout", "0"],
            None,
            18,
            "--discovery-timeout must be more than 0 and at most 3600 seconds, not 0",
        ),
        (
            vec!["stream", file],
            None,
            18,
            "name the receiver with --device NAME|ID|ADDRESS (found with mDNS) or --address HOST:PORT",
        ),
        (
            vec!["stream", "--address", &closed, file],
            Some(&config_dir),
            18,
            "line 1: unknown field `latensy`",
        ),
        (vec!["pair", "--list"], Some(&store_dir), 18, "is corrupt"),
        (
            vec!["stream", "--address", &closed, "--bogus", file],
            None,
            2,
            "unexpected argument '--bogus'",
        ),
    ];
    for (args, config, code, message) in cases {
        let mut command = airstream();
        command.args(&args);
        if let Some(config) = config {
            command.env("AIRSTREAM_CONFIG_DIR", config);
        }
        let out = run(command).await;
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(i32::from(code)),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        if code != 2 {
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn info_by_address_asks_the_receiver_and_speaks_words() {
    let rx = receiver(Behaviour::default()).await;
    let address = rx.local_addr().to_string();
    let mut command = airstream();
    command.args(["info", "--address", &address]);
    let out = run(command).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("  answers:       RTSP 200 OK (methods: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("  stream audio:  RAOP, compressed ALAC, no encryption, no metadata\n"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("play URLs:").count(), 1, "{stdout}");
    for rust in [
        "AlacCompressed",
        "encryption None",
        "AirPlay1 {",
        "Unsupported",
    ] {
        assert!(!stdout.contains(rust), "{rust}: {stdout}");
    }

    let closed = closed_port();
    let mut command = airstream();
    command.args(["info", "--address", &closed]);
    let out = run(command).await;
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_latency_raised_by_the_receiver_is_reported() {
    // The receiver adds 500 ms of its own (Audio-Latency in frames), as shairport-sync does.
    let rx = receiver(Behaviour {
        audio_latency: Some(22_050),
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(&dir, 1);
    let mut command = airstream();
    command
        .args(["stream", "--json", "--latency", "250", "--address"])
        .arg(rx.local_addr().to_string())
        .arg(&file);
    let out = run(command).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let effective = report["latency_ms"].as_f64().unwrap();
    assert!(effective > 500.0, "{report}");
    assert_eq!(report["latency_asked_ms"], 250.0);
    assert_eq!(
        stderr,
        format!(
            "airstream: latency is {} ms, not the 250 ms asked for: the receiver needs at least that\n",
            effective.trunc()
        )
    );
    // Asked for enough: nothing to say.
    let mut command = airstream();
    command
        .args(["stream", "--latency", "2000", "--address"])
        .arg(rx.local_addr().to_string())
        .arg(&file);
    let out = run(command).await;
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_receiver_twice_is_streamed_to_once() {
    let mut rx = receiver(Behaviour::default()).await;
    let address = rx.local_addr().to_string();
    let localhost = format!("localhost:{}", rx.local_addr().port());
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(&dir, 1);
    let mut command = airstream();
    command
        .args(["stream", "--json", "--latency", "300"])
        .args(["--address", &address, "--address", &address])
        .args(["--address", &localhost])
        .arg(&file);
    let out = run(command).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["receivers"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
    let record = rx
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(record.summary.teardown);
}

#[test]
fn stdin_on_a_terminal_says_it_waits_for_audio() {
    // Ctrl-D at once: the input is empty, after the notice.
    let command = format!(
        "{} stream --address {} -",
        env!("CARGO_BIN_EXE_airstream"),
        closed_port()
    );
    let out = in_terminal(&command, 80, b"\x04", &[]);
    let transcript = text(&out.stdout);
    assert!(
        transcript.contains("airstream: waiting for audio on stdin"),
        "{transcript:?}"
    );
    assert_eq!(out.status.code(), Some(18), "{transcript:?}");
}

/// The text a terminal shows, drawn over and over: the escape sequences out, `\r` and `\n`
/// as line ends.
fn strip_escapes(transcript: &str) -> String {
    let mut out = String::new();
    let mut chars = transcript.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_progress_display_fits_a_narrow_terminal_and_ends_with_a_summary() {
    let rx = receiver(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = wav_file(&dir, 2);
    let command = format!(
        "{} stream --latency 300 --title 'A title much too long for a terminal this narrow' --address {} {}",
        env!("CARGO_BIN_EXE_airstream"),
        rx.local_addr(),
        file.display()
    );
    let out = tokio::task::spawn_blocking(move || in_terminal(&command, 50, b"", &[]))
        .await
        .unwrap();
    let transcript = text(&out.stdout);
    assert!(out.status.success(), "{transcript:?}");
    // indicatif pads every line it draws to the terminal's width and moves the cursor up
    // over what it drew before: two lines (what plays, the clock and bar), never a third
    // made by a line that wrapped.
    assert!(transcript.contains("\x1b[1A"), "{transcript:?}");
    for up in 2..10 {
        assert!(
            !transcript.contains(&format!("\x1b[{up}A")),
            "a line wrapped: {transcript:?}"
        );
    }
    let screen = strip_escapes(&transcript);
    // The clock with its total; the bar; the title, cut to fit.
    assert!(screen.contains("0:02 ["), "{screen:?}");
    assert!(screen.contains("\"A title much too long"), "{screen:?}");
    assert!(!screen.contains("00:00:0"), "a second clock: {screen:?}");
    let summary = screen
        .split(['\r', '\n'])
        .map(str::trim)
        .find(|l| l.starts_with("airstream: played "))
        .unwrap_or_else(|| panic!("no summary: {screen:?}"));
    assert_eq!(
        summary,
        format!(
            "airstream: played 0:02: \"A title much too long for a terminal this narrow\" on {}",
            rx.local_addr()
        )
    );
}
