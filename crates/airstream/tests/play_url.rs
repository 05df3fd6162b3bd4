//! `play_url` against the in-repo fake Apple TV on loopback.

// Helpers unwrap too: a failed setup is a test failure.
#![allow(clippy::unwrap_used)]

use airstream::airplay::{AirPlayDevice, PlayOptions, PlaybackEnd, PlaybackState, play_url};
use airstream::{Error, ErrorKind};
use airstream_proto::capabilities::{Capabilities, TxtRecord};
use airstream_proto::pairing::{Credentials, DeviceIdentity};
use airstream_testkit::fake_apple_tv::{
    FakeAppleTv, FakeAppleTvConfig, FetchPlan, LegacyPairing, PlaybackInfoReply,
};
use plist::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const REMOTE_URL: &str = "http://127.0.0.1:9/video.mp4";
const WAIT: Duration = Duration::from_secs(10);

/// Defaults, but polls and retries fast so tests do not sleep whole seconds.
fn fast() -> PlayOptions {
    let mut options = PlayOptions::default();
    options.poll_interval = Duration::from_millis(5);
    options.retry_delay = Duration::from_millis(5);
    options
}

async fn tv(config: FakeAppleTvConfig) -> (FakeAppleTv, AirPlayDevice) {
    let tv = FakeAppleTv::start(config).await.unwrap();
    let device = AirPlayDevice::new(tv.addr());
    (tv, device)
}

fn playing(position: f64, duration: f64) -> PlaybackInfoReply {
    PlaybackInfoReply::Playing { position, duration }
}

/// Deterministic "media": an MP4 `ftyp` box, then pseudo-random bytes.
fn media_file(name: &str, len: usize) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let mut bytes = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    let mut x: u32 = 0x9E37_79B9;
    while bytes.len() < len {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        bytes.push((x >> 24) as u8);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, &bytes).unwrap();
    (dir, path, bytes)
}

fn server_addr(url: &str) -> SocketAddr {
    let rest = url.strip_prefix("http://").unwrap();
    rest[..rest.find('/').unwrap()].parse().unwrap()
}

async fn refuses_connections(addr: SocketAddr) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_err()
}

#[tokio::test]
async fn remote_url_plays_to_the_end() {
    let (tv, device) = tv(FakeAppleTvConfig::default()).await;
    let handle = play_url(&device, REMOTE_URL, fast()).await.unwrap();
    assert_eq!(handle.media_url(), REMOTE_URL);
    assert!(handle.warnings().is_empty());
    let status = handle.subscribe();
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Finished);

    // The final status keeps the last position/duration the device reported.
    let last = *status.borrow();
    assert_eq!(last.state, PlaybackState::Finished);
    assert_eq!((last.position, last.duration), (Some(5.0), Some(10.0)));

    let plays = tv.requests_to("/play");
    assert_eq!(plays.len(), 1);
    let play = &plays[0];
    assert_eq!(play.method, "POST");
    assert_eq!(play.header("User-Agent"), Some("MediaControl/1.0"));
    assert_eq!(
        play.header("Content-Type"),
        Some("application/x-apple-binary-plist")
    );
    assert!(play.body.starts_with(b"bplist00"));
    let body = play.plist().unwrap();
    assert_eq!(body.len(), 3);
    assert_eq!(
        body.get("Content-Location").and_then(Value::as_string),
        Some(REMOTE_URL)
    );
    assert_eq!(
        body.get("Start-Position")
            .and_then(Value::as_unsigned_integer),
        Some(0)
    );
    let session = body
        .get("X-Apple-Session-ID")
        .and_then(Value::as_string)
        .unwrap();
    assert_eq!(session.len(), 36);

    // Loading, playing, playing, stopped: one poll each, all on the /play connection.
    let polls = tv.requests_to("/playback-info");
    assert_eq!(polls.len(), 4);
    assert!(polls.iter().all(|p| p.method == "GET" && p.body.is_empty()));
    assert!(tv.requests().iter().all(|r| r.connection == 1));
    assert!(
        tv.wait_all_closed(WAIT).await,
        "the connection was left open"
    );
    assert_eq!(tv.connection_counts().opened, 1);
}

#[tokio::test]
async fn start_position_goes_into_the_body() {
    let (tv, device) = tv(FakeAppleTvConfig::default()).await;
    let mut options = fast();
    options.start_position = Duration::from_secs(90);
    let handle = play_url(&device, REMOTE_URL, options).await.unwrap();
    handle.finished().await.unwrap();
    let body = tv.requests_to("/play")[0].plist().unwrap();
    assert_eq!(
        body.get("Start-Position")
            .and_then(Value::as_unsigned_integer),
        Some(90)
    );
}

#[tokio::test]
async fn local_file_is_served_and_fetched_in_ranges_byte_for_byte() {
    let (tv, device) = tv(FakeAppleTvConfig {
        fetch: Some(FetchPlan { chunk: 16 * 1024 }),
        ..FakeAppleTvConfig::default()
    })
    .await;
    let (_dir, path, bytes) = media_file("my clip é.mp4", 100_003);
    let handle = play_url(&device, path.to_str().unwrap(), fast())
        .await
        .unwrap();
    let url = handle.media_url().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(url.ends_with("/my%20clip%20%C3%A9.mp4"), "{url}");
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Finished);

    let played = tv.requests_to("/play")[0].plist().unwrap();
    assert_eq!(
        played.get("Content-Location").and_then(Value::as_string),
        Some(url.as_str())
    );
    let fetch = tv.fetch_result().expect("the fake fetched the media");
    assert_eq!(fetch.error, None);
    assert_eq!(fetch.total_len, Some(bytes.len() as u64));
    assert!(fetch.body == bytes, "the served bytes differ from the file");
    // Probe, 7 chunks (the last open-ended), suffix re-read of the tail.
    assert!(fetch.exchanges.len() >= 4, "{:?}", fetch.exchanges);
    assert_eq!(fetch.exchanges[0].range, "bytes=0-1");
    assert_eq!(
        fetch.exchanges[0].content_range.as_deref(),
        Some("bytes 0-1/100003")
    );
    assert!(fetch.exchanges.iter().any(|e| e.range.ends_with('-')));
    assert!(fetch.exchanges.last().unwrap().range.starts_with("bytes=-"));
    for exchange in &fetch.exchanges {
        assert_eq!(exchange.status, 206, "{exchange:?}");
        assert_eq!(exchange.content_type.as_deref(), Some("video/mp4"));
        assert_eq!(exchange.accept_ranges.as_deref(), Some("bytes"));
    }
    assert!(
        refuses_connections(server_addr(&url)).await,
        "the file server is still up after playback ended"
    );
}

#[tokio::test]
async fn two_500s_then_ok_plays() {
    let (tv, device) = tv(FakeAppleTvConfig {
        play_500_times: 2,
        ..FakeAppleTvConfig::default()
    })
    .await;
    let handle = play_url(&device, REMOTE_URL, fast()).await.unwrap();
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Finished);
    let plays = tv.requests_to("/play");
    assert_eq!(plays.len(), 3);
    // Each attempt is a new session, as in pyatv.
    let sessions: std::collections::HashSet<String> = plays
        .iter()
        .map(|p| {
            let body = p.plist().unwrap();
            body.get("X-Apple-Session-ID")
                .and_then(Value::as_string)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(sessions.len(), 3);
    assert!(tv.requests().iter().all(|r| r.connection == 1));
}

#[tokio::test]
async fn three_500s_give_up_with_a_protocol_error() {
    let (tv, device) = tv(FakeAppleTvConfig {
        play_500_times: 3,
        ..FakeAppleTvConfig::default()
    })
    .await;
    let err = play_url(&device, REMOTE_URL, fast()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert_eq!(err.status(), Some(500));
    assert!(err.to_string().contains("3 attempts"), "{err}");
    assert_eq!(tv.requests_to("/play").len(), 3);
    assert!(tv.requests_to("/playback-info").is_empty());
    assert!(tv.wait_all_closed(WAIT).await);
}

#[tokio::test]
async fn device_error_in_playback_info_is_reported_with_code_and_domain() {
    let (tv, device) = tv(FakeAppleTvConfig {
        playback_script: vec![
            PlaybackInfoReply::Loading,
            PlaybackInfoReply::Error {
                code: -12938,
                domain: "CoreMediaErrorDomain".into(),
            },
        ],
        ..FakeAppleTvConfig::default()
    })
    .await;
    let handle = play_url(&device, REMOTE_URL, fast()).await.unwrap();
    let status = handle.subscribe();
    let err = handle.finished().await.unwrap_err();
    match &err {
        Error::PlaybackFailed {
            code, domain, url, ..
        } => {
            assert_eq!(*code, Some(-12938));
            assert_eq!(domain.as_deref(), Some("CoreMediaErrorDomain"));
            assert_eq!(url, REMOTE_URL);
        }
        other => panic!("expected PlaybackFailed, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::Protocol);
    let text = err.to_string();
    assert!(
        text.contains("-12938") && text.contains("CoreMediaErrorDomain"),
        "{text}"
    );
    assert_eq!(status.borrow().state, PlaybackState::Failed);
    assert!(tv.wait_all_closed(WAIT).await);
}

#[tokio::test]
async fn never_starting_gives_up_after_six_polls_and_stops_the_file_server() {
    let (tv, device) = tv(FakeAppleTvConfig {
        playback_script: vec![PlaybackInfoReply::Loading],
        ..FakeAppleTvConfig::default()
    })
    .await;
    let (_dir, path, _) = media_file("clip.mp4", 1000);
    let handle = play_url(&device, path.to_str().unwrap(), fast())
        .await
        .unwrap();
    let server = server_addr(handle.media_url());
    let err = handle.finished().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.to_string().contains("never started"), "{err}");
    // pyatv's window: 5 tolerated replies without a duration, the 6th gives up.
    assert_eq!(tv.requests_to("/playback-info").len(), 6);
    assert!(refuses_connections(server).await);
    assert!(tv.wait_all_closed(WAIT).await);
}

#[tokio::test]
async fn stop_mid_playback_closes_the_connection_and_the_file_server() {
    let (tv, device) = tv(FakeAppleTvConfig {
        playback_script: vec![PlaybackInfoReply::Loading, playing(1.0, 100.0)],
        ..FakeAppleTvConfig::default()
    })
    .await;
    let (_dir, path, _) = media_file("clip.mp4", 1000);
    let handle = play_url(&device, path.to_str().unwrap(), fast())
        .await
        .unwrap();
    let server = server_addr(handle.media_url());
    let mut status = handle.subscribe();
    let playing_now =
        tokio::time::timeout(WAIT, status.wait_for(|s| s.state == PlaybackState::Playing))
            .await
            .unwrap()
            .unwrap()
            .to_owned();
    assert_eq!(playing_now.duration, Some(100.0));
    assert_eq!(playing_now.position, Some(1.0));
    assert!(
        !refuses_connections(server).await,
        "file server down too early"
    );

    handle.stopper().stop();
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Stopped);
    assert_eq!(status.borrow().state, PlaybackState::Stopped);
    assert!(
        tv.wait_all_closed(WAIT).await,
        "the fake still sees the connection"
    );
    assert!(refuses_connections(server).await, "file server still up");
    // Stop means closing the connection, never a /stop request (as pyatv does).
    assert!(tv.requests_to("/stop").is_empty());
}

#[tokio::test]
async fn dropping_the_handle_stops_the_playback() {
    let (tv, device) = tv(FakeAppleTvConfig {
        playback_script: vec![playing(1.0, 100.0)],
        ..FakeAppleTvConfig::default()
    })
    .await;
    let handle = play_url(&device, REMOTE_URL, fast()).await.unwrap();
    drop(handle);
    assert!(tv.wait_all_closed(WAIT).await);
}

#[tokio::test]
async fn refused_play_asks_for_pairing_with_the_exact_command() {
    for status in [401, 403, 503] {
        let (tv, device) = tv(FakeAppleTvConfig {
            play_status: Some(status),
            ..FakeAppleTvConfig::default()
        })
        .await;
        let err = play_url(&device, REMOTE_URL, fast()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PairingRequired, "{status}");
        let expected = format!("airstream pair --address {}", tv.addr());
        match &err {
            Error::PairingRequired { command, .. } => assert_eq!(command, &expected),
            other => panic!("{status}: expected PairingRequired, got {other:?}"),
        }
        // Advice is the CLI's to give: the library's message does not carry it.
        assert!(!err.to_string().contains("airstream pair"), "{err}");
    }
}

#[tokio::test]
async fn other_refusals_are_protocol_errors() {
    let (_tv, device) = tv(FakeAppleTvConfig {
        play_status: Some(404),
        ..FakeAppleTvConfig::default()
    })
    .await;
    let err = play_url(&device, REMOTE_URL, fast()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert_eq!(err.status(), Some(404));
}

/// Capabilities as discovery would read them from an `_airplay._tcp` TXT record.
fn airplay_txt(pairs: &[(&str, &str)]) -> Capabilities {
    Capabilities::from_txt(None, Some(&TxtRecord::from_pairs(pairs)))
}

fn pairing_fixture() -> (Credentials, LegacyPairing) {
    let credentials = Credentials::new([0x11; 8], [0x22; 32]);
    let pairing = LegacyPairing {
        trusted_clients: vec![credentials.ed25519_public_key()],
        ..LegacyPairing::new(DeviceIdentity::new([0xC0; 32]))
    };
    (credentials, pairing)
}

#[tokio::test]
async fn pair_verify_runs_first_on_the_same_connection_when_credentials_are_given() {
    let (credentials, pairing) = pairing_fixture();
    let (tv, device) = tv(FakeAppleTvConfig {
        pairing: Some(pairing),
        require_pair_verify: true,
        ..FakeAppleTvConfig::default()
    })
    .await;
    let mut options = fast();
    options.credentials = Some(credentials);
    let handle = play_url(&device, REMOTE_URL, options).await.unwrap();
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Finished);
    let paths: Vec<String> = tv
        .requests()
        .iter()
        .take(3)
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, ["/pair-verify", "/pair-verify", "/play"]);
    let verify = &tv.requests_to("/pair-verify")[0];
    assert_eq!(
        verify.header("Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(verify.body.len(), 68);
    assert!(tv.requests().iter().all(|r| r.connection == 1));
}

#[tokio::test]
async fn pair_verify_checks_the_device_signature_against_its_advertised_key() {
    let (credentials, pairing) = pairing_fixture();
    let real_key = hex::encode(pairing.identity.ed25519_public_key());
    let impostor_key = hex::encode(DeviceIdentity::new([0x5A; 32]).ed25519_public_key());
    for (pk, ok) in [(real_key, true), (impostor_key, false)] {
        let (tv, device) = tv(FakeAppleTvConfig {
            pairing: Some(pairing.clone()),
            require_pair_verify: true,
            ..FakeAppleTvConfig::default()
        })
        .await;
        let device =
            device.with_capabilities(airplay_txt(&[("features", "0x5A7FFFF7,0x1E"), ("pk", &pk)]));
        let mut options = fast();
        options.credentials = Some(credentials.clone());
        let result = play_url(&device, REMOTE_URL, options).await;
        if ok {
            assert_eq!(
                result.unwrap().finished().await.unwrap(),
                PlaybackEnd::Finished
            );
        } else {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
            // The cause is the source, said once: not repeated in the message.
            let cause = std::error::Error::source(&err).map(ToString::to_string);
            let cause = cause.unwrap_or_default();
            assert!(cause.contains("signature"), "{err}: {cause}");
            assert!(!err.to_string().contains(&cause), "{err}");
            assert!(tv.requests_to("/play").is_empty(), "played to an impostor");
        }
    }
}

#[tokio::test]
async fn a_device_that_wants_pair_verify_asks_for_pairing_without_credentials() {
    let (_, pairing) = pairing_fixture();
    let (tv, device) = tv(FakeAppleTvConfig {
        pairing: Some(pairing),
        require_pair_verify: true,
        ..FakeAppleTvConfig::default()
    })
    .await;
    let err = play_url(&device, REMOTE_URL, fast()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PairingRequired);
    assert!(tv.requests_to("/pair-verify").is_empty());
}

#[tokio::test]
async fn a_device_advertising_legacy_pairing_asks_for_it_before_connecting() {
    let (tv, device) = tv(FakeAppleTvConfig::default()).await;
    let device = device.with_capabilities(airplay_txt(&[
        ("features", "0x5A7FFFF7,0x1E"),
        ("flags", "0x204"),
    ]));
    let err = play_url(&device, REMOTE_URL, fast()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PairingRequired);
    match &err {
        Error::PairingRequired { command, .. } => {
            assert_eq!(command, &format!("airstream pair --address {}", tv.addr()));
        }
        other => panic!("expected PairingRequired, got {other:?}"),
    }
    assert_eq!(tv.connection_counts().opened, 0);
}

#[tokio::test]
async fn unknown_credentials_are_rejected_with_a_pairing_hint() {
    let (_, pairing) = pairing_fixture();
    let (_tv, device) = tv(FakeAppleTvConfig {
        pairing: Some(pairing),
        require_pair_verify: true,
        ..FakeAppleTvConfig::default()
    })
    .await;
    let mut options = fast();
    options.credentials = Some(Credentials::new([0x33; 8], [0x44; 32]));
    let err = play_url(&device, REMOTE_URL, options).await.unwrap_err();
    let Error::CredentialsRejected { command, .. } = &err else {
        panic!("not a rejection: {err:?}");
    };
    assert!(command.starts_with("airstream pair --address"), "{command}");
    assert_eq!(err.kind(), ErrorKind::PairingRequired);
    let text = err.to_string();
    assert!(
        !text.contains("airstream pair"),
        "CLI advice in a library error: {text}"
    );
    assert!(!text.contains(&"44".repeat(32)), "the key leaked: {text}");
}

/// tvOS 14+ devices get the AirPlay 2 session first (tests/fake_tvos14.rs plays through it);
/// one that then refuses HAP pairing never receives a bare `/play`.
#[tokio::test]
async fn airplay2_devices_never_get_a_bare_play() {
    let (tv, device) = tv(FakeAppleTvConfig::default()).await;
    let device = device.with_capabilities(airplay_txt(&[("features", "0x4A7FDFD5,0xBC157FDE")]));
    let err = play_url(&device, REMOTE_URL, fast()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("pair-setup"), "{err}");
    assert_eq!(tv.requests_to("/pair-setup").len(), 1);
    assert!(tv.requests_to("/play").is_empty());
}

#[tokio::test]
async fn a_dropped_connection_while_polling_is_a_network_error() {
    let (_tv, device) = tv(FakeAppleTvConfig {
        playback_script: vec![playing(1.0, 100.0)],
        close_on_poll: Some(3),
        ..FakeAppleTvConfig::default()
    })
    .await;
    let handle = play_url(&device, REMOTE_URL, fast()).await.unwrap();
    let err = handle.finished().await.unwrap_err();
    assert!(matches!(err, Error::ConnectionLost(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Network);
}

#[tokio::test]
async fn unreachable_device_is_a_network_error() {
    // Bind and drop to get a loopback port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = play_url(&AirPlayDevice::new(port), REMOTE_URL, fast())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network);
}

#[tokio::test]
async fn missing_files_and_bad_schemes_are_input_errors() {
    let (tv, device) = tv(FakeAppleTvConfig::default()).await;
    for arg in ["/no/such/movie.mp4", "ftp://127.0.0.1/movie.mp4"] {
        let err = play_url(&device, arg, fast()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Input, "{arg}");
        assert!(
            err.to_string()
                .contains(arg.split('/').next_back().unwrap())
        );
    }
    assert_eq!(tv.connection_counts().opened, 0);
}

#[tokio::test]
async fn https_urls_play_with_a_certificate_warning() {
    let (_tv, device) = tv(FakeAppleTvConfig::default()).await;
    let handle = play_url(&device, "https://127.0.0.1:9/video.mp4", fast())
        .await
        .unwrap();
    assert_eq!(handle.warnings().len(), 1);
    assert!(
        handle.warnings()[0].contains("certificate"),
        "{:?}",
        handle.warnings()
    );
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Finished);
}

#[tokio::test]
async fn binary_plists_and_empty_bodies_are_understood() {
    let (tv, device) = tv(FakeAppleTvConfig {
        playback_script: vec![
            PlaybackInfoReply::Empty,
            playing(2.0, 4.0),
            PlaybackInfoReply::Empty,
        ],
        binary_plists: true,
        ..FakeAppleTvConfig::default()
    })
    .await;
    let handle = play_url(&device, REMOTE_URL, fast()).await.unwrap();
    let status = handle.subscribe();
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Finished);
    assert_eq!(status.borrow().duration, Some(4.0));
    assert_eq!(tv.requests_to("/playback-info").len(), 3);
}
