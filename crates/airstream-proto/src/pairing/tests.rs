//! Known-answer tests of every intermediate value against the vectors in
//! tests/data/airplay-legacy-pairing.json (pyatv 0.18.0 + srptools 1.0.1, fixed randomness).

use serde_json::Value as Json;

use super::apple_srp::{self, ClientSession};
use super::keys::{self, CLIENT_SIGNATURE_OFFSET, DEVICE_SIGNATURE_OFFSET};
use super::verify::{shared_secret, signature_verifies, x25519_public};
use super::{Credentials, DeviceIdentity};

fn vectors() -> Json {
    serde_json::from_str(include_str!("../../tests/data/airplay-legacy-pairing.json")).unwrap()
}

fn bytes(value: &Json) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn array<const N: usize>(value: &Json) -> [u8; N] {
    bytes(value).try_into().unwrap()
}

/// Hex of the step's request or response body.
fn message_body(messages: &Json, step: &str, field: &str) -> Vec<u8> {
    let message = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["step"] == step)
        .unwrap();
    bytes(&message[field])
}

#[test]
fn synthetic_srp_intermediates_match() {
    let all = vectors();
    let synthetic = &all["synthetic"];
    let srp = &synthetic["srp"];
    let user = synthetic["inputs"]["srp_username"].as_str().unwrap();
    let pin = synthetic["inputs"]["pin"].as_str().unwrap();
    let a_secret: [u8; 32] = array(&srp["a_hex"]);
    let b_secret: [u8; 32] = array(&srp["b_hex"]);
    let salt = bytes(&srp["salt_hex"]);

    assert_eq!(apple_srp::modulus(), bytes(&srp["N_hex"]));
    assert_eq!(
        apple_srp::to_bytes(&apple_srp::multiplier()),
        bytes(&srp["k_hex"])
    );
    let a_pub = apple_srp::client_public(&a_secret);
    assert_eq!(a_pub, bytes(&srp["A_hex"]));
    let x = apple_srp::password_exponent(&salt, user, pin);
    assert_eq!(apple_srp::to_bytes(&x), bytes(&srp["x_hex"]));
    let verifier = apple_srp::verifier(&x);
    assert_eq!(apple_srp::to_bytes(&verifier), bytes(&srp["v_hex"]));
    let b_pub = apple_srp::device_public(&b_secret, &verifier);
    assert_eq!(b_pub, bytes(&srp["B_hex"]));
    let u = apple_srp::scrambler(&a_pub, &b_pub);
    assert_eq!(apple_srp::to_bytes(&u), bytes(&srp["u_hex"]));

    let client_s = apple_srp::client_premaster(&b_pub, &x, &a_secret, &u);
    assert_eq!(client_s, bytes(&srp["S_hex"]));
    let device_s = apple_srp::device_premaster(&a_pub, &verifier, &u, &b_secret);
    assert_eq!(device_s, client_s);

    let key = apple_srp::session_key(&client_s);
    assert_eq!(key.to_vec(), bytes(&srp["K_hex"]));
    let m1 = apple_srp::client_proof(user, &salt, &a_pub, &b_pub, &key);
    assert_eq!(m1.to_vec(), bytes(&srp["M1_hex"]));
    let m2 = apple_srp::device_proof(&a_pub, &m1, &key);
    assert_eq!(m2.to_vec(), bytes(&srp["M2_hex"]));

    // The session wrapper the client uses composes the same values.
    let session = ClientSession::new("test", &a_secret, user, pin, &salt, &b_pub).unwrap();
    assert_eq!(session.public, a_pub);
    assert_eq!(session.proof, m1);
    assert_eq!(session.key, key);
    assert_eq!(session.expected_device_proof(), m2);
}

#[test]
fn synthetic_pair_setup_aes_values_match() {
    let v = vectors();
    let s = &v["synthetic"];
    let aes = &s["pair_setup_aes"];
    let key: [u8; 40] = array(&s["srp"]["K_hex"]);
    let (aes_key, raw_iv) = keys::setup_key_iv(&key);
    assert_eq!(aes_key.to_vec(), bytes(&aes["aes_key_hex"]));
    assert_eq!(raw_iv.to_vec(), bytes(&aes["aes_iv_raw_hex"]));
    let client_iv = keys::bump_iv(&raw_iv, 1);
    let device_iv = keys::bump_iv(&raw_iv, 2);
    assert_eq!(
        client_iv.to_vec(),
        bytes(&aes["client_iv_hex (last byte +1)"])
    );
    assert_eq!(
        device_iv.to_vec(),
        bytes(&aes["device_iv_hex (last byte +2)"])
    );

    let credentials = Credentials::new(
        array(&s["inputs"]["identifier_hex"]),
        array(&s["inputs"]["seed_hex"]),
    );
    let client_public = credentials.ed25519_public_key();
    assert_eq!(
        client_public.to_vec(),
        bytes(&s["client_keys"]["ed25519_public_hex"])
    );
    let step3 = &s["messages"][3];
    let (epk, tag) = keys::gcm_seal(&aes_key, &client_iv, &client_public);
    assert_eq!(epk.to_vec(), bytes(&step3["request_plist"]["epk"]));
    assert_eq!(tag.to_vec(), bytes(&step3["request_plist"]["authTag"]));
    assert_eq!(
        keys::gcm_open(&aes_key, &client_iv, &epk, &tag),
        Some(client_public)
    );

    let device = DeviceIdentity::new(array(&s["inputs"]["device_ed25519_seed_hex"]));
    let device_public = device.ed25519_public_key();
    assert_eq!(
        device_public.to_vec(),
        bytes(&aes["device_ed25519_public_hex"])
    );
    let (device_epk, device_tag) = keys::gcm_seal(&aes_key, &device_iv, &device_public);
    assert_eq!(device_epk.to_vec(), bytes(&step3["response_plist"]["epk"]));
    assert_eq!(
        device_tag.to_vec(),
        bytes(&step3["response_plist"]["authTag"])
    );

    let mut flipped = tag;
    flipped[0] ^= 1;
    assert_eq!(keys::gcm_open(&aes_key, &client_iv, &epk, &flipped), None);
}

#[test]
fn synthetic_pair_verify_values_match() {
    let v = vectors();
    let s = &v["synthetic"];
    let pv = &s["pair_verify"];
    let seed: [u8; 32] = array(&s["inputs"]["seed_hex"]);
    let device_secret: [u8; 32] = array(&s["inputs"]["device_x25519_private_hex"]);

    let client_x = x25519_public(&seed);
    assert_eq!(client_x.to_vec(), bytes(&pv["client_x25519_public_hex"]));
    let device_x = x25519_public(&device_secret);
    assert_eq!(device_x.to_vec(), bytes(&pv["device_x25519_public_hex"]));
    let shared = shared_secret(&seed, &device_x).unwrap();
    assert_eq!(shared.to_vec(), bytes(&pv["shared_secret_hex"]));
    assert_eq!(shared_secret(&device_secret, &client_x), Some(shared));

    let (key, iv) = keys::verify_key_iv(&shared);
    assert_eq!(key.to_vec(), bytes(&pv["aes_ctr_key_hex"]));
    assert_eq!(iv.to_vec(), bytes(&pv["aes_ctr_iv_hex"]));

    let mut device_signature: [u8; 64] = array(&pv["device_signature_hex"]);
    keys::ctr_apply(&key, &iv, DEVICE_SIGNATURE_OFFSET, &mut device_signature);
    assert_eq!(
        device_signature.to_vec(),
        bytes(&pv["device_signature_encrypted_hex (keystream 0..63)"])
    );
    let mut client_signature: [u8; 64] = array(&pv["client_signature_hex"]);
    keys::ctr_apply(&key, &iv, CLIENT_SIGNATURE_OFFSET, &mut client_signature);
    assert_eq!(
        client_signature.to_vec(),
        bytes(&pv["client_signature_encrypted_hex (keystream 64..127)"])
    );

    let client_ed: [u8; 32] = array(&pv["client_ed25519_public_hex"]);
    let signed = [client_x, device_x].concat();
    assert!(signature_verifies(
        &client_ed,
        &signed,
        &array(&pv["client_signature_hex"])
    ));
    assert!(!signature_verifies(
        &client_ed,
        &signed,
        &array(&pv["device_signature_hex"])
    ));
}

#[test]
fn real_device_srp_and_aes_values_match() {
    let v = vectors();
    let r = &v["real_device_replay"];
    let srp = &r["srp"];
    let credentials: Credentials = r["credentials"].as_str().unwrap().parse().unwrap();
    let user = r["srp_username"].as_str().unwrap();
    assert_eq!(credentials.identifier_hex(), user);
    let salt = bytes(&srp["salt_hex"]);
    let b_pub = bytes(&srp["B_hex"]);

    let session = ClientSession::new(
        "test",
        credentials.seed(),
        user,
        r["pin"].as_str().unwrap(),
        &salt,
        &b_pub,
    )
    .unwrap();
    assert_eq!(session.public, bytes(&srp["A_hex"]));
    assert_eq!(session.key.to_vec(), bytes(&srp["K_hex"]));
    assert_eq!(session.proof.to_vec(), bytes(&srp["M1_hex"]));
    assert_eq!(
        session.expected_device_proof().to_vec(),
        bytes(&srp["M2_hex"])
    );

    let (aes_key, raw_iv) = keys::setup_key_iv(&session.key);
    assert_eq!(aes_key.to_vec(), bytes(&r["pair_setup_aes"]["aes_key_hex"]));
    assert_eq!(
        raw_iv.to_vec(),
        bytes(&r["pair_setup_aes"]["aes_iv_raw_hex"])
    );
}

#[test]
fn real_device_pair_verify_values_match() {
    let v = vectors();
    let r = &v["real_device_replay"];
    let pv = &r["pair_verify"];
    let credentials: Credentials = r["credentials"].as_str().unwrap().parse().unwrap();
    let reply = message_body(&r["messages"], "pair-verify 1", "response_body_hex");
    let device_x: [u8; 32] = reply[..32].try_into().unwrap();

    let shared = shared_secret(credentials.seed(), &device_x).unwrap();
    assert_eq!(shared.to_vec(), bytes(&pv["shared_secret_hex"]));
    let (key, iv) = keys::verify_key_iv(&shared);
    assert_eq!(key.to_vec(), bytes(&pv["aes_ctr_key_hex"]));
    assert_eq!(iv.to_vec(), bytes(&pv["aes_ctr_iv_hex"]));

    let mut device_signature: [u8; 64] = reply[32..].try_into().unwrap();
    keys::ctr_apply(&key, &iv, DEVICE_SIGNATURE_OFFSET, &mut device_signature);
    assert_eq!(
        device_signature.to_vec(),
        bytes(&pv["device_signature_hex"])
    );
    let device_ed: [u8; 32] = array(&r["device_ed25519_public_from_step3_hex"]);
    let signed = [device_x, x25519_public(credentials.seed())].concat();
    assert!(signature_verifies(&device_ed, &signed, &device_signature));
}

#[test]
fn peer_public_values_outside_the_group_are_rejected() {
    let modulus = apple_srp::modulus();
    assert_eq!(apple_srp::checked_public(&[0, 0]), None);
    assert_eq!(apple_srp::checked_public(&modulus), None);
    assert_eq!(apple_srp::checked_public(&[1; 257]), None);
    let mut below = modulus.clone();
    below[255] -= 1;
    assert_eq!(apple_srp::checked_public(&below), Some(below.clone()));
    // Leading zeros are not part of the value.
    assert_eq!(apple_srp::checked_public(&[0, 0, 7]), Some(vec![7]));
}

#[test]
fn iv_bump_changes_only_the_last_byte_and_wraps() {
    let iv = [0xff; 16];
    let bumped = keys::bump_iv(&iv, 2);
    assert_eq!(bumped[..15], iv[..15]);
    assert_eq!(bumped[15], 1);
}
