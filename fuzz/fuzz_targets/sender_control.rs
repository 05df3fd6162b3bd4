//! The sender's side of the control and timing channels: retransmit requests, timing
//! requests and anything else a receiver (or anyone) sends there, against a streamer that
//! has sent a few thousand packets. The input is datagrams, each prefixed with its length.
#![no_main]

use airstream_proto::ntp::{NtpClock, NtpTime};
use airstream_proto::raop::streamer::{AudioStreamer, RETRANSMIT_RING, StreamerConfig};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut streamer = AudioStreamer::new(
        StreamerConfig {
            ssrc: 1,
            first_seq: 65_000,
            first_rtptime: 0,
            sample_rate: 44_100,
            latency_frames: 88_200,
        },
        NtpClock::new(t0, NtpTime::from_parts(1000, 0)),
    );
    streamer.start(t0);
    for _ in 0..1500 {
        streamer.packet(&[0; 8]);
    }
    let mut rest = data;
    let mut now = t0;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        now += Duration::from_millis(1);
        // One request never brings back more than the ring holds.
        assert!(streamer.handle_control(datagram).len() <= RETRANSMIT_RING);
        let _ = streamer.handle_timing(datagram, now, now);
        let _ = streamer.poll_sync(now);
    }
});
