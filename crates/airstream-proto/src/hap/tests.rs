//! Client against device, both from this module: every flow completes, and every kind of
//! tampering or mistake ends in the typed error it should.

use super::*;

const PIN: &str = "1234";

fn device() -> DeviceIdentity {
    DeviceIdentity::new(b"AA:BB:CC:DD:EE:FF".to_vec(), [7; 32])
}

fn client() -> ClientIdentity {
    ClientIdentity::new([9; 32], b"4D797FD3-3538-427E-A47B-A32FC6CF3A6A".to_vec())
}

fn setup_server() -> PairSetupServer {
    PairSetupServer::new(&device(), PIN, [3; 16], [5; 32]).expect("valid PIN")
}

/// Runs a full pairing; returns the client's credentials and what the device remembered.
fn pair() -> (HapCredentials, PairedController) {
    let mut server = setup_server();
    let m1 = PairSetup::new(client(), PIN).expect("valid PIN");
    let (m2, _) = server.handle_request(&m1.request_body()).expect("M1");
    let m3 = m1.handle_response(&m2).expect("M2");
    let (m4, _) = server.handle_request(&m3.request_body()).expect("M3");
    let m5 = m3.handle_response(&m4).expect("M4");
    let (m6, step) = server.handle_request(&m5.request_body()).expect("M5");
    let DeviceStep::Paired(controller) = step else {
        panic!("device did not pair: {step:?}");
    };
    (m5.handle_response(&m6).expect("M6"), controller)
}

#[test]
fn full_pairing_stores_both_identities() {
    let (credentials, controller) = pair();
    assert_eq!(credentials.device_id(), device().id());
    assert_eq!(credentials.device_public_key(), &device().public_key());
    assert_eq!(controller.id, client().id());
    assert_eq!(controller.public_key, client().public_key());
}

#[test]
fn wrong_pin_is_bad_pin_on_both_sides() {
    let mut server = setup_server();
    let m1 = PairSetup::new(client(), "9999").expect("valid PIN");
    let (m2, _) = server.handle_request(&m1.request_body()).expect("M1");
    let m3 = m1.handle_response(&m2).expect("M2");
    let (m4, step) = server.handle_request(&m3.request_body()).expect("M3");
    assert_eq!(step.refused(), Some(&HapError::BadPin));
    assert_eq!(m3.handle_response(&m4).err(), Some(HapError::BadPin));
}

#[test]
fn transient_setup_gives_matching_channel_keys() {
    let mut server = setup_server();
    let m1 = TransientPairSetup::new([11; 32]);
    let (m2, _) = server.handle_request(&m1.request_body()).expect("M1");
    let m3 = m1.handle_response(&m2).expect("M2");
    let (m4, step) = server.handle_request(&m3.request_body()).expect("M3");
    let client_keys = m3.handle_response(&m4).expect("M4");
    let DeviceStep::Encrypted(device_keys) = step else {
        panic!("device did not finish: {step:?}");
    };
    assert_eq!(client_keys.write, device_keys.read);
    assert_eq!(client_keys.read, device_keys.write);
}

fn verify_with(
    credentials: &HapCredentials,
    controllers: Vec<PairedController>,
) -> Result<(SessionKeys, DeviceStep), HapError> {
    let mut server = PairVerifyServer::new(&device(), [13; 32], controllers);
    let m1 = PairVerify::new(credentials, [17; 32]);
    let (m2, _) = server.handle_request(&m1.request_body())?;
    let m3 = m1.handle_response(&m2)?;
    let (m4, step) = server.handle_request(&m3.request_body())?;
    Ok((m3.handle_response(&m4)?, step))
}

#[test]
fn verify_after_pairing_gives_matching_keys_and_frames_flow() {
    let (credentials, controller) = pair();
    let (client_keys, step) = verify_with(&credentials, vec![controller]).expect("verify");
    let DeviceStep::Encrypted(device_keys) = step else {
        panic!("device did not finish: {step:?}");
    };
    let (mut client_out, mut client_in) = client_keys.into_codec();
    let (mut device_out, mut device_in) = device_keys.into_codec();
    let request = vec![b'x'; 3000];
    let wire = client_out.encode(&request).expect("encode");
    assert_eq!(wire.len(), 3000 + 3 * (HEADER_LEN + TAG_LEN));
    assert_eq!(device_in.decode(&wire).expect("decode"), request);
    let reply = device_out
        .encode(b"RTSP/1.0 200 OK\r\n\r\n")
        .expect("encode");
    assert_eq!(
        client_in.decode(&reply).expect("decode"),
        b"RTSP/1.0 200 OK\r\n\r\n"
    );
}

#[test]
fn verify_with_forgotten_credentials_is_rejected() {
    let (credentials, _) = pair();
    assert_eq!(
        verify_with(&credentials, Vec::new()).err(),
        Some(HapError::CredentialsRejected)
    );
}

#[test]
fn verify_against_an_impostor_device_fails_on_its_signature() {
    let (credentials, controller) = pair();
    let impostor = DeviceIdentity::new(device().id().to_vec(), [99; 32]);
    let mut server = PairVerifyServer::new(&impostor, [13; 32], vec![controller]);
    let m1 = PairVerify::new(&credentials, [17; 32]);
    let (m2, _) = server.handle_request(&m1.request_body()).expect("M1");
    assert_eq!(
        m1.handle_response(&m2).err(),
        Some(HapError::DeviceSignatureMismatch {
            step: "pair-verify M2"
        })
    );
}

#[test]
fn frame_decoder_accepts_any_split_of_the_stream() {
    let keys = SessionKeys::client(&[1; 32]);
    let (mut encoder, _) = keys.clone().into_codec();
    let mut decoder = FrameDecoder::new(keys.write);
    let message: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
    let wire = encoder.encode(&message).expect("encode");
    let mut out = Vec::new();
    for byte in &wire {
        out.extend(decoder.decode(std::slice::from_ref(byte)).expect("decode"));
    }
    assert_eq!(out, message);
    assert!(!decoder.is_mid_frame());
}

#[test]
fn frame_errors_are_typed() {
    let key = [2; 32];
    let mut encoder = FrameEncoder::new(key);
    let first = encoder.encode(b"one").expect("encode");
    let second = encoder.encode(b"two").expect("encode");

    let mut tampered = first.clone();
    tampered[3] ^= 1;
    assert_eq!(
        FrameDecoder::new(key).decode(&tampered),
        Err(FrameError::BadTag { counter: 0 })
    );
    assert_eq!(
        FrameDecoder::new(key).decode(&second),
        Err(FrameError::CounterMismatch {
            expected: 0,
            found: 1
        })
    );
    assert_eq!(
        FrameDecoder::new(key).decode(&[0x01, 0x04]),
        Err(FrameError::Oversize { len: 1025 })
    );
}

#[test]
fn tlv_fragments_values_over_255_bytes() {
    let value: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let tlv = Tlv8::new()
        .with(TlvType::PublicKey, value.clone())
        .with(TlvType::State, [2]);
    let wire = tlv.encode();
    assert_eq!(wire.len(), 600 + 3 * 2 + 3);
    assert_eq!(&wire[..2], &[3, 255]);
    assert_eq!(&wire[257..259], &[3, 255]);
    assert_eq!(&wire[514..516], &[3, 90]);
    let decoded = Tlv8::decode("test", &wire).expect("decode");
    assert_eq!(decoded, tlv);
}

#[test]
fn tlv_rejects_truncated_and_huge_bodies() {
    assert!(matches!(
        Tlv8::decode("test", &[3, 10, 1, 2]),
        Err(HapError::MalformedMessage { .. })
    ));
    assert!(matches!(
        Tlv8::decode("test", &[3]),
        Err(HapError::MalformedMessage { .. })
    ));
    let huge = vec![0u8; MAX_MESSAGE_LEN + 2];
    assert!(matches!(
        Tlv8::decode("test", &huge),
        Err(HapError::MalformedMessage { .. })
    ));
}

#[test]
fn credentials_string_round_trips_and_debug_hides_keys() {
    let (credentials, _) = pair();
    let text = credentials.to_secret_string();
    assert_eq!(text.parse::<HapCredentials>(), Ok(credentials.clone()));
    let debug = format!("{credentials:?}");
    let ltsk = hex::encode([9u8; 32]);
    assert!(!debug.contains(&ltsk), "{debug}");
    assert!(
        !debug.contains(&hex::encode(device().public_key())),
        "{debug}"
    );
    assert_eq!(
        "ab:cd".parse::<HapCredentials>(),
        Err(HapCredentialsParseError::WrongPartCount(2))
    );
}

#[test]
fn a_random_client_identity_is_an_upper_case_uuid4_with_a_fresh_seed() {
    let a = ClientIdentity::random(&mut rand::rng());
    let b = ClientIdentity::random(&mut rand::rng());
    let id = std::str::from_utf8(a.id()).expect("ASCII");
    let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
    assert_eq!(uuid.get_version(), Some(uuid::Version::Random), "{id}");
    assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
    assert_eq!(id, id.to_uppercase());
    assert_eq!(id.len(), 36);
    assert_ne!(a.id(), b.id());
    assert_ne!(a.public_key(), b.public_key());
}
