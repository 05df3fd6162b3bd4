//! Discovery against fake devices advertised over real mDNS, all inside a network namespace
//! that holds only `lo` (created per test; needs root, as CI has).

use airstream::ErrorKind;
use airstream::discovery::{self, Device, DeviceQuery, FindOptions, ServiceKind};
use airstream_proto::capabilities::{
    AdvertisedCodec, AdvertisedEncryption, AirPlay2, Features, MetadataKind, PairingRequirement,
    StatusFlags,
};
use airstream_proto::format::Codec;
use airstream_proto::raop::Encryption;
use airstream_proto::route::{self, AudioProtocol, RouteOverrides, TimingProtocol};
use airstream_testkit::avahi::Avahi;
use airstream_testkit::mdns::{Advertiser, FAKE_SUBNET, FakeDevice};
use airstream_testkit::netns::Netns;
use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A namespace with the fake household advertised in it. Field order = drop order: the
/// responder stops before the namespace goes.
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

/// Runs async discovery code on a thread inside the namespace.
fn inside<T: Send, F: Future<Output = T>>(netns: &Netns, work: impl FnOnce() -> F + Send) -> T {
    netns
        .run(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(work())
        })
        .expect("thread inside the namespace")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

fn by_name<'a>(devices: &'a [Device], name: &str) -> Vec<&'a Device> {
    devices.iter().filter(|d| d.name == name).collect()
}

#[test]
fn scan_lists_every_fake_device_with_its_capabilities() {
    let home = household();
    let started = Instant::now();
    let devices = inside(&home.netns, || discovery::scan(Duration::from_secs(2))).expect("scan");
    println!(
        "scan: {} devices in {} ms",
        devices.len(),
        started.elapsed().as_millis()
    );
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
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

    let atv = by_name(&devices, "Living Room")[0];
    assert_eq!(atv.id.as_deref(), Some("58:55:CA:1A:E2:88"));
    assert_eq!(atv.model.as_deref(), Some("AppleTV6,2"));
    assert_eq!(atv.addresses, [ip("10.77.0.10")]);
    assert_eq!((atv.raop_port, atv.airplay_port), (Some(7000), Some(7000)));
    assert_eq!(
        atv.socket_addr(ServiceKind::AirPlay),
        Some("10.77.0.10:7000".parse().expect("addr"))
    );
    let caps = &atv.capabilities;
    assert!(caps.raop && caps.airplay);
    assert_eq!(
        caps.codecs,
        Some(vec![
            AdvertisedCodec::Pcm,
            AdvertisedCodec::Alac,
            AdvertisedCodec::Aac,
            AdvertisedCodec::AacEld
        ])
    );
    assert_eq!(
        caps.encryption_types,
        Some(vec![
            AdvertisedEncryption::None,
            AdvertisedEncryption::FairPlay,
            AdvertisedEncryption::FairPlaySap25
        ])
    );
    assert_eq!(caps.features, Some(Features(0xBC15_7FDE_4A7F_DFD5)));
    assert_eq!(caps.status_flags, Some(StatusFlags(0x44)));
    assert_eq!(caps.device_id.as_deref(), Some("58:55:CA:1A:E2:88"));
    assert_eq!(
        caps.public_key.map(|k| k.to_string()).as_deref(),
        Some("3853c0e2ce3844727ca0cb1b86a3e3875e66924d2648d8f8caf71f8118793d98")
    );
    assert_eq!(caps.versions.server.as_deref(), Some("670.6.2"));
    assert_eq!(caps.versions.os.as_deref(), Some("17.2"));
    assert_eq!(caps.versions.airplay_protocol.as_deref(), Some("1.1"));
    assert_eq!(caps.access_control_level, Some(0));
    assert_eq!(caps.airplay2(), AirPlay2::Supported);
    assert!(caps.transient_pairing());
    assert!(caps.warnings.is_empty(), "{:?}", caps.warnings);
    assert_eq!(
        route::select_play_url_route(caps, &RouteOverrides::default()),
        Ok(route::PlayUrlRoute::AirPlay2 {
            transient_pairing: true
        })
    );

    let airport = by_name(&devices, "Kitchen")[0];
    assert_eq!(airport.id.as_deref(), Some("C8:D0:83:E1:A0:B1"));
    assert_eq!(
        (airport.raop_port, airport.airplay_port),
        (Some(5000), None)
    );
    assert_eq!(
        airport.capabilities.versions.firmware.as_deref(),
        Some("p20.78100.3")
    );
    let audio = route::select_audio_route(&airport.capabilities, &RouteOverrides::default())
        .expect("AirPort route");
    assert_eq!(
        (audio.codec, audio.encryption, audio.auth_setup),
        (Codec::Alac, Encryption::None, true)
    );
    assert!(audio.metadata.is_empty());

    let homepod = by_name(&devices, "Bedroom")[0];
    assert_eq!(homepod.model.as_deref(), Some("AudioAccessory1,1"));
    assert_eq!(homepod.capabilities.airplay2(), AirPlay2::Required);
    // It requires AirPlay 2, with PTP: that is the audio route.
    assert_eq!(
        route::select_audio_route(&homepod.capabilities, &RouteOverrides::default())
            .map(|r| r.protocol),
        Ok(AudioProtocol::AirPlay2 {
            timing: TimingProtocol::Ptp,
            pairing_required: false,
            transient_pairing: true,
        })
    );

    let office = by_name(&devices, "Office")[0];
    let caps = &office.capabilities;
    assert_eq!(office.model.as_deref(), Some("ShairportSync"));
    assert_eq!(caps.audio_format().sample_rate, 44_100);
    assert_eq!(
        caps.metadata,
        Some(vec![
            MetadataKind::Text,
            MetadataKind::Artwork,
            MetadataKind::Progress
        ])
    );
    assert_eq!(caps.pairing(), PairingRequirement::NotNeeded);
    assert!(!caps.password_required());

    let patio = by_name(&devices, "Patio")[0];
    assert!(patio.capabilities.password_required());
    assert_eq!(patio.raop_port, Some(1024));
    let audio = route::select_audio_route(&patio.capabilities, &RouteOverrides::default())
        .expect("password speaker route");
    assert!(audio.auth.password);

    let twins: Vec<Option<&str>> = by_name(&devices, "Speaker")
        .iter()
        .map(|d| d.id.as_deref())
        .collect();
    assert_eq!(
        twins,
        [Some("0A:00:00:00:00:01"), Some("0A:00:00:00:00:02")]
    );
}

#[test]
fn find_matches_names_case_insensitively_and_stops_once_found() {
    let home = household();
    let options = FindOptions::new(Duration::from_secs(30));
    for query in [
        "living room",
        "LIVING ROOM",
        "58:55:ca:1a:e2:88",
        "10.77.0.10",
    ] {
        // A responder multicasts a record at most once a second (RFC 6762 §6); pausing makes
        // each lookup as fresh as a user's first one, so the printed figures mean something.
        std::thread::sleep(Duration::from_millis(1_100));
        let started = Instant::now();
        let device = inside(&home.netns, || async {
            discovery::find_with(&DeviceQuery::parse(query), &options).await
        })
        .expect("found");
        let elapsed = started.elapsed();
        println!("find {query:?}: {} ms", elapsed.as_millis());
        assert_eq!(device.name, "Living Room");
        // Both services arrive within the settle window.
        assert_eq!(
            (device.raop_port, device.airplay_port),
            (Some(7000), Some(7000))
        );
        // Returned long before the 30 s it was allowed: browsing stopped at the match.
        assert!(elapsed < options.timeout);
    }
}

#[test]
fn find_by_id_for_a_service_returns_at_the_first_answer() {
    let home = household();
    let options = FindOptions::new(Duration::from_secs(30)).service(ServiceKind::Raop);
    let started = Instant::now();
    let device = inside(&home.netns, || async {
        discovery::find_with(&DeviceQuery::parse("C8D083E1A0B1"), &options).await
    })
    .expect("found");
    println!("find by id (RAOP): {} ms", started.elapsed().as_millis());
    assert_eq!(device.name, "Kitchen");
    assert_eq!(device.addresses, [ip("10.77.0.11")]);
    assert!(started.elapsed() < options.timeout);
}

#[test]
fn ambiguous_names_list_the_candidates() {
    let home = household();
    let err = inside(&home.netns, || {
        discovery::find("speaker", Duration::from_secs(30))
    })
    .expect_err("two devices are called Speaker");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let message = err.to_string();
    assert!(message.contains("matches 2 devices"), "{message}");
    assert!(
        message.contains("Speaker (0A:00:00:00:00:01 at 10.77.0.15)"),
        "{message}"
    );
    assert!(
        message.contains("Speaker (0A:00:00:00:00:02 at 10.77.0.16)"),
        "{message}"
    );
    // Each twin stays reachable by id or address.
    let twin = inside(&home.netns, || {
        discovery::find("10.77.0.16", Duration::from_secs(30))
    })
    .expect("by address");
    assert_eq!(twin.id.as_deref(), Some("0A:00:00:00:00:02"));
}

#[test]
fn unknown_devices_and_missing_services_are_clear_errors() {
    let home = household();
    let err = inside(&home.netns, || {
        discovery::find("Garage", Duration::from_secs(2))
    })
    .expect_err("no such device");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let message = err.to_string();
    assert!(message.starts_with("no AirPlay device with name \"garage\" answered within 2.0 s"));
    assert!(
        message.contains("Kitchen (C8:D0:83:E1:A0:B1 at 10.77.0.11)"),
        "{message}"
    );

    let options = FindOptions::new(Duration::from_secs(2)).service(ServiceKind::AirPlay);
    let err = inside(&home.netns, || async {
        discovery::find_with(&DeviceQuery::parse("kitchen"), &options).await
    })
    .expect_err("an AirPort Express has no AirPlay service");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.to_string()
            .contains("advertises no _airplay._tcp service")
    );
}

#[test]
fn nothing_advertised_means_an_empty_scan() {
    let netns = Netns::create().expect("network namespace");
    let devices = inside(&netns, || discovery::scan(Duration::from_millis(500))).expect("scan");
    assert!(devices.is_empty());
}

#[test]
fn a_withdrawn_service_leaves_the_rest_of_the_device() {
    let netns = Netns::create().expect("network namespace");
    netns.add_address(FAKE_SUBNET).expect("fake subnet");
    let atv = FakeDevice::apple_tv();
    let advertiser = Advertiser::start(&netns, std::slice::from_ref(&atv)).expect("advertiser");
    advertiser
        .unregister(&atv, ServiceKind::Raop)
        .expect("unregister");
    let devices = inside(&netns, || discovery::scan(Duration::from_secs(2))).expect("scan");
    assert_eq!(devices.len(), 1);
    assert_eq!(
        (devices[0].raop_port, devices[0].airplay_port),
        (None, Some(7000))
    );
    drop(advertiser);
}

/// shairport-sync can only advertise through avahi: run both in the namespace.
#[test]
fn discovers_a_shairport_sync_advertised_by_avahi() {
    let netns = Netns::create().expect("network namespace");
    let avahi = Avahi::start_in(&netns).expect("avahi-daemon in the namespace");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("shairport-sync.conf");
    std::fs::write(
        &config,
        r#"general = { name = "Avahi Speaker"; port = 5317; udp_port_base = 6317; udp_port_range = 10;
  output_backend = "dummy"; mdns_backend = "avahi";
  dbus_service_bus = "session"; mpris_service_bus = "session"; };
diagnostics = { log_output_to = "stderr"; log_verbosity = 0; };
"#,
    )
    .expect("config");
    let log = std::fs::File::create(dir.path().join("shairport-sync.log")).expect("log");
    let mut shairport = avahi
        .command("shairport-sync")
        .arg("-c")
        .arg(&config)
        .arg("-u")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("shairport-sync (scripts/test installs it)");
    let started = Instant::now();
    let found = inside(&netns, || {
        discovery::find("avahi speaker", Duration::from_secs(15))
    });
    println!("find via avahi: {} ms", started.elapsed().as_millis());
    let _ = shairport.kill();
    let _ = shairport.wait();
    let device = found.unwrap_or_else(|e| {
        panic!(
            "{e}\navahi log:\n{}\nshairport-sync log:\n{}",
            avahi.log(),
            std::fs::read_to_string(dir.path().join("shairport-sync.log")).unwrap_or_default()
        )
    });
    assert_eq!(device.name, "Avahi Speaker");
    assert_eq!(device.raop_port, Some(5317));
    assert_eq!(device.model.as_deref(), Some("ShairportSync"));
    // avahi publishes AAAA records over IPv4 too, so both loopback addresses show up.
    assert_eq!(device.addresses, [ip("127.0.0.1"), ip("::1")]);
    let caps = &device.capabilities;
    assert_eq!(
        caps.codecs,
        Some(vec![AdvertisedCodec::Pcm, AdvertisedCodec::Alac])
    );
    assert_eq!(
        caps.encryption_types,
        Some(vec![AdvertisedEncryption::None, AdvertisedEncryption::Rsa])
    );
    assert!(caps.warnings.is_empty(), "{:?}", caps.warnings);
    assert_eq!(
        device.socket_addr(ServiceKind::Raop),
        Some("127.0.0.1:5317".parse().expect("addr"))
    );
}
