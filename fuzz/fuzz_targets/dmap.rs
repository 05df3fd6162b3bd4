//! DMAP track metadata (`SET_PARAMETER` bodies).
#![no_main]

use airstream_proto::dmap::TrackText;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = TrackText::decode(data);
});
