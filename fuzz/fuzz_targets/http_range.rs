//! The `Range` header of the file server of `play`, against files of several lengths.
#![no_main]

use airstream::airplay::fileserver::fuzz_parse_range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        for len in [0, 1, 100, u64::MAX] {
            let _ = fuzz_parse_range(header, len);
        }
    }
});
