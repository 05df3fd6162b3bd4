//! RTSP replies as the sender reads them: any bytes, possibly several in a row.
#![no_main]

use airstream_proto::rtsp::{header_param, parse_response};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(response)) = parse_response(&mut buf) {
        if let Some(transport) = response.headers.get("Transport") {
            let _ = header_param(transport, "server_port");
        }
    }
});
