//! The fake Apple TV's tvOS 14+ mode against the HAP session shell: it shows a PIN and pairs
//! with it, takes transient pairing, encrypts the channel after either, and refuses `/play`
//! until `SETUP` and `RECORD` made a session, as modern tvOS does.

#![allow(clippy::unwrap_used)]

use airstream::airplay::AirPlayDevice;
use airstream::hap::{self, HapConnection};
use airstream::{Error, ErrorKind};
use airstream_proto::bplist;
use airstream_proto::hap::{ClientIdentity, DeviceIdentity, HapCredentials};
use airstream_proto::rtsp::{Request, Version};
use airstream_testkit::fake_apple_tv::{FakeAppleTv, FakeAppleTvConfig, Tvos14};
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
