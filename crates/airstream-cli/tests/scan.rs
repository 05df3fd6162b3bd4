//! `airstream scan` and `airstream info --device` against fake devices on real mDNS. The
//! binary runs inside a network namespace holding only `lo` (`ip netns exec`; needs root).

use airstream_testkit::mdns::{Advertiser, FAKE_SUBNET, FakeDevice};
use airstream_testkit::netns::Netns;
use serde_json::{Value, json};
use std::process::Output;
use std::time::Instant;

struct Household {
    _advertiser: Advertiser,
    netns: Netns,
}

fn household() -> Household {
    let netns = Netns::create().expect("network namespace (tests run as root)");
    netns.add_address(FAKE_SUBNET).expect("fake subnet on lo");
    let advertiser = Advertiser::start(&netns, &FakeDevice::household()).expect("advertiser");
    Household {
        _advertiser: advertiser,
        netns,
    }
}

fn airstream(netns: &Netns, args: &[&str]) -> Output {
    netns
        .command(env!("CARGO_BIN_EXE_airstream"))
        .args(args)
        .output()
        .expect("run airstream")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn device<'a>(devices: &'a [Value], name: &str, id: &str) -> &'a Value {
    devices
        .iter()
        .find(|d| d["name"] == name && d["id"] == id)
        .unwrap_or_else(|| panic!("{name} {id} missing from {devices:#?}"))
}

#[test]
fn scan_json_has_every_parsed_field() {
    let home = household();
    let output = airstream(&home.netns, &["scan", "--json", "--discovery-timeout", "2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let devices = json.as_array().expect("array");
    let names: Vec<&str> = devices.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "Bedroom",
            "Kitchen",
            "Living Room",
            "Office",
            "Patio",
            "Speaker",
            "Speaker"
        ]
    );

    let atv = device(devices, "Living Room", "58:55:CA:1A:E2:88");
    assert_eq!(atv["model"], "AppleTV6,2");
    assert_eq!(atv["addresses"], json!(["10.77.0.10"]));
    assert_eq!(
        (&atv["raop_port"], &atv["airplay_port"]),
        (&json!(7000), &json!(7000))
    );
    assert_eq!(
        atv["capabilities"],
        json!({
            "raop": true,
            "airplay": true,
            "codecs": ["pcm", "alac", "aac", "aac-eld"],
            "encryption_types": ["none", "fairplay", "fairplay-sap2.5"],
            "metadata": ["text", "artwork", "progress"],
            "password": null,
            "digest_auth": true,
            "encryption_key": null,
            "sample_rate": null,
            "sample_size": null,
            "channels": null,
            "features": "0xBC157FDE4A7FDFD5",
            "status_flags": "0x44",
            "model": "AppleTV6,2",
            "versions": {
                "txt": null,
                "protocol": 65537,
                "airplay_protocol": "1.1",
                "server": "670.6.2",
                "os": "17.2",
                "firmware": null
            },
            "device_id": "58:55:CA:1A:E2:88",
            "public_key": "3853c0e2ce3844727ca0cb1b86a3e3875e66924d2648d8f8caf71f8118793d98",
            "transports": {"udp": true, "tcp": false},
            "software_volume": null,
            "software_mute": null,
            "access_control_level": 0,
            "access_control_type": null,
            "other": {"vv": "2"},
            "warnings": []
        })
    );
    assert_eq!(atv["password_required"], false);
    assert_eq!(atv["pairing"], "not-needed");
    assert_eq!(atv["airplay2"], "supported");
    assert_eq!(
        atv["audio_route"]["ok"],
        json!({
            "protocol": {"name": "airplay1"},
            "codec": "alac",
            "encryption": "none",
            "auth": {"password": false, "legacy_pairing": false},
            "auth_setup": false,
            "metadata": ["text", "artwork", "progress"],
            "format": {"sample_rate": 44100, "sample_size": 16, "channels": 2},
            "quirks": [],
            "airplay2_supported": true
        })
    );
    assert_eq!(
        atv["play_url_route"],
        json!({"ok": {"path": "airplay2", "transient_pairing": true}})
    );

    let airport = device(devices, "Kitchen", "C8:D0:83:E1:A0:B1");
    let caps = &airport["capabilities"];
    assert_eq!(airport["raop_port"], 5000);
    assert_eq!(airport["airplay_port"], Value::Null);
    assert_eq!(caps["encryption_types"], json!(["none", "mfi-sap"]));
    assert_eq!(caps["features"], "0x1C340445F8A00");
    assert_eq!(caps["versions"]["firmware"], "p20.78100.3");
    assert_eq!(caps["versions"]["txt"], 1);
    assert_eq!(caps["software_volume"], false);
    assert_eq!(caps["encryption_key"], true);
    assert_eq!(
        (
            &caps["sample_rate"],
            &caps["sample_size"],
            &caps["channels"]
        ),
        (&json!(44100), &json!(16), &json!(2))
    );
    assert_eq!(airport["audio_route"]["ok"]["auth_setup"], true);
    assert_eq!(
        airport["audio_route"]["ok"]["quirks"],
        json!([
            "airport-rejects-rsa",
            "airport-auth-setup",
            "airport-text-only-if-listed"
        ])
    );
    assert_eq!(
        airport["play_url_route"]["unsupported"]["needs"],
        "airplay-service"
    );

    let homepod = device(devices, "Bedroom", "D0:D2:B0:A1:B2:C3");
    assert_eq!(homepod["airplay2"], "required");
    // It requires AirPlay 2 (PTP, feature bit 41): `stream` takes that route.
    assert_eq!(
        homepod["audio_route"]["ok"]["protocol"],
        json!({"name": "airplay2", "timing": "ptp", "pairing_required": false, "transient_pairing": true})
    );
    assert_eq!(homepod["play_url_route"]["unsupported"]["needs"], "video");
    assert_eq!(homepod["capabilities"]["status_flags"], "0x98404");

    let office = device(devices, "Office", "F4:5B:0E:6A:EC:16");
    assert_eq!(office["model"], "ShairportSync");
    assert_eq!(
        office["capabilities"]["transports"],
        json!({"udp": true, "tcp": true})
    );
    assert_eq!(office["capabilities"]["versions"]["server"], "105.1");
    assert_eq!(office["audio_route"]["ok"]["encryption"], "none");

    let patio = device(devices, "Patio", "00:05:CD:12:34:56");
    assert_eq!(patio["password_required"], true);
    assert_eq!(patio["capabilities"]["password"], true);
    assert_eq!(patio["capabilities"]["status_flags"], "0x84");
    assert_eq!(patio["audio_route"]["ok"]["auth"]["password"], true);

    device(devices, "Speaker", "0A:00:00:00:00:01");
    device(devices, "Speaker", "0A:00:00:00:00:02");
}

#[test]
fn scan_table_has_one_row_per_device() {
    let home = household();
    // `--timeout` is the hidden alias of `--discovery-timeout`.
    let output = airstream(&home.netns, &["scan", "--timeout", "2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines,
        [
            vec![
                "NAME",
                "ID",
                "MODEL",
                "ADDRESS",
                "PROTOCOLS",
                "STREAM",
                "CODECS",
                "ENCRYPTION",
                "PASSWORD",
                "PAIRING"
            ],
            vec![
                "Bedroom",
                "D0:D2:B0:A1:B2:C3",
                "AudioAccessory1,1",
                "10.77.0.12:7000",
                "RAOP+AirPlay (needs AP2)",
                "AirPlay 2 (PTP)",
                "pcm,alac,aac,aac-eld",
                "none,fairplay,fairplay-sap2.5",
                "no",
                "transient"
            ],
            vec![
                "Kitchen",
                "C8:D0:83:E1:A0:B1",
                "AirPort10,115",
                "10.77.0.11:5000",
                "RAOP (AP2)",
                "AirPlay 1",
                "pcm,alac",
                "none,mfi-sap",
                "no",
                "transient"
            ],
            vec![
                "Living Room",
                "58:55:CA:1A:E2:88",
                "AppleTV6,2",
                "10.77.0.10:7000",
                "RAOP+AirPlay (AP2)",
                "AirPlay 1",
                "pcm,alac,aac,aac-eld",
                "none,fairplay,fairplay-sap2.5",
                "no",
                "transient"
            ],
            vec![
                "Office",
                "F4:5B:0E:6A:EC:16",
                "ShairportSync",
                "10.77.0.13:5000",
                "RAOP",
                "AirPlay 1",
                "pcm,alac",
                "none,rsa",
                "no",
                "no"
            ],
            vec![
                "Patio",
                "00:05:CD:12:34:56",
                "AVR-X2700H",
                "10.77.0.14:1024",
                "RAOP",
                "AirPlay 1",
                "pcm,alac",
                "none,rsa",
                "yes",
                "no"
            ],
            vec![
                "Speaker",
                "0A:00:00:00:00:01",
                "ShairportSync",
                "10.77.0.15:5000",
                "RAOP",
                "AirPlay 1",
                "pcm,alac",
                "none,rsa",
                "no",
                "no"
            ],
            vec![
                "Speaker",
                "0A:00:00:00:00:02",
                "ShairportSync",
                "10.77.0.16:5000",
                "RAOP",
                "AirPlay 1",
                "pcm,alac",
                "none,rsa",
                "no",
                "no"
            ],
        ]
    );
}

#[test]
fn info_finds_a_device_by_name_and_stops_early() {
    let home = household();
    let started = Instant::now();
    let output = airstream(
        &home.netns,
        &[
            "info",
            "--device",
            "LIVING room",
            "--json",
            "--discovery-timeout",
            "30",
        ],
    );
    let elapsed = started.elapsed();
    println!(
        "airstream info --device (process start to exit): {} ms",
        elapsed.as_millis()
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["name"], "Living Room");
    assert_eq!(json["id"], "58:55:CA:1A:E2:88");
    assert_eq!(json["capabilities"]["model"], "AppleTV6,2");
    // It returned instead of browsing for the 30 s it was allowed.
    assert!(elapsed.as_secs() < 30);

    let output = airstream(&home.netns, &["info", "--device", "c8:d0:83:e1:a0:b1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("Kitchen\n"), "{text}");
    assert!(
        text.contains(
            "  stream audio:  RAOP, compressed ALAC, no encryption, auth-setup, no metadata\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  play URLs:     not possible, needs an _airplay._tcp service"),
        "{text}"
    );
    assert_eq!(text.matches("play URLs:").count(), 1, "{text}");
    assert!(
        text.contains("  id:            C8:D0:83:E1:A0:B1\n"),
        "{text}"
    );
    // Words, not Rust names.
    for rust in ["AlacCompressed", "None", "AirPlay1 {", "Unsupported"] {
        assert!(!text.contains(rust), "{rust}: {text}");
    }
}

#[test]
fn info_reports_ambiguous_and_unknown_devices_with_exit_code_19() {
    let home = household();
    let output = airstream(&home.netns, &["info", "--device", "speaker"]);
    assert_eq!(output.status.code(), Some(19), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("name \"speaker\" matches 2 devices"),
        "{message}"
    );
    assert!(
        message.contains("Speaker (0A:00:00:00:00:01 at 10.77.0.15)"),
        "{message}"
    );
    assert!(
        message.contains("Speaker (0A:00:00:00:00:02 at 10.77.0.16)"),
        "{message}"
    );

    let output = airstream(
        &home.netns,
        &["info", "--device", "Garage", "--discovery-timeout", "1"],
    );
    assert_eq!(output.status.code(), Some(19), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no AirPlay device with name \"garage\" answered within 1.0 s")
    );
}

#[test]
fn scan_rejects_a_bad_timeout_and_reports_an_empty_network() {
    let netns = Netns::create().expect("network namespace");
    let output = airstream(&netns, &["scan", "--discovery-timeout", "0"]);
    assert_eq!(output.status.code(), Some(18), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "airstream: --discovery-timeout must be more than 0 and at most 3600 seconds, not 0\n"
    );

    let output = airstream(&netns, &["scan", "--timeout", "0.5", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "[]");
    let output = airstream(&netns, &["scan", "--timeout", "0.5"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("no AirPlay device answered within 0.5 s"));
}

#[test]
fn info_by_address_fails_where_nothing_answers() {
    // A fresh namespace: nothing listens on 127.0.0.1:5000 there. `info` must ask the
    // address rather than describe assumed capabilities (the answering case is in
    // tests/messages.rs, against a receiver on loopback).
    let netns = Netns::create().expect("network namespace");
    for json in [false, true] {
        let mut args = vec!["info", "--address", "127.0.0.1:5000"];
        if json {
            args.push("--json");
        }
        let output = airstream(&netns, &args);
        assert_eq!(output.status.code(), Some(10), "{}", stderr(&output));
        assert_eq!(stdout(&output), "", "nothing assumed is printed");
        assert_eq!(
            stderr(&output),
            "airstream: cannot connect to 127.0.0.1:5000: Connection refused (os error 111)\n"
        );
    }
}

/// `airstream scan --json | head -1`: the reader leaves early. The output then ends quietly,
/// exit 0, no message and no panic; also when stderr is that pipe too (`2>&1 | head`).
#[test]
fn a_reader_that_leaves_early_ends_the_output_quietly() {
    let home = household();
    for (args, stderr_too) in [
        (&["scan", "--json", "--discovery-timeout", "1"][..], false),
        (&["scan", "--json", "--discovery-timeout", "1"][..], true),
        (&["scan", "--discovery-timeout", "1"][..], true),
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        // The reader is gone before anything is written: every write gets EPIPE.
        drop(reader);
        let mut command = home.netns.command(env!("CARGO_BIN_EXE_airstream"));
        command
            .args(args)
            .stdout(writer.try_clone().expect("pipe clone"));
        if stderr_too {
            command.stderr(writer);
        } else {
            drop(writer);
            command.stderr(std::process::Stdio::piped());
        }
        let output = command.output().expect("run airstream");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?} (stderr too: {stderr_too}): {}",
            stderr(&output)
        );
        assert_eq!(stderr(&output), "", "{args:?}");
    }
}
