//! ALAC escape (uncompressed) frames as the receiver reads them.
#![no_main]

use airstream_proto::alac::read_escape_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    if read_escape_frame(data, 352, &mut out).is_ok() {
        assert!(out.len() <= 352 * 2);
    }
});
