//! The AirPlay 2 test peer itself: shairport-sync 4.3.7 (AirPlay 2) + nqptp in a receiver
//! namespace, reached from a sender namespace over a veth. Needs the peer that scripts/test
//! builds; without it these tests fail and say so.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::airplay2::{self, Ap2Rig, get_info};
use airstream_testkit::shairport::ShairportConfig;
use std::time::Instant;

/// Feature bits that mark an AirPlay 2 receiver (shared/protocol/airplay2.md §7).
const UNIFIED_MEDIA_CONTROL: u64 = 1 << 38;
const HK_PAIRING_AND_ACCESS_CONTROL: u64 = 1 << 46;
const CORE_UTILS_PAIRING_AND_ENCRYPTION: u64 = 1 << 48;

fn features(rig: &Ap2Rig, index: usize) -> u64 {
    let address = rig.address(index);
    let info = rig
        .run_in_sender(move || get_info(address))
        .unwrap()
        .unwrap();
    info.get("features")
        .and_then(plist::Value::as_unsigned_integer)
        .unwrap_or_else(|| panic!("no integer features in /info: {info:?}"))
}

#[test]
fn info_from_the_sender_namespace_shows_airplay_2_features() {
    let started = Instant::now();
    let rig = Ap2Rig::start(&[airplay2::config("ap2-info")]).unwrap();
    eprintln!("rig start-up: {:.3} s", started.elapsed().as_secs_f64());
    let features = features(&rig, 0);
    eprintln!("features 0x{features:x}");
    for (bit, name) in [
        (UNIFIED_MEDIA_CONTROL, "38 SupportsUnifiedMediaControl"),
        (
            HK_PAIRING_AND_ACCESS_CONTROL,
            "46 SupportsHKPairingAndAccessControl",
        ),
        (
            CORE_UTILS_PAIRING_AND_ENCRYPTION,
            "48 SupportsCoreUtilsPairingAndEncryption",
        ),
    ] {
        assert_ne!(features & bit, 0, "bit {name} missing from 0x{features:x}");
    }
    let log = rig.receivers[0].log_text();
    assert!(log.contains("AirPlay 2 mode"), "{log}");
    // The request crossed the veth: it came from the sender namespace's address.
    assert!(
        log.contains(&format!(
            "New connection from {}:",
            airplay2::SENDER_ADDRESS
        )),
        "{log}"
    );
}

#[test]
fn two_receivers_run_at_once_each_with_its_own_address_and_device() {
    // The second with every option the shared configuration writer has, as 4.3.7 reads them.
    let second = ShairportConfig {
        metadata: true,
        drop_fraction: Some(0.05),
        output_buffer_seconds: Some(0.5),
        ..airplay2::config("ap2-two")
    };
    let rig = Ap2Rig::start(&[airplay2::config("ap2-one"), second]).unwrap();
    assert_ne!(rig.address(0), rig.address(1));
    let ids: Vec<String> = (0..2)
        .map(|i| {
            let address = rig.address(i);
            let info = rig
                .run_in_sender(move || get_info(address))
                .unwrap()
                .unwrap();
            assert_eq!(
                info.get("name").and_then(plist::Value::as_string),
                Some(["ap2-one", "ap2-two"][i])
            );
            info.get("deviceID")
                .and_then(plist::Value::as_string)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    let log = rig.receivers[1].log_text();
    for line in [
        "diagnostic_drop_packet_fraction is 0.050000",
        "metadata enabled is 1",
        &format!(
            "metadata pipename is \"{}\"",
            rig.receivers[1].dir.join("metadata.pipe").display()
        ),
        "Log Verbosity is 2",
    ] {
        assert!(log.contains(line), "{line:?} not in\n{log}");
    }
    assert!(
        rig.receivers[0]
            .log_text()
            .contains("metadata enabled is 0")
    );
    // Each has its own nqptp (its own /dev/shm), neither following a master yet.
    for receiver in &rig.receivers {
        assert_eq!(receiver.nqptp_clock().unwrap(), None);
    }
}

fn pids_in(namespace: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", namespace])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_panicking_test_leaves_no_process_or_namespace_behind() {
    let mut seen = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let rig = Ap2Rig::start(&[airplay2::config("ap2-panic")]).unwrap();
        let receiver_ns = rig.receivers[0].ns.name().to_string();
        let pids = pids_in(&receiver_ns);
        seen = Some((rig.sender.name().to_string(), receiver_ns, pids));
        panic!("a test failing with the rig up");
    }));
    assert!(outcome.is_err());
    let (sender_ns, receiver_ns, pids) = seen.unwrap();
    // unshare, shairport-sync, nqptp and the mDNS stub at least.
    assert!(pids.len() >= 3, "{pids:?}");
    for ns in [&sender_ns, &receiver_ns] {
        assert!(
            !std::path::Path::new("/run/netns").join(ns).exists(),
            "namespace {ns} left behind"
        );
    }
    for pid in &pids {
        assert!(
            !std::path::Path::new("/proc").join(pid).exists(),
            "process {pid} left behind"
        );
    }
}

#[test]
fn unprivileged_sender_commands_run_as_nobody_in_the_sender_namespace() {
    let rig = Ap2Rig::start(&[]).unwrap();
    let out = rig
        .sender_command_unprivileged("sh")
        .args(["-c", "id -u; id -G; cat /proc/net/dev"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("65534"), "{text}");
    assert_eq!(lines.next(), Some("65534"), "{text}");
    // The sender namespace's bridge, so the same namespace as the privileged commands.
    assert!(text.contains("ap2br"), "{text}");
    let privileged = rig
        .sender_command("cat")
        .arg("/proc/net/dev")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&privileged.stdout).contains("ap2br"));
}
