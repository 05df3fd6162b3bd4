//! Known-answer tests: every HAP step reproduces, byte for byte, what pyatv 0.18.0's HAP
//! code produced with fixed randomness (`vectors/hap_vectors.py` → `vectors/hap_vectors.json`).

use airstream_proto::hap::{
    ClientIdentity, DeviceIdentity, DeviceStep, FrameDecoder, FrameEncoder, HapCredentials,
    PairSetup, PairSetupServer, PairVerify, PairVerifyServer, PairedController, SessionKeys,
    TransientPairSetup,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/hap_vectors.json")).expect("vector JSON")
}

fn bytes(section: &Value, name: &str) -> Vec<u8> {
    hex::decode(section[name].as_str().expect(name)).expect(name)
}

fn array<const N: usize>(section: &Value, name: &str) -> [u8; N] {
    bytes(section, name).try_into().expect(name)
}

fn device(setup: &Value) -> DeviceIdentity {
    DeviceIdentity::new(bytes(setup, "device_id"), array(setup, "device_ltsk"))
}

fn credentials(setup: &Value) -> HapCredentials {
    setup["credentials"]
        .as_str()
        .expect("credentials")
        .parse()
        .expect("pyatv's credentials string parses")
}

#[test]
fn pair_setup_client_matches_pyatv() {
    let v = vectors();
    let s = &v["pair_setup"];
    let client = ClientIdentity::new(array(s, "client_ltsk"), bytes(s, "client_id"));
    assert_eq!(client.public_key().to_vec(), bytes(s, "client_ltpk"));
    let m1 = PairSetup::new(client, s["pin"].as_str().expect("pin")).expect("PIN");
    assert_eq!(m1.request_body(), bytes(s, "m1"));
    let m3 = m1.handle_response(&bytes(s, "m2")).expect("M2");
    assert_eq!(m3.request_body(), bytes(s, "m3"));
    let m5 = m3.handle_response(&bytes(s, "m4")).expect("M4");
    assert_eq!(m5.request_body(), bytes(s, "m5"));
    let stored = m5.handle_response(&bytes(s, "m6")).expect("M6");
    assert_eq!(
        stored.to_secret_string(),
        s["credentials"].as_str().expect("credentials")
    );
}

#[test]
fn pair_setup_device_matches_the_reference_device() {
    let v = vectors();
    let s = &v["pair_setup"];
    let mut server = PairSetupServer::new(
        &device(s),
        s["pin"].as_str().expect("pin"),
        array(s, "salt"),
        array(s, "srp_b"),
    )
    .expect("PIN");
    let (m2, _) = server.handle_request(&bytes(s, "m1")).expect("M1");
    assert_eq!(m2, bytes(s, "m2"));
    let (m4, _) = server.handle_request(&bytes(s, "m3")).expect("M3");
    assert_eq!(m4, bytes(s, "m4"));
    let (m6, step) = server.handle_request(&bytes(s, "m5")).expect("M5");
    assert_eq!(m6, bytes(s, "m6"));
    assert_eq!(
        step,
        DeviceStep::Paired(PairedController {
            id: bytes(s, "client_id"),
            public_key: array(s, "client_ltpk"),
        })
    );
}

#[test]
fn pair_verify_client_matches_pyatv() {
    let v = vectors();
    let p = &v["pair_verify"];
    let m1 = PairVerify::new(&credentials(&v["pair_setup"]), array(p, "client_ephemeral"));
    assert_eq!(m1.request_body(), bytes(p, "m1"));
    let m3 = m1.handle_response(&bytes(p, "m2")).expect("M2");
    assert_eq!(m3.request_body(), bytes(p, "m3"));
    let keys = m3.handle_response(&bytes(p, "m4")).expect("M4");
    assert_eq!(keys.write, array(p, "write_key"));
    assert_eq!(keys.read, array(p, "read_key"));
}

#[test]
fn pair_verify_device_matches_the_reference_device() {
    let v = vectors();
    let (s, p) = (&v["pair_setup"], &v["pair_verify"]);
    let controller = PairedController {
        id: bytes(s, "client_id"),
        public_key: array(s, "client_ltpk"),
    };
    let mut server =
        PairVerifyServer::new(&device(s), array(p, "device_ephemeral"), vec![controller]);
    let (m2, _) = server.handle_request(&bytes(p, "m1")).expect("M1");
    assert_eq!(m2, bytes(p, "m2"));
    let (m4, step) = server.handle_request(&bytes(p, "m3")).expect("M3");
    assert_eq!(m4, bytes(p, "m4"));
    let DeviceStep::Encrypted(keys) = step else {
        panic!("pair-verify did not finish: {step:?}");
    };
    assert_eq!(keys.read, array(p, "write_key"));
    assert_eq!(keys.write, array(p, "read_key"));
}

#[test]
fn transient_setup_matches_pyatv_on_both_sides() {
    let v = vectors();
    let t = &v["transient"];
    let m1 = TransientPairSetup::new(array(t, "srp_private"));
    assert_eq!(m1.request_body(), bytes(t, "m1"));
    let m3 = m1.handle_response(&bytes(t, "m2")).expect("M2");
    assert_eq!(m3.request_body(), bytes(t, "m3"));
    let keys = m3.handle_response(&bytes(t, "m4")).expect("M4");
    assert_eq!(keys.write, array(t, "write_key"));
    assert_eq!(keys.read, array(t, "read_key"));
    assert_eq!(SessionKeys::client(&bytes(t, "shared_secret")), keys);

    let identity = DeviceIdentity::new(b"any".to_vec(), [1; 32]);
    let mut server =
        PairSetupServer::new(&identity, "1111", array(t, "salt"), array(t, "srp_b")).expect("PIN");
    let (m2, _) = server.handle_request(&bytes(t, "m1")).expect("M1");
    assert_eq!(m2, bytes(t, "m2"));
    let (m4, step) = server.handle_request(&bytes(t, "m3")).expect("M3");
    assert_eq!(m4, bytes(t, "m4"));
    assert_eq!(
        step,
        DeviceStep::Encrypted(SessionKeys::device(&bytes(t, "shared_secret")))
    );
}

#[test]
fn frames_match_pyatv_hap_session() {
    let v = vectors();
    let (p, f) = (&v["pair_verify"], &v["frames"]);
    let mut client_out = FrameEncoder::new(array(p, "write_key"));
    assert_eq!(
        client_out.encode(&bytes(f, "request")).expect("encode"),
        bytes(f, "request_wire")
    );
    assert_eq!(
        client_out
            .encode(b"OPTIONS * RTSP/1.0\r\nCSeq: 6\r\n\r\n")
            .expect("encode"),
        bytes(f, "second_request_wire")
    );
    let mut device_out = FrameEncoder::new(array(p, "read_key"));
    assert_eq!(
        device_out.encode(&bytes(f, "reply")).expect("encode"),
        bytes(f, "reply_wire")
    );
    let mut client_in = FrameDecoder::new(array(p, "read_key"));
    assert_eq!(
        client_in.decode(&bytes(f, "reply_wire")).expect("decode"),
        bytes(f, "reply")
    );
    let mut device_in = FrameDecoder::new(array(p, "write_key"));
    let mut both = bytes(f, "request_wire");
    both.extend(bytes(f, "second_request_wire"));
    let mut expected = bytes(f, "request");
    expected.extend_from_slice(b"OPTIONS * RTSP/1.0\r\nCSeq: 6\r\n\r\n");
    assert_eq!(device_in.decode(&both).expect("decode"), expected);
}
