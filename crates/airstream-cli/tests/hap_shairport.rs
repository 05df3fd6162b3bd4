//! AirPlay 2 sessions against a real receiver: shairport-sync 4.3.7 built with AirPlay 2 on
//! the testkit's rig ([`Ap2Rig`]: a receiver namespace per peer with its own nqptp, reached
//! from a sender namespace; scripts/test builds the peer and sets
//! [`airplay2::PEER_BIN_ENV`]). Transient and full PIN pairing, RTSP over the encrypted
//! channel after pair-verify, a wrong PIN, and credentials the device does not accept; then
//! `airstream pair` against it (the kind it picks, exit 16 for a wrong PIN, the credentials
//! it prints and stores).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Instant;

use airstream::airplay::AirPlayDevice;
use airstream::credentials::CredentialStore;
use airstream::pairing::{PairingKind, pairing_kind};
use airstream::{Error, ErrorKind, hap};
use airstream_proto::hap::HapCredentials;
use airstream_proto::rtsp::{Request, Version};
use airstream_testkit::airplay2::{self, Ap2Rig};

/// shairport-sync's PIN for full pair-setup when its config sets none.
const PIN: &str = "3939";
/// What the rig's first receiver (`airplay_device_id = 0x0A1B2C3D4E00`) calls itself in
/// pairing.
const DEVICE_ID: &[u8] = b"0a:1b:2c:3d:4e:00";

/// A rig of `count` receivers named `airstream-hap-<i>`.
fn rig(count: usize) -> Ap2Rig {
    let configs: Vec<_> = (0..count)
        .map(|i| airplay2::config(&format!("airstream-hap-{i}")))
        .collect();
    Ap2Rig::start(&configs).unwrap()
}

/// Receiver `index` of the rig as the sender namespace sees it.
fn device(rig: &Ap2Rig, index: usize) -> AirPlayDevice {
    AirPlayDevice::new(rig.address(index)).with_name(format!("airstream-hap-{index}"))
}

/// Runs `test` on a runtime whose sockets live in the sender namespace.
fn run<T: Send>(rig: &Ap2Rig, test: impl std::future::Future<Output = T> + Send) -> T {
    rig.run_in_sender(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test)
    })
    .unwrap()
}

/// `airstream pair --address ADDRESS --pin PIN` in the sender namespace.
fn airstream_pair(
    rig: &Ap2Rig,
    address: SocketAddr,
    config: &std::path::Path,
    pin: &str,
) -> std::process::Output {
    rig.sender_command(env!("CARGO_BIN_EXE_airstream"))
        .args(["pair", "--address", &address.to_string(), "--pin", pin])
        .env("AIRSTREAM_CONFIG_DIR", config)
        .env_remove("AIRSTREAM_PIN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn volume_request() -> Request {
    Request::new("GET_PARAMETER", "rtsp://127.0.0.1/1", Version::Rtsp10)
        .with_body("text/parameters", "volume\r\n")
}

/// `volume: -N.NNNNNN` (shairport-sync puts a blank line before it).
fn is_volume(body: &[u8]) -> bool {
    String::from_utf8_lossy(body).trim().starts_with("volume: ")
}

/// One receiver, the whole life of a sender: transient session, wrong PIN, full PIN
/// pairing, and pair-verify with the stored credentials, each running RTSP encrypted.
#[test]
fn transient_and_pin_pairing_and_verify_against_shairport_sync() {
    let rig = rig(1);
    let device = device(&rig, 0);
    run(&rig, async {
        let started = Instant::now();
        let mut conn = hap::transient_session(&device).await.unwrap();
        assert!(conn.is_encrypted());
        let reply = conn.request(volume_request()).await.unwrap();
        eprintln!(
            "transient pair-setup (M1-M4) + encrypted GET_PARAMETER: {} {:?} in {:?}",
            reply.status,
            String::from_utf8_lossy(&reply.body).trim(),
            started.elapsed()
        );
        assert_eq!(reply.status, 200);
        assert!(is_volume(&reply.body), "{:?}", reply.body);
        // The channel carries a second request too (counters advance both ways).
        assert!(is_volume(
            &conn.request(volume_request()).await.unwrap().body
        ));
        conn.shutdown().await;

        let err = hap::pair(&device, || async { Ok("1111".to_string()) })
            .await
            .unwrap_err();
        eprintln!("PIN pairing with a wrong PIN: {err}");
        assert!(matches!(err, Error::BadPin), "{err}");
        assert_eq!(err.kind(), ErrorKind::BadPin);

        let started = Instant::now();
        let credentials = hap::pair(&device, || async { Ok(PIN.to_string()) })
            .await
            .unwrap();
        eprintln!(
            "PIN pairing (pair-setup M1-M6, then pair-verify M1-M4) in {:?}",
            started.elapsed()
        );
        assert_eq!(credentials.device_id(), DEVICE_ID);

        let stored: HapCredentials = credentials.to_secret_string().parse().unwrap();
        let started = Instant::now();
        let mut conn = hap::verified_session(&device, &stored).await.unwrap();
        let reply = conn.request(volume_request()).await.unwrap();
        eprintln!(
            "pair-verify with stored credentials + encrypted GET_PARAMETER: {} {:?} in {:?}",
            reply.status,
            String::from_utf8_lossy(&reply.body).trim(),
            started.elapsed()
        );
        assert_eq!(reply.status, 200);
        assert!(is_volume(&reply.body), "{:?}", reply.body);

        // By address, `pair` learns what the device is from GET /info: AirPlay 2 with
        // transient pairing, so no pairing is needed unless a PIN is given.
        let probed = hap::probe_capabilities(device.address)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            pairing_kind(Some(&probed), false),
            Ok(PairingKind::Transient)
        );
        assert_eq!(pairing_kind(Some(&probed), true), Ok(PairingKind::HapPin));
    });

    let config = tempfile::tempdir().unwrap();
    let wrong = airstream_pair(&rig, rig.address(0), config.path(), "1111");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    eprintln!(
        "airstream pair --pin 1111: exit {:?}: {}",
        wrong.status.code(),
        stderr.trim()
    );
    assert_eq!(wrong.status.code(), Some(16), "{stderr}");
    assert!(stderr.contains("wrong PIN"), "{stderr}");
    assert!(wrong.stdout.is_empty());

    let paired = airstream_pair(&rig, rig.address(0), config.path(), PIN);
    let stderr = String::from_utf8_lossy(&paired.stderr);
    let stdout = String::from_utf8_lossy(&paired.stdout);
    eprintln!(
        "airstream pair --pin {PIN}: exit {:?}: {}",
        paired.status.code(),
        stderr.trim()
    );
    assert_eq!(paired.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("HAP PIN pairing"), "{stderr}");
    // Printed once, in pyatv's form, and stored under the address.
    let printed: HapCredentials = stdout.trim().parse().unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let stored = CredentialStore::in_dir(config.path())
        .get_hap(&rig.address(0).to_string())
        .unwrap()
        .unwrap();
    assert_eq!(stored.credentials, printed);
    assert!(!stderr.contains(&stdout.trim()[65..129]), "{stderr}");
}

/// shairport-sync accepts any controller in pair-verify and keeps its key across restarts;
/// what it can do is be another device (another `airplay_device_id`, as after a reset): the
/// rig's second receiver is one. Credentials paired with the first no longer work there, and
/// the error carries the command that pairs again (the CLI prints it as advice).
#[test]
fn credentials_of_a_device_that_changed_identity_are_rejected() {
    let rig = rig(2);
    let (first, other) = (device(&rig, 0), device(&rig, 1));
    let credentials = run(&rig, async {
        hap::pair(&first, || async { Ok(PIN.to_string()) })
            .await
            .unwrap()
    });
    run(&rig, async {
        let err = hap::verified_session(&other, &credentials)
            .await
            .err()
            .unwrap();
        eprintln!("pair-verify after the device changed identity: {err}");
        assert_eq!(err.kind(), ErrorKind::PairingRequired, "{err}");
        assert!(
            matches!(&err, airstream::Error::CredentialsRejected { command, .. }
                if command.starts_with("airstream pair")),
            "{err:?}"
        );
        assert!(!err.to_string().contains("airstream pair"), "{err}");
    });
}
