//! Which protocol `stream` uses, as `scan` and `info` show it, for devices found with mDNS
//! (a network namespace holding only `lo`; needs root): AirPlay 2 for receivers that
//! advertise only `_airplay._tcp`, AirPlay 1 for one that does both, NTP timing where the
//! features lack PTP; and a receiver whose flags require HAP pairing, streamed to without
//! credentials, is refused with the documented exit 15 and the `pair` command, before any
//! connection; one given by address that refuses the SETUP with 470 gets the same. TXT
//! records: shairport-sync 4.3.7's (AirPlay 2 build).

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::fixtures;
use airstream_testkit::mdns::{Advertiser, FAKE_SUBNET, FakeDevice};
use airstream_testkit::netns::Netns;
use std::process::{Output, Stdio};

struct Household {
    _advertiser: Advertiser,
    netns: Netns,
    config: tempfile::TempDir,
}

fn household() -> Household {
    use airstream::discovery::ServiceKind;
    let devices = [
        FakeDevice::shairport_sync_airplay2("Loft", "0A:1B:2C:3D:4E:61", 21, false),
        FakeDevice::shairport_sync_airplay2("Den", "0A:1B:2C:3D:4E:62", 22, true),
        FakeDevice::shairport_sync_airplay2("Attic", "0A:1B:2C:3D:4E:63", 23, false).with_txt(
            ServiceKind::AirPlay,
            "features",
            "0x405C4A00,0x1C140",
        ),
        // Flag 0x8: it shows a PIN and wants to be paired.
        FakeDevice::shairport_sync_airplay2("Study", "0A:1B:2C:3D:4E:64", 24, false).with_txt(
            ServiceKind::AirPlay,
            "flags",
            "0xC",
        ),
    ];
    let netns = Netns::create().expect("network namespace (tests run as root)");
    netns.add_address(FAKE_SUBNET).expect("fake subnet on lo");
    let advertiser = Advertiser::start(&netns, &devices).expect("advertiser");
    Household {
        _advertiser: advertiser,
        netns,
        config: tempfile::tempdir().unwrap(),
    }
}

fn airstream(home: &Household, args: &[&str]) -> Output {
    home.netns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(args)
        .env("AIRSTREAM_CONFIG_DIR", home.config.path())
        .env_remove("AIRSTREAM_CREDENTIALS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn scan_and_info_say_which_protocol_stream_uses_and_unpaired_devices_exit_15() {
    let home = household();
    let scan = airstream(&home, &["scan", "--discovery-timeout", "2"]);
    let text = String::from_utf8_lossy(&scan.stdout);
    assert!(
        scan.status.success(),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let stream_column = rows[0].iter().position(|c| *c == "STREAM").expect(&text);
    let streams: Vec<(&str, &str)> = rows[1..].iter().map(|r| (r[0], r[stream_column])).collect();
    assert_eq!(
        streams,
        [
            ("Attic", "AirPlay 2 (NTP)"),
            ("Den", "AirPlay 1"),
            ("Loft", "AirPlay 2 (PTP)"),
            ("Study", "AirPlay 2 (PTP)"),
        ],
        "{text}"
    );

    let info = airstream(&home, &["info", "--device", "Loft"]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{text}");
    assert!(
        text.contains("stream audio:  AirPlay 2 (PTP), compressed ALAC, transient pairing"),
        "{text}"
    );

    let wav = fixtures::audio("music.wav");
    let refused = airstream(
        &home,
        &["stream", "--device", "Study", wav.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    eprintln!("stream to Study without credentials: {}", stderr.trim());
    assert_eq!(refused.status.code(), Some(15), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    assert!(stderr.contains("Study"), "{stderr}");
    assert!(stderr.contains("needs pairing"), "{stderr}");
    assert!(
        stderr.contains("run `airstream pair --device 0A:1B:2C:3D:4E:64`"),
        "{stderr}"
    );
}

/// A device given by address tells nothing of its needs: when its AirPlay 2 SETUP is refused
/// with 470 (Connection Authorization Required, as HAP devices answer an unpaired sender),
/// the stream ends with the same exit 15 and the `pair` command for that address. NTP timing
/// keeps the PTP ports out of it; the fake device is on loopback.
#[test]
fn an_airplay2_setup_refused_with_470_is_pairing_required_exit_15() {
    use airstream_proto::rtsp::{self, Response, Version};
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let device = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = bytes::BytesMut::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(request) = rtsp::parse_request(&mut buf).unwrap() {
                let cseq = request.headers.get("CSeq").unwrap_or("0").to_string();
                let reply =
                    Response::new(Version::Rtsp10, 470, "Connection Authorization Required")
                        .with_header("CSeq", cseq);
                stream.write_all(&reply.to_bytes()).unwrap();
                return request.method;
            }
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "closed before a request");
            buf.extend_from_slice(&chunk[..n]);
        }
    });
    let config = tempfile::tempdir().unwrap();
    let wav = fixtures::audio("music.wav");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airstream"))
        .args(["stream", "--address", &address.to_string()])
        .args(["--protocol", "airplay2", "--timing", "ntp"])
        .arg(&wav)
        .env("AIRSTREAM_CONFIG_DIR", config.path())
        .env_remove("AIRSTREAM_CREDENTIALS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(device.join().unwrap(), "SETUP");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("SETUP refused with 470: {}", stderr.trim());
    assert_eq!(out.status.code(), Some(15), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    assert!(
        stderr.contains(&format!("run `airstream pair --address {address}`")),
        "{stderr}"
    );
}
