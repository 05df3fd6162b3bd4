//! `airstream pair` as a user runs it, against the fake Apple TV on loopback, then `play`
//! with what it stored. Every test has its own credential store (`AIRSTREAM_CONFIG_DIR`).

// Helpers unwrap too: a failed setup is a test failure.
#![allow(clippy::unwrap_used)]

use airstream::credentials::CredentialStore;
use airstream_proto::pairing::{Credentials, DeviceIdentity};
use airstream_testkit::fake_apple_tv::{FakeAppleTv, FakeAppleTvConfig, LegacyPairing};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Eight digits: no log line could contain them by accident.
const PIN: &str = "73519864";
const URL: &str = "http://127.0.0.1:9/video.mp4";

/// A fake Apple TV that shows [`PIN`] and wants pair-verify before `/play`.
async fn apple_tv() -> FakeAppleTv {
    FakeAppleTv::start(FakeAppleTvConfig {
        pairing: Some(LegacyPairing {
            pin: Some(PIN.into()),
            ..LegacyPairing::new(DeviceIdentity::new([0xC0; 32]))
        }),
        require_pair_verify: true,
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap()
}

/// A config dir that does not exist yet, so the store creates it.
struct Config {
    temp: tempfile::TempDir,
    dir: PathBuf,
}

impl Config {
    fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("airstream");
        Self { temp, dir }
    }

    fn store(&self) -> CredentialStore {
        CredentialStore::in_dir(&self.dir)
    }
}

/// Runs `airstream` with stdin on /dev/null (not a terminal) and a clean environment.
async fn airstream(config: &Config, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airstream"));
    cmd.args(args)
        .env("AIRSTREAM_CONFIG_DIR", &config.dir)
        .env_remove("AIRSTREAM_PIN")
        .env_remove("AIRSTREAM_CREDENTIALS")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (name, value) in env {
        cmd.env(name, value);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Pairs by `--pin` and returns the credentials printed on stdout.
async fn pair_by_flag(config: &Config, address: &str) -> Credentials {
    let out = airstream(config, &["pair", "--address", address, "--pin", PIN], &[]).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line, the credentials: {stdout}");
    lines[0].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn pair_stores_private_credentials_that_play_then_uses() {
    let tv = apple_tv().await;
    let address = tv.addr().to_string();
    let config = Config::new();
    let credentials = pair_by_flag(&config, &address).await;

    let printed = credentials.to_secret_string();
    assert_eq!(printed.len(), 16 + 1 + 64);
    assert_eq!(
        tv.paired_clients()[0].identifier,
        credentials.identifier_hex()
    );
    assert_eq!(mode(&config.dir), 0o700);
    assert_eq!(mode(&config.store().path()), 0o600);
    let stored = config.store().list().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].device_id, address,
        "--address devices are filed by address"
    );
    assert_eq!(stored[0].name, address);
    assert_eq!(stored[0].credentials, credentials);

    let out = airstream(
        &config,
        &[
            "play",
            "--address",
            &address,
            "--poll-interval-ms",
            "5",
            URL,
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let plays = tv.requests_to("/play");
    assert_eq!(plays.len(), 1);
    let verified_on: Vec<usize> = tv
        .requests_to("/pair-verify")
        .iter()
        .map(|r| r.connection)
        .collect();
    // Two during pairing, two on the playback connection.
    assert_eq!(verified_on.len(), 4);
    assert_eq!(verified_on[2..], [plays[0].connection; 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pair_takes_the_pin_from_the_environment() {
    let tv = apple_tv().await;
    let address = tv.addr().to_string();
    let config = Config::new();
    let out = airstream(
        &config,
        &["pair", "--address", &address],
        &[("AIRSTREAM_PIN", PIN)],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let credentials: Credentials = text(&out.stdout).trim().parse().unwrap();
    assert_eq!(
        config.store().get(&address).unwrap().unwrap().credentials,
        credentials
    );
    assert!(text(&out.stderr).contains(&config.store().path().display().to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn pair_with_given_credentials_pairs_exactly_those() {
    let tv = apple_tv().await;
    let address = tv.addr().to_string();
    let config = Config::new();
    let given = Credentials::new([0x0F; 8], [0x1E; 32]);
    let out = airstream(
        &config,
        &[
            "pair",
            "--address",
            &address,
            "--pin",
            PIN,
            "--credentials",
            &given.to_secret_string().to_lowercase(),
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), given.to_secret_string());
    assert_eq!(
        tv.paired_clients()[0].ed25519_public_key,
        given.ed25519_public_key()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn play_without_credentials_names_the_pair_command() {
    let tv = apple_tv().await;
    let address = tv.addr().to_string();
    let out = airstream(&Config::new(), &["play", "--address", &address, URL], &[]).await;
    assert_eq!(out.status.code(), Some(15), "PairingRequired exit code");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("run `airstream pair --address {address}`")),
        "{stderr}"
    );
    assert!(tv.requests_to("/pair-verify").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_credentials_exit_with_the_pairing_code_and_the_flag_overrides_the_store() {
    let tv = apple_tv().await;
    let address = tv.addr().to_string();
    let config = Config::new();
    let good = pair_by_flag(&config, &address).await;
    let unknown = Credentials::new([0x33; 8], [0x44; 32]);

    // --credentials wins over the (good) stored ones.
    let out = airstream(
        &config,
        &[
            "play",
            "--address",
            &address,
            "--credentials",
            &unknown.to_secret_string(),
            URL,
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(15), "PairingRequired exit code");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("rejected the stored credentials (3333333333333333"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("airstream pair --address {address}")),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&"44".repeat(8)),
        "the key leaked: {stderr}"
    );

    // Stored credentials the device does not know are rejected the same way...
    config.store().put(&address, "TV", &unknown).unwrap();
    let out = airstream(&config, &["play", "--address", &address, URL], &[]).await;
    assert_eq!(out.status.code(), Some(15), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("rejected the stored credentials"));

    // ... and good ones given by the flag override them.
    let out = airstream(
        &config,
        &[
            "play",
            "--address",
            &address,
            "--poll-interval-ms",
            "5",
            "--credentials",
            &good.to_secret_string(),
            URL,
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_pin_exits_with_the_bad_pin_code_and_stores_nothing() {
    let tv = apple_tv().await;
    let config = Config::new();
    let out = airstream(
        &config,
        &["pair", "--address", &tv.addr().to_string(), "--pin", "1111"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(16), "BadPin exit code");
    assert!(text(&out.stderr).contains("wrong PIN: run `airstream pair` again"));
    assert!(out.stdout.is_empty());
    assert!(config.store().list().unwrap().is_empty());
    assert!(tv.paired_clients().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_pin_and_a_terminal_pair_fails_before_contacting_the_device() {
    let tv = apple_tv().await;
    let address = tv.addr().to_string();
    let config = Config::new();
    let out = airstream(&config, &["pair", "--address", &address], &[]).await;
    assert_eq!(out.status.code(), Some(18), "Input exit code");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--pin") && stderr.contains("AIRSTREAM_PIN"),
        "{stderr}"
    );

    // Malformed values are refused up front too, without being echoed.
    let out = airstream(
        &config,
        &["pair", "--address", &address, "--pin", "73x9"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(18));
    assert!(!text(&out.stderr).contains("73x9"), "{}", text(&out.stderr));
    let secret = "0011223344556677:ZZ";
    let out = airstream(
        &config,
        &[
            "pair",
            "--address",
            &address,
            "--pin",
            PIN,
            "--credentials",
            secret,
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(18));
    assert!(!text(&out.stderr).contains(":ZZ"), "{}", text(&out.stderr));
    assert_eq!(tv.connection_counts().opened, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_identifiers_and_names_only_and_forget_removes() {
    let tv = apple_tv().await;
    let address = tv.addr().to_string();
    let config = Config::new();
    let paired = pair_by_flag(&config, &address).await;
    let other = Credentials::new([0x77; 8], [0x99; 32]);
    config
        .store()
        .put("58:55:CA:1A:E2:88", "Living Room", &other)
        .unwrap();

    let out = airstream(&config, &["pair", "--list"], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert_eq!(
        listing,
        format!("{address}\t{address}\n58:55:CA:1A:E2:88\tLiving Room\n")
    );
    let secret = paired.to_secret_string();
    let key = secret.split_once(':').unwrap().1;
    for leak in [key, &key.to_lowercase(), &"99".repeat(8)] {
        assert!(!listing.contains(leak) && !text(&out.stderr).contains(leak));
    }

    // By identifier, then by name.
    let out = airstream(&config, &["pair", "--forget", &address], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = airstream(&config, &["pair", "--forget", "living room"], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(config.store().list().unwrap().is_empty());
    let out = airstream(&config, &["pair", "--list"], &[]).await;
    assert!(out.stdout.is_empty());

    let out = airstream(&config, &["pair", "--forget", "Kitchen"], &[]).await;
    assert_eq!(out.status.code(), Some(19), "NotFound exit code");
    assert!(text(&out.stderr).contains("airstream pair --list"));
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_and_pins_never_reach_the_logs_at_trace_level() {
    let tv = apple_tv().await;
    let address = tv.addr().to_string();
    let config = Config::new();
    let given = Credentials::new([0x5E; 8], [0xC7; 32]);
    let secret = given.to_secret_string();
    let key = secret.split_once(':').unwrap().1.to_string();

    let out = airstream(
        &config,
        &[
            "-vvv",
            "pair",
            "--address",
            &address,
            "--pin",
            PIN,
            "--credentials",
            &secret,
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The one sanctioned appearance: the credentials printed once on stdout.
    assert_eq!(text(&out.stdout).matches(key.as_str()).count(), 1);
    let mut logs = text(&out.stderr);

    for args in [
        vec![
            "-vvv",
            "play",
            "--address",
            &address,
            "--poll-interval-ms",
            "5",
            URL,
        ],
        vec!["-vvv", "pair", "--list"],
    ] {
        let out = airstream(&config, &args, &[]).await;
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        logs.push_str(&text(&out.stderr));
        logs.push_str(&text(&out.stdout));
    }
    // Trace logging was on, and it talked about these credentials by identifier.
    assert!(logs.contains("trace: "), "{logs}");
    assert!(logs.contains("pair-verify succeeded"), "{logs}");
    assert!(logs.contains(&given.identifier_hex()), "{logs}");
    for leak in [key.clone(), key.to_lowercase(), PIN.to_string()] {
        assert!(!logs.contains(&leak), "{leak} leaked into the logs");
    }
    // Not even a fragment of the key.
    assert!(!logs.to_uppercase().contains(&"C7".repeat(4)), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_uses_the_stored_credentials_of_a_receiver_that_verifies() {
    use airstream_receiver::{Behaviour, PairVerifyConfig, Receiver, ReceiverConfig};
    use airstream_testkit::signal::{music, wav_bytes};
    use std::time::Duration;

    let credentials = Credentials::new([0x21; 8], [0x43; 32]);
    let mut rx = Receiver::start(ReceiverConfig {
        behaviour: Behaviour {
            require_pair_verify: Some(PairVerifyConfig {
                identity: DeviceIdentity::new([0xC0; 32]),
                trusted_clients: vec![credentials.ed25519_public_key()],
            }),
            ..Behaviour::default()
        },
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let address = rx.local_addr().to_string();
    let config = Config::new();
    let wav = config.temp.path().join("in.wav");
    std::fs::write(&wav, wav_bytes(&music(8_000, 44_100), 44_100)).unwrap();
    let wav = wav.to_str().unwrap();
    let stream = ["stream", "--latency", "300", "--address", &address, wav];

    let out = airstream(&config, &stream, &[]).await;
    assert_eq!(out.status.code(), Some(15), "PairingRequired exit code");
    assert!(
        text(&out.stderr).contains(&format!("airstream pair --address {address}")),
        "{}",
        text(&out.stderr)
    );

    config.store().put(&address, "Den", &credentials).unwrap();
    let out = airstream(&config, &stream, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The refused attempt set up no audio, so it left no session record.
    let record = rx
        .next_session_within(Duration::from_secs(10))
        .await
        .expect("a session");
    assert!(record.summary.packets > 0);
    assert_eq!(
        record.summary.requests[..3],
        ["POST /pair-verify", "POST /pair-verify", "OPTIONS"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_that_cannot_be_stored_are_still_printed() {
    let tv = apple_tv().await;
    let mut config = Config::new();
    let blocker = config.temp.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    config.dir = blocker.join("airstream");
    let address = tv.addr().to_string();
    let out = airstream(&config, &["pair", "--address", &address, "--pin", PIN], &[]).await;
    // A store that cannot be written is an unusable file: the documented input code.
    assert_eq!(out.status.code(), Some(18), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("could not be stored"),
        "{}",
        text(&out.stderr)
    );
    let printed: Credentials = text(&out.stdout).trim().parse().unwrap();
    assert_eq!(tv.paired_clients()[0].identifier, printed.identifier_hex());
}

/// On a terminal `pair` asks for the PIN after the device showed it. `script` gives the
/// command a pseudo-terminal; the answer is typed into it.
#[tokio::test(flavor = "multi_thread")]
async fn pair_asks_for_the_pin_on_a_terminal() {
    let tv = apple_tv().await;
    let address = tv.addr().to_string();
    let config = Config::new();
    let command = format!(
        "{} pair --address {address}",
        env!("CARGO_BIN_EXE_airstream")
    );
    let dir = config.dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .env("AIRSTREAM_CONFIG_DIR", &dir)
            .env_remove("AIRSTREAM_PIN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The prompt comes once pair-pin-start is answered; typed-ahead input waits for it.
        stdin.write_all(format!("{PIN}\n").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        out
    })
    .await
    .unwrap();
    let transcript = text(&out.stdout);
    assert!(out.status.success(), "{transcript}{}", text(&out.stderr));
    assert!(
        transcript.contains("PIN shown on"),
        "the prompt: {transcript}"
    );
    let stored = config.store().get(&address).unwrap().unwrap();
    assert!(transcript.contains(&stored.credentials.to_secret_string()));
    assert_eq!(tv.shown_pin().as_deref(), Some(PIN));
}
