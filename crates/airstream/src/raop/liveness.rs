//! Noticing a receiver that vanished without closing anything: after a second without a
//! datagram or an RTSP answer, probe it with an `OPTIONS` that must be answered within the
//! streaming request timeout (2 s), so it is noticed in about three seconds.

use std::time::{Duration, Instant};

/// Silence from the receiver after which we probe it.
const PROBE_AFTER: Duration = Duration::from_secs(1);

pub(super) struct Liveness {
    last_heard: Instant,
    last_probe: Option<Instant>,
}

impl Liveness {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            last_heard: now,
            last_probe: None,
        }
    }

    pub(super) fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.last_probe = None;
    }

    /// Whether to probe now: quiet for a while, and not asked during that while.
    pub(super) fn probe_due(&mut self, now: Instant) -> bool {
        let quiet = now.saturating_duration_since(self.last_heard) >= PROBE_AFTER;
        let asked_recently = self
            .last_probe
            .is_some_and(|t| now.saturating_duration_since(t) < PROBE_AFTER);
        if quiet && !asked_recently {
            self.last_probe = Some(now);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_once_per_quiet_second() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = Liveness::new(t0);
        assert!(!l.probe_due(t0 + ms(999)));
        assert!(l.probe_due(t0 + ms(1000)));
        assert!(!l.probe_due(t0 + ms(1500)), "already asked");
        assert!(l.probe_due(t0 + ms(2000)));
        l.heard(t0 + ms(2100));
        assert!(!l.probe_due(t0 + ms(2500)));
        assert!(l.probe_due(t0 + ms(3100)));
    }
}
