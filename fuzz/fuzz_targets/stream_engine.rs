//! The sender's stream engine driven by a peer: arbitrary datagrams on a member's control and
//! timing ports (from the receiver's own ports or a stranger's), arbitrary RTSP replies, time
//! passing, audio, pause/resume/stop. Whatever arrives, nothing may be sent to an address that
//! is not the receiver's, and nothing may panic.
#![no_main]

use airstream_proto::ntp::{NtpClock, NtpTime};
use airstream_proto::raop::session::{RaopSession, SessionConfig, SessionEvent};
use airstream_proto::rtsp::{Response, Version, parse_response};
use airstream_proto::format::Codec;
use airstream_proto::stream::{
    MemberConfig, MemberId, MemberSession, MemberTransport, Port, RtspInput, SourceItem, Stream,
    StreamConfig,
};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const RECEIVER: [u8; 4] = [10, 0, 0, 2];

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((RECEIVER, port))
}

/// A session taken through the handshake to RECORD, as the shell does before a member joins.
fn recording_session() -> RaopSession {
    let mut session = RaopSession::new(SessionConfig {
        local_ip: [10, 0, 0, 1].into(),
        remote_ip: RECEIVER.into(),
        session_id: 1,
        dacp_id: 2,
        active_remote: 3,
        codec: Codec::AlacRaw,
        encryption: None,
        password: None,
        control_port: 7001,
        timing_port: 7002,
        first_seq: 0,
        first_rtptime: 0,
        initial_volume_db: None,
        auth_setup: false,
        min_latency: None,
        max_latency: None,
    });
    while let Some(request) = session.poll_request() {
        let cseq = request.headers.get("CSeq").unwrap_or("0").to_string();
        let mut response = Response::new(Version::Rtsp10, 200, "OK").with_header("CSeq", cseq);
        if request.method == "SETUP" {
            response = response
                .with_header(
                    "Transport",
                    "RTP/AVP/UDP;unicast;mode=record;server_port=6000;control_port=6001;timing_port=6002",
                )
                .with_header("Session", "1");
        }
        if session.handle_response(&response).is_err() {
            break;
        }
        while let Some(event) = session.poll_event() {
            if let SessionEvent::TransportReady(_) = event {
                session.record();
            }
        }
    }
    session
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let mut stream = Stream::new(
        StreamConfig {
            ssrc: 1,
            first_seq: 65_500,
            first_rtptime: u32::MAX - 1000,
            clock: NtpClock::new(start, NtpTime::from_parts(3_900_000_000, 0)),
            latency_frames: 88_200,
            lead_in_packets: 13,
            silence: Bytes::from_static(&[0; 4]),
            keep_alive: Duration::from_secs(25),
            timing_wait: Duration::from_millis(100),
            preroll_packets: 4,
            preroll_wait: Duration::from_millis(100),
            airplay2: None,
        },
        start,
    );
    let member = stream.add_member(
        MemberConfig {
            rtsp: addr(5000),
            audio: addr(6000),
            control: addr(6001),
            timing: Some(addr(6002)),
            audio_latency: None,
            session: MemberSession::Raop(recording_session()),
            transport: MemberTransport::Raop,
        },
        start,
    );
    let stranger = SocketAddr::from(([10, 0, 0, 66], 6001));
    let mut rest = data;
    while let [op, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let from = if op & 0x80 == 0 { None } else { Some(stranger) };
        match op % 8 {
            0 => stream.handle_datagram(member, Port::Control, from.unwrap_or(addr(6001)), payload, now, now),
            1 => stream.handle_datagram(member, Port::Timing, from.unwrap_or(addr(6002)), payload, now, now),
            2 => {
                let mut buf = BytesMut::from(payload);
                if let Ok(Some(response)) = parse_response(&mut buf) {
                    stream.handle_rtsp(member, RtspInput::Response(response), now);
                }
            }
            3 => now += Duration::from_millis(u64::from(u16::from_be_bytes([*hi, *lo]))),
            4 => stream.push(SourceItem::Audio {
                payload: Bytes::copy_from_slice(payload),
                frames: 352,
            }),
            5 => stream.push(if payload.is_empty() { SourceItem::End } else { SourceItem::Marker { token: u64::from(*lo), frame: u32::from(*hi) } }),
            6 => match lo % 4 {
                0 => stream.pause(now),
                1 => stream.resume(now),
                2 => stream.stop(now),
                _ => stream.handle_rtsp(MemberId::from_index(usize::from(*hi)), RtspInput::Closed, now),
            },
            _ => stream.handle_datagram(member, Port::Audio, addr(6000), payload, now, now),
        }
        stream.handle_timeout(now);
        while let Some(transmit) = stream.poll_transmit() {
            assert_eq!(transmit.destination.ip(), addr(0).ip(), "sent to a stranger: {transmit:?}");
        }
        while stream.poll_rtsp(now).is_some() {}
        while stream.poll_event().is_some() {}
        if let Some(deadline) = stream.poll_timeout() {
            now = now.max(deadline.min(now + Duration::from_secs(5)));
        }
    }
});
