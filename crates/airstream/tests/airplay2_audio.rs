//! AirPlay 2 realtime audio (type 96) to shairport-sync 4.3.7 from the sender namespace:
//! session SETUP with PTP timing and our PTP master on 319/320, stream SETUP with the stream
//! key, ALAC payloads sealed with ChaCha20-Poly1305, anchors on the master clock. The capture
//! equals the source sample for sample, and the receiver's log proves the AirPlay 2 path
//! ("AP2 Realtime Audio Stream", never "Classic AirPlay connection").

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Codec, Protocol, StreamOptions};
use airstream_audio::Source;
use airstream_testkit::airplay2::{self, Ap2Rig, Peer};
use airstream_testkit::compare::{align_and_compare, compare_across_pause};
use airstream_testkit::shairport::ShairportConfig;
use airstream_testkit::signal::{music, wav_bytes};

/// Streams 3 s of music as a WAV file over AirPlay 2 with `codec` and checks the capture.
fn wav_over_airplay2_is_bit_exact(name: &str, codec: Codec) {
    let rig = Ap2Rig::start(&[airplay2::config(name)]).unwrap();
    let source = music(44_100 * 3, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let address = raop::Receiver {
        protocol: Protocol::AirPlay2,
        ..raop::Receiver::new(rig.address(0))
    };
    let options = StreamOptions {
        codec,
        ..StreamOptions::default()
    };
    let report = rig
        .run_in_sender(move || raop::blocking::stream(address, Source::path(wav), options))
        .unwrap()
        .unwrap();
    eprintln!("{report:?}");

    let receiver = &rig.receivers[0];
    let log = receiver.log_text();
    let captured = receiver.captured().unwrap();
    let cmp = align_and_compare(&source, &captured).expect("audio in the capture");
    eprintln!(
        "{codec:?}: compared {} frames at offset {}: {} mismatched, {} missing; first packet after {:?}; retransmitted {}",
        cmp.frames_compared,
        cmp.offset,
        cmp.mismatched_frames,
        cmp.missing_frames,
        report.time_to_first_packet,
        report.stats.retransmitted,
    );
    for line in log
        .lines()
        .filter(|l| l.contains("AP2 Realtime Audio Stream"))
    {
        eprintln!("receiver log: {line}");
    }
    assert!(cmp.is_bit_exact(), "{cmp:?}\n{log}");
    assert_eq!(cmp.frames_compared, source.len() / 2);
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
    assert_eq!(receiver.log_errors(), Vec::<String>::new(), "{log}");
    assert_eq!(report.stats.timing_replies, 0, "AirPlay 2 times with PTP");
    assert!(report.stats.sync_sent > 0, "anchors were sent");
}

#[test]
fn wav_over_airplay2_with_compressed_alac_is_bit_exact() {
    wav_over_airplay2_is_bit_exact("ap2-alac", Codec::Alac);
}

#[test]
fn wav_over_airplay2_with_uncompressed_alac_is_bit_exact() {
    wav_over_airplay2_is_bit_exact("ap2-alacraw", Codec::AlacRaw);
}

/// One stream, one timeline, two kinds of receiver: Debian's shairport-sync 3.3.8, which
/// speaks only classic AirPlay (RAOP, NTP timing), and 4.3.7 taken through AirPlay 2 (PTP).
/// Both captures are bit-exact, each log shows the path its member took, and both started
/// on the same RTP frame: each receiver's log names the first packet it synced to.
#[test]
fn a_group_of_shairport_sync_3_3_8_and_an_airplay_2_member_is_bit_exact_on_both() {
    let rig = Ap2Rig::start_peers(&[
        Peer::Classic(airplay2::config("ap2-group-classic")),
        Peer::AirPlay2(airplay2::config("ap2-group-ap2")),
    ])
    .unwrap();
    let source = music(44_100 * 5, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let options = StreamOptions::default();
    let classic = raop::Receiver::new(rig.address(0));
    let ap2 = raop::Receiver {
        protocol: Protocol::AirPlay2,
        ..raop::Receiver::new(rig.address(1))
    };
    let report = rig
        .block_on_in_sender(move || async move {
            let pcm = Source::path(wav)
                .open(airstream_audio::PcmFormat::RAOP)
                .unwrap();
            let (_handle, task) = raop::start_group(vec![classic, ap2], pcm, options)
                .await
                .unwrap();
            task.await
        })
        .unwrap()
        .unwrap();
    eprintln!("{report:?}");
    assert!(report.receivers.iter().all(|r| r.failure.is_none()));

    let mut first_frames = Vec::new();
    // 3.3.8 knows nothing of AirPlay 2; its log shows the ANNOUNCE of classic AirPlay.
    for (index, own, other, first_frame_line) in [
        (
            0,
            "Received an RTSP Packet of type \"ANNOUNCE\"",
            "AP2",
            "first_packet_time set for frame ",
        ),
        (
            1,
            "AP2 Realtime Audio Stream",
            "Classic AirPlay connection",
            "Lead time for first frame ",
        ),
    ] {
        let receiver = &rig.receivers[index];
        let log = receiver.log_text();
        let captured = receiver.captured().unwrap();
        let cmp = align_and_compare(&source, &captured).expect("audio in the capture");
        let first = first_frame(&log, first_frame_line);
        eprintln!(
            "member {index} ({own}): compared {} frames at offset {}: {} mismatched, {} missing; first frame played {first:?}",
            cmp.frames_compared, cmp.offset, cmp.mismatched_frames, cmp.missing_frames
        );
        assert!(cmp.is_bit_exact(), "member {index}: {cmp:?}\n{log}");
        assert_eq!(cmp.frames_compared, source.len() / 2);
        assert!(log.contains(own), "{log}");
        assert!(!log.contains(other), "{log}");
        assert_eq!(receiver.log_errors(), Vec::<String>::new(), "{log}");
        first_frames.push(first);
    }
    assert!(first_frames[0].is_some(), "{first_frames:?}");
    assert_eq!(
        first_frames[0], first_frames[1],
        "RTP time of the first frame each played"
    );
}

/// Pause for 2 s and resume over AirPlay 2: FLUSH drops what the receiver holds, the engine
/// keeps what was not yet audible and sends it again after a fresh lead-in and anchor. The
/// capture is the source with silence inserted at one point (the stdout backend writes
/// 0.2 s ahead and packets were in flight when FLUSH arrived, so up to 0.3 s may be heard
/// twice, never lost).
///
/// How much silence: the stdout backend has no delay function, so when its player meets the
/// first frame after the FLUSH it writes silence for that frame's lead time as it computes
/// it then, then the lead-in; the gap is exactly that (to a frame). The lead time is about
/// the latency (2 s) when the player computes it with the anchor we send with the first
/// packet after the resume. Under load it was 0.47–0.58 s: shairport-sync takes anchors on
/// its control thread and audio on another, and when the player meets the first frame
/// before the control thread has taken the new anchor, it times that frame with the anchor
/// from before the pause, which puts it half a second out (the frames we had sent early).
/// The log shows it: "Lead time for first frame" comes before the first post-FLUSH
/// `set_ptp_anchor_info`, whose "frame adjustment" is about −67 000 frames. We queue that
/// anchor before the first packet; which thread of the receiver runs first is not ours.
#[test]
fn pause_and_resume_over_airplay2_insert_silence_and_lose_nothing() {
    let rig = Ap2Rig::start(&[ShairportConfig {
        // Small, so that little of what FLUSH drops was written out already; not smaller,
        // or under load the player wakes past the frames it should write and skips them.
        output_buffer_seconds: Some(0.2),
        ..airplay2::config("ap2-pause")
    }])
    .unwrap();
    let source = music(44_100 * 6, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let address = raop::Receiver {
        protocol: Protocol::AirPlay2,
        ..raop::Receiver::new(rig.address(0))
    };
    let options = StreamOptions::default();
    let report = rig
        .block_on_in_sender(move || async move {
            let pcm = Source::path(wav)
                .open(airstream_audio::PcmFormat::RAOP)
                .unwrap();
            let (handle, task) = raop::start(address, pcm, options).await.unwrap();
            let task = tokio::spawn(task);
            let mut progress = handle.progress();
            // Paused once about 4 s were sent: with 2 s of latency, 2 s were heard.
            while progress.borrow_and_update().frames_sent < 44_100 * 4 {
                progress.changed().await.unwrap();
            }
            handle.pause();
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            handle.resume();
            task.await.unwrap()
        })
        .unwrap()
        .unwrap();
    assert_eq!(report.frames_sent, 44_100 * 6, "every frame counted once");
    let receiver = &rig.receivers[0];
    let log = receiver.log_text();
    let captured = receiver.captured().unwrap();
    // What decides the silence: when the FLUSH came, and which anchor the first packet
    // after it was timed with.
    for line in log.lines().filter(|l| {
        [
            "FLUSH request",
            "set_ptp_anchor_info",
            "synced by first packet",
            "Lead time for first frame",
            "Dropping out of date",
        ]
        .iter()
        .any(|k| l.contains(k))
    }) {
        eprintln!("receiver log: {line}");
    }
    let start = align_and_compare(&source, &captured).expect("audio").offset;
    let pause = compare_across_pause(&source, &captured[2 * start..], 44_100 * 3 / 10)
        .unwrap_or_else(|e| panic!("{e}\n{log}"));
    let lead = first_frame_lead_after_flush(&log);
    eprintln!("paused: {pause:?}; lead time of the first frame after the FLUSH: {lead:?} s");

    // Silence at one point, nothing lost (`compare_across_pause` checked that), and as much
    // of it as the receiver decided to write (see above).
    let lead = lead.expect("the receiver's lead time for the first frame after the FLUSH");
    let expected_gap = (lead * 44_100.0).round() as usize + report.lead_in_frames as usize;
    assert!(
        pause.gap.abs_diff(expected_gap) <= 2,
        "silence of {} frames, the receiver's lead time {lead} s + lead-in {} frames = {expected_gap}",
        pause.gap,
        report.lead_in_frames
    );
    let flushed = log
        .split_once("FLUSH request")
        .map_or("", |(_, after)| after);
    let new_anchor_at = flushed
        .find("set_ptp_anchor_info")
        .expect("an anchor after the FLUSH");
    let first_frame_at = flushed
        .find("Lead time for first frame")
        .expect("a first frame after the FLUSH");
    let timed_with_new_anchor = new_anchor_at < first_frame_at;
    if timed_with_new_anchor {
        assert!(
            (lead - 2.0).abs() < 0.05,
            "timed with the new anchor, the first frame is a latency (2 s) ahead: {lead} s"
        );
    }
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
}

/// The network loses 5 % of the audio datagrams on their way into the receiver (an
/// iptables rule in its namespace that matches RTP payload type 0x60 only, so anchors and
/// resent packets pass): shairport-sync asks for each again and the sealed copies from the
/// AirPlay 2 history fill every gap.
#[test]
fn retransmits_fill_every_gap_when_the_network_loses_five_percent_over_airplay2() {
    let rig = Ap2Rig::start(&[airplay2::config("ap2-loss")]).unwrap();
    let receiver = &rig.receivers[0];
    // Byte 1 of the UDP payload (IP header 20 + UDP header 8 bytes in) without the marker bit.
    let out = receiver
        .ns
        .command("iptables")
        .args(["-w", "-A", "INPUT", "-p", "udp", "-m", "u32", "--u32"])
        .arg("28&0x007F0000=0x00600000")
        .args([
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            "0.05",
        ])
        .args(["-j", "DROP"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = music(44_100 * 5, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let address = raop::Receiver {
        protocol: Protocol::AirPlay2,
        ..raop::Receiver::new(rig.address(0))
    };
    let options = StreamOptions::default();
    let report = rig
        .run_in_sender(move || raop::blocking::stream(address, Source::path(wav), options))
        .unwrap()
        .unwrap();
    let rules = receiver
        .ns
        .command("iptables")
        .args(["-w", "-L", "INPUT", "-v", "-n", "-x"])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    let log = receiver.log_text();
    let cmp = align_and_compare(&source, &receiver.captured().unwrap()).expect("audio");
    eprintln!("{rules}");
    eprintln!(
        "network loses 5 %: compared {} frames, {} mismatched, {} missing; {} retransmit requests, {} packets resent, {} missed",
        cmp.frames_compared,
        cmp.mismatched_frames,
        cmp.missing_frames,
        report.stats.retransmit_requests,
        report.stats.retransmitted,
        report.stats.retransmit_missed
    );
    assert!(cmp.is_bit_exact(), "{cmp:?}\n{log}");
    assert_eq!(cmp.frames_compared, source.len() / 2);
    assert!(report.stats.retransmitted > 0, "{report:?}");
    assert_eq!(report.stats.retransmit_missed, 0, "{report:?}");
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
}

/// The RTP time of the first frame the receiver's player started with, from the number that
/// follows `line` in its log (log_verbosity 2).
fn first_frame(log: &str, line: &str) -> Option<u32> {
    let (_, rest) = log.split_once(line)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// shairport-sync's own 5 % drop diagnostic (`drop_this_fraction_of_audio_packets`) over
/// AirPlay 2: 30 s of music streamed at [`REPAIR_LATENCY`] come out bit-exact, every gap
/// filled by a sealed copy from the AirPlay 2 history.
#[test]
fn retransmits_fill_every_gap_under_the_receivers_five_percent_drop_over_airplay2() {
    let rig = Ap2Rig::start(&[ShairportConfig {
        drop_fraction: Some(0.05),
        ..airplay2::config("ap2-drop")
    }])
    .unwrap();
    let receiver = &rig.receivers[0];
    let source = music(44_100 * DROP_TEST_SECONDS, 44_100);
    let wav = rig.dir.path().join("source.wav");
    std::fs::write(&wav, wav_bytes(&source, 44_100)).unwrap();
    let address = raop::Receiver {
        protocol: Protocol::AirPlay2,
        ..raop::Receiver::new(rig.address(0))
    };
    let latency = REPAIR_LATENCY;
    let options = StreamOptions {
        latency,
        ..StreamOptions::default()
    };
    let report = rig
        .run_in_sender(move || raop::blocking::stream(address, Source::path(wav), options))
        .unwrap()
        .unwrap();
    let log = receiver.log_text();
    let cmp = align_and_compare(&source, &receiver.captured().unwrap()).expect("audio");
    let count = |needle: &str| log.matches(needle).count();
    eprintln!(
        "receiver drops 5 % at latency {latency:?}: compared {} frames, {} mismatched, {} missing; \
         {} retransmit requests, {} packets resent, {} missed; receiver: {} control packets dropped, \
         {} resend requests suppressed, {} silent frames played for missing packets",
        cmp.frames_compared,
        cmp.mismatched_frames,
        cmp.missing_frames,
        report.stats.retransmit_requests,
        report.stats.retransmitted,
        report.stats.retransmit_missed,
        count("AP2 Control Receiver -- dropping a packet"),
        count("Suppressing a resend request"),
        count("Player has supplied a silent frame"),
    );
    assert!(
        log.contains("diagnostic_drop_packet_fraction is 0.050000"),
        "shairport-sync took the drop setting"
    );
    assert!(cmp.is_bit_exact(), "{cmp:?}\n{log}");
    assert_eq!(cmp.frames_compared, source.len() / 2);
    assert!(report.stats.retransmitted > 0, "{report:?}");
    assert_eq!(report.stats.retransmit_missed, 0, "{report:?}");
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
}

const DROP_TEST_SECONDS: usize = 30;

/// 4 s, because of what 4.3.7's diagnostic does over AirPlay 2 (rtp.c, player.c) and how
/// little of the latency its stdout backend leaves for repairs:
/// - it drops the fraction *after* receipt, and not only audio: also every kind of packet
///   on the AirPlay 2 control port, so anchors and the resent packets themselves ("AP2
///   Control Receiver -- dropping a packet"), and its own resend requests; after each
///   request it drops it sends no request at all for 0.3 s ("Suppressing a resend request
///   due to a resend sendto error in the last 0.3 seconds");
/// - it asks for a missing packet 0.1 s after it noticed the gap, again every 0.25 s, and
///   stops 0.1 s plus the backend's buffer before the packet plays; the stdout backend's
///   buffer is 1 s, and its player takes packets that 1 s ahead: a packet still missing
///   then is skipped without silence ("Packet N empty or not ready", "packets out of
///   sequence"), which shifts the rest of the capture;
/// - so at latency L a lost packet gets about (L − 1.2 s) / 0.25 s + 1 requests: 4 at 2 s,
///   8 at 3 s, 12 at 4 s. With many gaps open at once it sends many requests, drops more of
///   them and stays suppressed for much of a second: 2 s and 3 s runs skipped packets whose
///   every request was suppressed (the log shows dozens of suppressions in a row before the
///   "empty or not ready" lines), while airstream answered every request that came
///   (`retransmit_missed` 0).
///
/// Measured with this test (30 s, 5 %): at 2 s 0 of 1 runs bit-exact (48 packets skipped),
/// at 3 s 1 of 4, at 4 s 9 of 9 (about 250 requests, all answered, 0 packets skipped). The
/// network-loss test above (iptables drops 5 % of the audio before the receiver, its
/// requests and our resent copies untouched) shows the repair at the default 2 s.
const REPAIR_LATENCY: std::time::Duration = std::time::Duration::from_secs(4);

/// The lead time shairport-sync found for the first frame after the FLUSH ("Lead time for
/// first frame N: S seconds"): with the stdout backend, which has no delay function, it
/// writes that much silence before the frame.
fn first_frame_lead_after_flush(log: &str) -> Option<f64> {
    let (_, after) = log.split_once("FLUSH request")?;
    let (_, rest) = after.split_once("Lead time for first frame ")?;
    let (_, rest) = rest.split_once(": ")?;
    rest.split_whitespace().next()?.parse().ok()
}
