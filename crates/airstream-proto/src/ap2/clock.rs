//! PTP clock identities and timestamps (IEEE 1588-2008 §5.3.3, §7.5.2.2).

use std::fmt;

/// An 8-byte PTP clock identity. Ours is the EUI-64 form of a MAC-like id: the 6 bytes with
/// `FF FE` in the middle, as 1588 §7.5.2.2.2 builds one from an EUI-48.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClockIdentity(pub [u8; 8]);

impl ClockIdentity {
    /// The identity derived from a 6-byte MAC-like id.
    pub fn from_mac(mac: [u8; 6]) -> Self {
        Self([mac[0], mac[1], mac[2], 0xFF, 0xFE, mac[3], mac[4], mac[5]])
    }

    /// The identity as one big-endian number, as nqptp reports a master clock id.
    pub fn as_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }
}

impl fmt::Debug for ClockIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClockIdentity({:016x})", self.as_u64())
    }
}

/// A PTP timestamp: 48-bit seconds and nanoseconds, 10 bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PtpTimestamp {
    /// Seconds; only the low 48 bits go on the wire.
    pub seconds: u64,
    /// Always below 1 000 000 000.
    pub nanoseconds: u32,
}

/// Bytes of a timestamp on the wire.
pub const TIMESTAMP_LEN: usize = 10;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
const SECONDS_MASK: u64 = (1 << 48) - 1;

impl PtpTimestamp {
    /// The timestamp `ns` nanoseconds after the clock's epoch (seconds wrap at 2^48).
    pub fn from_nanos(ns: u64) -> Self {
        Self {
            seconds: (ns / NANOS_PER_SECOND) & SECONDS_MASK,
            nanoseconds: (ns % NANOS_PER_SECOND) as u32,
        }
    }

    /// Nanoseconds since the epoch, saturating beyond what a u64 holds (about 584 years).
    pub fn as_nanos(self) -> u64 {
        self.seconds
            .saturating_mul(NANOS_PER_SECOND)
            .saturating_add(u64::from(self.nanoseconds))
    }

    /// The 10 bytes on the wire: 48-bit seconds, 32-bit nanoseconds, big-endian.
    pub fn encode(self) -> [u8; TIMESTAMP_LEN] {
        let mut b = [0u8; TIMESTAMP_LEN];
        b[..6].copy_from_slice(&(self.seconds & SECONDS_MASK).to_be_bytes()[2..]);
        b[6..].copy_from_slice(&self.nanoseconds.to_be_bytes());
        b
    }

    /// Reads 10 bytes; `None` when the nanoseconds are out of range (1588 §5.3.3).
    pub fn decode(b: [u8; TIMESTAMP_LEN]) -> Option<Self> {
        let mut seconds = [0u8; 8];
        seconds[2..].copy_from_slice(&b[..6]);
        let nanoseconds = u32::from_be_bytes([b[6], b[7], b[8], b[9]]);
        (u64::from(nanoseconds) < NANOS_PER_SECOND).then_some(Self {
            seconds: u64::from_be_bytes(seconds),
            nanoseconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_from_mac_is_eui64() {
        let id = ClockIdentity::from_mac([0x0A, 0x1B, 0x2C, 0x3D, 0x4E, 0x5F]);
        assert_eq!(id.0, [0x0A, 0x1B, 0x2C, 0xFF, 0xFE, 0x3D, 0x4E, 0x5F]);
        assert_eq!(id.as_u64(), 0x0A1B_2CFF_FE3D_4E5F);
    }

    #[test]
    fn timestamp_known_answer() {
        // 48-bit seconds 0x0102_0304_0506 and 999 999 999 ns.
        let ts = PtpTimestamp {
            seconds: 0x0102_0304_0506,
            nanoseconds: 999_999_999,
        };
        assert_eq!(
            ts.encode(),
            [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x3B, 0x9A, 0xC9, 0xFF]
        );
        assert_eq!(PtpTimestamp::decode(ts.encode()), Some(ts));
        // Nanosecond counts map to seconds and nanoseconds and back.
        let ns = 0x0304_0506 * 1_000_000_000 + 7;
        let from_ns = PtpTimestamp::from_nanos(ns);
        assert_eq!((from_ns.seconds, from_ns.nanoseconds), (0x0304_0506, 7));
        assert_eq!(from_ns.as_nanos(), ns);
    }

    #[test]
    fn out_of_range_nanoseconds_are_refused() {
        let mut b = PtpTimestamp::default().encode();
        b[6..].copy_from_slice(&1_000_000_000u32.to_be_bytes());
        assert_eq!(PtpTimestamp::decode(b), None);
    }
}
