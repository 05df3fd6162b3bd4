//! Receivers that advertise only `_airplay._tcp` are found by discovery and routed over
//! AirPlay 2; one that also advertises `_raop._tcp` (does both) keeps AirPlay 1. Real mDNS
//! inside a network namespace that holds only `lo` (needs root, as CI has). The TXT records
//! are shairport-sync 4.3.7's (AirPlay 2 build), as its rtsp.c publishes them.

use airstream::discovery::{self, ServiceKind};
use airstream_proto::route::{
    AudioProtocol, Protocol, RouteOverrides, TimingProtocol, select_audio_route,
};
use airstream_testkit::mdns::{Advertiser, FAKE_SUBNET, FakeDevice};
use airstream_testkit::netns::Netns;
use std::net::SocketAddr;
use std::time::Duration;

/// AirPlay 2 only (no `_raop._tcp`): shairport-sync 4.3.7 with its classic service off.
fn loft() -> FakeDevice {
    FakeDevice::shairport_sync_airplay2("Loft", "0A:1B:2C:3D:4E:61", 21, false)
}

/// shairport-sync 4.3.7 as it runs: both services.
fn den() -> FakeDevice {
    FakeDevice::shairport_sync_airplay2("Den", "0A:1B:2C:3D:4E:62", 22, true)
}

/// AirPlay 2 only, its features without bit 41 (PTP): it takes NTP timing.
fn attic() -> FakeDevice {
    FakeDevice::shairport_sync_airplay2("Attic", "0A:1B:2C:3D:4E:63", 23, false).with_txt(
        ServiceKind::AirPlay,
        "features",
        "0x405C4A00,0x1C140",
    )
}

#[test]
fn airplay2_only_receivers_are_found_and_routed_over_airplay2() {
    let netns = Netns::create().expect("network namespace (tests run as root)");
    netns.add_address(FAKE_SUBNET).expect("fake subnet on lo");
    let advertiser = Advertiser::start(&netns, &[loft(), den(), attic()]).expect("advertiser");
    let found = netns
        .run(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    let mut found = Vec::new();
                    for name in ["Loft", "Den", "Attic"] {
                        found.push(
                            discovery::find(name, Duration::from_secs(5))
                                .await
                                .expect(name),
                        );
                    }
                    found
                })
        })
        .expect("thread inside the namespace");
    drop(advertiser);
    let [loft, den, attic] = found.as_slice() else {
        panic!("three devices: {found:?}");
    };
    let route = |caps, overrides: &RouteOverrides| {
        select_audio_route(caps, overrides)
            .map(|r| r.protocol)
            .map_err(|u| u.to_string())
    };
    let none = RouteOverrides::default();

    assert!(loft.has(ServiceKind::AirPlay) && !loft.has(ServiceKind::Raop));
    assert_eq!(
        loft.socket_addrs(ServiceKind::AirPlay),
        vec![SocketAddr::from(([10, 77, 0, 21], 7000))]
    );
    assert_eq!(
        route(&loft.capabilities, &none),
        Ok(AudioProtocol::AirPlay2 {
            timing: TimingProtocol::Ptp,
            pairing_required: false,
            transient_pairing: true,
        })
    );
    // Forced AirPlay 1 (`--protocol raop`) wins, as for every route override: the user may
    // know better than the TXT records.
    let airplay1 = RouteOverrides {
        protocol: Some(Protocol::AirPlay1),
        ..RouteOverrides::default()
    };
    assert_eq!(
        route(&loft.capabilities, &airplay1),
        Ok(AudioProtocol::AirPlay1)
    );

    // Both services: AirPlay 1 unless AirPlay 2 is asked for.
    assert!(den.has(ServiceKind::AirPlay) && den.has(ServiceKind::Raop));
    assert_eq!(route(&den.capabilities, &none), Ok(AudioProtocol::AirPlay1));
    let airplay2 = RouteOverrides {
        protocol: Some(Protocol::AirPlay2),
        ..RouteOverrides::default()
    };
    assert_eq!(
        route(&den.capabilities, &airplay2),
        Ok(AudioProtocol::AirPlay2 {
            timing: TimingProtocol::Ptp,
            pairing_required: false,
            transient_pairing: true,
        })
    );

    // No PTP feature bit: NTP timing, unless PTP is forced.
    assert_eq!(
        route(&attic.capabilities, &none),
        Ok(AudioProtocol::AirPlay2 {
            timing: TimingProtocol::Ntp,
            pairing_required: false,
            transient_pairing: true,
        })
    );
    let ptp = RouteOverrides {
        timing: Some(TimingProtocol::Ptp),
        ..RouteOverrides::default()
    };
    assert!(matches!(
        route(&attic.capabilities, &ptp),
        Ok(AudioProtocol::AirPlay2 {
            timing: TimingProtocol::Ptp,
            ..
        })
    ));
}
