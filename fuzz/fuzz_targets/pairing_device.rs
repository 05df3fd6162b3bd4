//! The device side of legacy pairing (the fake Apple TV, the receiver's pair-verify): any
//! sequence of request bodies, split at the first bytes' lengths.
#![no_main]

use airstream_proto::pairing::{DeviceIdentity, PairSetupServer, PairVerifyServer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let identity = DeviceIdentity::new([5; 32]);
    let mut verify = PairVerifyServer::new(&identity, [6; 32], [[7; 32]]);
    let Ok(mut setup) = PairSetupServer::new(&identity, "1234", [1; 16], [2; 32]) else {
        return;
    };
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (body, next) = tail.split_at(len);
        rest = next;
        if len % 2 == 0 {
            let _ = verify.handle_request(body);
        } else {
            let _ = setup.handle_request(body);
        }
    }
    let _ = verify.is_verified();
    let _ = setup.paired_client();
});
