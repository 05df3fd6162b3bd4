//! The legacy pairing messages a device sends back: pair-setup's three replies and
//! pair-verify's reply, each fed to the client's state machine. The input is split into
//! the replies at the first bytes' lengths; stored credentials are parsed too.
#![no_main]

use airstream_proto::pairing::{Credentials, PairSetup, PairVerify};
use libfuzzer_sys::fuzz_target;

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (part, next) = tail.split_at(len);
        parts.push(part);
        rest = next;
    }
    parts
}

fuzz_target!(|data: &[u8]| {
    let credentials = Credentials::new([7; 8], [9; 32]);
    let parts = split(data);
    let part = |i: usize| parts.get(i).copied().unwrap_or_default();
    if let Ok(setup) = PairSetup::new(&credentials, "1234")
        && let Ok(proof) = setup.handle_response(part(0))
        && let Ok(exchange) = proof.handle_response(part(1))
    {
        let _ = exchange.handle_response(part(2));
    }
    let verify = PairVerify::new(&credentials);
    let _ = verify.request_body();
    let _ = verify.handle_response(data, Some(&[3; 32]));
    let _ = PairVerify::new(&credentials).handle_response(data, None);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<Credentials>();
    }
});
