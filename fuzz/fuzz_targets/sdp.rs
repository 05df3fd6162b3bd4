//! ANNOUNCE bodies as the receiver parses them.
#![no_main]

use airstream_proto::sdp::parse_announce;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_announce(text);
    }
});
