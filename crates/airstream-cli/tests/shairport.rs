//! End to end against the real receiver, shairport-sync 3.3.8: the PCM it plays must equal
//! the source for every frame, the first one included. Each test runs shairport-sync, avahi
//! and the `airstream` binary inside a network namespace of its own.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::{align_and_compare, compare_across_pause};
use airstream_testkit::shairport::{PORT, Rig, ShairportConfig};
use airstream_testkit::signal::music;
use std::process::Output;

fn rig(config: &ShairportConfig) -> Rig {
    Rig::start(config).unwrap()
}

fn airstream(rig: &Rig, args: &[&str]) -> Output {
    rig.run(env!("CARGO_BIN_EXE_airstream"), args).unwrap()
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
    let mut rig = rig(&ShairportConfig::default());
    let source = music(44_100 * 3, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let address = rig.address();
    let mut args = vec!["stream", "--codec", codec, "--address", &address, "--json"];
    args.extend_from_slice(extra);
    args.push(&file);
    let out = airstream(&rig, &args);
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
fn compressed_alac_is_bit_exact_on_shairport_sync() {
    stream_bit_exact("alac", &[]);
}

#[test]
fn rsa_aes_encrypted_stream_is_bit_exact_on_shairport_sync() {
    stream_bit_exact("alac-raw", &["--encrypt"]);
}

#[test]
fn pcm_is_bit_exact_on_shairport_sync() {
    stream_bit_exact("pcm", &[]);
}

#[test]
fn password_protected_shairport_sync() {
    let config = ShairportConfig {
        password: Some("s3cret".into()),
        ..ShairportConfig::default()
    };
    let rig = rig(&config);
    let source = music(44_100 * 2, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let address = rig.address();

    let wrong = airstream(
        &rig,
        &["stream", "--address", &address, "--password", "nope", &file],
    );
    assert_eq!(wrong.status.code(), Some(14), "exit code for BadPassword");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains(&format!("wrong password for {address}")),
        "{stderr}"
    );
    assert!(!stderr.contains("nope"), "the password is never printed");

    let missing = airstream(&rig, &["stream", "--address", &address, &file]);
    assert_eq!(missing.status.code(), Some(14));

    let right = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["stream", "-vvv", "--address", &address, &file])
        .env("AIRSTREAM_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    let logs = String::from_utf8_lossy(&right.stderr);
    assert!(logs.contains("trace: "), "trace logging was on");
    assert!(
        !logs.contains("s3cret"),
        "the password never reaches the logs"
    );
    assert_bit_exact(&rig, &source);
}

#[test]
fn metadata_and_volume_reach_shairport_syncs_metadata_pipe() {
    let config = ShairportConfig {
        metadata: true,
        ..ShairportConfig::default()
    };
    let rig = rig(&config);
    let source = music(44_100 * 2, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let artwork = rig.dir.path().join("cover.png");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-a-real-image".to_vec();
    std::fs::write(&artwork, &png).unwrap();
    let out = airstream(
        &rig,
        &[
            "stream",
            "--address",
            &rig.address(),
            "--volume",
            "50",
            "--title",
            "Tïtle",
            "--artist",
            "Artist",
            "--album",
            "Album",
            "--artwork",
            artwork.to_str().unwrap(),
            &file,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items = rig
        .receiver
        .metadata_to_the_end(std::time::Duration::from_secs(5));
    let find = |kind: &str, code: &str| {
        items
            .iter()
            .find(|i| i.kind == kind && i.code == code)
            .map(|i| String::from_utf8_lossy(&i.data).to_string())
    };
    assert_eq!(find("core", "minm").as_deref(), Some("Tïtle"));
    assert_eq!(find("core", "asar").as_deref(), Some("Artist"));
    assert_eq!(find("core", "asal").as_deref(), Some("Album"));
    let picture = items
        .iter()
        .find(|i| i.kind == "ssnc" && i.code == "PICT")
        .expect("artwork item");
    assert_eq!(picture.data, png, "artwork bytes arrive unchanged");
    // shairport-sync may report its own default (-18 dB) when its player starts before our
    // SET_PARAMETER is handled; what it settles on is the value we sent.
    let volume = items
        .iter()
        .rev()
        .find(|i| i.kind == "ssnc" && i.code == "pvol")
        .map(|i| String::from_utf8_lossy(&i.data).to_string())
        .expect("volume item");
    assert!(volume.starts_with("-15.00,"), "{volume}");
    let progress = find("ssnc", "prgr").expect("progress item");
    let parts: Vec<u32> = progress.split('/').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts[0], parts[1], "start == current at the start");
    assert_eq!(
        parts[2].wrapping_sub(parts[0]),
        44_100 * 2,
        "end - start = duration in frames"
    );
}

#[test]
fn pause_and_resume_on_shairport_sync_lose_nothing() {
    let config = ShairportConfig {
        output_buffer_seconds: Some(0.1),
        ..ShairportConfig::default()
    };
    let rig = rig(&config);
    let source = music(44_100 * 4, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let runtime = rig.dir.path().join("run");
    let mut stream = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["stream", "--address", &rig.address(), &file])
        .env("AIRSTREAM_RUNTIME_DIR", &runtime)
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
    };
    // Pause once about a second of audio has been heard (the first ~2 s are latency).
    std::thread::sleep(std::time::Duration::from_millis(3300));
    control("pause");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    control("resume");
    assert!(stream.wait().unwrap().success());

    let captured = rig.receiver.captured().unwrap();
    let aligned = align_and_compare(&source, &captured).expect("audio in the capture");
    // What it wrote ahead of time before the FLUSH (0.1 s) plays twice in the capture; a real
    // output device drops it on FLUSH.
    let pause = compare_across_pause(
        &source,
        &captured[aligned.offset * 2..],
        44_100 / 10 + 4 * 352,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{pause:?}");
    assert!(pause.cut > 0 && pause.cut < source.len() / 2, "{pause:?}");
    assert_eq!(rig.receiver.log_errors(), Vec::<String>::new());
}

#[test]
fn stream_to_shairport_sync_found_by_name() {
    let config = ShairportConfig {
        name: "Kitchen Speaker".into(),
        ..ShairportConfig::default()
    };
    let rig = rig(&config);
    let source = music(44_100 * 2, 44_100);
    let file = rig.write_wav(&source).unwrap();
    // Found through avahi's mDNS inside the test's namespace, by a differently cased name.
    let out = airstream(
        &rig,
        &["stream", "--device", "kitchen SPEAKER", "--json", &file],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(&format!(":{PORT}\"")),
        "streamed to the advertised port: {report}"
    );
    assert_bit_exact(&rig, &source);
}

#[test]
fn tags_of_the_file_reach_shairport_sync_from_a_pipe() {
    let config = ShairportConfig {
        metadata: true,
        ..ShairportConfig::default()
    };
    let rig = rig(&config);
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../airstream-audio/tests/data/tagged.flac");
    let mut cat = std::process::Command::new("cat")
        .arg(&fixture)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = rig
        .ns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(["stream", "--address", &rig.address(), "-"])
        .stdin(cat.stdout.take().unwrap())
        .output()
        .unwrap();
    cat.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items = rig
        .receiver
        .metadata_to_the_end(std::time::Duration::from_secs(5));
    let text = |code: &str| {
        items
            .iter()
            .find(|i| i.kind == "core" && i.code == code)
            .map(|i| String::from_utf8_lossy(&i.data).to_string())
    };
    assert_eq!(text("minm").as_deref(), Some("Test Tone Suite"));
    assert_eq!(text("asar").as_deref(), Some("The Fixtures"));
    assert_eq!(text("asal").as_deref(), Some("Airstream Samples"));
    let picture = items
        .iter()
        .find(|i| i.kind == "ssnc" && i.code == "PICT")
        .expect("cover art");
    let cover = std::fs::read(fixture.with_file_name("cover.png")).unwrap();
    assert_eq!(
        picture.data, cover,
        "the PNG embedded in the FLAC, byte for byte"
    );
}

#[test]
fn a_group_of_two_shairport_syncs_plays_bit_exact_on_both() {
    let rig = rig(&ShairportConfig::default());
    let second_dir = rig.dir.path().join("second");
    std::fs::create_dir(&second_dir).unwrap();
    let second_config = ShairportConfig {
        name: "airstream-test-2".into(),
        port: PORT + 1,
        udp_port_base: 6101,
        ..ShairportConfig::default()
    };
    let mut second = rig
        .receiver
        .start_beside(&rig.ns, &second_dir, &second_config)
        .unwrap();
    let source = music(44_100 * 3, 44_100);
    let file = rig.write_wav(&source).unwrap();
    let (first_address, second_address) = (rig.address(), format!("127.0.0.1:{}", second.port));
    let out = airstream(
        &rig,
        &[
            "stream",
            "--address",
            &first_address,
            "--address",
            &second_address,
            "--json",
            &file,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut first_frames = Vec::new();
    for receiver in [&rig.receiver, &second] {
        let captured = receiver.captured().unwrap();
        let cmp = align_and_compare(&source, &captured).expect("audio in the capture");
        eprintln!(
            "{}: compared {} frames at offset {}: {} mismatched, {} missing",
            receiver.dir.display(),
            cmp.frames_compared,
            cmp.offset,
            cmp.mismatched_frames,
            cmp.missing_frames
        );
        assert!(cmp.is_bit_exact(), "{cmp:?}\n{}", receiver.log_text());
        assert_eq!(cmp.frames_compared, source.len() / 2);
        assert_eq!(receiver.log_errors(), Vec::<String>::new());
        // Where each capture starts depends on when its stdout backend began writing, so
        // the offsets differ; the RTP time each one started playing at must not.
        let log = receiver.log_text();
        let first_frame = log
            .lines()
            .find_map(|l| l.split("first_packet_time set for frame ").nth(1))
            .map(|rest| rest.trim_end_matches(['.', '"', ' ']).to_string());
        first_frames.push(first_frame.expect("shairport-sync logs its first frame"));
    }
    assert_eq!(first_frames[0], first_frames[1], "one RTP timeline");
    assert!(second.is_running(), "the second shairport-sync survived");
}
