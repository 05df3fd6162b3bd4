//! Binary property lists from Apple TVs (`/playback-info`, `/info`, pairing).
#![no_main]

use airstream_proto::bplist::decode_dict;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_dict(data);
});
