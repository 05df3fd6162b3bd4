//! Loss, delay, jitter and reordering between the `airstream` binary and shairport-sync
//! 3.3.8, each test in a network namespace of its own. This kernel has no netem, so:
//! (a) shairport-sync drops 5 % of the audio it receives (`drop_this_fraction_of_audio_packets`);
//! (b) the kernel drops 5 % of the UDP sent to shairport-sync's audio port (iptables
//!     `statistic` in the namespace);
//! (c) the seeded relay of the test support delays (20 ms), jitters (±10 ms) and reorders
//!     audio and control.
//! In each a 30 s stream must come out bit-exact, the lost packets repaired by retransmission.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::compare::{Comparison, align_and_compare};
use airstream_testkit::relay::{Direction, Flow, Impairment, NamespacedRelay, RelayConfig};
use airstream_testkit::shairport::{self, ShairportConfig};
use airstream_testkit::signal::music;
use std::process::Output;
use std::time::{Duration, Instant};

const SECONDS: usize = 30;
const DEFAULT_LATENCY_MS: u32 = 2000;

/// Test (a) streams with 4 s of latency, because shairport-sync's diagnostic drop is harsher
/// than its name says, and its stdout backend leaves little time for repairs:
/// - `drop_this_fraction_of_audio_packets` also drops that fraction of its control input
///   (syncs and resent packets) and of its own resend requests, and after each dropped
///   request it sends no request at all for 0.3 s ("Suppressing a resend request due to a
///   resend sendto error", rtp.c), longer than its 0.256 s between requests for a packet;
/// - the stdout backend takes frames 1 s before they play ("audio backend desired buffer
///   length is 1.000000 seconds"), so at 2 s of latency a lost packet gets about 4 requests;
/// - its drand48 is never seeded, so every run drops the same packets, 8 % of the first 250
///   among them: there requests pile up and the 0.3 s silences chain.
///
/// At 2 s, 3 runs of 3 lost 2 to 9 packets whose every request shairport-sync suppressed
/// or dropped itself (its log at verbosity 3), while `airstream` answered every request it
/// got (`retransmit_missed` 0). At 3 s and 4 s, 12 runs of 12 were bit-exact.
const REPAIR_LATENCY_MS: u32 = 4000;

/// shairport-sync 3.3.8 binds a session's ports upwards from `udp_port_base` (6001) in the
/// order control, timing, audio; its SETUP reply to the first session reads
/// `control_port=6001;timing_port=6002;server_port=6003`. Test (b) proves it: every audio
/// packet the sender counts passes an iptables counter on this port.
const AUDIO_PORT: u16 = 6003;

/// shairport-sync in a namespace of its own, plus what these tests do with it.
struct Rig(shairport::Rig);

impl std::ops::Deref for Rig {
    type Target = shairport::Rig;
    fn deref(&self) -> &shairport::Rig {
        &self.0
    }
}

impl std::ops::DerefMut for Rig {
    fn deref_mut(&mut self) -> &mut shairport::Rig {
        &mut self.0
    }
}

fn rig(config: &ShairportConfig) -> Rig {
    Rig(shairport::Rig::start(config).unwrap())
}

/// The counters `airstream stream --json` prints.
#[derive(Debug)]
struct SenderReport {
    packets_sent: u64,
    retransmit_requests: u64,
    retransmitted: u64,
    retransmit_missed: u64,
}

/// Reads `"key":number` from the report line.
fn json_number(json: &str, key: &str) -> u64 {
    let pattern = format!("\"{key}\":");
    let start = json
        .find(&pattern)
        .unwrap_or_else(|| panic!("{key} in {json}"))
        + pattern.len();
    json[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{key} is a number in {json}"))
}

impl Rig {
    fn airstream(&self, args: &[&str]) -> Output {
        self.run(env!("CARGO_BIN_EXE_airstream"), args).unwrap()
    }

    /// Streams `source` to `address` (shairport-sync, or a relay in front of it).
    fn stream(&self, address: &str, latency_ms: u32, source: &[i16]) -> SenderReport {
        let file = self.write_wav(source).unwrap();
        let latency = latency_ms.to_string();
        let out = self.airstream(&[
            "stream",
            "--address",
            address,
            "--latency",
            &latency,
            "--json",
            &file,
        ]);
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.receiver.log_text()
        );
        let json = String::from_utf8_lossy(&out.stdout);
        assert_eq!(json_number(&json, "frames_sent"), source.len() as u64 / 2);
        SenderReport {
            packets_sent: json_number(&json, "packets_sent"),
            retransmit_requests: json_number(&json, "retransmit_requests"),
            retransmitted: json_number(&json, "retransmitted"),
            retransmit_missed: json_number(&json, "retransmit_missed"),
        }
    }

    fn compare(&self, source: &[i16]) -> Comparison {
        let captured = self.receiver.captured().unwrap();
        align_and_compare(source, &captured).expect("audio in the capture")
    }

    fn assert_bit_exact(&mut self, cmp: &Comparison, source: &[i16]) {
        assert!(cmp.is_bit_exact(), "{cmp:?}\n{}", self.receiver.log_text());
        assert_eq!(cmp.frames_compared, source.len() / 2);
        assert!(self.receiver.is_running(), "shairport-sync survived");
    }

    /// `iptables` in the namespace; `-w` waits for the xtables lock other tests may hold.
    fn iptables(&self, args: &[&str]) -> String {
        let out = self
            .ns
            .command("iptables")
            .arg("-w")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn source() -> Vec<i16> {
    music(44_100 * SECONDS, 44_100)
}

fn print_figures(test: &str, report: &SenderReport, cmp: &Comparison, started: Instant) {
    eprintln!(
        "{test}: packets sent {}, retransmit requests {}, retransmitted {}, missed {}; \
         frames compared {}, mismatched {}; wall {:.1} s",
        report.packets_sent,
        report.retransmit_requests,
        report.retransmitted,
        report.retransmit_missed,
        cmp.frames_compared,
        cmp.mismatched_frames,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn receiver_dropping_5_percent_of_audio_still_plays_bit_exact() {
    let started = Instant::now();
    let config = ShairportConfig {
        drop_fraction: Some(0.05),
        ..ShairportConfig::default()
    };
    let mut rig = rig(&config);
    let source = source();
    let report = rig.stream(&rig.address(), REPAIR_LATENCY_MS, &source);
    let cmp = rig.compare(&source);
    print_figures("receiver drops 5 %", &report, &cmp, started);
    rig.assert_bit_exact(&cmp, &source);
    assert!(
        rig.receiver
            .log_text()
            .contains("diagnostic_drop_packet_fraction is 0.050000"),
        "shairport-sync took the drop setting"
    );
    assert!(report.retransmit_requests > 0, "{report:?}");
    assert!(report.retransmitted > 0, "{report:?}");
    assert_eq!(
        report.retransmit_missed, 0,
        "every request answered from the ring"
    );
}

/// Packet counts of the INPUT rules, in order.
fn rule_packets(listing: &str) -> Vec<u64> {
    listing
        .lines()
        .skip(2) // chain title and column headers
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn kernel_dropping_5_percent_of_audio_still_plays_bit_exact() {
    let started = Instant::now();
    let mut rig = rig(&ShairportConfig::default());
    let port = AUDIO_PORT.to_string();
    // First a rule that only counts what reaches the audio port, then the one that drops
    // 5 % of it. The namespace has only `lo`, whose traffic passes INPUT too. Resent packets
    // travel to the control port, so repairs are never dropped here.
    rig.iptables(&["-A", "INPUT", "-p", "udp", "--dport", &port]);
    rig.iptables(&[
        "-A",
        "INPUT",
        "-p",
        "udp",
        "--dport",
        &port,
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        "0.05",
        "-j",
        "DROP",
    ]);
    let source = source();
    let report = rig.stream(&rig.address(), DEFAULT_LATENCY_MS, &source);
    let cmp = rig.compare(&source);
    print_figures("kernel drops 5 %", &report, &cmp, started);
    let counts = rule_packets(&rig.iptables(&["-L", "INPUT", "-n", "-v", "-x"]));
    let [reached, dropped] = counts[..] else {
        panic!("two INPUT rules: {counts:?}");
    };
    eprintln!("kernel drops 5 %: {reached} packets reached port {port}, {dropped} dropped");
    rig.assert_bit_exact(&cmp, &source);
    assert_eq!(
        reached, report.packets_sent,
        "port {port} carries the audio"
    );
    assert!(dropped > 0);
    assert!(report.retransmitted > 0, "{report:?}");
    assert_eq!(
        report.retransmit_missed, 0,
        "every request answered from the ring"
    );
}

#[test]
fn delay_jitter_and_reordering_still_play_bit_exact() {
    let started = Instant::now();
    let mut rig = rig(&ShairportConfig::default());
    let impairment = Impairment {
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(10),
        reorder: 0.02,
        reorder_hold: Duration::from_millis(30),
        loss: 0.0,
    };
    let config = RelayConfig::new(rig.address().parse().unwrap(), 0x00C0_FFEE, impairment);
    let relay = NamespacedRelay::start(&rig.ns, config).unwrap();
    let source = source();
    let report = rig.stream(&relay.local_addr().to_string(), DEFAULT_LATENCY_MS, &source);
    let cmp = rig.compare(&source);
    print_figures("delay/jitter/reordering", &report, &cmp, started);
    let stats = relay.stats();
    let audio = stats.get(Flow::Audio, Direction::ToReceiver);
    let sync = stats.get(Flow::Control, Direction::ToReceiver);
    eprintln!("delay/jitter/reordering: relay audio {audio:?}, control to receiver {sync:?}");
    rig.assert_bit_exact(&cmp, &source);
    assert_eq!(stats.sessions, 1);
    assert_eq!(audio.received, report.packets_sent);
    assert_eq!(audio.dropped, 0);
    assert!(audio.reordered > 0, "{audio:?}");
    assert!(sync.forwarded > 0, "sync packets went through the relay");
}
