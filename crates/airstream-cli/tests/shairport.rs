//! End to end against the real receiver, shairport-sync 3.3.8: the PCM it plays must equal
//! the source for every frame, the first one included. Each test runs shairport-sync, avahi
//! and the `airstream` binary inside a network namespace of its own.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::align_and_compare;
use airstream_testkit::netns::NetNs;
use airstream_testkit::shairport::{PORT, Shairport, ShairportConfig};
use airstream_testkit::signal::{music, wav_bytes};
use std::process::Output;

struct Rig {
    ns: NetNs,
    receiver: Shairport,
    dir: tempfile::TempDir,
}

fn rig(tag: &str, config: &ShairportConfig) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let ns = NetNs::create(tag).unwrap();
    let receiver = Shairport::start(&ns, dir.path(), config).unwrap();
    Rig { ns, receiver, dir }
}

impl Rig {
    fn airstream(&self, args: &[&str]) -> Output {
        self.ns
            .command(env!("CARGO_BIN_EXE_airstream"))
            .args(args)
            .output()
            .unwrap()
    }

    fn write_wav(&self, samples: &[i16]) -> String {
        let path = self.dir.path().join("source.wav");
        std::fs::write(&path, wav_bytes(samples, 44_100)).unwrap();
        path.display().to_string()
    }
}

fn address() -> String {
    format!("127.0.0.1:{PORT}")
}

fn assert_bit_exact(rig: &Rig, source: &[i16]) {
    let captured = rig.receiver.captured().unwrap();
    let cmp = align_and_compare(source, &captured).expect("audio in the capture");
    eprintln!(
        "compared {} frames at offset {} ({:.3} s of lead-in): {} mismatched, {} missing",
        cmp.frames_compared,
        cmp.offset,
        cmp.offset as f64 / 44_100.0,
        cmp.mismatched_frames,
        cmp.missing_frames
    );
    assert!(cmp.is_bit_exact(), "{cmp:?}");
    assert_eq!(cmp.frames_compared, source.len() / 2);
}

fn stream_bit_exact(codec: &str, extra: &[&str]) {
    let mut rig = rig(codec, &ShairportConfig::default());
    let source = music(44_100 * 3, 44_100);
    let file = rig.write_wav(&source);
    let address = address();
    let mut args = vec!["stream", "--codec", codec, "--address", &address, "--json"];
    args.extend_from_slice(extra);
    args.push(&file);
    let out = rig.airstream(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(&format!("\"frames_sent\":{}", 44_100 * 3)),
        "{report}"
    );
    assert_bit_exact(&rig, &source);
    assert!(rig.receiver.is_running(), "shairport-sync survived");
    assert_eq!(
        rig.receiver.log_errors(),
        Vec::<String>::new(),
        "{}",
        rig.receiver.log_text()
    );
    assert!(
        rig.receiver.log_text().contains("TEARDOWN"),
        "{}",
        rig.receiver.log_text()
    );
}

#[test]
fn alac_raw_is_bit_exact_on_shairport_sync() {
    stream_bit_exact("alac-raw", &[]);
}

#[test]
fn rsa_aes_encrypted_stream_is_bit_exact_on_shairport_sync() {
    stream_bit_exact("alac-raw", &["--encrypt"]);
}

#[test]
fn pcm_is_bit_exact_on_shairport_sync() {
    stream_bit_exact("pcm", &[]);
}
