//! A hostile device against the HAP client (and a hostile client against the device side):
//! tampered proofs, signatures and ciphertext, short and huge TLV8, bad frames and arbitrary
//! bytes into every parser end in a typed error, never a panic.

use airstream_proto::hap::{
    ClientIdentity, DeviceIdentity, FrameDecoder, FrameEncoder, FrameError, HapCredentials,
    HapError, MAX_FRAME_LEN, MAX_MESSAGE_LEN, PairSetup, PairSetupServer, PairVerify,
    PairVerifyServer, Tlv8, TlvType, TransientPairSetup,
};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use proptest::prelude::*;
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

fn setup_client(v: &Value) -> PairSetup {
    let s = &v["pair_setup"];
    let client = ClientIdentity::new(array(s, "client_ltsk"), bytes(s, "client_id"));
    PairSetup::new(client, s["pin"].as_str().expect("pin")).expect("PIN")
}

fn credentials(v: &Value) -> HapCredentials {
    v["pair_setup"]["credentials"]
        .as_str()
        .expect("credentials")
        .parse()
        .expect("credentials")
}

fn verify_client(v: &Value) -> PairVerify {
    PairVerify::new(
        &credentials(v),
        array(&v["pair_verify"], "client_ephemeral"),
    )
}

/// Replaces the value of `kind` in a TLV8 body.
fn replace(body: &[u8], kind: TlvType, value: &[u8]) -> Vec<u8> {
    let tlv = Tlv8::decode("test", body).expect("valid TLV");
    let mut out = Tlv8::new();
    for (t, v) in tlv.items() {
        let v = if *t == kind as u8 {
            value.to_vec()
        } else {
            v.clone()
        };
        out = out.with(kind_of(*t), v);
    }
    out.encode()
}

fn kind_of(t: u8) -> TlvType {
    [
        TlvType::Method,
        TlvType::Identifier,
        TlvType::Salt,
        TlvType::PublicKey,
        TlvType::Proof,
        TlvType::EncryptedData,
        TlvType::State,
        TlvType::Error,
        TlvType::Signature,
        TlvType::Flags,
    ]
    .into_iter()
    .find(|k| *k as u8 == t)
    .expect("known type")
}

fn flip(value: &[u8], index: usize) -> Vec<u8> {
    let mut value = value.to_vec();
    value[index] ^= 0x01;
    value
}

/// Re-seals a pairing message's EncryptedData after `edit` changed its inner TLV: the
/// device knows the key, so it can send any content it likes.
fn reseal(body: &[u8], key: &[u8; 32], label: [u8; 8], edit: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let tlv = Tlv8::decode("test", body).expect("valid TLV");
    let sealed = tlv.get(TlvType::EncryptedData).expect("EncryptedData");
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&label);
    let cipher = ChaCha20Poly1305::new(key.into());
    let inner = cipher
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: sealed,
                aad: &[],
            },
        )
        .expect("vector decrypts");
    let resealed = cipher
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: &edit(&inner),
                aad: &[],
            },
        )
        .expect("encrypts");
    replace(body, TlvType::EncryptedData, &resealed)
}

#[test]
fn tampered_srp_value_in_m2_fails_the_device_proof_check() {
    let v = vectors();
    let s = &v["pair_setup"];
    let m2 = bytes(s, "m2");
    let b_pub = bytes(s, "srp_b_pub");
    let m3 = setup_client(&v)
        .handle_response(&replace(&m2, TlvType::PublicKey, &flip(&b_pub, 100)))
        .expect("any B below N is usable");
    assert_ne!(m3.request_body(), bytes(s, "m3"));
    assert_eq!(
        m3.handle_response(&bytes(s, "m4")).err(),
        Some(HapError::DeviceProofMismatch)
    );
}

#[test]
fn b_of_zero_or_n_is_refused() {
    let v = vectors();
    let m2 = bytes(&v["pair_setup"], "m2");
    for b in [vec![0u8; 384], vec![0xFF; 384]] {
        let error = setup_client(&v)
            .handle_response(&replace(&m2, TlvType::PublicKey, &b))
            .err();
        assert!(
            matches!(error, Some(HapError::MalformedMessage { .. })),
            "{error:?}"
        );
    }
}

#[test]
fn tampered_m4_proof_is_refused() {
    let v = vectors();
    let s = &v["pair_setup"];
    let m3 = setup_client(&v)
        .handle_response(&bytes(s, "m2"))
        .expect("M2");
    let proof = bytes(s, "srp_device_proof");
    let m4 = replace(&bytes(s, "m4"), TlvType::Proof, &flip(&proof, 63));
    assert_eq!(
        m3.handle_response(&m4).err(),
        Some(HapError::DeviceProofMismatch)
    );
}

#[test]
fn m4_authentication_error_is_bad_pin() {
    let v = vectors();
    let s = &v["pair_setup"];
    let m3 = setup_client(&v)
        .handle_response(&bytes(s, "m2"))
        .expect("M2");
    let m4 = Tlv8::new()
        .with(TlvType::State, [4])
        .with(TlvType::Error, [2])
        .encode();
    assert_eq!(m3.handle_response(&m4).err(), Some(HapError::BadPin));
}

fn m6_client(v: &Value) -> airstream_proto::hap::PairSetupExchange {
    let s = &v["pair_setup"];
    setup_client(v)
        .handle_response(&bytes(s, "m2"))
        .expect("M2")
        .handle_response(&bytes(s, "m4"))
        .expect("M4")
}

#[test]
fn tampered_m6_ciphertext_and_signature_are_refused() {
    let v = vectors();
    let s = &v["pair_setup"];
    let m6 = bytes(s, "m6");
    let sealed = Tlv8::decode("test", &m6).expect("M6");
    let sealed = sealed.get(TlvType::EncryptedData).expect("EncryptedData");
    let tampered = replace(&m6, TlvType::EncryptedData, &flip(sealed, 5));
    assert_eq!(
        m6_client(&v).handle_response(&tampered).err(),
        Some(HapError::DecryptionFailed {
            step: "pair-setup M6"
        })
    );

    let key = array(s, "setup_encrypt_key");
    let bad_signature = reseal(&m6, &key, *b"PS-Msg06", |inner| {
        let signature = Tlv8::decode("test", inner).expect("inner");
        let signature = signature.get(TlvType::Signature).expect("Signature");
        replace(inner, TlvType::Signature, &flip(signature, 10))
    });
    assert_eq!(
        m6_client(&v).handle_response(&bad_signature).err(),
        Some(HapError::DeviceSignatureMismatch {
            step: "pair-setup M6"
        })
    );

    let other_key = reseal(&m6, &key, *b"PS-Msg06", |inner| {
        replace(inner, TlvType::PublicKey, &[0x42; 32])
    });
    assert!(matches!(
        m6_client(&v).handle_response(&other_key).err(),
        Some(HapError::DeviceSignatureMismatch { .. })
    ));
}

#[test]
fn tampered_verify_m2_is_refused() {
    let v = vectors();
    let p = &v["pair_verify"];
    let m2 = bytes(p, "m2");
    let key = array(p, "verify_encrypt_key");

    let bad_signature = reseal(&m2, &key, *b"PV-Msg02", |inner| {
        let signature = Tlv8::decode("test", inner).expect("inner");
        let signature = signature.get(TlvType::Signature).expect("Signature");
        replace(inner, TlvType::Signature, &flip(signature, 0))
    });
    assert_eq!(
        verify_client(&v).handle_response(&bad_signature).err(),
        Some(HapError::DeviceSignatureMismatch {
            step: "pair-verify M2"
        })
    );

    let other_device = reseal(&m2, &key, *b"PV-Msg02", |inner| {
        replace(inner, TlvType::Identifier, b"11:22:33:44:55:66")
    });
    assert_eq!(
        verify_client(&v).handle_response(&other_device).err(),
        Some(HapError::DeviceIdentityMismatch)
    );

    let sealed = Tlv8::decode("test", &m2).expect("M2");
    let sealed = sealed.get(TlvType::EncryptedData).expect("EncryptedData");
    let tampered = replace(&m2, TlvType::EncryptedData, &flip(sealed, 3));
    assert_eq!(
        verify_client(&v).handle_response(&tampered).err(),
        Some(HapError::DecryptionFailed {
            step: "pair-verify M2"
        })
    );

    let low_order = replace(&m2, TlvType::PublicKey, &[0; 32]);
    assert_eq!(
        verify_client(&v).handle_response(&low_order).err(),
        Some(HapError::LowOrderKey {
            step: "pair-verify M2"
        })
    );
}

#[test]
fn verify_m4_authentication_error_means_credentials_rejected() {
    let v = vectors();
    let m3 = verify_client(&v)
        .handle_response(&bytes(&v["pair_verify"], "m2"))
        .expect("M2");
    let m4 = Tlv8::new()
        .with(TlvType::State, [4])
        .with(TlvType::Error, [2])
        .encode();
    assert_eq!(
        m3.handle_response(&m4).err(),
        Some(HapError::CredentialsRejected)
    );
}

#[test]
fn short_and_huge_tlv_bodies_are_malformed() {
    let v = vectors();
    let m2 = bytes(&v["pair_setup"], "m2");
    for body in [&m2[..m2.len() - 1], &m2[..1], &[][..]] {
        let error = setup_client(&v).handle_response(body).err();
        assert!(
            matches!(error, Some(HapError::MalformedMessage { .. })),
            "{error:?}"
        );
    }
    let huge = Tlv8::new()
        .with(TlvType::State, [2])
        .with(TlvType::Salt, vec![0u8; MAX_MESSAGE_LEN])
        .encode();
    let error = setup_client(&v).handle_response(&huge).err();
    assert!(
        matches!(error, Some(HapError::MalformedMessage { .. })),
        "{error:?}"
    );
}

#[test]
fn absurd_frame_length_is_refused_before_buffering() {
    let mut decoder = FrameDecoder::new([0; 32]);
    assert_eq!(
        decoder.decode(&[0xFF, 0xFF, 0, 0, 0]),
        Err(FrameError::Oversize { len: 0xFFFF })
    );
    let mut decoder = FrameDecoder::new([0; 32]);
    let mut frame = vec![0x00, 0x04];
    frame.extend(vec![0u8; MAX_FRAME_LEN - 2]);
    assert_eq!(
        decoder.decode(&frame),
        Err(FrameError::BadTag { counter: 0 })
    );
}

#[test]
fn replayed_frame_is_a_counter_mismatch() {
    let key = [4; 32];
    let mut encoder = FrameEncoder::new(key);
    let first = encoder.encode(b"first").expect("encode");
    let mut decoder = FrameDecoder::new(key);
    assert_eq!(decoder.decode(&first).expect("first"), b"first");
    assert_eq!(
        decoder.decode(&first),
        Err(FrameError::CounterMismatch {
            expected: 1,
            found: 0
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_bytes_into_the_first_steps(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let v = vectors();
        let _ = Tlv8::decode("fuzz", &data);
        let _ = setup_client(&v).handle_response(&data);
        let _ = TransientPairSetup::new([1; 32]).handle_response(&data);
        let _ = verify_client(&v).handle_response(&data);
        let identity = DeviceIdentity::new(b"fuzz".to_vec(), [1; 32]);
        let _ = PairSetupServer::new(&identity, "1234", [1; 16], [2; 32]).expect("PIN").handle_request(&data);
        let _ = PairVerifyServer::new(&identity, [3; 32], Vec::new()).handle_request(&data);
    }
    #[test]
    fn arbitrary_frames_never_panic_and_stay_bounded(
        data in proptest::collection::vec(any::<u8>(), 0..4000),
        split in 1usize..2000,
    ) {
        let mut decoder = FrameDecoder::new([5; 32]);
        for chunk in data.chunks(split) {
            let mut rest = chunk;
            while !rest.is_empty() {
                match decoder.decode_one(rest) {
                    Ok((consumed, _)) => {
                        prop_assert!(consumed > 0 && consumed <= MAX_FRAME_LEN);
                        rest = &rest[consumed..];
                    }
                    Err(_) => return Ok(()),
                }
            }
        }
    }

    #[test]
    fn arbitrary_credentials_strings(text in ".{0,300}") {
        let _ = text.parse::<HapCredentials>();
    }
}

// The later steps sit behind a 3072-bit SRP computation each, so fewer cases.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn arbitrary_bytes_into_the_later_steps(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let v = vectors();
        let s = &v["pair_setup"];
        let m3 = setup_client(&v).handle_response(&bytes(s, "m2")).expect("M2");
        let _ = m3.handle_response(&data);
        let _ = m6_client(&v).handle_response(&data);
        let m3 = verify_client(&v).handle_response(&bytes(&v["pair_verify"], "m2")).expect("M2");
        let _ = m3.handle_response(&data);
        let identity = DeviceIdentity::new(bytes(s, "device_id"), array(s, "device_ltsk"));
        let mut setup = PairSetupServer::new(&identity, "1234", [1; 16], [2; 32]).expect("PIN");
        let _ = setup.handle_request(&bytes(s, "m1"));
        let _ = setup.handle_request(&data);
        let mut verify = PairVerifyServer::new(&identity, [3; 32], Vec::new());
        let _ = verify.handle_request(&bytes(&v["pair_verify"], "m1"));
        let _ = verify.handle_request(&data);
    }
}
