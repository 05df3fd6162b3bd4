//! AirPlay 2 receivers (shairport-sync 4.3.7, PTP timing) added to a running stream: to an
//! AirPlay 2 stream (the PTP master serves one more follower) and to a stream that started
//! with classic AirPlay only (shairport-sync 3.3.8: the stream key, master clock and PTP
//! master start then). The first receiver plays the whole source, bit-exact; the one added
//! plays the source from the frame it joined at to the end, sample for sample, and its log
//! shows the AirPlay 2 path.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Protocol, StreamOptions};
use airstream_audio::{PcmFormat, Source};
use airstream_testkit::airplay2::{self, Ap2Rig, Peer};
use airstream_testkit::compare::{align_and_compare, compare_at, joined_at};
use airstream_testkit::signal::{music, wav_bytes};

const RATE: usize = 44_100;

fn airplay2_receiver(address: std::net::SocketAddr) -> raop::Receiver {
    raop::Receiver {
        protocol: Protocol::AirPlay2,
        ..raop::Receiver::new(address)
    }
}

/// Streams 8 s to the first peer and adds an AirPlay 2 receiver once 1.5 s were heard.
fn add_an_airplay2_receiver_to(first: Peer) {
    let first_is_airplay2 = matches!(first, Peer::AirPlay2(_));
    let rig =
        Ap2Rig::start_peers(&[first, Peer::AirPlay2(airplay2::config("ap2-join-added"))]).unwrap();
    let source = music(RATE * 8, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let first_receiver = if first_is_airplay2 {
        airplay2_receiver(rig.address(0))
    } else {
        raop::Receiver::new(rig.address(0))
    };
    let added = airplay2_receiver(rig.address(1));
    let report = rig
        .block_on_in_sender(move || async move {
            let pcm = Source::path(wav).open(PcmFormat::RAOP).unwrap();
            let (handle, task) = raop::start(first_receiver, pcm, StreamOptions::default())
                .await
                .unwrap();
            let task = tokio::spawn(task);
            let mut progress = handle.progress();
            while progress.borrow_and_update().position().as_secs_f64() < 1.5 {
                progress.changed().await.unwrap();
            }
            handle.add_receiver(added).await.unwrap();
            task.await.unwrap()
        })
        .unwrap()
        .unwrap();
    assert!(
        report.receivers.iter().all(|r| r.failure.is_none()),
        "{report:?}"
    );
    assert_eq!(report.receivers.len(), 2, "{report:?}");

    let first = &rig.receivers[0];
    let first_log = first.log_text();
    let whole = align_and_compare(&source, &first.captured().unwrap()).expect("audio");
    assert!(whole.is_bit_exact(), "{whole:?}\n{first_log}");
    assert_eq!(whole.frames_compared, source.len() / 2);
    // The path the first one took: AirPlay 2, or 3.3.8's classic ANNOUNCE.
    let (own, other) = if first_is_airplay2 {
        ("AP2 Realtime Audio Stream", "Classic AirPlay connection")
    } else {
        ("Received an RTSP Packet of type \"ANNOUNCE\"", "AP2")
    };
    assert!(first_log.contains(own), "{first_log}");
    assert!(!first_log.contains(other), "{first_log}");

    let added = &rig.receivers[1];
    let log = added.log_text();
    let captured = added.captured().unwrap();
    let (start, at) = joined_at(&source, &captured).expect("the capture continues the source");
    let rest = compare_at(&source[2 * start..], &captured, at);
    eprintln!("added: joined at source frame {start}: {rest:?}");
    assert!(rest.is_bit_exact(), "{rest:?}\n{log}");
    assert_eq!(rest.frames_compared, source.len() / 2 - start, "to the end");
    assert!(start > RATE && start < 6 * RATE, "joined at {start}");
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
    assert_eq!(added.log_errors(), Vec::<String>::new(), "{log}");
}

#[test]
fn an_airplay2_receiver_joins_a_running_airplay2_stream_bit_exact() {
    add_an_airplay2_receiver_to(Peer::AirPlay2(airplay2::config("ap2-join-first")));
}

#[test]
fn an_airplay2_receiver_joins_a_classic_airplay_stream_bit_exact() {
    add_an_airplay2_receiver_to(Peer::Classic(airplay2::config("ap2-join-classic")));
}
