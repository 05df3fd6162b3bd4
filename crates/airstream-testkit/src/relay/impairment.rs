//! The impairment model, sans-IO: a seeded verdict per packet (lost, or delivered after a
//! delay) and a schedule that releases held packets in order of their due time. Kept apart
//! from the sockets so its statistics can be checked exactly, with no clock.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// What happens to the packets of one impaired flow, in each direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// One-way delay added to every packet.
    pub delay: Duration,
    /// Each packet's delay is drawn uniformly from `delay ± jitter` (never below zero).
    /// Jitter larger than the packet spacing (8 ms for audio) reorders by itself.
    pub jitter: Duration,
    /// Probability that a packet is held back a further `reorder_hold`, so that the packets
    /// sent after it overtake it.
    pub reorder: f64,
    pub reorder_hold: Duration,
    /// Probability that a packet is dropped.
    pub loss: f64,
}

impl Impairment {
    /// Forwards everything at once.
    pub const NONE: Impairment = Impairment {
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        reorder: 0.0,
        reorder_hold: Duration::ZERO,
        loss: 0.0,
    };
}

impl Default for Impairment {
    fn default() -> Self {
        Self::NONE
    }
}

/// The fate of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Lost,
    Deliver { after: Duration },
}

/// Draws verdicts from a seeded generator: the same seed gives the same sequence.
pub struct Impairer {
    config: Impairment,
    rng: StdRng,
}

fn probability(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }
}

impl Impairer {
    pub fn new(config: Impairment, seed: u64) -> Self {
        Self {
            config: Impairment {
                loss: probability(config.loss),
                reorder: probability(config.reorder),
                ..config
            },
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The verdict for the next packet. Every packet takes the same three draws whatever
    /// the configuration, so packet `n`'s fate depends only on the seed and `n`.
    pub fn judge(&mut self) -> Verdict {
        let lost = self.rng.random::<f64>() < self.config.loss;
        let jitter_nanos = self.config.jitter.as_nanos().min(u128::from(u32::MAX)) as i64;
        let offset = self.rng.random_range(-jitter_nanos..=jitter_nanos);
        let held = self.rng.random::<f64>() < self.config.reorder;
        if lost {
            return Verdict::Lost;
        }
        let base = self.config.delay.as_nanos().min(u128::from(u64::MAX >> 1)) as i64;
        let mut after = Duration::from_nanos((base + offset).max(0) as u64);
        if held {
            after += self.config.reorder_hold;
        }
        Verdict::Deliver { after }
    }
}

struct Held<T> {
    due: Instant,
    /// Arrival order, which also breaks ties between equal due times.
    index: u64,
    item: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.index) == (other.due, other.index)
    }
}

impl<T> Eq for Held<T> {}

impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Held<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.index).cmp(&(other.due, other.index))
    }
}

/// A packet let out of the schedule.
#[derive(Debug, PartialEq, Eq)]
pub struct Released<T> {
    pub item: T,
    /// Arrival order among the packets pushed.
    pub index: u64,
    /// A packet that arrived after this one was released before it.
    pub overtaken: bool,
}

/// Packets held until their due time.
pub struct Schedule<T> {
    heap: BinaryHeap<Reverse<Held<T>>>,
    next_index: u64,
    highest_released: Option<u64>,
}

impl<T> Default for Schedule<T> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            next_index: 0,
            highest_released: None,
        }
    }
}

impl<T> Schedule<T> {
    pub fn push(&mut self, due: Instant, item: T) {
        let index = self.next_index;
        self.next_index += 1;
        self.heap.push(Reverse(Held { due, index, item }));
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(held)| held.due)
    }

    /// The next packet due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Released<T>> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(held) = self.heap.pop()?;
        let overtaken = self.highest_released.is_some_and(|h| h > held.index);
        self.highest_released = Some(
            self.highest_released
                .map_or(held.index, |h| h.max(held.index)),
        );
        Some(Released {
            item: held.item,
            index: held.index,
            overtaken,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACING: Duration = Duration::from_millis(8);

    fn impairment() -> Impairment {
        Impairment {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            reorder: 0.1,
            reorder_hold: Duration::from_millis(30),
            loss: 0.05,
        }
    }

    fn verdicts(seed: u64, n: usize) -> Vec<Verdict> {
        let mut impairer = Impairer::new(impairment(), seed);
        (0..n).map(|_| impairer.judge()).collect()
    }

    #[test]
    fn same_seed_same_fates_other_seed_other_fates() {
        assert_eq!(verdicts(7, 1000), verdicts(7, 1000));
        assert_ne!(verdicts(7, 1000), verdicts(8, 1000));
    }

    #[test]
    fn no_impairment_delivers_everything_at_once_in_order() {
        let mut impairer = Impairer::new(Impairment::NONE, 1);
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        for i in 0..100u32 {
            assert_eq!(
                impairer.judge(),
                Verdict::Deliver {
                    after: Duration::ZERO
                }
            );
            schedule.push(t0, i);
        }
        let order: Vec<u32> = std::iter::from_fn(|| schedule.pop_due(t0).map(|r| r.item)).collect();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
    }

    /// 20 000 packets 8 ms apart through 20 ms ± 10 ms, 10 % held 30 ms more, 5 % lost: the
    /// figures are exact for this seed; the bounds say what the model promises.
    #[test]
    fn statistics_for_a_fixed_seed() {
        const N: u32 = 20_000;
        let config = impairment();
        let mut impairer = Impairer::new(config, 0x5EED);
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        let mut lost = 0u32;
        let mut sent_at = Vec::new();
        let mut delays = Vec::new();
        for i in 0..N {
            let arrival = t0 + SPACING * i;
            match impairer.judge() {
                Verdict::Lost => lost += 1,
                Verdict::Deliver { after } => {
                    delays.push(after);
                    sent_at.push(arrival);
                    schedule.push(arrival + after, (i, arrival));
                }
            }
        }
        let loss = f64::from(lost) / f64::from(N);
        assert!((0.045..0.055).contains(&loss), "loss {loss}");

        // Unheld packets stay within delay ± jitter and average the delay.
        let unheld: Vec<Duration> = delays
            .iter()
            .copied()
            .filter(|d| *d <= config.delay + config.jitter)
            .collect();
        let held = delays.len() - unheld.len();
        let held_share = held as f64 / delays.len() as f64;
        assert!((0.09..0.11).contains(&held_share), "held {held_share}");
        assert!(unheld.iter().all(|d| *d >= Duration::from_millis(10)));
        let mean = unheld.iter().sum::<Duration>() / unheld.len() as u32;
        let error = mean.abs_diff(config.delay);
        assert!(error < Duration::from_micros(300), "mean delay {mean:?}");

        // Release in due order: everything that was not lost comes out, once, and the
        // jitter (wider than the spacing) plus the holds reorder a good share.
        let mut released = Vec::new();
        let mut overtaken = 0;
        let mut last_due = t0;
        while let Some(due) = schedule.next_due() {
            assert!(due >= last_due, "released in due order");
            last_due = due;
            let r = schedule.pop_due(due).unwrap();
            overtaken += u32::from(r.overtaken);
            released.push(r.item.0);
        }
        assert_eq!(released.len(), delays.len());
        let mut sorted = released.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), released.len(), "no duplicates");
        let reordered = f64::from(overtaken) / released.len() as f64;
        assert!((0.2..0.6).contains(&reordered), "reordered {reordered}");
        assert!(schedule.is_empty());
    }

    #[test]
    fn holds_until_due_and_flags_overtaken_packets() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        schedule.push(t0 + Duration::from_millis(30), "late");
        schedule.push(t0 + Duration::from_millis(10), "early");
        assert_eq!(schedule.pop_due(t0 + Duration::from_millis(9)), None);
        let early = schedule.pop_due(t0 + Duration::from_millis(10)).unwrap();
        assert_eq!(
            (early.item, early.index, early.overtaken),
            ("early", 1, false)
        );
        assert_eq!(schedule.next_due(), Some(t0 + Duration::from_millis(30)));
        let late = schedule.pop_due(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!((late.item, late.index, late.overtaken), ("late", 0, true));
    }

    #[test]
    fn out_of_range_probabilities_are_clamped() {
        let mut always = Impairer::new(
            Impairment {
                loss: 7.0,
                ..Impairment::NONE
            },
            3,
        );
        assert!((0..50).all(|_| always.judge() == Verdict::Lost));
        let mut never = Impairer::new(
            Impairment {
                loss: f64::NAN,
                reorder: -1.0,
                ..Impairment::NONE
            },
            3,
        );
        assert!((0..50).all(|_| never.judge()
            == Verdict::Deliver {
                after: Duration::ZERO
            }));
    }
}
