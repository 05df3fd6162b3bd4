//! The sender's RTSP session state machine fed arbitrary replies: the input is a series of
//! replies (length-prefixed, 2 bytes) and an op byte each (record, volume, flush, teardown
//! between replies).
#![no_main]

use airstream_proto::raop::session::{RaopSession, SessionConfig};
use airstream_proto::rtsp::parse_response;
use airstream_proto::format::Codec;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

fn config() -> SessionConfig {
    SessionConfig {
        local_ip: [127, 0, 0, 1].into(),
        remote_ip: [127, 0, 0, 1].into(),
        session_id: 42,
        dacp_id: 0x0123_4567_89AB_CDEF,
        active_remote: 7,
        codec: Codec::AlacRaw,
        encryption: None,
        password: None,
        control_port: 6001,
        timing_port: 6002,
        first_seq: 100,
        first_rtptime: 5000,
        initial_volume_db: Some(-10.0),
        auth_setup: false,
        min_latency: None,
        max_latency: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut session = RaopSession::new(config());
    let mut rest = data;
    while let [op, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (reply, next) = tail.split_at(len);
        rest = next;
        match op % 8 {
            0 => session.record(),
            1 => session.set_volume(f32::from(*op) - 160.0),
            2 => session.flush(u16::from(*hi), u32::from(*lo)),
            3 => session.teardown(),
            4 => session.keep_alive(),
            5 => session.set_parameter("text/parameters", Bytes::copy_from_slice(reply), None),
            _ => {}
        }
        while session.poll_request().is_some() {}
        let mut buf = BytesMut::from(reply);
        if let Ok(Some(response)) = parse_response(&mut buf) {
            let _ = session.handle_response(&response);
        }
        while session.poll_event().is_some() {}
        let _ = (
            session.state(),
            session.transport(),
            session.is_waiting(),
            session.uri(),
        );
    }
});
