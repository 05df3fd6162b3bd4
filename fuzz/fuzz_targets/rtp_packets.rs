//! Every UDP datagram a peer can send: audio, sync, timing, retransmit requests and
//! replies, on the audio, control and timing ports.
#![no_main]

use airstream_proto::rtp::{
    AudioPacket, ControlDatagram, RetransmitRequest, SyncPacket, TimingPacket,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = AudioPacket::parse(data);
    if let Ok(sync) = SyncPacket::parse(data) {
        let _ = sync.latency_frames();
    }
    let _ = TimingPacket::parse(data);
    if let Ok(request) = RetransmitRequest::parse(data) {
        // A request names at most 65535 packets; walking them must stay bounded.
        assert!(request.seqs().count() <= usize::from(u16::MAX));
    }
    if let Ok(ControlDatagram::Resent(packet)) = ControlDatagram::parse(data) {
        let _ = AudioPacket::parse(packet);
    }
});
