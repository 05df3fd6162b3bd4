use super::*;

fn raop(pairs: &[(&str, &str)]) -> Capabilities {
    Capabilities::from_txt(Some(&TxtRecord::from_pairs(pairs)), None)
}

fn raop_raw(entries: &[(&str, Option<&[u8]>)]) -> Capabilities {
    let mut record = TxtRecord::new();
    for (key, value) in entries {
        record.push(*key, *value);
    }
    Capabilities::from_txt(Some(&record), None)
}

/// shairport-sync 3.3.8 as avahi advertised it on this machine (receiver.md).
const SHAIRPORT: &[(&str, &str)] = &[
    ("sf", "0x4"),
    ("fv", "76400.10"),
    ("am", "ShairportSync"),
    ("vs", "105.1"),
    ("tp", "TCP,UDP"),
    ("vn", "65537"),
    ("md", "0,1,2"),
    ("ss", "16"),
    ("sr", "44100"),
    ("da", "true"),
    ("sv", "false"),
    ("et", "0,1"),
    ("ek", "1"),
    ("cn", "0,1"),
    ("ch", "2"),
    ("txtvers", "1"),
    ("pw", "false"),
];

#[test]
fn parses_every_shairport_sync_key() {
    let caps = raop(SHAIRPORT);
    assert!(caps.raop && !caps.airplay);
    assert_eq!(
        caps.codecs,
        Some(vec![AdvertisedCodec::Pcm, AdvertisedCodec::Alac])
    );
    assert_eq!(
        caps.encryption_types,
        Some(vec![AdvertisedEncryption::None, AdvertisedEncryption::Rsa])
    );
    assert_eq!(
        caps.metadata,
        Some(vec![
            MetadataKind::Text,
            MetadataKind::Artwork,
            MetadataKind::Progress
        ])
    );
    assert_eq!(caps.password, Some(false));
    assert_eq!(caps.digest_auth, Some(true));
    assert_eq!(caps.encryption_key, Some(true));
    assert_eq!(caps.software_volume, Some(false));
    assert_eq!(caps.software_mute, None);
    assert_eq!(
        (caps.sample_rate, caps.sample_size, caps.channels),
        (Some(44_100), Some(16), Some(2))
    );
    assert_eq!(caps.status_flags, Some(StatusFlags(0x4)));
    assert_eq!(caps.features, None);
    assert_eq!(caps.model.as_deref(), Some("ShairportSync"));
    assert_eq!(
        caps.versions,
        Versions {
            txt: Some(1),
            protocol: Some(65_537),
            airplay_protocol: None,
            server: Some("105.1".into()),
            os: None,
            firmware: Some("76400.10".into()),
        }
    );
    assert_eq!(
        caps.transports,
        Some(Transports {
            udp: true,
            tcp: true
        })
    );
    assert!(caps.other.is_empty());
    assert!(caps.warnings.is_empty(), "{:?}", caps.warnings);
    assert!(!caps.password_required());
    assert_eq!(caps.pairing(), PairingRequirement::NotNeeded);
    assert_eq!(caps.airplay2(), AirPlay2::No);
}

const APPLE_TV_PK: &str = "3853c0e2ce3844727ca0cb1b86a3e3875e66924d2648d8f8caf71f8118793d98";

#[test]
fn merges_raop_and_airplay_records_of_an_apple_tv() {
    let raop = TxtRecord::from_pairs(&[
        ("cn", "0,1,2,3"),
        ("da", "true"),
        ("et", "0,3,5"),
        ("ft", "0x4A7FDFD5,0xBC157FDE"),
        ("md", "0,1,2"),
        ("am", "AppleTV6,2"),
        ("pk", APPLE_TV_PK),
        ("sf", "0x44"),
        ("tp", "UDP"),
        ("vn", "65537"),
        ("vs", "670.6.2"),
        ("ov", "17.2"),
        ("vv", "2"),
    ]);
    let airplay = TxtRecord::from_pairs(&[
        ("acl", "0"),
        ("deviceid", "58:55:ca:1a:e2:88"),
        ("features", "0x4A7FDFD5,0xBC157FDE"),
        ("flags", "0x44"),
        ("model", "AppleTV6,2"),
        ("pk", APPLE_TV_PK),
        ("protovers", "1.1"),
        ("srcvers", "670.6.2"),
        ("osvers", "17.2"),
        ("pi", "2e388006-13ba-4041-9a67-25dd4a43d536"),
        ("gid", "2e388006-13ba-4041-9a67-25dd4a43d536"),
    ]);
    let caps = Capabilities::from_txt(Some(&raop), Some(&airplay));
    assert!(caps.raop && caps.airplay);
    assert_eq!(caps.features, Some(Features(0xBC15_7FDE_4A7F_DFD5)));
    assert_eq!(caps.status_flags, Some(StatusFlags(0x44)));
    assert_eq!(caps.model.as_deref(), Some("AppleTV6,2"));
    assert_eq!(caps.device_id.as_deref(), Some("58:55:CA:1A:E2:88"));
    assert_eq!(
        caps.public_key.map(|k| k.to_string()).as_deref(),
        Some(APPLE_TV_PK)
    );
    assert_eq!(caps.versions.airplay_protocol.as_deref(), Some("1.1"));
    assert_eq!(caps.versions.server.as_deref(), Some("670.6.2"));
    assert_eq!(caps.versions.os.as_deref(), Some("17.2"));
    assert_eq!(caps.access_control_level, Some(0));
    assert_eq!(
        caps.other.keys().map(String::as_str).collect::<Vec<_>>(),
        ["gid", "pi", "vv"]
    );
    assert!(caps.warnings.is_empty(), "{:?}", caps.warnings);
    assert!(caps.features.is_some_and(|f| f.has(Feature::Video)));
    assert!(caps.airplay2_supported() && caps.transient_pairing());
    assert_eq!(caps.airplay2(), AirPlay2::Supported);
}

#[test]
fn missing_keys_give_defaults_and_no_warnings() {
    let caps = raop(&[]);
    assert_eq!(
        caps,
        Capabilities {
            raop: true,
            ..Capabilities::default()
        }
    );
    assert_eq!(caps.audio_format(), AudioFormat::default());
    assert!(
        caps.supports_codec(AdvertisedCodec::Alac) && caps.supports_codec(AdvertisedCodec::Pcm)
    );
    assert!(!caps.supports_codec(AdvertisedCodec::Aac));
    assert!(caps.supports_encryption(AdvertisedEncryption::None));
    assert!(!caps.supports_encryption(AdvertisedEncryption::Rsa));
    assert!(!caps.accepts_metadata(MetadataKind::Text));
    assert!(!caps.password_required());
    assert_eq!(caps.pairing(), PairingRequirement::NotNeeded);
    assert_eq!(Capabilities::assumed(ServiceKind::Raop), caps);
}

/// One odd value per row: the field it lands in (debug-printed) and how many warnings it costs.
#[test]
fn odd_values_become_warnings_never_failures() {
    fn field(caps: &Capabilities, key: &str) -> String {
        match key {
            "cn" => format!("{:?}", caps.codecs),
            "et" => format!("{:?}", caps.encryption_types),
            "md" => format!("{:?}", caps.metadata),
            "pw" => format!("{:?}", caps.password),
            "sr" => format!("{:?}", caps.sample_rate),
            "ss" => format!("{:?}", caps.sample_size),
            "ch" => format!("{:?}", caps.channels),
            "vn" => format!("{:?}", caps.versions.protocol),
            "ft" | "features" => format!("{:?}", caps.features.map(|f| f.0)),
            "sf" | "flags" => format!("{:?}", caps.status_flags.map(|f| f.0)),
            "am" => format!("{:?}", caps.model),
            "pk" => format!("{:?}", caps.public_key.map(|k| k.to_string())),
            "deviceid" => format!("{:?}", caps.device_id),
            "tp" => format!("{:?}", caps.transports),
            "act" => format!("{:?}", caps.access_control_type),
            other => panic!("no field for {other}"),
        }
    }
    let pk64 = "ab".repeat(32);
    let rows: &[(&str, &str, &str, usize)] = &[
        ("cn", "0,1", "Some([Pcm, Alac])", 0),
        ("cn", " 1 , 0 ", "Some([Alac, Pcm])", 0),
        ("cn", "0,x,1", "Some([Pcm, Alac])", 1),
        ("cn", "0,0,1", "Some([Pcm, Alac])", 0),
        ("cn", "7", "Some([Unknown(7)])", 1),
        ("cn", "", "None", 1),
        ("cn", ",,", "None", 3),
        ("cn", "99999999999", "None", 1),
        ("et", "0,3,5", "Some([None, FairPlay, FairPlaySap25])", 0),
        ("et", "2", "Some([Unknown(2)])", 1),
        (
            "md",
            "0,1,2,9",
            "Some([Text, Artwork, Progress, Unknown(9)])",
            1,
        ),
        ("pw", "true", "Some(true)", 0),
        ("pw", "TRUE", "Some(true)", 0),
        ("pw", "1", "Some(true)", 0),
        ("pw", "no", "Some(false)", 0),
        ("pw", "maybe", "None", 1),
        ("pw", "", "None", 1),
        ("sr", "48000", "Some(48000)", 0),
        ("sr", "abc", "None", 1),
        ("sr", "0", "None", 1),
        ("sr", "-44100", "None", 1),
        ("ss", "99", "None", 1),
        ("ch", "1", "Some(1)", 0),
        ("ch", "1.5", "None", 1),
        ("vn", "65537", "Some(65537)", 0),
        ("vn", "4294967296", "None", 1),
        (
            "ft",
            "0x4A7FDFD5,0x3C155FDE",
            "Some(4329472025123872725)",
            0,
        ),
        ("ft", "0x5A7FFFF7", "Some(1518338039)", 0),
        ("ft", "5A7FFFF7,1E", "Some(130367356919)", 0),
        ("ft", "0X5a7fffF7,0X1e", "Some(130367356919)", 0),
        ("features", "0x1C3404A7FDFD5", "Some(496155871928277)", 0),
        ("ft", "0x123456789,0x1", "None", 1),
        ("ft", "0x1,0x2,0x3", "None", 1),
        ("ft", "0xZZ", "None", 1),
        ("ft", "0x", "None", 1),
        ("ft", "1518338039", "Some(90600341561)", 0),
        ("sf", "0x204", "Some(516)", 0),
        ("sf", "204", "Some(516)", 0),
        ("flags", "0xC4", "Some(196)", 0),
        ("sf", "0x4 junk", "None", 1),
        ("am", "AirPort10,115", "Some(\"AirPort10,115\")", 0),
        ("am", "", "None", 1),
        ("pk", &pk64, &format!("Some({pk64:?})"), 0),
        ("pk", &pk64[1..], "None", 1),
        ("pk", "zz", "None", 1),
        (
            "deviceid",
            "58:55:ca:1a:e2:88",
            "Some(\"58:55:CA:1A:E2:88\")",
            0,
        ),
        ("deviceid", "5855CA1AE288", "Some(\"58:55:CA:1A:E2:88\")", 0),
        ("deviceid", "58:55:CA:1A:E2", "None", 1),
        ("tp", "UDP", "Some(Transports { udp: true, tcp: false })", 0),
        (
            "tp",
            "SCTP,udp",
            "Some(Transports { udp: true, tcp: false })",
            1,
        ),
        ("tp", "SCTP", "None", 1),
        ("act", "2", "Some(2)", 0),
    ];
    for (key, value, expected, warnings) in rows {
        let caps = raop(&[(key, value)]);
        assert_eq!(field(&caps, key), *expected, "{key}={value:?}");
        assert_eq!(
            caps.warnings.len(),
            *warnings,
            "{key}={value:?}: {:?}",
            caps.warnings
        );
        for warning in &caps.warnings {
            assert_eq!(warning.key, *key);
            assert_eq!(warning.service, ServiceKind::Raop);
        }
    }
}

#[test]
fn warning_names_service_key_value_and_problem() {
    let caps = raop(&[("sr", "fast")]);
    assert_eq!(
        caps.warnings[0].to_string(),
        r#"_raop._tcp TXT sr="fast": not a decimal number"#
    );
}

#[test]
fn bare_keys_are_boolean_attributes() {
    let caps = raop_raw(&[("pw", None), ("cn", None), ("da", Some(b"false"))]);
    assert_eq!(caps.password, Some(true));
    assert!(caps.password_required());
    assert_eq!(caps.codecs, None);
    assert_eq!(caps.digest_auth, Some(false));
    assert_eq!(caps.warnings.len(), 1);
    assert_eq!(caps.warnings[0].problem, "key without a value");
}

#[test]
fn non_utf8_values_are_warned_and_text_is_kept_lossily() {
    let caps = raop_raw(&[
        ("am", Some(&[0xFF, b'A', b'i', b'r'])),
        ("cn", Some(&[0xC3, 0x28])),
        ("gid", Some(&[0xFE])),
    ]);
    assert_eq!(caps.model.as_deref(), Some("\u{FFFD}Air"));
    assert_eq!(caps.codecs, None);
    assert_eq!(caps.other.get("gid").map(String::as_str), Some("\u{FFFD}"));
    let problems: Vec<&str> = caps.warnings.iter().map(|w| w.problem.as_str()).collect();
    assert_eq!(
        problems,
        [
            "value is not UTF-8; kept with replacement characters",
            "value is not UTF-8"
        ]
    );
}

#[test]
fn first_of_duplicate_keys_wins_case_insensitively() {
    let caps = raop(&[("cn", "0"), ("CN", "1"), ("Et", "1"), ("et", "0")]);
    assert_eq!(caps.codecs, Some(vec![AdvertisedCodec::Pcm]));
    assert_eq!(caps.encryption_types, Some(vec![AdvertisedEncryption::Rsa]));
    assert_eq!(caps.warnings.len(), 2);
    assert!(
        caps.warnings
            .iter()
            .all(|w| w.problem == "duplicate key; the first value is used")
    );
}

#[test]
fn aliases_in_one_record_keep_the_first_and_warn_on_disagreement() {
    let same = raop(&[("ft", "0x1,0x2"), ("features", "0x1,0x2")]);
    assert_eq!(same.features, Some(Features(0x2_0000_0001)));
    assert!(same.warnings.is_empty());
    let different = raop(&[("am", "AppleTV3,2"), ("model", "AppleTV5,3")]);
    assert_eq!(different.model.as_deref(), Some("AppleTV3,2"));
    assert_eq!(different.warnings.len(), 1);
    assert_eq!(different.warnings[0].key, "model");
}

#[test]
fn raop_value_wins_when_the_airplay_record_disagrees() {
    let raop = TxtRecord::from_pairs(&[("ft", "0x5A7FFFF7,0x1E"), ("sf", "0x4")]);
    let airplay = TxtRecord::from_pairs(&[("features", "0x5A7FFFF7,0x1F"), ("flags", "0x4")]);
    let caps = Capabilities::from_txt(Some(&raop), Some(&airplay));
    assert_eq!(caps.features, Some(Features(0x1E_5A7F_FFF7)));
    assert_eq!(caps.warnings.len(), 1);
    assert_eq!(caps.warnings[0].service, ServiceKind::AirPlay);
    assert_eq!(caps.warnings[0].key, "features");
    assert_eq!(caps.warnings[0].value, "0x1F5A7FFFF7");
}

#[test]
fn huge_records_are_bounded() {
    let mut record = TxtRecord::new();
    for i in 0..5_000 {
        record.push(format!("x{i}"), Some(b"junk".as_slice()));
    }
    for key in ["cn", "et", "md", "ss", "ch", "ft", "sf", "pk", "tp"] {
        record.push(key, Some(&[b'z'; 255]));
    }
    let long_list = vec!["1"; 1000].join(",");
    record.push("vn", Some(long_list.as_bytes()));
    for _ in 0..1_000 {
        record.push("sr", Some(b"fast".as_slice()));
    }
    let caps = Capabilities::from_txt(Some(&record), None);
    assert_eq!(caps.other.len(), 64);
    assert_eq!(caps.warnings.len(), 33);
    assert!(caps.warnings[..32].iter().all(|w| w.key != "x64"));
    assert_eq!(caps.warnings[32].problem, "979 more warnings not shown");
    assert!(caps.warnings.iter().all(|w| w.value.chars().count() <= 65));
    assert_eq!(
        (caps.codecs, caps.sample_rate, caps.features),
        (None, None, None)
    );
}

#[test]
fn overlong_lists_and_strings_are_cut() {
    let long_list = vec!["0"; 40].join(",");
    let caps = raop(&[("cn", &long_list)]);
    assert_eq!(caps.codecs, Some(vec![AdvertisedCodec::Pcm]));
    assert_eq!(caps.warnings.len(), 1);
    let long_model = "é".repeat(200);
    let caps = raop(&[("am", &long_model)]);
    let model = caps.model.unwrap_or_default();
    assert!(model.len() <= 255 && model.chars().all(|c| c == 'é'));
    assert_eq!(model.chars().count(), 127);
}

#[test]
fn derived_password_and_pairing_answers() {
    type Row<'a> = (&'a [(&'a str, &'a str)], bool, bool, PairingRequirement);
    // (TXT, password required, PIN required, pairing)
    let rows: &[Row<'_>] = &[
        (
            &[("pw", "true")],
            true,
            false,
            PairingRequirement::NotNeeded,
        ),
        (
            &[("sf", "0x80")],
            true,
            false,
            PairingRequirement::NotNeeded,
        ),
        // pyatv#2149: flags 0xC4 means a password, not pairing.
        (
            &[("sf", "0xC4")],
            true,
            false,
            PairingRequirement::NotNeeded,
        ),
        (&[("sf", "0x8")], false, true, PairingRequirement::Mandatory),
        (
            &[("sf", "0x204")],
            false,
            false,
            PairingRequirement::Mandatory,
        ),
        (
            &[("flags", "0x288")],
            true,
            true,
            PairingRequirement::Mandatory,
        ),
        (
            &[("sf", "0x200"), ("acl", "1")],
            false,
            false,
            PairingRequirement::Disabled,
        ),
        (
            &[("act", "2")],
            false,
            false,
            PairingRequirement::Unsupported,
        ),
        (
            &[("act", "1"), ("acl", "0")],
            false,
            false,
            PairingRequirement::NotNeeded,
        ),
    ];
    for (txt, password, pin, pairing) in rows {
        let caps = raop(txt);
        assert_eq!(caps.password_required(), *password, "{txt:?}");
        assert_eq!(caps.pin_required(), *pin, "{txt:?}");
        assert_eq!(caps.pairing(), *pairing, "{txt:?}");
    }
}

#[test]
fn derived_airplay2_answers() {
    let homepod_gen1 = raop(&[
        ("am", "AudioAccessory1,1"),
        ("et", "0,3,5"),
        ("ft", "0x4A7FCA00,0xBC354BD0"),
    ]);
    assert_eq!(homepod_gen1.airplay2(), AirPlay2::Required);
    let homepod_mini = raop(&[
        ("am", "AudioAccessory5,1"),
        ("et", "0,3,5"),
        ("ft", "0x4A7FCA00,0xBC354BD0"),
    ]);
    assert_eq!(homepod_mini.airplay2(), AirPlay2::Supported);
    let airplay_only = Capabilities::from_txt(
        None,
        Some(&TxtRecord::from_pairs(&[(
            "features",
            "0x4A7FCA00,0xBC354BD0",
        )])),
    );
    assert_eq!(airplay_only.airplay2(), AirPlay2::Required);
    assert_eq!(raop(&[("ft", "0x5A7FFFF7,0x1E")]).airplay2(), AirPlay2::No);
}

#[test]
fn device_ids_normalise() {
    let rows = [
        ("aabbccddeeff", Some("AA:BB:CC:DD:EE:FF")),
        ("AA-BB-CC-DD-EE-FF", Some("AA:BB:CC:DD:EE:FF")),
        (" aa:bb:cc:dd:ee:ff ", Some("AA:BB:CC:DD:EE:FF")),
        ("aa:bb-cc:dd:ee:ff", None),
        ("aa:bb:cc:dd:ee:f", None),
        ("aabbccddeeffaa", None),
        ("gggggggggggg", None),
        ("Kitchen", None),
        ("", None),
        ("é€€€€€", None),
    ];
    for (input, expected) in rows {
        assert_eq!(normalize_device_id(input).as_deref(), expected, "{input:?}");
    }
}

#[test]
fn serializes_to_readable_json() {
    let caps = raop(SHAIRPORT);
    let json = serde_json::to_value(&caps).expect("serialize");
    assert_eq!(json["codecs"], serde_json::json!(["pcm", "alac"]));
    assert_eq!(json["encryption_types"], serde_json::json!(["none", "rsa"]));
    assert_eq!(
        json["metadata"],
        serde_json::json!(["text", "artwork", "progress"])
    );
    assert_eq!(json["status_flags"], "0x4");
    assert_eq!(json["features"], serde_json::Value::Null);
    assert_eq!(json["versions"]["server"], "105.1");
    let atv = raop(&[
        ("ft", "0x4A7FDFD5,0xBC157FDE"),
        ("pk", APPLE_TV_PK),
        ("cn", "8"),
    ]);
    let json = serde_json::to_value(&atv).expect("serialize");
    assert_eq!(json["features"], "0xBC157FDE4A7FDFD5");
    assert_eq!(json["public_key"], APPLE_TV_PK);
    assert_eq!(json["codecs"], serde_json::json!(["unknown(8)"]));
    assert_eq!(json["warnings"][0]["problem"], "unknown code 8");
}
