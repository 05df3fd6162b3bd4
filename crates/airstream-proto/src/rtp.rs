//! RAOP datagrams: RTP audio packets, sync packets, timing requests/replies, and
//! retransmit requests/replies. Layouts in shared notes raop.md §4–§6.

use crate::ntp::NtpTime;

pub use crate::format::FRAMES_PER_PACKET;
/// Bytes of the fixed RTP header before an audio payload.
pub const RTP_HEADER_LEN: usize = 12;
/// Payload type 96 (dynamic), as announced in the SDP.
const PT_AUDIO: u8 = 0x60;
const PT_AUDIO_RESENT: u8 = 0x56;
const PT_SYNC: u8 = 0x54;
const PT_TIMING_REQUEST: u8 = 0x52;
const PT_TIMING_REPLY: u8 = 0x53;
const PT_RETRANSMIT_REQUEST: u8 = 0x55;
const PT_RETRANSMIT_REPLY: u8 = 0x56;
const MARKER: u8 = 0x80;

/// Why a datagram is not the RAOP packet expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than the packet type's fixed layout (the length is given).
    #[error("datagram of {0} bytes is too short")]
    TooShort(usize),
    /// The version bits are not RTP version 2.
    #[error("not an RTP version 2 datagram")]
    NotRtp,
    /// A payload type other than the one(s) this parser takes.
    #[error("unexpected payload type 0x{0:02x}")]
    UnexpectedType(u8),
}

/// The 12-byte RTP header of an audio packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioHeader {
    /// Set on the first packet of a stream and the first after a flush.
    pub marker: bool,
    /// RTP sequence number; wraps at 65535, one per packet.
    pub seq: u16,
    /// RTP time of the first frame, in 44.1 kHz frames.
    pub timestamp: u32,
    /// Stream identifier, fixed for a session.
    pub ssrc: u32,
}

impl AudioHeader {
    /// The 12 header bytes (version 2, payload type 96, marker if set).
    pub fn encode(&self) -> [u8; RTP_HEADER_LEN] {
        let mut b = [0u8; RTP_HEADER_LEN];
        b[0] = 0x80;
        b[1] = PT_AUDIO | if self.marker { MARKER } else { 0 };
        b[2..4].copy_from_slice(&self.seq.to_be_bytes());
        b[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        b
    }
}

/// Builds the whole audio datagram: header then payload.
pub fn audio_packet(header: &AudioHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RTP_HEADER_LEN + payload.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(payload);
    out
}

/// An audio packet as a receiver sees it; also accepts the resent form (type 0x56).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioPacket<'a> {
    /// The RTP header (for a resent packet, that of the original).
    pub header: AudioHeader,
    /// The audio bytes after the header (ALAC or PCM, possibly AES-encrypted).
    pub payload: &'a [u8],
}

impl<'a> AudioPacket<'a> {
    /// Reads an audio packet (type 0x60) or its resent form (type 0x56).
    pub fn parse(datagram: &'a [u8]) -> Result<Self, PacketError> {
        if datagram.len() < RTP_HEADER_LEN {
            return Err(PacketError::TooShort(datagram.len()));
        }
        if datagram[0] & 0xC0 != 0x80 {
            return Err(PacketError::NotRtp);
        }
        let pt = datagram[1] & 0x7F;
        if pt != PT_AUDIO && pt != PT_AUDIO_RESENT {
            return Err(PacketError::UnexpectedType(pt));
        }
        Ok(AudioPacket {
            header: AudioHeader {
                marker: datagram[1] & MARKER != 0,
                seq: u16::from_be_bytes([datagram[2], datagram[3]]),
                timestamp: be_u32(&datagram[4..8]),
                ssrc: be_u32(&datagram[8..12]),
            },
            payload: &datagram[RTP_HEADER_LEN..],
        })
    }
}

/// Sender → receiver every second on the control channel: "RTP time `rtp_now` is being
/// sent at NTP time `ntp`, and `rtp_now - latency` should be audible now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPacket {
    /// First sync after start, flush or join (extension bit set: 0x90).
    pub first: bool,
    /// RTP time that should be audible at `ntp` (`rtp_now` minus the latency).
    pub rtp_audible_now: u32,
    /// The sender's NTP clock when the packet was sent.
    pub ntp: NtpTime,
    /// RTP time of the next packet being sent.
    pub rtp_now: u32,
}

/// Bytes in a sync packet.
pub const SYNC_LEN: usize = 20;

impl SyncPacket {
    /// The 20-byte packet (type 0x54, 0x90 on the first).
    pub fn encode(&self) -> [u8; SYNC_LEN] {
        let mut b = [0u8; SYNC_LEN];
        b[0] = if self.first { 0x90 } else { 0x80 };
        b[1] = MARKER | PT_SYNC;
        // 7 is the value iTunes sends; receivers add their fixed 11025-frame offset for it.
        b[2..4].copy_from_slice(&7u16.to_be_bytes());
        b[4..8].copy_from_slice(&self.rtp_audible_now.to_be_bytes());
        b[8..16].copy_from_slice(&self.ntp.to_be_bytes());
        b[16..20].copy_from_slice(&self.rtp_now.to_be_bytes());
        b
    }

    /// Reads a sync packet (type 0x54).
    pub fn parse(d: &[u8]) -> Result<Self, PacketError> {
        check(d, SYNC_LEN, PT_SYNC)?;
        Ok(SyncPacket {
            first: d[0] & 0x10 != 0,
            rtp_audible_now: be_u32(&d[4..8]),
            ntp: NtpTime::from_be_bytes(be_8(&d[8..16])),
            rtp_now: be_u32(&d[16..20]),
        })
    }

    /// Frames between the two RTP times, as the receiver reads the latency.
    pub fn latency_frames(&self) -> u32 {
        self.rtp_now.wrapping_sub(self.rtp_audible_now)
    }
}

/// Bytes in a timing request or reply.
pub const TIMING_LEN: usize = 32;

/// Timing request (receiver → sender) or reply (sender → receiver), 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimingPacket {
    /// True for a reply (type 0x53), false for a request (0x52).
    pub reply: bool,
    /// Originate time: the requester's send time, echoed back in a reply.
    pub reference: NtpTime,
    /// When the replier received the request (zero in a request).
    pub received: NtpTime,
    /// When this packet was sent.
    pub sent: NtpTime,
}

impl TimingPacket {
    /// The 32-byte packet (type 0x52 or 0x53).
    pub fn encode(&self) -> [u8; TIMING_LEN] {
        let mut b = [0u8; TIMING_LEN];
        b[0] = 0x80;
        b[1] = MARKER
            | if self.reply {
                PT_TIMING_REPLY
            } else {
                PT_TIMING_REQUEST
            };
        b[2..4].copy_from_slice(&7u16.to_be_bytes());
        b[8..16].copy_from_slice(&self.reference.to_be_bytes());
        b[16..24].copy_from_slice(&self.received.to_be_bytes());
        b[24..32].copy_from_slice(&self.sent.to_be_bytes());
        b
    }

    /// Reads a timing request or reply.
    pub fn parse(d: &[u8]) -> Result<Self, PacketError> {
        if d.len() < TIMING_LEN {
            return Err(PacketError::TooShort(d.len()));
        }
        if d[0] & 0xC0 != 0x80 {
            return Err(PacketError::NotRtp);
        }
        let pt = d[1] & 0x7F;
        let reply = match pt {
            PT_TIMING_REQUEST => false,
            PT_TIMING_REPLY => true,
            other => return Err(PacketError::UnexpectedType(other)),
        };
        Ok(TimingPacket {
            reply,
            reference: NtpTime::from_be_bytes(be_8(&d[8..16])),
            received: NtpTime::from_be_bytes(be_8(&d[16..24])),
            sent: NtpTime::from_be_bytes(be_8(&d[24..32])),
        })
    }

    /// The sender's answer to a request: echo its send time as our reference.
    pub fn reply_to(request: &TimingPacket, received: NtpTime, sent: NtpTime) -> Self {
        TimingPacket {
            reply: true,
            reference: request.sent,
            received,
            sent,
        }
    }
}

/// Receiver → sender: "resend `count` packets starting at `first_seq`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitRequest {
    /// Sequence number of the first missing packet.
    pub first_seq: u16,
    /// How many consecutive packets are missing.
    pub count: u16,
}

/// Bytes in a retransmit request.
pub const RETRANSMIT_REQUEST_LEN: usize = 8;

impl RetransmitRequest {
    /// The 8-byte request (type 0x55) carrying its own sequence number `request_seq`.
    pub fn encode(&self, request_seq: u16) -> [u8; RETRANSMIT_REQUEST_LEN] {
        let mut b = [0u8; RETRANSMIT_REQUEST_LEN];
        b[0] = 0x80;
        b[1] = MARKER | PT_RETRANSMIT_REQUEST;
        b[2..4].copy_from_slice(&request_seq.to_be_bytes());
        b[4..6].copy_from_slice(&self.first_seq.to_be_bytes());
        b[6..8].copy_from_slice(&self.count.to_be_bytes());
        b
    }

    /// Reads a retransmit request (type 0x55).
    pub fn parse(d: &[u8]) -> Result<Self, PacketError> {
        check(d, RETRANSMIT_REQUEST_LEN, PT_RETRANSMIT_REQUEST)?;
        Ok(RetransmitRequest {
            first_seq: u16::from_be_bytes([d[4], d[5]]),
            count: u16::from_be_bytes([d[6], d[7]]),
        })
    }

    /// The requested sequence numbers, wrapping past 65535.
    pub fn seqs(&self) -> impl Iterator<Item = u16> + use<> {
        let first = self.first_seq;
        (0..self.count).map(move |i| first.wrapping_add(i))
    }
}

/// Reply on the control channel (iTunes form): `0x80 0xD6`, the original sequence number,
/// then the original audio packet exactly as it was first sent.
pub fn retransmit_reply(original_packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + original_packet.len());
    out.push(0x80);
    out.push(MARKER | PT_RETRANSMIT_REPLY);
    out.extend_from_slice(original_packet.get(2..4).unwrap_or(&[0, 0]));
    out.extend_from_slice(original_packet);
    out
}

/// What arrived on a receiver's control port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlDatagram<'a> {
    /// A sync packet (type 0x54).
    Sync(SyncPacket),
    /// A resent audio packet (the original packet bytes, header included).
    Resent(&'a [u8]),
    /// A retransmit request (type 0x55).
    RetransmitRequest(RetransmitRequest),
}

impl<'a> ControlDatagram<'a> {
    /// Classifies and reads a control-channel datagram by its payload type.
    pub fn parse(d: &'a [u8]) -> Result<Self, PacketError> {
        if d.len() < 4 {
            return Err(PacketError::TooShort(d.len()));
        }
        if d[0] & 0xC0 != 0x80 {
            return Err(PacketError::NotRtp);
        }
        match d[1] & 0x7F {
            PT_SYNC => SyncPacket::parse(d).map(ControlDatagram::Sync),
            PT_RETRANSMIT_REPLY => Ok(ControlDatagram::Resent(&d[4..])),
            PT_RETRANSMIT_REQUEST => {
                RetransmitRequest::parse(d).map(ControlDatagram::RetransmitRequest)
            }
            other => Err(PacketError::UnexpectedType(other)),
        }
    }
}

fn check(d: &[u8], len: usize, pt: u8) -> Result<(), PacketError> {
    if d.len() < len {
        return Err(PacketError::TooShort(d.len()));
    }
    if d[0] & 0xC0 != 0x80 {
        return Err(PacketError::NotRtp);
    }
    if d[1] & 0x7F != pt {
        return Err(PacketError::UnexpectedType(d[1] & 0x7F));
    }
    Ok(())
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[..8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn audio_header_known_answer() {
        let h = AudioHeader {
            marker: true,
            seq: 0x1234,
            timestamp: 0x0001_0203,
            ssrc: 0xDEAD_BEEF,
        };
        assert_eq!(h.encode().to_vec(), hex("80e0 1234 00010203 deadbeef"));
        let h = AudioHeader { marker: false, ..h };
        let packet = audio_packet(&h, &[1, 2, 3]);
        assert_eq!(packet, hex("8060 1234 00010203 deadbeef 010203"));
        let parsed = AudioPacket::parse(&packet).unwrap();
        assert_eq!(parsed.header, h);
        assert_eq!(parsed.payload, &[1, 2, 3]);
    }

    #[test]
    fn sync_known_answer() {
        let s = SyncPacket {
            first: true,
            rtp_audible_now: 0x0000_1000,
            ntp: NtpTime::from_parts(0x83AA_7E80, 0x8000_0000),
            rtp_now: 0x0001_3BCF,
        };
        let bytes = s.encode();
        assert_eq!(
            bytes.to_vec(),
            hex("90d4 0007 00001000 83aa7e80 80000000 00013bcf")
        );
        assert_eq!(SyncPacket::parse(&bytes).unwrap(), s);
        assert_eq!(s.latency_frames(), 0x13BCF - 0x1000);
        let later = SyncPacket { first: false, ..s };
        assert_eq!(later.encode()[0], 0x80);
    }

    #[test]
    fn timing_reply_copies_request_send_time_into_reference() {
        let request_bytes =
            hex("80d2 0007 00000000 0000000000000000 0000000000000000 83aa7e8112345678");
        let request = TimingPacket::parse(&request_bytes).unwrap();
        assert!(!request.reply);
        let reply = TimingPacket::reply_to(
            &request,
            NtpTime::from_parts(0x83AA_7E90, 1),
            NtpTime::from_parts(0x83AA_7E90, 2),
        );
        assert_eq!(
            reply.encode().to_vec(),
            hex("80d3 0007 00000000 83aa7e8112345678 83aa7e9000000001 83aa7e9000000002")
        );
    }

    #[test]
    fn retransmit_request_and_reply_known_answer() {
        let req = RetransmitRequest::parse(&hex("80d5 0001 fffe 0004")).unwrap();
        assert_eq!(req.first_seq, 0xFFFE);
        assert_eq!(req.seqs().collect::<Vec<_>>(), vec![0xFFFE, 0xFFFF, 0, 1]);
        assert_eq!(req.encode(1).to_vec(), hex("80d5 0001 fffe 0004"));
        let original = hex("8060 0005 00000160 00000001 aabb");
        assert_eq!(
            retransmit_reply(&original),
            hex("80d6 0005 8060 0005 00000160 00000001 aabb")
        );
        match ControlDatagram::parse(&retransmit_reply(&original)).unwrap() {
            ControlDatagram::Resent(p) => assert_eq!(p, &original[..]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_or_foreign_datagrams_are_errors() {
        assert_eq!(
            AudioPacket::parse(&[0x80; 5]),
            Err(PacketError::TooShort(5))
        );
        assert_eq!(
            SyncPacket::parse(&hex("00d4 0007 00000000 00000000 00000000 00000000")),
            Err(PacketError::NotRtp)
        );
        assert!(ControlDatagram::parse(&hex("80c8 0001")).is_err());
        assert!(TimingPacket::parse(&[0x80, 0xd2, 0, 7]).is_err());
    }
}
