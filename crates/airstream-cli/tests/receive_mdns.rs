//! `airstream receive --name` advertised on real mDNS: `airstream scan` finds it with its
//! port and TXT record, and `airstream stream --device NAME` plays to it. Everything runs
//! inside a network namespace that holds only `lo` (`ip netns exec`; needs root).

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::align_and_compare;
use airstream_testkit::netns::Netns;
use airstream_testkit::signal::{music, wav_bytes};
use mdns_sd::{ServiceDaemon, ServiceEvent};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// `airstream receive` running inside the namespace.
struct Receive {
    child: Child,
    port: u16,
    stdout: BufReader<ChildStdout>,
    stderr: BufReader<ChildStderr>,
}

impl Receive {
    fn start(netns: &Netns, output: &Path, extra: &[&str]) -> Self {
        let mut child = netns
            .command(env!("CARGO_BIN_EXE_airstream"))
            .args(["receive", "--port", "0", "--output"])
            .arg(output)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let line = next_line(&mut stderr);
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .unwrap_or_else(|| panic!("{line}"))
            .parse()
            .unwrap();
        Self {
            child,
            port,
            stdout,
            stderr,
        }
    }
}

impl Drop for Receive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn next_line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(!line.is_empty(), "the receiver ended");
    line
}

fn airstream(netns: &Netns, args: &[&str], config: &Path) -> std::process::Output {
    netns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(args)
        .env("AIRSTREAM_CONFIG_DIR", config)
        .output()
        .unwrap()
}

#[test]
fn scan_finds_the_receiver_by_its_name_and_streams_to_it() {
    let netns = Netns::create().expect("network namespace (tests run as root)");
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.wav");
    let mut named = Receive::start(&netns, &output, &["--name", "Test Den"]);
    // Its word that it is out on the network (the first announcement went out).
    let announced = next_line(&mut named.stderr);
    let id = announced
        .trim()
        .strip_prefix("advertised on mDNS as \"Test Den\" (id ")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{announced}"))
        .to_string();
    // A second receiver that keeps to itself.
    let hidden = Receive::start(
        &netns,
        &dir.path().join("hidden.wav"),
        &["--name", "Hidden", "--no-advertise"],
    );

    let scan = airstream(&netns, &["scan", "--json", "--timeout", "2"], dir.path());
    assert!(
        scan.status.success(),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let devices: Value = serde_json::from_slice(&scan.stdout).unwrap();
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 1, "only the advertised one: {devices:#?}");
    let device = &devices[0];
    assert_ne!(hidden.port, named.port);
    assert_eq!(device["name"], "Test Den");
    assert_eq!(device["id"], id.as_str());
    assert_eq!(device["model"], "airstream");
    assert_eq!(device["addresses"], json!(["127.0.0.1"]));
    assert_eq!(
        (&device["raop_port"], &device["airplay_port"]),
        (&json!(named.port), &Value::Null)
    );
    let caps = &device["capabilities"];
    assert_eq!(caps["codecs"], json!(["pcm", "alac"]));
    assert_eq!(caps["encryption_types"], json!(["none"]));
    assert_eq!(caps["metadata"], json!(["text", "artwork", "progress"]));
    assert_eq!(caps["password"], false);
    assert_eq!(
        (
            &caps["sample_rate"],
            &caps["sample_size"],
            &caps["channels"]
        ),
        (&json!(44100), &json!(16), &json!(2))
    );
    assert_eq!(caps["transports"], json!({"udp": true, "tcp": false}));
    assert_eq!(caps["versions"]["protocol"], 65537);
    assert_eq!(caps["versions"]["server"], "105.1");
    assert_eq!(caps["warnings"], json!([]));
    assert_eq!(device["password_required"], false);
    assert_eq!(device["audio_route"]["ok"]["encryption"], "none");

    // Streamed to by name, found over mDNS.
    let samples = music(44_100, 44_100);
    let input = dir.path().join("in.wav");
    std::fs::write(&input, wav_bytes(&samples, 44_100)).unwrap();
    let input = input.to_str().unwrap();
    let sent = airstream(
        &netns,
        &["stream", "--device", "test den", "--latency", "300", input],
        dir.path(),
    );
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let summary = next_line(&mut named.stdout);
    assert!(summary.starts_with("received "), "{summary}");
    let received: Vec<i16> = hound::WavReader::open(&output)
        .unwrap()
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .unwrap();
    let comparison = align_and_compare(&samples, &received).expect("audio in the capture");
    assert!(comparison.is_bit_exact(), "{comparison:?}");
}

#[test]
fn a_receiver_stopped_by_sigterm_withdraws_its_advertisement() {
    let netns = Netns::create().expect("network namespace (tests run as root)");
    let dir = tempfile::tempdir().unwrap();
    let mut receive = Receive::start(&netns, &dir.path().join("out.wav"), &["--name", "Leaving"]);
    let announced = next_line(&mut receive.stderr);
    assert!(
        announced.starts_with("advertised on mDNS as \"Leaving\""),
        "{announced}"
    );
    let pid = receive.child.id().to_string();
    // A browser that sees the service first, then its withdrawal.
    let events = netns
        .run(|| {
            let daemon = ServiceDaemon::new().unwrap();
            let browse = daemon.browse("_raop._tcp.local.").unwrap();
            // Without a goodbye the entry would live for its TTL (75 min for the PTR
            // record): this bound is far below that.
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut seen = Vec::new();
            while let Ok(event) =
                browse.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                match event {
                    ServiceEvent::ServiceResolved(info)
                        if info.get_fullname().contains("@Leaving.") && seen.is_empty() =>
                    {
                        seen.push("resolved");
                        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
                        assert!(killed.success());
                    }
                    ServiceEvent::ServiceRemoved(_, name) if name.contains("@Leaving.") => {
                        seen.push("removed");
                        break;
                    }
                    _ => {}
                }
            }
            let _ = daemon.shutdown();
            seen
        })
        .unwrap();
    assert_eq!(events, ["resolved", "removed"]);
    let status = receive.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
