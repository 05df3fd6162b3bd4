//! RTSP Digest authentication: challenges from receivers, `Authorization` headers from
//! senders.
#![no_main]

use airstream_proto::digest::{Challenge, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Challenge::parse(text);
        let _ = verify(text, "ANNOUNCE", "raop", "0123456789abcdef", "secret");
    }
});
