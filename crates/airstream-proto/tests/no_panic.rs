//! Every parser of bytes from the network returns an error on garbage, never panics.

use airstream_proto::{alac, digest, dmap, rtp, rtsp, sdp};
use bytes::BytesMut;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rtsp_parsers(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut buf = BytesMut::from(&data[..]);
        let _ = rtsp::parse_response(&mut buf);
        let mut buf = BytesMut::from(&data[..]);
        let _ = rtsp::parse_request(&mut buf);
    }

    #[test]
    fn rtsp_text_like_input(head in "[A-Z/0-9 .:\\r\\n-]{0,200}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut data = head.into_bytes();
        data.extend_from_slice(&body);
        let _ = rtsp::parse_response(&mut BytesMut::from(&data[..]));
        let _ = rtsp::parse_request(&mut BytesMut::from(&data[..]));
    }

    #[test]
    fn datagram_parsers(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = rtp::AudioPacket::parse(&data);
        let _ = rtp::SyncPacket::parse(&data);
        let _ = rtp::TimingPacket::parse(&data);
        let _ = rtp::RetransmitRequest::parse(&data);
        let _ = rtp::ControlDatagram::parse(&data);
    }

    #[test]
    fn payload_and_metadata_parsers(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut out = Vec::new();
        let _ = alac::read_escape_frame(&data, 352, &mut out);
        let _ = dmap::TrackText::decode(&data);
    }

    #[test]
    fn text_parsers(text in "\\PC{0,300}") {
        let _ = sdp::parse_announce(&text);
        let _ = digest::Challenge::parse(&text);
        let _ = digest::verify(&text, "OPTIONS", "raop", "n", "p");
        let _ = rtsp::header_param(&text, "server_port");
    }
}
