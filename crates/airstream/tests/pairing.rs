//! `airstream::pairing::pair` against the fake Apple TV, and the pair-verify the resulting
//! credentials unlock: `/play` (AirPlay 1) and a RAOP stream to the in-repo receiver.

// Helpers unwrap too: a failed setup is a test failure.
#![allow(clippy::unwrap_used)]

use airstream::airplay::{AirPlayDevice, PlayOptions, PlaybackEnd, play_url};
use airstream::pairing::{Credentials, pair};
use airstream::raop::{self, StreamOptions};
use airstream::{Error, ErrorKind};
use airstream_audio::{PcmFormat, VecSource};
use airstream_proto::capabilities::{Capabilities, TxtRecord};
use airstream_proto::pairing::{DeviceIdentity, PairingError};
use airstream_receiver::{Behaviour, PairVerifyConfig, Receiver, ReceiverConfig};
use airstream_testkit::fake_apple_tv::{FakeAppleTv, FakeAppleTvConfig, LegacyPairing};
use airstream_testkit::signal::music;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const REMOTE_URL: &str = "http://127.0.0.1:9/video.mp4";

fn device_identity() -> DeviceIdentity {
    DeviceIdentity::new([0xC0; 32])
}

/// An Apple TV that requires pair-verify before `/play` and shows `pin` (random if `None`).
async fn apple_tv(pin: Option<&str>) -> (FakeAppleTv, AirPlayDevice) {
    let tv = FakeAppleTv::start(FakeAppleTvConfig {
        pairing: Some(LegacyPairing {
            pin: pin.map(str::to_string),
            ..LegacyPairing::new(device_identity())
        }),
        require_pair_verify: true,
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap();
    let device = AirPlayDevice::new(tv.addr());
    (tv, device)
}

fn fast() -> PlayOptions {
    let mut options = PlayOptions::default();
    options.poll_interval = Duration::from_millis(5);
    options
}

fn paths(tv: &FakeAppleTv) -> Vec<(usize, String)> {
    tv.requests()
        .into_iter()
        .map(|r| (r.connection, r.path))
        .collect()
}

#[tokio::test]
async fn pairs_with_the_pin_the_device_shows_then_verifies_on_a_new_connection() {
    let (tv, device) = apple_tv(None).await;
    let credentials = pair(
        &device,
        || async {
            // Like a user reading the TV: the PIN is only there once pairing started.
            assert_eq!(tv.requests_to("/pair-pin-start").len(), 1);
            assert!(tv.requests_to("/pair-setup-pin").is_empty());
            Ok(tv.shown_pin().expect("the TV shows a PIN"))
        },
        None,
    )
    .await
    .unwrap();

    assert_eq!(
        paths(&tv),
        [
            (1, "/pair-pin-start".to_string()),
            (1, "/pair-setup-pin".to_string()),
            (1, "/pair-setup-pin".to_string()),
            (1, "/pair-setup-pin".to_string()),
            (2, "/pair-verify".to_string()),
            (2, "/pair-verify".to_string()),
        ]
    );
    let start = &tv.requests_to("/pair-pin-start")[0];
    assert_eq!(start.header("User-Agent"), Some("AirPlay/320.20"));
    assert_eq!(start.header("Connection"), Some("keep-alive"));
    assert_eq!(start.header("Content-Length"), None);
    assert!(start.body.is_empty());
    for setup in tv.requests_to("/pair-setup-pin") {
        assert_eq!(setup.header("User-Agent"), Some("AirPlay/320.20"));
        assert_eq!(setup.header("Connection"), Some("keep-alive"));
        assert_eq!(
            setup.header("Content-Type"),
            Some("application/x-apple-binary-plist")
        );
        assert!(setup.plist().is_some(), "pair-setup bodies are plists");
    }
    let user = tv.requests_to("/pair-setup-pin")[0].plist().unwrap();
    assert_eq!(
        user.get("user").and_then(plist::Value::as_string),
        Some(credentials.identifier_hex().as_str())
    );

    let paired = tv.paired_clients();
    assert_eq!(paired.len(), 1);
    assert_eq!(paired[0].identifier, credentials.identifier_hex());
    assert_eq!(
        paired[0].ed25519_public_key,
        credentials.ed25519_public_key()
    );

    // The device now plays for these credentials, and for nobody else.
    let mut options = fast();
    options.credentials = Some(credentials.clone());
    let handle = play_url(&device, REMOTE_URL, options).await.unwrap();
    assert_eq!(handle.finished().await.unwrap(), PlaybackEnd::Finished);
    let err = play_url(&device, REMOTE_URL, fast()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PairingRequired, "{err}");
    let mut options = fast();
    options.credentials = Some(Credentials::new([1; 8], [2; 32]));
    let err = play_url(&device, REMOTE_URL, options).await.unwrap_err();
    assert!(matches!(err, Error::CredentialsRejected { .. }), "{err:?}");
}

#[tokio::test]
async fn given_credentials_are_the_ones_paired() {
    let (tv, device) = apple_tv(Some("0042")).await;
    let given = Credentials::new([0x75; 8], [0x8F; 32]);
    // The PIN as a user may type it: surrounding blanks, leading zeros dropped.
    let credentials = pair(
        &device,
        || async { Ok(" 42\n".to_string()) },
        Some(given.clone()),
    )
    .await
    .unwrap();
    assert_eq!(credentials, given);
    assert_eq!(tv.paired_clients()[0].identifier, "7575757575757575");
}

#[tokio::test]
async fn a_wrong_pin_is_bad_pin_and_pairs_nothing() {
    let (tv, device) = apple_tv(Some("1234")).await;
    let err = pair(&device, || async { Ok("4321".to_string()) }, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadPin), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::BadPin);
    // What to run next is the CLI's advice, not the library's message.
    assert_eq!(err.to_string(), "wrong PIN");
    assert!(tv.paired_clients().is_empty());
    // Stopped at the refused proof: no key exchange, no verify.
    assert_eq!(tv.requests_to("/pair-setup-pin").len(), 2);
    assert!(tv.requests_to("/pair-verify").is_empty());
}

#[tokio::test]
async fn an_impostor_that_accepts_any_pin_fails_the_device_proof_check() {
    let tv = FakeAppleTv::start(FakeAppleTvConfig {
        pairing: Some(LegacyPairing {
            pin: Some("1234".into()),
            ..LegacyPairing::new(device_identity())
        }),
        forge_setup_proof: true,
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap();
    let device = AirPlayDevice::new(tv.addr());
    let err = pair(&device, || async { Ok("9999".to_string()) }, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Pairing {
                source: PairingError::DeviceProofMismatch,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Protocol);
    // The cause is the source, said once: not repeated in the message.
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    let cause = cause.unwrap_or_default();
    assert!(cause.contains("M2"), "{err}: {cause}");
    assert!(!err.to_string().contains(&cause), "{err}");
    // Our key never went to the impostor.
    assert_eq!(tv.requests_to("/pair-setup-pin").len(), 2);
}

#[tokio::test]
async fn a_device_without_pin_pairing_is_unsupported_and_no_pin_is_asked() {
    let tv = FakeAppleTv::start(FakeAppleTvConfig::default())
        .await
        .unwrap();
    let device = AirPlayDevice::new(tv.addr());
    let asked = AtomicBool::new(false);
    let err = pair(
        &device,
        || async {
            asked.store(true, Ordering::SeqCst);
            Ok("1234".to_string())
        },
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("/pair-pin-start"), "{err}");
    assert!(!asked.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_pin_that_is_not_digits_is_refused_before_pair_setup() {
    let (tv, device) = apple_tv(Some("1234")).await;
    let err = pair(&device, || async { Ok("12a4".to_string()) }, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Input, "{err}");
    assert!(err.to_string().contains("1 to 8 digits"), "{err}");
    assert!(tv.requests_to("/pair-setup-pin").is_empty());
}

#[tokio::test]
async fn an_error_from_the_pin_source_ends_pairing() {
    let (tv, device) = apple_tv(Some("1234")).await;
    let err = pair(
        &device,
        || async { Err(Error::InvalidInput("no PIN entered".into())) },
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "no PIN entered");
    assert!(tv.requests_to("/pair-setup-pin").is_empty());
}

#[tokio::test]
async fn an_unreachable_device_is_a_network_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = pair(
        &AirPlayDevice::new(addr),
        || async { Ok("1234".to_string()) },
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn a_device_that_switched_pairing_off_is_refused_without_connecting() {
    let (tv, device) = apple_tv(Some("1234")).await;
    let txt = TxtRecord::from_pairs(&[("features", "0x5A7FFFF7,0x1E"), ("acl", "1")]);
    let device = device.with_capabilities(Capabilities::from_txt(None, Some(&txt)));
    let err = pair(&device, || async { Ok("1234".to_string()) }, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("acl=1"), "{err}");
    assert_eq!(tv.connection_counts().opened, 0);
}

#[tokio::test]
async fn pairing_checks_the_device_signature_with_the_key_it_sent_while_pairing() {
    let (tv, device) = apple_tv(Some("1234")).await;
    // Discovery advertises another key; the one authenticated by the PIN exchange wins.
    let other = hex::encode(DeviceIdentity::new([0x5A; 32]).ed25519_public_key());
    let txt = TxtRecord::from_pairs(&[("features", "0x5A7FFFF7,0x1E"), ("pk", &other)]);
    let device = device.with_capabilities(Capabilities::from_txt(None, Some(&txt)));
    pair(&device, || async { Ok("1234".to_string()) }, None)
        .await
        .unwrap();
    assert_eq!(tv.requests_to("/pair-verify").len(), 2);
}

// --- RAOP: legacy pair-verify before ANNOUNCE -------------------------------------------

async fn verifying_receiver(trusted: &Credentials) -> Receiver {
    Receiver::start(ReceiverConfig {
        behaviour: Behaviour {
            require_pair_verify: Some(PairVerifyConfig {
                identity: device_identity(),
                trusted_clients: vec![trusted.ed25519_public_key()],
            }),
            ..Behaviour::default()
        },
        ..ReceiverConfig::default()
    })
    .await
    .unwrap()
}

async fn stream(receiver: &Receiver, credentials: Option<Credentials>) -> airstream::Result<()> {
    let samples = music(4096, 44_100);
    let source = Box::new(VecSource::new(PcmFormat::RAOP, samples));
    let options = StreamOptions {
        latency: Duration::from_millis(300),
        ..StreamOptions::default()
    };
    let verified = raop::Receiver {
        credentials,
        ..raop::Receiver::new(receiver.local_addr())
    };
    raop::stream_to_end(verified, source, options)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_raop_stream_runs_pair_verify_before_announce() {
    let credentials = Credentials::new([0x11; 8], [0x22; 32]);
    let mut rx = verifying_receiver(&credentials).await;
    stream(&rx, Some(credentials)).await.unwrap();
    let record = rx
        .next_session_within(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        record.summary.requests[..4],
        [
            "POST /pair-verify",
            "POST /pair-verify",
            "OPTIONS",
            "ANNOUNCE"
        ]
    );
    assert!(record.summary.teardown);
}

#[tokio::test]
async fn a_raop_stream_without_or_with_unknown_credentials_is_refused() {
    let trusted = Credentials::new([0x11; 8], [0x22; 32]);
    let rx = verifying_receiver(&trusted).await;
    let err = stream(&rx, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PairingRequired, "{err}");
    match &err {
        Error::PairingRequired { command, .. } => {
            assert_eq!(
                command,
                &format!("airstream pair --address {}", rx.local_addr())
            );
        }
        other => panic!("expected PairingRequired, got {other:?}"),
    }
    let err = stream(&rx, Some(Credentials::new([0x33; 8], [0x44; 32])))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CredentialsRejected { .. }), "{err:?}");
    assert!(!err.to_string().contains(&"44".repeat(8)), "{err}");
}

// --- The fake's documented statuses ------------------------------------------------------

#[tokio::test]
async fn the_fake_answers_pair_setup_with_its_documented_statuses() {
    use airstream_proto::pairing::PairSetup;
    use airstream_proto::rtsp::{self, Request, Response, Version};
    use airstream_testkit::fake_apple_tv::WRONG_PIN_STATUS;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// One request, one reply, on a plain connection: what the fake answers, nothing more.
    struct Conn {
        stream: TcpStream,
        buf: bytes::BytesMut,
    }
    impl Conn {
        async fn request(&mut self, request: &Request) -> std::io::Result<Response> {
            self.stream.write_all(&request.to_bytes()).await?;
            loop {
                if let Some(reply) = rtsp::parse_response(&mut self.buf)
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                {
                    return Ok(reply);
                }
                if self.stream.read_buf(&mut self.buf).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
    }

    let (tv, _) = apple_tv(Some("1234")).await;
    let post = |path: &str, body: Vec<u8>| {
        let request = Request::new("POST", path, Version::Http11);
        if body.is_empty() {
            request
        } else {
            request.with_body("application/x-apple-binary-plist", body)
        }
    };
    let credentials = Credentials::new([0x11; 8], [0x22; 32]);
    let setup = PairSetup::new(&credentials, "9999").unwrap();
    let mut conn = Conn {
        stream: TcpStream::connect(tv.addr()).await.unwrap(),
        buf: bytes::BytesMut::new(),
    };

    // No PIN on screen yet: 403.
    let reply = conn
        .request(&post("/pair-setup-pin", setup.request_body()))
        .await
        .unwrap();
    assert_eq!(reply.status, 403);
    assert_eq!(tv.shown_pin(), None);
    conn.request(&post("/pair-pin-start", Vec::new()))
        .await
        .unwrap();
    assert_eq!(tv.shown_pin().as_deref(), Some("1234"));
    // Not a plist: 400.
    let reply = conn
        .request(&post("/pair-setup-pin", b"junk".to_vec()))
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    // The wrong PIN: 470, which the client reads as a wrong PIN.
    let reply = conn
        .request(&post("/pair-setup-pin", setup.request_body()))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let proof = setup.handle_response(&reply.body).unwrap();
    let reply = conn
        .request(&post("/pair-setup-pin", proof.request_body()))
        .await
        .unwrap();
    assert_eq!(reply.status, WRONG_PIN_STATUS);
    assert!(airstream::pairing::WRONG_PIN_STATUSES.contains(&reply.status));
}
