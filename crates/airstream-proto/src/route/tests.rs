use super::*;
use crate::capabilities::{ServiceKind, TxtRecord};

fn raop(pairs: &[(&str, &str)]) -> Capabilities {
    Capabilities::from_txt(Some(&TxtRecord::from_pairs(pairs)), None)
}

fn airplay(pairs: &[(&str, &str)]) -> Capabilities {
    Capabilities::from_txt(None, Some(&TxtRecord::from_pairs(pairs)))
}

/// Feature words with bit 38 and 48 (AirPlay 2) and bit 43 set: a modern Apple device.
const AP2_FEATURES: &str = "0x4A7FDFD5,0xBC157FDE";
const SHAIRPORT: &[(&str, &str)] = &[
    ("cn", "0,1"),
    ("et", "0,1"),
    ("md", "0,1,2"),
    ("pw", "false"),
    ("am", "ShairportSync"),
    ("tp", "TCP,UDP"),
    ("sf", "0x4"),
];

/// shairport-sync 4.3.7 built with AirPlay 2, as its rtsp.c publishes `_raop._tcp` (`pk`
/// left out) …
const SHAIRPORT_437_RAOP: &[(&str, &str)] = &[
    ("cn", "0,1"),
    ("da", "true"),
    ("et", "0,1"),
    ("ft", "0x405C4A00,0x1C340"),
    ("fv", "4.3.7"),
    ("md", "0,1,2"),
    ("am", "Shairport Sync"),
    ("sf", "0x4"),
    ("tp", "UDP"),
    ("vn", "65537"),
    ("vs", "366.0"),
];
/// … and `_airplay._tcp` (`pi`, `gid`, `pk` left out).
const SHAIRPORT_437_AIRPLAY: &[(&str, &str)] = &[
    ("srcvers", "366.0"),
    ("deviceid", "0A:1B:2C:3D:4E:5F"),
    ("features", "0x405C4A00,0x1C340"),
    ("flags", "0x4"),
    ("protovers", "1.1"),
    ("acl", "0"),
    ("rsf", "0x0"),
    ("fv", "4.3.7"),
    ("model", "Shairport Sync"),
    ("gcgl", "0"),
];

/// The expected route in one line: codec/encryption/auth-setup/password/pairing/metadata/quirks,
/// after the AirPlay 2 part (timing, HAP pairing required, transient pairing) where it is one.
fn summary(route: &Result<AudioRoute, Unsupported>) -> String {
    match route {
        Ok(r) => format!(
            "{}{:?}/{:?}/setup={}/pw={}/pair={}/md={:?}/quirks={:?}",
            match r.protocol {
                AudioProtocol::AirPlay1 => String::new(),
                AudioProtocol::AirPlay2 {
                    timing,
                    pairing_required,
                    transient_pairing,
                } =>
                    format!("AP2 {timing:?} hap={pairing_required} transient={transient_pairing}: "),
            },
            r.codec,
            r.encryption,
            r.auth_setup,
            r.auth.password,
            r.auth.legacy_pairing,
            r.metadata,
            r.quirks
        ),
        Err(u) => format!("needs {:?}", u.needs),
    }
}

#[test]
fn audio_route_table() {
    let none = RouteOverrides::default();
    let force = |f: fn(&mut RouteOverrides)| {
        let mut o = RouteOverrides::default();
        f(&mut o);
        o
    };
    let homepod_gen1: &[(&str, &str)] = &[
        ("am", "AudioAccessory1,1"),
        ("cn", "0,1,2,3"),
        ("et", "0,3,5"),
        ("ft", "0x4A7FCA00,0xBC354BD0"),
    ];
    let airport_78: &[(&str, &str)] = &[
        ("am", "AirPort10,115"),
        ("cn", "0,1"),
        ("et", "0,4"),
        ("ft", "0x445F8A00,0x1C340"),
    ];
    let rows: Vec<(&str, Capabilities, RouteOverrides, &str)> = vec![
        (
            "shairport-sync",
            raop(SHAIRPORT),
            none.clone(),
            "Alac/None/setup=false/pw=false/pair=false/md=[Text, Artwork, Progress]/quirks=[]",
        ),
        (
            "nothing advertised (--address)",
            Capabilities::assumed(ServiceKind::Raop),
            none.clone(),
            "Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "cn lists PCM only",
            raop(&[("cn", "0"), ("am", "X")]),
            none.clone(),
            "Pcm/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "cn lists AAC only",
            raop(&[("cn", "2,3")]),
            none.clone(),
            "needs Codec",
        ),
        (
            "forced uncompressed ALAC",
            raop(SHAIRPORT),
            force(|o| o.codec = Some(Codec::AlacRaw)),
            "AlacRaw/None/setup=false/pw=false/pair=false/md=[Text, Artwork, Progress]/quirks=[]",
        ),
        (
            "forced PCM on an AAC-only device",
            raop(&[("cn", "2")]),
            force(|o| o.codec = Some(Codec::Pcm)),
            "Pcm/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "et=1 only",
            raop(&[("et", "1"), ("am", "X")]),
            none.clone(),
            "Alac/AirPortRsa/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "AirPort Express gen 1: no am, et=0,1",
            raop(&[("et", "0,1"), ("cn", "0,1")]),
            none.clone(),
            "Alac/AirPortRsa/setup=false/pw=false/pair=false/md=[]/quirks=[AirPortExpressGen1Rsa]",
        ),
        (
            "AirPort4",
            raop(&[("am", "AirPort4,107"), ("et", "0,1"), ("md", "0,1,2")]),
            none.clone(),
            "Alac/AirPortRsa/setup=false/pw=false/pair=false/md=[Text, Artwork, Progress]/quirks=[AirPort4Rsa, AirPortTextOnlyIfListed]",
        ),
        (
            "AirPort Express 7.8 (et=0,4)",
            raop(airport_78),
            none.clone(),
            "Alac/None/setup=true/pw=false/pair=false/md=[]/quirks=[AirPortRejectsRsa, AirPortAuthSetup, AirPortTextOnlyIfListed]",
        ),
        (
            "AirPort Express 7.8, auth-setup switched off",
            raop(airport_78),
            force(|o| o.auth_setup = Some(false)),
            "Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[AirPortRejectsRsa, AirPortAuthSetup, AirPortTextOnlyIfListed]",
        ),
        (
            "AirPort listing RSA only (406 on 7.8)",
            raop(&[("am", "AirPort10,115"), ("et", "1")]),
            none.clone(),
            "needs FairPlay",
        ),
        (
            "AirPort listing RSA only, user forces RSA",
            raop(&[("am", "AirPort10,115"), ("et", "1")]),
            force(|o| o.encryption = Some(Encryption::AirPortRsa)),
            "Alac/AirPortRsa/setup=false/pw=false/pair=false/md=[]/quirks=[AirPortRejectsRsa, AirPortTextOnlyIfListed]",
        ),
        (
            "Yamaha et=0,4: no auth-setup (pyatv#1134)",
            raop(&[("am", "RX-V773"), ("et", "0,4")]),
            none.clone(),
            "Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "MFi-SAP only: auth-setup is the only way in",
            raop(&[("am", "Sonos Beam"), ("et", "4")]),
            none.clone(),
            "Alac/None/setup=true/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "FairPlay only",
            raop(&[("am", "X"), ("et", "3,5")]),
            none.clone(),
            "needs FairPlay",
        ),
        (
            "FairPlay only, AirPlay 2 capable",
            raop(&[("am", "X"), ("et", "3,5"), ("ft", AP2_FEATURES)]),
            none.clone(),
            "AP2 Ptp hap=false transient=true: Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "FairPlay only, user forces no encryption",
            raop(&[("am", "X"), ("et", "3")]),
            force(|o| o.encryption = Some(Encryption::None)),
            "Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "HomePod gen 1",
            raop(homepod_gen1),
            none.clone(),
            "AP2 Ptp hap=false transient=true: Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "HomePod gen 1, user forces AirPlay 1",
            raop(homepod_gen1),
            force(|o| o.protocol = Some(Protocol::AirPlay1)),
            "Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "HomePod mini",
            raop(&[
                ("am", "AudioAccessory5,1"),
                ("cn", "0,1,2,3"),
                ("et", "0,3,5"),
                ("md", "0,1,2"),
                ("ft", "0x4A7FCA00,0xBC354BD0"),
            ]),
            none.clone(),
            "Alac/None/setup=false/pw=false/pair=false/md=[Text, Artwork, Progress]/quirks=[]",
        ),
        (
            "user asks for AirPlay 2 audio",
            raop(SHAIRPORT),
            force(|o| o.protocol = Some(Protocol::AirPlay2)),
            "AP2 Ptp hap=false transient=false: Alac/None/setup=false/pw=false/pair=false/md=[Text, Artwork, Progress]/quirks=[]",
        ),
        (
            "RTP over TCP only",
            raop(&[("tp", "TCP")]),
            none.clone(),
            "needs TcpTransport",
        ),
        (
            "password by pw",
            raop(&[("pw", "true"), ("am", "X")]),
            none.clone(),
            "Alac/None/setup=false/pw=true/pair=false/md=[]/quirks=[]",
        ),
        (
            "password by flag 0x80",
            raop(&[("sf", "0x84"), ("am", "X")]),
            none.clone(),
            "Alac/None/setup=false/pw=true/pair=false/md=[]/quirks=[]",
        ),
        (
            "legacy pairing flag 0x200",
            raop(&[("sf", "0x204"), ("am", "AppleTV3,2")]),
            none.clone(),
            "Alac/None/setup=false/pw=false/pair=true/md=[]/quirks=[]",
        ),
        (
            "PIN flag 0x8",
            raop(&[("sf", "0x8"), ("am", "X")]),
            none.clone(),
            "Alac/None/setup=false/pw=false/pair=true/md=[]/quirks=[]",
        ),
        (
            "home members only",
            raop(&[("act", "2")]),
            none.clone(),
            "needs HomeAccess",
        ),
        (
            "pairing required but disabled",
            raop(&[("sf", "0x200"), ("acl", "1")]),
            none.clone(),
            "needs PairingEnabled",
        ),
        (
            "access control without pairing",
            raop(&[("acl", "1"), ("am", "X")]),
            none.clone(),
            "Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "AirPlay service only, AirPlay 2 device",
            airplay(&[("features", AP2_FEATURES)]),
            none.clone(),
            "AP2 Ptp hap=false transient=true: Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "AirPlay service only, old device",
            airplay(&[("features", "0x5A7FFFF7,0x1E")]),
            none.clone(),
            "needs RaopService",
        ),
        (
            "md=1 only",
            raop(&[("md", "1"), ("am", "X")]),
            none.clone(),
            "Alac/None/setup=false/pw=false/pair=false/md=[Artwork]/quirks=[]",
        ),
        (
            "metadata forced on a device without md",
            raop(&[("am", "X")]),
            force(|o| o.metadata = Some(vec![MetadataKind::Progress, MetadataKind::Text])),
            "Alac/None/setup=false/pw=false/pair=false/md=[Text, Progress]/quirks=[]",
        ),
        (
            "text forced on an AirPort that does not list it",
            raop(&[("am", "AirPort10,115"), ("et", "0"), ("md", "1,2")]),
            force(|o| o.metadata = Some(vec![MetadataKind::Text, MetadataKind::Artwork])),
            "Alac/None/setup=false/pw=false/pair=false/md=[Artwork]/quirks=[AirPortRejectsRsa, AirPortTextOnlyIfListed]",
        ),
        (
            "shairport-sync 4.3.7 (AirPlay 2 build): both services, does both",
            Capabilities::from_txt(
                Some(&TxtRecord::from_pairs(SHAIRPORT_437_RAOP)),
                Some(&TxtRecord::from_pairs(SHAIRPORT_437_AIRPLAY)),
            ),
            none.clone(),
            "Alac/None/setup=false/pw=false/pair=false/md=[Text, Artwork, Progress]/quirks=[]",
        ),
        (
            "shairport-sync 4.3.7, user forces AirPlay 2",
            Capabilities::from_txt(
                Some(&TxtRecord::from_pairs(SHAIRPORT_437_RAOP)),
                Some(&TxtRecord::from_pairs(SHAIRPORT_437_AIRPLAY)),
            ),
            force(|o| o.protocol = Some(Protocol::AirPlay2)),
            "AP2 Ptp hap=false transient=true: Alac/None/setup=false/pw=false/pair=false/md=[Text, Artwork, Progress]/quirks=[]",
        ),
        (
            "shairport-sync 4.3.7, --timing ptp alone",
            Capabilities::from_txt(
                Some(&TxtRecord::from_pairs(SHAIRPORT_437_RAOP)),
                Some(&TxtRecord::from_pairs(SHAIRPORT_437_AIRPLAY)),
            ),
            force(|o| o.timing = Some(TimingProtocol::Ptp)),
            "AP2 Ptp hap=false transient=true: Alac/None/setup=false/pw=false/pair=false/md=[Text, Artwork, Progress]/quirks=[]",
        ),
        (
            "shairport-sync 4.3.7, --timing ntp alone keeps AirPlay 1",
            Capabilities::from_txt(
                Some(&TxtRecord::from_pairs(SHAIRPORT_437_RAOP)),
                Some(&TxtRecord::from_pairs(SHAIRPORT_437_AIRPLAY)),
            ),
            force(|o| o.timing = Some(TimingProtocol::Ntp)),
            "Alac/None/setup=false/pw=false/pair=false/md=[Text, Artwork, Progress]/quirks=[]",
        ),
        (
            "shairport-sync 4.3.7 with only _airplay._tcp",
            airplay(SHAIRPORT_437_AIRPLAY),
            none.clone(),
            "AP2 Ptp hap=false transient=true: Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "AirPlay 2 only, user forces NTP timing and uncompressed ALAC",
            airplay(SHAIRPORT_437_AIRPLAY),
            force(|o| {
                o.timing = Some(TimingProtocol::Ntp);
                o.codec = Some(Codec::AlacRaw);
            }),
            "AP2 Ntp hap=false transient=true: AlacRaw/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "AirPlay 2 only, features without bit 41 (no PTP)",
            airplay(&[("features", "0x405C4A00,0x1C140"), ("flags", "0x4")]),
            none.clone(),
            "AP2 Ntp hap=false transient=true: Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "AirPlay 2 only, PIN flag 0x8: HAP pairing required",
            airplay(&[("features", "0x405C4A00,0x1C340"), ("flags", "0xC")]),
            none.clone(),
            "AP2 Ptp hap=true transient=true: Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
        (
            "AirPlay 2 only, home members only",
            airplay(&[("features", "0x405C4A00,0x1C340"), ("act", "2")]),
            none.clone(),
            "needs HomeAccess",
        ),
        (
            "PTP forced with AirPlay 1",
            raop(SHAIRPORT),
            force(|o| {
                o.protocol = Some(Protocol::AirPlay1);
                o.timing = Some(TimingProtocol::Ptp);
            }),
            "needs AirPlay2",
        ),
        (
            "metadata switched off",
            raop(SHAIRPORT),
            force(|o| o.metadata = Some(Vec::new())),
            "Alac/None/setup=false/pw=false/pair=false/md=[]/quirks=[]",
        ),
    ];
    for (name, caps, overrides, expected) in rows {
        let route = select_audio_route(&caps, &overrides);
        assert_eq!(summary(&route), expected, "{name}");
    }
}

#[test]
fn audio_route_carries_format_and_airplay2_hint() {
    let caps = raop(&[
        ("sr", "48000"),
        ("ch", "1"),
        ("ft", AP2_FEATURES),
        ("am", "X"),
    ]);
    let route = select_audio_route(&caps, &RouteOverrides::default()).expect("route");
    assert_eq!(
        route.format,
        AudioFormat {
            sample_rate: 48_000,
            sample_size: 16,
            channels: 1
        }
    );
    assert!(route.airplay2_supported);
}

#[test]
fn unsupported_says_what_is_needed_and_why() {
    let caps = raop(&[("am", "X"), ("et", "3,5")]);
    let err = select_audio_route(&caps, &RouteOverrides::default()).expect_err("FairPlay");
    assert_eq!(
        err.to_string(),
        "needs FairPlay/MFi encryption: et=fairplay,fairplay-sap2.5"
    );
    let caps = raop(&[("am", "AudioAccessory1,2")]);
    let airplay1_forced_with_ptp = RouteOverrides {
        protocol: Some(Protocol::AirPlay1),
        timing: Some(TimingProtocol::Ptp),
        ..RouteOverrides::default()
    };
    let err = select_audio_route(&caps, &airplay1_forced_with_ptp).expect_err("PTP");
    assert_eq!(
        err.to_string(),
        "needs AirPlay 2: PTP timing was requested, which is AirPlay 2 only"
    );
    let caps = raop(&[("cn", "3")]);
    let err = select_audio_route(&caps, &RouteOverrides::default()).expect_err("codec");
    assert_eq!(err.to_string(), "needs an AAC codec: cn=aac-eld");
}

#[test]
fn quirks_match_models_case_insensitively_and_only_by_prefix() {
    assert_eq!(
        quirks(&raop(&[("am", "airport10,115"), ("et", "0,4")])),
        [
            Quirk::AirPortRejectsRsa,
            Quirk::AirPortAuthSetup,
            Quirk::AirPortTextOnlyIfListed
        ]
    );
    assert!(quirks(&raop(&[("am", "MyAirPort"), ("et", "0,4")])).is_empty());
    assert!(quirks(&raop(&[("am", "AudioAccessory10,1")])).is_empty());
    // AirPort4 listing et without 1 cannot be given RSA.
    assert_eq!(
        quirks(&raop(&[("am", "AirPort4,107"), ("et", "0")])),
        [Quirk::AirPortTextOnlyIfListed]
    );
    assert!(Quirk::HomePodGen1NeedsPtp.description().contains("PTP"));
}

#[test]
fn play_url_route_table() {
    let none = RouteOverrides::default();
    let forced = |p| RouteOverrides {
        protocol: Some(p),
        ..RouteOverrides::default()
    };
    let apple_tv3: &[(&str, &str)] = &[
        ("features", "0x5A7FFFF7,0x1E"),
        ("flags", "0x204"),
        ("model", "AppleTV3,2"),
    ];
    let apple_tv4k: &[(&str, &str)] = &[("features", AP2_FEATURES), ("flags", "0x44")];
    let rows: Vec<(
        &str,
        Capabilities,
        RouteOverrides,
        Result<PlayUrlRoute, Need>,
    )> = vec![
        (
            "Apple TV 3 with device verification",
            airplay(apple_tv3),
            none.clone(),
            Ok(PlayUrlRoute::AirPlay1 {
                pair_verify: true,
                password: false,
            }),
        ),
        (
            "Apple TV 4K",
            airplay(apple_tv4k),
            none.clone(),
            Ok(PlayUrlRoute::AirPlay2 {
                transient_pairing: true,
            }),
        ),
        (
            "Apple TV 4K forced to AirPlay 1",
            airplay(apple_tv4k),
            forced(Protocol::AirPlay1),
            Ok(PlayUrlRoute::AirPlay1 {
                pair_verify: false,
                password: false,
            }),
        ),
        (
            "Apple TV 3 forced to AirPlay 2",
            airplay(apple_tv3),
            forced(Protocol::AirPlay2),
            Ok(PlayUrlRoute::AirPlay2 {
                transient_pairing: false,
            }),
        ),
        (
            "HomePod: no video bit",
            airplay(&[("features", "0x4A7FCA00,0xBC354BD0")]),
            none.clone(),
            Err(Need::Video),
        ),
        (
            "speaker with RAOP only",
            raop(SHAIRPORT),
            none.clone(),
            Err(Need::AirPlayService),
        ),
        (
            "AirPlay password (flag 0x80)",
            airplay(&[("features", "0x5A7FFFF7,0x1E"), ("flags", "0x84")]),
            none.clone(),
            Ok(PlayUrlRoute::AirPlay1 {
                pair_verify: false,
                password: true,
            }),
        ),
        (
            "home members only",
            airplay(&[("features", AP2_FEATURES), ("act", "2")]),
            none.clone(),
            Err(Need::HomeAccess),
        ),
        (
            "pairing required but disabled",
            airplay(&[
                ("features", "0x5A7FFFF7,0x1E"),
                ("flags", "0x200"),
                ("acl", "1"),
            ]),
            none.clone(),
            Err(Need::PairingEnabled),
        ),
        (
            "nothing advertised (--address)",
            Capabilities::assumed(ServiceKind::AirPlay),
            none.clone(),
            Ok(PlayUrlRoute::AirPlay1 {
                pair_verify: false,
                password: false,
            }),
        ),
    ];
    for (name, caps, overrides, expected) in rows {
        let route = select_play_url_route(&caps, &overrides).map_err(|u| u.needs);
        assert_eq!(route, expected, "{name}");
    }
}

#[test]
fn forced_codec_can_be_checked_against_cn() {
    let caps = raop(&[("cn", "0")]);
    assert!(codec_advertised(&caps, Codec::Pcm));
    assert!(!codec_advertised(&caps, Codec::AlacRaw));
    assert!(codec_advertised(
        &Capabilities::assumed(ServiceKind::Raop),
        Codec::Alac
    ));
}

#[test]
fn routes_serialize_for_json_output() {
    let route = select_audio_route(&raop(SHAIRPORT), &RouteOverrides::default()).expect("route");
    let json = serde_json::to_value(&route).expect("json");
    assert_eq!(json["codec"], "alac");
    assert_eq!(json["encryption"], "none");
    assert_eq!(
        json["metadata"],
        serde_json::json!(["text", "artwork", "progress"])
    );
    let airport = raop(&[("am", "AirPort4,107"), ("et", "0,1,4")]);
    let json = serde_json::to_value(quirks(&airport)).expect("json");
    assert_eq!(
        json,
        serde_json::json!([
            "airport4-rsa",
            "airport-auth-setup",
            "airport-text-only-if-listed"
        ])
    );
    let needs = select_audio_route(
        &raop(&[("am", "AudioAccessory1,1")]),
        &RouteOverrides {
            protocol: Some(Protocol::AirPlay1),
            timing: Some(TimingProtocol::Ptp),
            ..RouteOverrides::default()
        },
    )
    .expect_err("PTP over AirPlay 1");
    assert_eq!(
        serde_json::to_value(&needs).expect("json"),
        serde_json::json!({"needs": "airplay2", "detail": needs.detail})
    );
    let homepod = select_audio_route(
        &raop(&[("am", "AudioAccessory1,1")]),
        &RouteOverrides::default(),
    )
    .expect("AirPlay 2 route");
    assert_eq!(
        serde_json::to_value(homepod.protocol).expect("json"),
        serde_json::json!({
            "name": "airplay2",
            "timing": "ptp",
            "pairing_required": false,
            "transient_pairing": false
        })
    );
    assert_eq!(
        serde_json::to_value(route.protocol).expect("json"),
        serde_json::json!({"name": "airplay1"})
    );
    let play = PlayUrlRoute::AirPlay1 {
        pair_verify: true,
        password: false,
    };
    assert_eq!(
        serde_json::to_value(play).expect("json"),
        serde_json::json!({"path": "airplay1", "pair_verify": true, "password": false})
    );
}
