//! The AirPlay 2 anchor ("sync") packet, 28 bytes to the receiver's control port about once
//! a second (shared/protocol/airplay2.md §6): it ties an RTP time to the PTP master's clock.
//!
//! `[0x90 first / 0x80][0xD7][0x0007][rtp_time − latency][master time of rtp_time, ns]
//! [rtp_time][master clock identity]`, all big-endian.

use super::clock::ClockIdentity;

/// Bytes of an anchor packet.
pub const ANCHOR_LEN: usize = 28;
/// Frames shairport-sync (4.3.x) adds to what an anchor says: it plays frame
/// `bytes 4..8 − this` at the anchor's master time, and takes `(bytes 16..20 − bytes 4..8) +
/// this` as the stream's latency. An anchor for total latency `L` therefore carries
/// `latency = L − this`.
pub const RECEIVER_FIXED_LATENCY: u32 = 11_035;
const FIRST: u8 = 0x90;
const LATER: u8 = 0x80;
/// Marker bit + payload type 0x57.
const TYPE: u8 = 0xD7;
const SEQUENCE: u16 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("anchor packet of {0} bytes, not 28")]
    WrongLength(usize),
    #[error("not an anchor packet (first bytes {0:02x} {1:02x})")]
    NotAnAnchor(u8, u8),
}

/// "Frame `rtp_time` sits at master time `master_nanos`; play it `latency` frames later."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The first anchor after RECORD or a FLUSH.
    pub first: bool,
    pub rtp_time: u32,
    /// Frames between sending and playing.
    pub latency: u32,
    /// The PTP master's time of `rtp_time`, in nanoseconds.
    pub master_nanos: u64,
    pub clock: ClockIdentity,
}

impl Anchor {
    /// The 28 bytes on the wire.
    pub fn encode(&self) -> [u8; ANCHOR_LEN] {
        let mut b = [0u8; ANCHOR_LEN];
        b[0] = if self.first { FIRST } else { LATER };
        b[1] = TYPE;
        b[2..4].copy_from_slice(&SEQUENCE.to_be_bytes());
        b[4..8].copy_from_slice(&self.rtp_time.wrapping_sub(self.latency).to_be_bytes());
        b[8..16].copy_from_slice(&self.master_nanos.to_be_bytes());
        b[16..20].copy_from_slice(&self.rtp_time.to_be_bytes());
        b[20..28].copy_from_slice(&self.clock.0);
        b
    }

    /// Reads an anchor; anything but 28 bytes of type 0xD7 is refused.
    pub fn parse(datagram: &[u8]) -> Result<Self, AnchorError> {
        let b: &[u8; ANCHOR_LEN] = datagram
            .try_into()
            .map_err(|_| AnchorError::WrongLength(datagram.len()))?;
        if !matches!(b[0], FIRST | LATER) || b[1] != TYPE {
            return Err(AnchorError::NotAnAnchor(b[0], b[1]));
        }
        let u32_at = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let mut nanos = [0u8; 8];
        nanos.copy_from_slice(&b[8..16]);
        let mut clock = [0u8; 8];
        clock.copy_from_slice(&b[20..28]);
        let rtp_time = u32_at(16);
        Ok(Self {
            first: b[0] == FIRST,
            rtp_time,
            latency: rtp_time.wrapping_sub(u32_at(4)),
            master_nanos: u64::from_be_bytes(nanos),
            clock: ClockIdentity(clock),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_known_answer() {
        let anchor = Anchor {
            first: true,
            rtp_time: 0x0001_0000,
            latency: 11_025,
            master_nanos: 0x0102_0304_0506_0708,
            clock: ClockIdentity([0x0A, 0x1B, 0x2C, 0xFF, 0xFE, 0x3D, 0x4E, 0x5F]),
        };
        let bytes = anchor.encode();
        assert_eq!(
            hex::encode(bytes),
            "90d70007\
             0000d4ef\
             0102030405060708\
             00010000\
             0a1b2cfffe3d4e5f"
        );
        assert_eq!(Anchor::parse(&bytes), Ok(anchor));
        let later = Anchor {
            first: false,
            rtp_time: 5, // wraps below zero with the latency
            ..anchor
        };
        assert_eq!(later.encode()[0], 0x80);
        assert_eq!(Anchor::parse(&later.encode()), Ok(later));
    }

    #[test]
    fn other_datagrams_are_refused() {
        assert_eq!(
            Anchor::parse(&[0x80; 20]),
            Err(AnchorError::WrongLength(20))
        );
        let mut b = [0u8; ANCHOR_LEN];
        b[0] = 0x80;
        b[1] = 0xD4; // an AirPlay 1 sync type
        assert_eq!(Anchor::parse(&b), Err(AnchorError::NotAnAnchor(0x80, 0xD4)));
    }
}
