//! `airstream pair` and `airstream play` against the fake Apple TV in tvOS 14+ mode: without
//! credentials `play` exits 15 (pairing required) at once; `pair` learns from `GET /info`
//! that the device wants a HAP PIN pairing and stores the credentials; `play` then runs the
//! AirPlay 2 session and plays a URL and a local file to the end.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use airstream::credentials::CredentialStore;
use airstream_proto::hap::DeviceIdentity;
use airstream_testkit::fake_apple_tv::{
    FakeAppleTv, FakeAppleTvConfig, FetchPlan, PlaybackInfoReply, Tvos14,
};

const PIN: &str = "58213946";

async fn airstream(config: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airstream"));
    command
        .args(args)
        .env("AIRSTREAM_CONFIG_DIR", config)
        .env_remove("AIRSTREAM_CREDENTIALS")
        .env_remove("AIRSTREAM_PIN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn pair_then_play_a_url_and_a_file_on_tvos14() {
    let tv = FakeAppleTv::start(FakeAppleTvConfig {
        tvos14: Some(Tvos14 {
            pin: Some(PIN.into()),
            ..Tvos14::new(DeviceIdentity::new(
                b"AA:BB:CC:00:14:02".to_vec(),
                [0x41; 32],
            ))
        }),
        fetch: Some(FetchPlan::default()),
        // Two playbacks: each plays, then stops.
        playback_script: vec![
            PlaybackInfoReply::Playing {
                position: 0.0,
                duration: 10.0,
            },
            PlaybackInfoReply::Stopped,
            PlaybackInfoReply::Playing {
                position: 0.0,
                duration: 10.0,
            },
            PlaybackInfoReply::Stopped,
        ],
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap();
    let address = tv.addr().to_string();
    let config = tempfile::tempdir().unwrap();
    let config = config.path().join("airstream");
    let url = "http://127.0.0.1:9/video.mp4";
    let play = ["play", "--address", &address, "--poll-interval-ms", "5"];

    let out = airstream(&config, &[&play[..], &[url]].concat()).await;
    assert_eq!(out.status.code(), Some(15), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("airstream pair --address {address}")),
        "{}",
        text(&out.stderr)
    );

    let out = airstream(&config, &["pair", "--address", &address, "--pin", PIN]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("HAP PIN pairing"),
        "{}",
        text(&out.stderr)
    );
    let stored = CredentialStore::in_dir(&config)
        .get_hap(&address)
        .unwrap()
        .unwrap();
    assert_eq!(
        text(&out.stdout).trim(),
        stored.credentials.to_secret_string()
    );
    assert_eq!(tv.hap_paired_controllers().len(), 1);

    let out = airstream(&config, &[&play[..], &[url]].concat()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plays = tv.requests_to("/play");
    assert_eq!(plays.len(), 2, "the refused bare /play, then the session's");
    assert_eq!(plays[1].header("X-Apple-Stream-ID"), Some("1"));
    assert_eq!(
        tv.requests_to("/feedback").len() + 1,
        tv.requests_to("RECORD").len() + 1
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    let bytes: Vec<u8> = (0..50_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let out = airstream(&config, &[&play[..], &[file.to_str().unwrap()]].concat()).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let fetch = tv.fetch_result().expect("the fake fetched the file");
    assert_eq!(fetch.error, None);
    assert!(fetch.body == bytes, "the served bytes differ from the file");

    // The same credentials given to a device that never paired with us (as after a reset
    // that kept its identity): exit 15, and the key is not echoed.
    let forgetful = FakeAppleTv::start(FakeAppleTvConfig {
        tvos14: Some(Tvos14::new(DeviceIdentity::new(
            b"AA:BB:CC:00:14:02".to_vec(),
            [0x41; 32],
        ))),
        ..FakeAppleTvConfig::default()
    })
    .await
    .unwrap();
    let secret = stored.credentials.to_secret_string();
    let forgetful_address = forgetful.addr().to_string();
    let out = airstream(
        &config,
        &[
            "play",
            "--address",
            &forgetful_address,
            "--credentials",
            &secret,
            url,
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(15), "{stderr}");
    assert!(stderr.contains("pair again"), "{stderr}");
    assert!(!stderr.contains(&secret[65..129]), "{stderr}");
    assert!(forgetful.requests_to("/play").is_empty());
}
