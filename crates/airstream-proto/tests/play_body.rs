//! `/play` bodies and the plistlib-compatible encoder, against pyatv's recorded bodies
//! (tests/data/airplay-play-request.json).

// Helpers unwrap too (clippy.toml allows it only inside #[test] fns): a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use airstream_proto::bplist;
use airstream_proto::play::play_request_body;
use plist::Value;
use serde_json::Value as Json;

fn vectors() -> Json {
    serde_json::from_str(include_str!("data/airplay-play-request.json")).unwrap()
}

fn bytes(value: &Json) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

#[test]
fn airplay1_play_body_matches_pyatv_byte_for_byte() {
    let v = vectors();
    let body = play_request_body(
        v["url"].as_str().unwrap(),
        Duration::ZERO,
        v["fixed_uuid"].as_str().unwrap(),
    );
    assert_eq!(body, bytes(&v["airplay1"]["body_hex"]));
}

#[test]
fn real_start_position_matches_the_float_variant() {
    let v = vectors();
    let body = bplist::encode_dict([
        (
            "X-Apple-Session-ID",
            Value::String(v["fixed_uuid"].as_str().unwrap().into()),
        ),
        ("Start-Position", Value::Real(0.0)),
        (
            "Content-Location",
            Value::String(v["url"].as_str().unwrap().into()),
        ),
    ]);
    assert_eq!(
        body,
        bytes(&v["airplay1_float_start_position_variant"]["body_hex"])
    );
}

#[test]
fn start_position_is_an_integer_for_whole_seconds_and_real_otherwise() {
    let whole = bplist::decode_dict(&play_request_body(
        "http://h/x",
        Duration::from_secs(90),
        "id",
    ))
    .unwrap();
    assert_eq!(whole["Start-Position"], Value::Integer(90u64.into()));
    let fractional = bplist::decode_dict(&play_request_body(
        "http://h/x",
        Duration::from_millis(1500),
        "id",
    ))
    .unwrap();
    assert_eq!(fractional["Start-Position"], Value::Real(1.5));
    assert_eq!(
        fractional["Content-Location"],
        Value::String("http://h/x".into())
    );
    assert_eq!(fractional["X-Apple-Session-ID"], Value::String("id".into()));
}

#[test]
fn encoder_matches_plistlib_for_mixed_and_repeated_values() {
    // plistlib.dumps({'a':'x','b':'x','c':0,'d':0,'e':b'\x01\x02','f':b'\x01\x02',
    //   'g':'é','h':0.0,'i':300,'j':-1}, fmt=FMT_BINARY) — equal scalars written once,
    // UTF-16 for non-ASCII, minimal integer widths, negative as 8-byte signed.
    let expected = concat!(
        "62706c6973743030da0102030405060708090a0b0b0c0c0d0d0e0f1011516151625163516451655166",
        "516751685169516a517810004201026100e923000000000000000011012c13ffffffffffffffff081d",
        "1f21232527292b2d2f313335383b4447000000000000010100000000000000120000000000000000",
        "0000000000000050",
    );
    let body = bplist::encode_dict([
        ("j", Value::Integer((-1i64).into())),
        ("i", Value::Integer(300u64.into())),
        ("h", Value::Real(0.0)),
        ("g", Value::String("é".into())),
        ("f", Value::Data(vec![1, 2])),
        ("e", Value::Data(vec![1, 2])),
        ("d", Value::Integer(0u64.into())),
        ("c", Value::Integer(0u64.into())),
        ("b", Value::String("x".into())),
        ("a", Value::String("x".into())),
    ]);
    assert_eq!(hex::encode(body), expected);
}

#[test]
fn decoder_reads_xml_plists_too() {
    let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>duration</key><real>0.8</real></dict></plist>"#;
    let dict = bplist::decode_dict(xml).unwrap();
    assert_eq!(dict["duration"], Value::Real(0.8));
    assert!(bplist::decode_dict(b"bplist00garbage").is_err());
    assert!(matches!(
        bplist::decode_dict(br#"<plist version="1.0"><string>x</string></plist>"#),
        Err(bplist::DecodeError::NotADict)
    ));
}
