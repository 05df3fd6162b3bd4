//! Legacy pairing through the public API: request bodies byte for byte against the
//! known-answer vectors (tests/data/airplay-legacy-pairing.json), the device side against
//! the same vectors, and in-memory client ↔ device round trips including failures.

// Helpers unwrap too (clippy.toml allows it only inside #[test] fns): a panic is a test failure.
#![allow(clippy::unwrap_used)]

use airstream_proto::bplist;
use airstream_proto::pairing::{
    Credentials, DeviceIdentity, PairSetup, PairSetupServer, PairVerify, PairVerifyServer,
    PairedClient, PairingError,
};
use plist::Value;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value as Json;

fn vectors() -> Json {
    serde_json::from_str(include_str!("data/airplay-legacy-pairing.json")).unwrap()
}

fn bytes(value: &Json) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn array<const N: usize>(value: &Json) -> [u8; N] {
    bytes(value).try_into().unwrap()
}

fn body(messages: &Json, step: &str, field: &str) -> Vec<u8> {
    let message = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["step"] == step)
        .unwrap_or_else(|| panic!("no message {step}"));
    bytes(&message[field])
}

fn synthetic_credentials(s: &Json) -> Credentials {
    Credentials::new(
        array(&s["inputs"]["identifier_hex"]),
        array(&s["inputs"]["seed_hex"]),
    )
}

/// Runs the client against recorded replies and checks every request body and the
/// device key it learns.
fn replay_client(
    credentials: &Credentials,
    pin: &str,
    messages: &Json,
    expected_device_key: [u8; 32],
) {
    let step1 = PairSetup::new(credentials, pin).unwrap();
    assert_eq!(
        step1.request_body(),
        body(messages, "pair-setup-pin 1", "request_body_hex")
    );
    let step2 = step1
        .handle_response(&body(messages, "pair-setup-pin 1", "response_body_hex"))
        .unwrap();
    assert_eq!(
        step2.request_body(),
        body(messages, "pair-setup-pin 2", "request_body_hex")
    );
    let step3 = step2
        .handle_response(&body(messages, "pair-setup-pin 2", "response_body_hex"))
        .unwrap();
    assert_eq!(
        step3.request_body(),
        body(messages, "pair-setup-pin 3", "request_body_hex")
    );
    let device_key = step3
        .handle_response(&body(messages, "pair-setup-pin 3", "response_body_hex"))
        .unwrap();
    assert_eq!(device_key, Some(expected_device_key));

    let verify = PairVerify::new(credentials);
    assert_eq!(
        verify.request_body(),
        body(messages, "pair-verify 1", "request_body_hex")
    );
    let second = verify
        .handle_response(
            &body(messages, "pair-verify 1", "response_body_hex"),
            Some(&expected_device_key),
        )
        .unwrap();
    assert_eq!(second, body(messages, "pair-verify 2", "request_body_hex"));
}

#[test]
fn synthetic_client_requests_match_vectors() {
    let v = vectors();
    let s = &v["synthetic"];
    replay_client(
        &synthetic_credentials(s),
        s["inputs"]["pin"].as_str().unwrap(),
        &s["messages"],
        array(&s["pair_setup_aes"]["device_ed25519_public_hex"]),
    );
}

#[test]
fn real_device_client_requests_match_capture() {
    let v = vectors();
    let r = &v["real_device_replay"];
    let credentials: Credentials = r["credentials"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        credentials.ed25519_public_key().to_vec(),
        bytes(&r["client_ed25519_public_hex"])
    );
    replay_client(
        &credentials,
        r["pin"].as_str().unwrap(),
        &r["messages"],
        array(&r["device_ed25519_public_from_step3_hex"]),
    );
}

#[test]
fn synthetic_device_replies_match_vectors() {
    let v = vectors();
    let s = &v["synthetic"];
    let inputs = &s["inputs"];
    let messages = &s["messages"];
    let identity = DeviceIdentity::new(array(&inputs["device_ed25519_seed_hex"]));
    let mut setup = PairSetupServer::new(
        &identity,
        inputs["pin"].as_str().unwrap(),
        array(&inputs["device_salt_hex"]),
        array(&inputs["device_srp_private_b_hex"]),
    )
    .unwrap();
    for step in ["pair-setup-pin 1", "pair-setup-pin 2", "pair-setup-pin 3"] {
        let reply = setup
            .handle_request(&body(messages, step, "request_body_hex"))
            .unwrap();
        assert_eq!(reply, body(messages, step, "response_body_hex"), "{step}");
    }
    let client_key: [u8; 32] = array(&s["client_keys"]["ed25519_public_hex"]);
    assert_eq!(
        setup.paired_client(),
        Some(&PairedClient {
            identifier: inputs["srp_username"].as_str().unwrap().to_owned(),
            ed25519_public_key: client_key,
        })
    );

    let mut verify = PairVerifyServer::new(
        &identity,
        array(&inputs["device_x25519_private_hex"]),
        [client_key],
    );
    for step in ["pair-verify 1", "pair-verify 2"] {
        let reply = verify
            .handle_request(&body(messages, step, "request_body_hex"))
            .unwrap();
        assert_eq!(reply, body(messages, step, "response_body_hex"), "{step}");
    }
    assert!(verify.is_verified());
    assert_eq!(verify.verified_client(), Some(client_key));
}

#[test]
fn synthetic_request_plists_decode_to_the_documented_fields() {
    let v = vectors();
    let messages = &v["synthetic"]["messages"];
    for message in messages.as_array().unwrap() {
        let Some(expected) = message["request_plist"].as_object() else {
            continue;
        };
        let decoded = bplist::decode_dict(&bytes(&message["request_body_hex"])).unwrap();
        assert_eq!(decoded.len(), expected.len());
        for (key, value) in expected {
            let text = value.as_str().unwrap();
            match decoded.get(key).unwrap() {
                Value::String(s) => assert_eq!(s, text),
                Value::Data(d) => assert_eq!(hex::encode(d), text),
                other => panic!("unexpected {key}: {other:?}"),
            }
        }
    }
}

struct Device {
    identity: DeviceIdentity,
    setup: PairSetupServer,
}

fn device(pin: &str, rng: &mut StdRng) -> Device {
    let identity = DeviceIdentity::random(rng);
    let setup = PairSetupServer::new(&identity, pin, rand::random(), rand::random()).unwrap();
    Device { identity, setup }
}

/// Pairs in memory; returns the device key the client learned in step 3.
fn pair(
    credentials: &Credentials,
    pin: &str,
    device: &mut Device,
) -> Result<Option<[u8; 32]>, PairingError> {
    let step1 = PairSetup::new(credentials, pin)?;
    let reply = device.setup.handle_request(&step1.request_body())?;
    let step2 = step1.handle_response(&reply)?;
    let reply = device.setup.handle_request(&step2.request_body())?;
    let step3 = step2.handle_response(&reply)?;
    let reply = device.setup.handle_request(&step3.request_body())?;
    step3.handle_response(&reply)
}

fn verify(
    credentials: &Credentials,
    server: &mut PairVerifyServer,
    device_key: Option<&[u8; 32]>,
) -> Result<(), PairingError> {
    let client = PairVerify::new(credentials);
    let reply = server.handle_request(&client.request_body())?;
    let second = client.handle_response(&reply, device_key)?;
    let last = server.handle_request(&second)?;
    assert!(last.is_empty());
    Ok(())
}

#[test]
fn round_trip_with_the_right_pin_pairs_and_verifies() {
    let mut rng = StdRng::seed_from_u64(1);
    for pin in ["1234", "0042", "7"] {
        let credentials = Credentials::random(&mut rng);
        let mut device = device(pin, &mut rng);
        let device_key = pair(&credentials, pin, &mut device).unwrap();
        assert_eq!(device_key, Some(device.identity.ed25519_public_key()));
        let paired = device.setup.paired_client().unwrap().clone();
        assert_eq!(paired.identifier, credentials.identifier_hex());
        assert_eq!(paired.ed25519_public_key, credentials.ed25519_public_key());

        let mut server = PairVerifyServer::new(
            &device.identity,
            rand::random(),
            [paired.ed25519_public_key],
        );
        verify(&credentials, &mut server, device_key.as_ref()).unwrap();
        assert_eq!(
            server.verified_client(),
            Some(credentials.ed25519_public_key())
        );
    }
}

#[test]
fn short_pins_are_zero_padded_like_pyatv() {
    let mut rng = StdRng::seed_from_u64(2);
    let credentials = Credentials::random(&mut rng);
    let mut device = device("0042", &mut rng);
    assert!(pair(&credentials, "42", &mut device).is_ok());
}

#[test]
fn wrong_pin_is_rejected_by_the_device_as_bad_pin() {
    let mut rng = StdRng::seed_from_u64(3);
    let credentials = Credentials::random(&mut rng);
    let mut device = device("1234", &mut rng);
    assert_eq!(
        pair(&credentials, "4321", &mut device),
        Err(PairingError::BadPin)
    );
    assert_eq!(device.setup.paired_client(), None);
    // The failed attempt does not leave the device half-way: step 2 now needs a restart.
    let step1 = PairSetup::new(&credentials, "1234").unwrap();
    let reply = device.setup.handle_request(&step1.request_body()).unwrap();
    let step2 = step1.handle_response(&reply).unwrap();
    device.setup.handle_request(&step2.request_body()).unwrap();
    assert!(matches!(
        device.setup.handle_request(&step2.request_body()),
        Err(PairingError::MalformedMessage { .. })
    ));
}

#[test]
fn tampered_device_proof_is_rejected() {
    let mut rng = StdRng::seed_from_u64(4);
    let credentials = Credentials::random(&mut rng);
    let mut device = device("1234", &mut rng);
    let step1 = PairSetup::new(&credentials, "1234").unwrap();
    let reply = device.setup.handle_request(&step1.request_body()).unwrap();
    let step2 = step1.handle_response(&reply).unwrap();
    let reply = device.setup.handle_request(&step2.request_body()).unwrap();

    let mut proof = bplist::decode_dict(&reply).unwrap()["proof"]
        .as_data()
        .unwrap()
        .to_vec();
    proof[19] ^= 0x01;
    let tampered = bplist::encode_dict([("proof", Value::Data(proof))]);
    assert_eq!(
        step2.handle_response(&tampered).unwrap_err(),
        PairingError::DeviceProofMismatch
    );
}

#[test]
fn device_that_does_not_know_the_pin_fails_the_client_check() {
    // A device with another PIN that (wrongly) accepts M1 and answers with its own M2.
    let v = vectors();
    let s = &v["synthetic"];
    let step1 = PairSetup::new(&synthetic_credentials(s), "9999").unwrap();
    let step2 = step1
        .handle_response(&body(
            &s["messages"],
            "pair-setup-pin 1",
            "response_body_hex",
        ))
        .unwrap();
    assert_eq!(
        step2
            .handle_response(&body(
                &s["messages"],
                "pair-setup-pin 2",
                "response_body_hex"
            ))
            .unwrap_err(),
        PairingError::DeviceProofMismatch
    );
}

#[test]
fn tampered_key_exchange_is_rejected_by_both_sides() {
    let mut rng = StdRng::seed_from_u64(5);
    let credentials = Credentials::random(&mut rng);
    let mut device = device("1234", &mut rng);
    let step1 = PairSetup::new(&credentials, "1234").unwrap();
    let reply = device.setup.handle_request(&step1.request_body()).unwrap();
    let step2 = step1.handle_response(&reply).unwrap();
    let reply = device.setup.handle_request(&step2.request_body()).unwrap();
    let step3 = step2.handle_response(&reply).unwrap();

    let mut request = bplist::decode_dict(&step3.request_body()).unwrap();
    if let Some(Value::Data(tag)) = request.get_mut("authTag") {
        tag[0] ^= 0x80;
    }
    let mut tampered = Vec::new();
    Value::Dictionary(request)
        .to_writer_binary(&mut tampered)
        .unwrap();
    assert!(matches!(
        device.setup.handle_request(&tampered),
        Err(PairingError::DecryptionFailed { .. })
    ));
    assert_eq!(device.setup.paired_client(), None);

    // A reply encrypted under another IV (here: the client's own +1 message) is refused.
    let own_request = step3.request_body();
    assert!(matches!(
        step3.handle_response(&own_request),
        Err(PairingError::DecryptionFailed { .. })
    ));
}

#[test]
fn pair_verify_with_unpaired_credentials_is_rejected() {
    let mut rng = StdRng::seed_from_u64(6);
    let paired = Credentials::random(&mut rng);
    let stranger = Credentials::random(&mut rng);
    let identity = DeviceIdentity::random(&mut rng);
    let mut server =
        PairVerifyServer::new(&identity, rand::random(), [paired.ed25519_public_key()]);
    assert!(matches!(
        verify(&stranger, &mut server, None),
        Err(PairingError::UnknownClient { .. })
    ));
    assert!(!server.is_verified());
    verify(&paired, &mut server, Some(&identity.ed25519_public_key())).unwrap();
    assert!(server.is_verified());
}

#[test]
fn pair_verify_claiming_a_paired_key_without_its_secret_is_rejected() {
    let mut rng = StdRng::seed_from_u64(7);
    let victim = Credentials::random(&mut rng);
    let attacker = Credentials::random(&mut rng);
    let identity = DeviceIdentity::random(&mut rng);
    let mut server =
        PairVerifyServer::new(&identity, rand::random(), [victim.ed25519_public_key()]);

    let client = PairVerify::new(&attacker);
    let mut first = client.request_body();
    first[36..68].copy_from_slice(&victim.ed25519_public_key());
    let reply = server.handle_request(&first).unwrap();
    let second = client.handle_response(&reply, None).unwrap();
    assert_eq!(
        server.handle_request(&second),
        Err(PairingError::ClientSignatureMismatch)
    );
    assert!(!server.is_verified());
}

#[test]
fn pair_verify_detects_a_device_with_another_key() {
    let mut rng = StdRng::seed_from_u64(8);
    let credentials = Credentials::random(&mut rng);
    let identity = DeviceIdentity::random(&mut rng);
    let impostor = DeviceIdentity::random(&mut rng);
    let mut server = PairVerifyServer::new(
        &impostor,
        rand::random(),
        [credentials.ed25519_public_key()],
    );
    assert_eq!(
        verify(
            &credentials,
            &mut server,
            Some(&identity.ed25519_public_key())
        ),
        Err(PairingError::DeviceSignatureMismatch)
    );
}

#[test]
fn out_of_order_and_malformed_requests_are_typed_errors() {
    let mut rng = StdRng::seed_from_u64(9);
    let credentials = Credentials::random(&mut rng);
    let identity = DeviceIdentity::random(&mut rng);
    let mut setup = PairSetupServer::new(&identity, "1234", [1; 16], [2; 32]).unwrap();
    let proof_only = bplist::encode_dict([
        ("pk", Value::Data(vec![5; 256])),
        ("proof", Value::Data(vec![0; 20])),
    ]);
    assert!(matches!(
        setup.handle_request(&proof_only),
        Err(PairingError::UnexpectedMessage { .. })
    ));
    assert!(matches!(
        setup.handle_request(b"not a plist"),
        Err(PairingError::MalformedMessage { .. })
    ));
    let other_method = bplist::encode_dict([
        ("method", Value::String("password".into())),
        ("user", Value::String("X".into())),
    ]);
    assert!(matches!(
        setup.handle_request(&other_method),
        Err(PairingError::MalformedMessage { .. })
    ));

    let mut server = PairVerifyServer::new(&identity, [3; 32], [credentials.ed25519_public_key()]);
    assert!(matches!(
        server.handle_request(&[0; 68]),
        Err(PairingError::UnexpectedMessage { .. })
    ));
    assert!(matches!(
        server.handle_request(&[1; 10]),
        Err(PairingError::MalformedMessage { .. })
    ));

    let client = PairVerify::new(&credentials);
    assert!(matches!(
        PairVerify::new(&credentials).handle_response(&[0; 95], None),
        Err(PairingError::MalformedMessage { .. })
    ));
    // An all-zero device key would make the shared secret predictable.
    assert!(matches!(
        client.handle_response(&[0; 96], None),
        Err(PairingError::MalformedMessage { .. })
    ));

    // SRP B = 0 or B >= N from the device is refused before any math.
    for device_public in [vec![0u8; 256], vec![0xff; 256]] {
        let reply = bplist::encode_dict([
            ("pk", Value::Data(device_public)),
            ("salt", Value::Data(vec![1; 16])),
        ]);
        let step1 = PairSetup::new(&credentials, "1234").unwrap();
        assert!(matches!(
            step1.handle_response(&reply),
            Err(PairingError::MalformedMessage { .. })
        ));
    }
}

#[test]
fn pins_must_be_digits() {
    let credentials = Credentials::new([1; 8], [2; 32]);
    for pin in ["", "12a4", "123456789", " 1234", "١٢٣٤"] {
        assert_eq!(
            PairSetup::new(&credentials, pin).unwrap_err(),
            PairingError::InvalidPin,
            "{pin:?}"
        );
    }
}

#[test]
fn debug_output_of_pairing_state_hides_secrets() {
    let credentials = Credentials::new([0xab; 8], [0x5c; 32]);
    let step1 = PairSetup::new(&credentials, "9876").unwrap();
    let text = format!("{step1:?} {:?}", PairVerify::new(&credentials));
    assert!(text.contains("ABABABABABABABAB"), "{text}");
    assert!(!text.to_lowercase().contains("5c5c"), "{text}");
    assert!(!text.contains("9876"), "{text}");

    let identity = DeviceIdentity::new([0x77; 32]);
    let server = PairSetupServer::new(&identity, "2468", [1; 16], [0x99; 32]).unwrap();
    let text = format!("{identity:?} {server:?}");
    assert!(!text.contains("7777"), "{text}");
    assert!(!text.contains("9999"), "{text}");
    assert!(!text.contains("2468"), "{text}");
}

proptest! {
    /// Whatever a peer sends, every step answers with a value or a typed error.
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let credentials = Credentials::new([1; 8], [2; 32]);
        let identity = DeviceIdentity::new([3; 32]);
        let _ = PairSetup::new(&credentials, "1234").unwrap().handle_response(&body);
        let _ = PairVerify::new(&credentials).handle_response(&body, Some(&[4; 32]));
        let mut setup = PairSetupServer::new(&identity, "1234", [5; 16], [6; 32]).unwrap();
        let _ = setup.handle_request(&body);
        let mut verify = PairVerifyServer::new(&identity, [7; 32], [credentials.ed25519_public_key()]);
        let _ = verify.handle_request(&body);
    }
}
