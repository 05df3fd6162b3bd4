//! The sender against the in-repo receiver through the seeded impairment relay: heavy
//! reordering and 10 % loss on audio and control (both ways, so retransmit requests and
//! the resent packets are lost too) must still deliver every sample, with the repairs
//! visible in the counters of all three parties. Fast and on loopback, for regressions.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Codec, StreamOptions};
use airstream_audio::{PcmFormat, VecSource};
use airstream_receiver::{Receiver, ReceiverConfig};
use airstream_testkit::relay::{Direction, Flow, Impairment, Relay, RelayConfig};
use airstream_testkit::signal::music;
use std::time::{Duration, Instant};

const SEED: u64 = 0xA1B5_7EA3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_reordering_and_loss_still_arrive_bit_exact() {
    let started = Instant::now();
    let mut receiver = Receiver::start(ReceiverConfig::default()).await.unwrap();
    let impairment = Impairment {
        delay: Duration::from_millis(10),
        // Three times the packet spacing either way, and a fifth of the packets held back
        // five packets more: most packets arrive out of order.
        jitter: Duration::from_millis(25),
        reorder: 0.2,
        reorder_hold: Duration::from_millis(40),
        loss: 0.10,
    };
    let relay = Relay::start(RelayConfig::new(receiver.local_addr(), SEED, impairment))
        .await
        .unwrap();
    let samples = music(44_100 * 3 + 777, 44_100);
    let options = StreamOptions {
        codec: Codec::AlacRaw,
        // Room for a few rounds of requests for the last packets before TEARDOWN.
        latency: Duration::from_secs(1),
        ..StreamOptions::default()
    };
    let source = Box::new(VecSource::new(PcmFormat::RAOP, samples.clone()));
    let report = raop::stream_to_end(relay.local_addr(), source, options)
        .await
        .unwrap();
    let record = receiver
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    // The last audio packets and requests may still be in the relay's sockets when the
    // session ends; wait (briefly) until the relay has read them before comparing counters.
    let caught_up = Instant::now() + Duration::from_secs(2);
    let mut relayed = relay.stats();
    while (relayed.get(Flow::Control, Direction::ToSender).received
        < record.summary.retransmit_requests
        || relayed.get(Flow::Audio, Direction::ToReceiver).received < report.packets_sent)
        && Instant::now() < caught_up
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
        relayed = relay.stats();
    }
    let audio = relayed.get(Flow::Audio, Direction::ToReceiver);
    let requests = relayed.get(Flow::Control, Direction::ToSender);
    let to_receiver = relayed.get(Flow::Control, Direction::ToReceiver);
    eprintln!(
        "packets sent {}, relay audio {audio:?}, control to sender {requests:?}, control to \
         receiver {to_receiver:?}; sender {:?}; receiver: {} unique packets, {} duplicates, \
         {} requests, {} resent arrived; wall {:.1} s",
        report.packets_sent,
        report.stats,
        record.summary.packets,
        record.summary.duplicates,
        record.summary.retransmit_requests,
        record.summary.resent_packets,
        started.elapsed().as_secs_f64()
    );

    // Every sample, in place: the silent lead-in, the audio, then silence.
    let lead = report.lead_in_frames as usize * 2;
    let got = &record.samples;
    assert!(
        got.len() >= lead + samples.len(),
        "received {} samples",
        got.len()
    );
    assert!(got[..lead].iter().all(|s| *s == 0), "lead-in is silence");
    let first_wrong = got[lead..lead + samples.len()]
        .iter()
        .zip(&samples)
        .position(|(a, b)| a != b);
    assert_eq!(first_wrong, None, "every sample arrives unchanged");
    assert!(got[lead + samples.len()..].iter().all(|s| *s == 0));
    // (`missing_at_end` may be non-zero: the drain silence sent just before TEARDOWN is
    // still in the relay, or its repair in flight, when the session ends. It is never
    // played, so it does not matter.)
    assert!(record.summary.teardown);

    // The relay did impair: it lost and reordered audio, and lost repairs on the way.
    assert_eq!(audio.received, report.packets_sent);
    assert!(audio.dropped > 0 && audio.reordered > 0, "{audio:?}");
    assert!(
        requests.dropped + to_receiver.dropped > 0,
        "control was lossy too"
    );

    // The counters agree end to end: every request that got through was answered from the
    // ring, nothing asked for had gone, and every repair that arrived was one we sent.
    assert_eq!(record.summary.retransmit_requests, requests.received);
    // A request the relay forwards while the session is ending may reach a sender that has
    // stopped listening; every other one is counted.
    assert!(
        report.stats.retransmit_requests <= requests.forwarded
            && report.stats.retransmit_requests + 2 >= requests.forwarded,
        "{} requests counted, {} forwarded",
        report.stats.retransmit_requests,
        requests.forwarded
    );
    assert!(report.stats.retransmitted > 0);
    assert_eq!(report.stats.retransmit_missed, 0);
    assert!(record.summary.resent_packets > 0);
    assert!(record.summary.resent_packets <= report.stats.retransmitted);
}
