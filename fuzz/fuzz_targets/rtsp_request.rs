//! RTSP requests as the receiver reads them: any bytes, possibly several pipelined.
#![no_main]

use airstream_proto::rtsp::parse_request;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(request)) = parse_request(&mut buf) {
        let _ = request.headers.get("Content-Length");
    }
});
