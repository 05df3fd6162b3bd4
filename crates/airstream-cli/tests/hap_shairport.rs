//! AirPlay 2 sessions against a real receiver: shairport-sync 4.3.7 built with AirPlay 2
//! (shared/peers/README.md), in a network namespace of its own that holds only `lo`, with a
//! private /dev/shm for its nqptp. Transient and full PIN pairing, RTSP over the encrypted
//! channel after pair-verify, a wrong PIN, and credentials the device does not accept; then
//! `airstream pair` against it (the kind it picks, exit 16 for a wrong PIN, the credentials
//! it prints and stores).
//!
//! The receiver's binaries come from `AIRSTREAM_AIRPLAY2_RECEIVER_DIR` (the `bin` directory
//! that shared/peers/build-airplay2-receiver.sh prints), or else from running that script.
//!
//! The rig here is minimal and local to this file (pairing needs no PTP master or audio
//! path); the shared AirPlay 2 rig of airstream-testkit replaces it once it exists.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airstream::airplay::AirPlayDevice;
use airstream::credentials::CredentialStore;
use airstream::pairing::{PairingKind, pairing_kind};
use airstream::{Error, ErrorKind, hap};
use airstream_proto::hap::HapCredentials;
use airstream_proto::rtsp::{Request, Version};
use airstream_testkit::netns::Netns;
use airstream_testkit::process::Guarded;

const RECEIVER_DIR_ENV: &str = "AIRSTREAM_AIRPLAY2_RECEIVER_DIR";
const PORT: u16 = 7000;
/// shairport-sync's PIN for full pair-setup when its config sets none.
const PIN: &str = "3939";
/// What `airplay_device_id = 0x0A1B2C3D4E5F` makes it call itself in pairing.
const DEVICE_ID: &[u8] = b"0a:1b:2c:3d:4e:5f";
const DEVICE_ID_CONFIG: &str = "0x0A1B2C3D4E5FL";
/// Startup waits for nqptp; a few seconds at most on an idle machine.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// The receiver's `bin` directory: `AIRSTREAM_AIRPLAY2_RECEIVER_DIR`, or else what the
/// build script beside the project (`../shared/peers`, as in the development setup) prints;
/// it builds once and then only answers. Runs are serialised with `flock`, as several test
/// processes may ask at once.
fn receiver_dir() -> PathBuf {
    let dir = match std::env::var_os(RECEIVER_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => build_receiver(),
    };
    for program in ["shairport-sync", "nqptp"] {
        assert!(
            dir.join(program).is_file(),
            "no {program} in {}",
            dir.display()
        );
    }
    dir
}

fn build_receiver() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/peers/build-airplay2-receiver.sh");
    assert!(
        script.is_file(),
        "{RECEIVER_DIR_ENV} is not set and {} does not exist: build the AirPlay 2 receiver \
         with shared/peers/build-airplay2-receiver.sh and set {RECEIVER_DIR_ENV} to the bin \
         directory it prints",
        script.display()
    );
    let lock = std::env::temp_dir().join("airstream-airplay2-receiver-build.lock");
    let output = Command::new("flock")
        .arg(&lock)
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "{} failed", script.display());
    let stdout = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("the build script prints its bin directory"),
    )
}

/// shairport-sync + nqptp in their own network, mount and PID namespaces: killing the
/// `unshare` process (as the guard's drop does) kills both.
struct Receiver {
    netns: Netns,
    _dir: tempfile::TempDir,
    _process: Guarded,
}

impl Receiver {
    fn start() -> Self {
        Receiver::start_as(DEVICE_ID_CONFIG)
    }

    /// `device_id` is the `airplay_device_id` setting (12 hex digits with an `L`).
    fn start_as(device_id: &str) -> Self {
        let bin = receiver_dir();
        let dir = tempfile::tempdir().unwrap();
        // No mDNS under test: a stub `avahi-publish-service` that publishes nothing.
        let stub_dir = dir.path().join("stub");
        std::fs::create_dir(&stub_dir).unwrap();
        let stub = stub_dir.join("avahi-publish-service");
        std::fs::write(&stub, "#!/bin/sh\nexec sleep 1000000\n").unwrap();
        std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let config = dir.path().join("shairport-sync.conf");
        std::fs::write(
            &config,
            format!(
                "general = {{ name = \"airstream-hap\"; port = {PORT}; \
                 mdns_backend = \"external-avahi\"; airplay_device_id = {device_id}; \
                 output_backend = \"dummy\"; }};\nmetadata = {{ enabled = \"no\"; }};\n"
            ),
        )
        .unwrap();
        let netns = Netns::create().expect("network namespace (tests run as root)");
        let script = format!(
            "mount -t tmpfs shm /dev/shm && {{ '{nqptp}' & }} && PATH='{stub}':\"$PATH\" exec \
             '{shairport}' -c '{config}'",
            nqptp = bin.join("nqptp").display(),
            stub = stub_dir.display(),
            shairport = bin.join("shairport-sync").display(),
            config = config.display(),
        );
        let mut command = netns.command("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "private",
                "--pid",
                "--fork",
                "--kill-child",
            ])
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut process = Guarded::spawn("shairport-sync (AirPlay 2)", command).unwrap();
        let deadline = Instant::now() + STARTUP_LIMIT;
        let listening = || {
            netns
                .run(|| std::net::TcpStream::connect(("127.0.0.1", PORT)).is_ok())
                .unwrap_or(false)
        };
        while !listening() {
            process.check_running().unwrap();
            assert!(
                Instant::now() < deadline,
                "shairport-sync did not listen within {STARTUP_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Receiver {
            netns,
            _dir: dir,
            _process: process,
        }
    }

    /// `airstream pair --address 127.0.0.1:7000 --pin PIN` inside the namespace.
    fn airstream_pair(&self, config: &std::path::Path, pin: &str) -> std::process::Output {
        self.netns
            .command(env!("CARGO_BIN_EXE_airstream"))
            .args(["pair", "--address", "127.0.0.1:7000", "--pin", pin])
            .env("AIRSTREAM_CONFIG_DIR", config)
            .env_remove("AIRSTREAM_PIN")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The receiver as seen from inside its namespace.
    fn device(&self) -> AirPlayDevice {
        AirPlayDevice::new(SocketAddr::from(([127, 0, 0, 1], PORT))).with_name(self.netns.name())
    }

    /// Runs `test` on a runtime whose sockets live in the receiver's namespace.
    fn run<T: Send>(&self, test: impl std::future::Future<Output = T> + Send) -> T {
        self.netns
            .run(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(test)
            })
            .unwrap()
    }
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
    let receiver = Receiver::start();
    let device = receiver.device();
    receiver.run(async {
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
    let wrong = receiver.airstream_pair(config.path(), "1111");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    eprintln!(
        "airstream pair --pin 1111: exit {:?}: {}",
        wrong.status.code(),
        stderr.trim()
    );
    assert_eq!(wrong.status.code(), Some(16), "{stderr}");
    assert!(stderr.contains("wrong PIN"), "{stderr}");
    assert!(wrong.stdout.is_empty());

    let paired = receiver.airstream_pair(config.path(), PIN);
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
        .get_hap("127.0.0.1:7000")
        .unwrap()
        .unwrap();
    assert_eq!(stored.credentials, printed);
    assert!(!stderr.contains(&stdout.trim()[65..129]), "{stderr}");
}

/// shairport-sync accepts any controller in pair-verify and keeps its key across restarts;
/// what it can do is become another device (a new `airplay_device_id`, as after a reset):
/// then the stored credentials no longer work, and the error says to pair again.
#[test]
fn credentials_of_a_device_that_changed_identity_are_rejected() {
    let receiver = Receiver::start();
    let device = receiver.device();
    let credentials = receiver.run(async {
        hap::pair(&device, || async { Ok(PIN.to_string()) })
            .await
            .unwrap()
    });
    drop(receiver);
    let receiver = Receiver::start_as("0x0A1B2C3D4E60L");
    receiver.run(async {
        let err = hap::verified_session(&device, &credentials)
            .await
            .err()
            .unwrap();
        eprintln!("pair-verify after the device changed identity: {err}");
        assert_eq!(err.kind(), ErrorKind::PairingRequired, "{err}");
        assert!(err.to_string().contains("pair again"), "{err}");
    });
}
