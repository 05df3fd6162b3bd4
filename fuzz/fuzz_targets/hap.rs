//! What an AirPlay 2 device (or a man in the middle) can send during HAP pairing and on the
//! encrypted channel: TLV8 bodies, pair-setup (full and transient) and pair-verify replies,
//! and encrypted frames. The first byte picks the parser; the rest is the peer's bytes
//! (split at a second point for the two-reply exchanges).
#![no_main]

use airstream_proto::hap::{
    ClientIdentity, HapCredentials, PairSetup, PairVerify, SessionKeys, Tlv8, TransientPairSetup,
};
use libfuzzer_sys::fuzz_target;

fn credentials() -> HapCredentials {
    HapCredentials::new(
        [3; 32],
        ClientIdentity::new([4; 32], b"client".to_vec()),
        b"device".to_vec(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len());
    let (first, second) = rest.split_at(split);
    match mode % 5 {
        0 => {
            let _ = Tlv8::decode("fuzz", rest);
        }
        1 => {
            let (_, mut decoder) = SessionKeys::device(&[7; 32]).into_codec();
            let _ = decoder.decode(rest);
            let _ = decoder.is_mid_frame();
        }
        2 => {
            if let Ok(proof) = TransientPairSetup::new([1; 32]).handle_response(first) {
                let _ = proof.handle_response(second);
            }
        }
        3 => {
            let Ok(setup) = PairSetup::new(ClientIdentity::new([5; 32], b"c".to_vec()), "3939")
            else {
                return;
            };
            if let Ok(proof) = setup.handle_response(first)
                && let Ok(exchange) = proof.handle_response(second)
            {
                let _ = exchange.handle_response(rest);
            }
        }
        _ => {
            if let Ok(finish) = PairVerify::new(&credentials(), [2; 32]).handle_response(rest) {
                let _ = finish.request_body();
            }
        }
    }
});
