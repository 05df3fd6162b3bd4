//! The config file gives `stream` its defaults (receivers, latency, codec, a password
//! command) and flags override it; against the in-repo receiver on loopback.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_receiver::{Behaviour, Receiver, ReceiverConfig};
use airstream_testkit::signal::{music, wav_bytes};
use std::path::Path;
use std::process::{Command, Output};

async fn receiver(behaviour: Behaviour) -> Receiver {
    Receiver::start(ReceiverConfig {
        behaviour,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap()
}

async fn stream(config_dir: &Path, args: &[&str], file: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airstream"));
    command
        .args(["stream", "--json"])
        .args(args)
        .arg(file)
        .env("AIRSTREAM_CONFIG_DIR", config_dir)
        .env("AIRSTREAM_RUNTIME_DIR", config_dir.join("run"))
        .env_remove("AIRSTREAM_PASSWORD");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn report(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_file_gives_defaults_and_flags_override_them() {
    let mut rx = receiver(Behaviour {
        password: Some("s3cret".into()),
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.wav");
    let samples = music(20_000, 44_100);
    std::fs::write(&file, wav_bytes(&samples, 44_100)).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "address = \"{}\"\nlatency = 300\ncodec = \"pcm\"\n\
             password_command = \"printf 's3cret\\\\nignored'\"\n",
            rx.local_addr()
        ),
    )
    .unwrap();

    // No receiver, latency, codec or password on the command line: all from the file.
    let json = report(&stream(dir.path(), &[], &file).await);
    assert_eq!(json["receiver"], rx.local_addr().to_string());
    assert_eq!(json["latency_asked_ms"], 300.0);
    assert_eq!(json["codec"], "pcm");
    let record = rx
        .next_session_within(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let lead = airstream::raop::DEFAULT_LEAD_IN_PACKETS as usize * 352 * 2;
    assert_eq!(&record.samples[lead..lead + samples.len()], &samples[..]);

    // Flags win.
    let json = report(
        &stream(
            dir.path(),
            &[
                "--latency",
                "400",
                "--codec",
                "alac",
                "--password",
                "s3cret",
            ],
            &file,
        )
        .await,
    );
    assert_eq!(json["latency_asked_ms"], 400.0);
    assert_eq!(json["codec"], "alac");

    // A password command that prints the wrong password gets the wrong-password code.
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "address = \"{}\"\npassword_command = \"echo wrong\"\n",
            rx.local_addr()
        ),
    )
    .unwrap();
    let out = stream(dir.path(), &[], &file).await;
    assert_eq!(out.status.code(), Some(14));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong\n"));
}
