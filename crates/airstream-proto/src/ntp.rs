//! NTP timestamps as RAOP uses them: 32-bit seconds since 1900 and a 32-bit fraction.
//!
//! The sender's clock may be any monotonic clock shifted into NTP form, as long as the same
//! clock feeds timing replies and sync packets; [`NtpClock`] does that shift for an
//! `Instant` passed in, so nothing here reads a clock.

use std::time::{Duration, Instant};

/// Seconds from 1900-01-01 to 1970-01-01.
pub const UNIX_EPOCH_OFFSET_SECS: u64 = 0x83AA_7E80;

/// An NTP timestamp: seconds since 1900 in the upper 32 bits, fraction (2^-32 s) in the lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// Joins whole seconds and the 32-bit fraction.
    pub fn from_parts(seconds: u32, fraction: u32) -> Self {
        NtpTime((u64::from(seconds) << 32) | u64::from(fraction))
    }

    /// Whole seconds since 1900 (wraps in 2036).
    pub fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The fraction of a second, in units of 2^-32 s.
    pub fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// The timestamp `d` after the NTP epoch.
    pub fn from_duration(d: Duration) -> Self {
        let fraction = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime((d.as_secs() << 32).wrapping_add(fraction))
    }

    /// The time since the NTP epoch (nanosecond-rounded).
    pub fn to_duration(self) -> Duration {
        let nanos = (u64::from(self.fraction()) * 1_000_000_000) >> 32;
        Duration::new(u64::from(self.seconds()), nanos as u32)
    }

    /// The 8 bytes as sent in timing and sync packets.
    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Reads the 8 bytes of timing and sync packets.
    pub fn from_be_bytes(b: [u8; 8]) -> Self {
        NtpTime(u64::from_be_bytes(b))
    }

    /// Signed difference `self - earlier`, in NTP units (2^-32 s).
    pub fn wrapping_diff(self, earlier: NtpTime) -> i64 {
        self.0.wrapping_sub(earlier.0) as i64
    }
}

/// Maps `Instant`s onto NTP time: `anchor` corresponds to `anchor_ntp`.
#[derive(Debug, Clone, Copy)]
pub struct NtpClock {
    anchor: Instant,
    anchor_ntp: NtpTime,
}

impl NtpClock {
    /// A clock on which `anchor` reads `anchor_ntp`.
    pub fn new(anchor: Instant, anchor_ntp: NtpTime) -> Self {
        Self { anchor, anchor_ntp }
    }

    /// The NTP time of instant `t` on this clock (also before the anchor).
    pub fn ntp_at(&self, t: Instant) -> NtpTime {
        match t.checked_duration_since(self.anchor) {
            Some(after) => NtpTime(
                self.anchor_ntp
                    .0
                    .wrapping_add(NtpTime::from_duration(after).0),
            ),
            None => NtpTime(
                self.anchor_ntp
                    .0
                    .wrapping_sub(NtpTime::from_duration(self.anchor - t).0),
            ),
        }
    }

    /// Inverse of [`ntp_at`](Self::ntp_at), for receivers turning sync times back into instants.
    pub fn instant_at(&self, ntp: NtpTime) -> Instant {
        let diff = ntp.wrapping_diff(self.anchor_ntp);
        let magnitude = NtpTime(diff.unsigned_abs()).to_duration();
        if diff >= 0 {
            self.anchor + magnitude
        } else {
            self.anchor.checked_sub(magnitude).unwrap_or(self.anchor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_second_is_half_the_fraction_range() {
        let t = NtpTime::from_duration(Duration::from_millis(1500));
        assert_eq!(t.seconds(), 1);
        assert_eq!(t.fraction(), 0x8000_0000);
        assert_eq!(t.to_duration(), Duration::from_millis(1500));
    }

    #[test]
    fn clock_maps_both_ways() {
        let base = Instant::now();
        let clock = NtpClock::new(base, NtpTime::from_parts(0x83AA_7E80, 0));
        let later = base + Duration::from_millis(2250);
        let ntp = clock.ntp_at(later);
        assert_eq!(ntp.seconds(), 0x83AA_7E82);
        assert_eq!(ntp.fraction(), 0x4000_0000);
        let back = clock.instant_at(ntp);
        assert!(
            back.duration_since(later) < Duration::from_micros(1)
                || later.duration_since(back) < Duration::from_micros(1)
        );
    }
}
