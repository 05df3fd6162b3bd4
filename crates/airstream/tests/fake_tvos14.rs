//! The fake Apple TV's tvOS 14+ mode against the HAP session shell: it shows a PIN and pairs
//! with it, takes transient pairing, encrypts the channel after either, and refuses `/play`
//! until `SETUP` and `RECORD` made a session, as modern tvOS does. Then `play_url` on the
//! AirPlay 2 path (airplay.md §1.7): a URL and a local file played to the end.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use airstream::airplay::{AirPlayDevice, PlayOptions, PlaybackEnd, play_url};
use airstream::hap::{self, HapConnection};
use airstream::{Error, ErrorKind};
use airstream_proto::bplist;
use airstream_proto::capabilities::{Capabilities, TxtRecord};
use airstream_proto::hap::{ClientIdentity, DeviceIdentity, HapCredentials};
use airstream_proto::rtsp::{Request, Version};
use airstream_testkit::fake_apple_tv::{FakeAppleTv, FakeAppleTvConfig, FetchPlan, Tvos14};
use plist::Value;

async fn apple_tv(pin: Option<&str>) -> (FakeAppleTv, AirPlayDevice) {
    let tv = FakeAppleTv::start(FakeAppleTvConfig {
        tvos14: Some(Tvos14 {
            pin: pin.map(str::to_string),
            ..Tvos14::new(DeviceIdentity::new(
                b"AA:BB:CC:00:14:01".to_vec(),
                [0x14; 32],
            ))
        }),
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap();
    let device = AirPlayDevice::new(tv.addr());
    (tv, device)
}

fn setup_request() -> Request {
    let body = bplist::encode_dict([
        ("deviceID", Value::String("AA:BB:CC:DD:EE:FF".into())),
        (
            "sessionUUID",
            Value::String("F4A3DD2B-7B33-4E0B-9E48-6B3A51E3C7D1".into()),
        ),
        ("timingProtocol", Value::String("NTP".into())),
    ]);
    Request::new("SETUP", "rtsp://127.0.0.1/1234", Version::Rtsp10)
        .with_body("application/x-apple-binary-plist", body)
}

fn play_request() -> Request {
    let body = bplist::encode_dict([
        (
            "Content-Location",
            Value::String("http://127.0.0.1:9/video.mp4".into()),
        ),
        ("Start-Position-Seconds", Value::Real(0.0)),
    ]);
    Request::new("POST", "/play", Version::Http11)
        .with_header("User-Agent", "AirPlay/550.10")
        .with_body("application/x-apple-binary-plist", body)
}

/// SETUP (answered with the event port), RECORD, then `/play`: its status.
async fn session_then_play(conn: &mut HapConnection) -> u16 {
    let reply = conn.request(setup_request()).await.unwrap();
    assert_eq!(reply.status, 200);
    let setup = bplist::decode_dict(&reply.body).unwrap();
    assert!(
        setup
            .get("eventPort")
            .and_then(Value::as_unsigned_integer)
            .unwrap()
            > 0
    );
    let record = Request::new("RECORD", "rtsp://127.0.0.1/1234", Version::Rtsp10);
    assert_eq!(conn.request(record).await.unwrap().status, 200);
    conn.request(play_request()).await.unwrap().status
}

#[tokio::test]
async fn pin_pairing_with_the_shown_pin_then_a_verified_session_plays() {
    let (tv, device) = apple_tv(None).await;
    let shown = || async { Ok(tv.shown_pin().expect("a PIN on screen after pin-start")) };
    let credentials = hap::pair(&device, shown).await.unwrap();
    assert_eq!(tv.hap_paired_controllers().len(), 1);
    assert_eq!(tv.hap_paired_controllers()[0].id, credentials.client().id());

    let mut conn = hap::verified_session(&device, &credentials).await.unwrap();
    assert_eq!(session_then_play(&mut conn).await, 200);
    let plays = tv.requests_to("/play");
    assert_eq!(plays.len(), 1);
    assert_eq!(
        plays[0]
            .plist()
            .unwrap()
            .get("Content-Location")
            .and_then(Value::as_string),
        Some("http://127.0.0.1:9/video.mp4")
    );
}

#[tokio::test]
async fn transient_session_plays() {
    let (tv, device) = apple_tv(None).await;
    let mut conn = hap::transient_session(&device).await.unwrap();
    assert_eq!(session_then_play(&mut conn).await, 200);
    assert!(tv.hap_paired_controllers().is_empty());
}

#[tokio::test]
async fn play_without_a_session_is_refused() {
    let (tv, device) = apple_tv(None).await;
    // A plain connection, as an AirPlay 1 sender would use.
    let mut plain = HapConnection::connect(device.address).await.unwrap();
    assert_eq!(plain.request(play_request()).await.unwrap().status, 403);
    assert_eq!(plain.request(setup_request()).await.unwrap().status, 403);
    // Encrypted, but without SETUP and RECORD.
    let mut conn = hap::transient_session(&device).await.unwrap();
    assert_eq!(conn.request(play_request()).await.unwrap().status, 403);
    assert_eq!(tv.requests_to("/play").len(), 2);
}

#[tokio::test]
async fn wrong_pin_and_unknown_credentials_are_refused() {
    let (_tv, device) = apple_tv(Some("4821")).await;
    let err = hap::pair(&device, || async { Ok("4822".to_string()) })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadPin), "{err}");

    let credentials = hap::pair(&device, || async { Ok("4821".to_string()) })
        .await
        .unwrap();
    let stranger = HapCredentials::new(
        *credentials.device_public_key(),
        ClientIdentity::new([0x77; 32], b"stranger".to_vec()),
        credentials.device_id().to_vec(),
    );
    let err = hap::verified_session(&device, &stranger)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::PairingRequired, "{err}");
}

/// tvOS 14 Apple TV 4K features (bits 38 and 48: AirPlay 2, transient pairing possible).
const TVOS14_FEATURES: &str = "0x4A7FDFD5,0xBC157FDE";
/// Video, bit 38 (AirPlay 2) but neither 43 nor 48: no transient pairing, a PIN is needed.
const PIN_ONLY_FEATURES: &str = "0x5A7FFFF7,0x40";

fn with_features(device: AirPlayDevice, features: &str) -> AirPlayDevice {
    let txt = TxtRecord::from_pairs(&[("features", features), ("flags", "0x8")]);
    device.with_capabilities(Capabilities::from_txt(None, Some(&txt)))
}

/// Defaults, but polls fast so tests do not sleep whole seconds.
fn fast() -> PlayOptions {
    let mut options = PlayOptions::default();
    options.poll_interval = Duration::from_millis(5);
    options.retry_delay = Duration::from_millis(5);
    options
}

/// The AirPlay 2 preamble and follow-up arrived in pyatv's order on one connection.
fn assert_session_flow(tv: &FakeAppleTv) {
    let requests = tv.requests();
    let play = requests.iter().position(|r| r.path == "/play").unwrap();
    let connection = requests[play].connection;
    let on_it: Vec<String> = requests
        .iter()
        .filter(|r| r.connection == connection)
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.path.split('?').next().unwrap_or_default()
            )
        })
        .collect();
    let expected_start = [
        "SETUP rtsp://",
        "RECORD rtsp://",
        "POST /play",
        "PUT /setProperty",
    ];
    let position = |what: &str| on_it.iter().position(|r| r.starts_with(what));
    let order: Vec<Option<usize>> = expected_start.iter().map(|w| position(w)).collect();
    assert!(order.iter().all(Option::is_some), "{on_it:?}");
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{on_it:?}");
    assert!(on_it.iter().any(|r| r == "POST /rate"), "{on_it:?}");
    assert!(on_it.iter().any(|r| r == "GET /playback-info"), "{on_it:?}");
    let body = requests[play].plist().unwrap();
    assert_eq!(
        body.get("streamType").and_then(Value::as_unsigned_integer),
        Some(1)
    );
    assert_eq!(requests[play].header("X-Apple-Stream-ID"), Some("1"));
}

#[tokio::test]
async fn play_url_pairs_then_plays_a_url_to_the_end() {
    let (tv, device) = apple_tv(None).await;
    let device = with_features(device, PIN_ONLY_FEATURES);
    let shown = || async { Ok(tv.shown_pin().expect("a PIN on screen")) };
    let credentials = hap::pair(&device, shown).await.unwrap();

    let mut options = fast();
    options.hap_credentials = Some(credentials);
    let handle = play_url(&device, "http://127.0.0.1:9/video.mp4", options)
        .await
        .unwrap();
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Finished);
    assert_session_flow(&tv);
}

#[tokio::test]
async fn play_url_plays_a_local_file_to_the_end_over_a_transient_session() {
    let tv = FakeAppleTv::start(FakeAppleTvConfig {
        tvos14: Some(Tvos14::new(DeviceIdentity::new(b"AA".to_vec(), [1; 32]))),
        fetch: Some(FetchPlan { chunk: 16 * 1024 }),
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap();
    let device = with_features(AirPlayDevice::new(tv.addr()), TVOS14_FEATURES);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let bytes: Vec<u8> = (0..70_001u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &bytes).unwrap();

    let handle = play_url(&device, path.to_str().unwrap(), fast())
        .await
        .unwrap();
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Finished);
    let fetch = tv.fetch_result().expect("the fake fetched the file");
    assert_eq!(fetch.error, None);
    assert!(fetch.body == bytes, "the served bytes differ from the file");
    assert_session_flow(&tv);
    assert!(tv.hap_paired_controllers().is_empty());
}

#[tokio::test]
async fn play_url_without_credentials_on_a_pin_only_device_is_pairing_required() {
    let (tv, device) = apple_tv(None).await;
    let device = with_features(device, PIN_ONLY_FEATURES);
    let err = play_url(&device, "http://127.0.0.1:9/video.mp4", fast())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::PairingRequired, "{err}");
    assert_eq!(tv.connection_counts().opened, 0);
}

#[tokio::test]
async fn play_url_with_credentials_the_device_forgot_is_rejected() {
    let (_tv, device) = apple_tv(None).await;
    let device = with_features(device, PIN_ONLY_FEATURES);
    let stranger = HapCredentials::new(
        DeviceIdentity::new(b"AA:BB:CC:00:14:01".to_vec(), [0x14; 32]).public_key(),
        ClientIdentity::new([0x78; 32], b"forgotten".to_vec()),
        b"AA:BB:CC:00:14:01".to_vec(),
    );
    let mut options = fast();
    options.hap_credentials = Some(stranger);
    let err = play_url(&device, "http://127.0.0.1:9/video.mp4", options)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::PairingRequired, "{err}");
}
