//! The stream engine on virtual time: a simulated network (delay, jitter, loss, a receiver
//! that goes silent) and simulated receivers that play what they get by the sync packets'
//! clock. Each test runs seconds to minutes of audio in milliseconds of wall time.

mod sim;

use airstream_proto::rtp::{RetransmitRequest, SyncPacket, TimingPacket};
use airstream_proto::rtsp::{Response, Version};
use airstream_proto::stream::{
    Event, FLUSH_WAIT, MAX_LATENCY_FRAMES, MemberFailure, MemberId, Phase, Port,
    RETRANSMIT_HISTORY, RtspInput, SourceItem,
};
use sim::{Behaviour, MS, SILENCE, Sim, receiver_ip};
use std::net::SocketAddr;
use std::time::Duration;

const LATENCY_2S: u32 = 88_200;

/// A retransmission (type 0x56 with the marker bit), not a sync packet.
fn is_resent(t: &airstream_proto::stream::Transmit) -> bool {
    t.port == Port::Control && t.datagram.get(1) == Some(&0xD6)
}

fn in_order(n: u32) -> Vec<u32> {
    (0..n).collect()
}

#[test]
fn lead_in_then_every_frame_in_order_then_drain_and_teardown() {
    let mut sim = Sim::new(1000, &[Behaviour::default()], LATENCY_2S);
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.finished(), Some(false));
    let r = &sim.receivers[0];
    assert!(r.played_indices() == in_order(1000));
    // 13 silent packets come first, then the audio.
    let first_audio = r.played.iter().position(|p| &p[..] != SILENCE).unwrap();
    assert_eq!(first_audio, 13);
    // The Started event named the RTP time of the first real frame: lead-in after the start.
    let started = sim.events.iter().find_map(|(_, e)| match e {
        Event::Started {
            first_audio_rtptime,
        } => Some(*first_audio_rtptime),
        _ => None,
    });
    assert_eq!(started, Some((u32::MAX - 44_100).wrapping_add(13 * 352)));
    assert_eq!(r.requests_of("TEARDOWN").len(), 1);
    let totals = sim.stream.totals();
    assert_eq!(totals.frames_sent, 1000 * 352);
    assert_eq!(totals.underruns, 0);
}

#[test]
fn the_lead_in_leaves_on_time_so_only_silence_can_be_overtaken_at_the_start() {
    let mut sim = Sim::new(1000, &[Behaviour::default()], LATENCY_2S);
    sim.pause_at(Duration::from_secs(4));
    sim.resume_at(Duration::from_secs(5));
    sim.run(Duration::from_secs(60));
    let audio: Vec<(std::time::Instant, bool)> = sim
        .sent_at
        .iter()
        .filter(|(_, t)| t.port == Port::Audio)
        .map(|(at, t)| (*at, t.datagram[1] & 0x80 != 0))
        .collect();
    // At the start and after the resume (the packets with the marker bit): the 13 lead-in
    // packets each 352 frames (7.98 ms) after the one before; the burst of real audio leaves
    // with the last of them.
    let starts: Vec<usize> = (0..audio.len()).filter(|&i| audio[i].1).collect();
    assert_eq!(starts.len(), 2);
    for start in starts {
        for k in 1..13 {
            let gap = audio[start + k].0 - audio[start + k - 1].0;
            assert!(
                gap >= Duration::from_millis(7),
                "packet {k} after a start: {gap:?}"
            );
        }
        assert_eq!(
            audio[start + 13].0,
            audio[start + 12].0,
            "then bursts again"
        );
        assert_eq!(audio[start + 14].0, audio[start + 12].0);
    }
}

#[test]
fn drain_ends_only_after_the_last_frame_was_audible() {
    let mut sim = Sim::new(500, &[Behaviour::default()], LATENCY_2S);
    sim.run(Duration::from_secs(60));
    let r = &sim.receivers[0];
    assert!(r.played_indices() == in_order(500));
    let teardown = r.requests_of("TEARDOWN")[0];
    // The last real packet was the 513th sent: due 512 packets after the start, audible
    // two seconds later; TEARDOWN waits for that plus the 250 ms margin.
    let started = sim
        .event_time(|e| matches!(e, Event::Started { .. }))
        .unwrap();
    let last_audible =
        started + Duration::from_nanos(512 * 352 * 1_000_000_000 / 44_100) + Duration::from_secs(2);
    assert!(
        teardown >= last_audible + Duration::from_millis(250),
        "{:?}",
        teardown - last_audible
    );
    assert!(
        teardown <= last_audible + Duration::from_millis(400),
        "{:?}",
        teardown - last_audible
    );
}

#[test]
fn pause_then_resume_replays_exactly_what_was_flushed() {
    let mut sim = Sim::new(1500, &[Behaviour::default()], LATENCY_2S);
    sim.pause_at(Duration::from_secs(4));
    sim.resume_at(Duration::from_millis(6_500));
    sim.run(Duration::from_secs(60));
    let r = &sim.receivers[0];
    assert_eq!(r.requests_of("FLUSH").len(), 1);
    assert!(
        r.played_indices() == in_order(1500),
        "every frame once, in order, across the pause"
    );
    let phases: Vec<Phase> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Phase(p) => Some(*p),
            _ => None,
        })
        .collect();
    assert_eq!(
        phases,
        [
            Phase::Streaming,
            Phase::Paused,
            Phase::Streaming,
            Phase::Draining,
            Phase::TearingDown,
            Phase::Done
        ]
    );
    assert_eq!(sim.stream.totals().frames_sent, 1500 * 352);
    // Nothing was sent while paused.
    let paused_at = sim.start + Duration::from_secs(4);
    let resumed_at = sim.start + Duration::from_millis(6_500);
    let syncs_while_paused = r
        .syncs
        .iter()
        .filter(|(t, _)| *t > paused_at + 10 * MS && *t < resumed_at)
        .count();
    assert_eq!(syncs_while_paused, 0);
    // The first sync after the resume is flagged as a first one again.
    let after: Vec<&SyncPacket> = r
        .syncs
        .iter()
        .filter(|(t, _)| *t >= resumed_at)
        .map(|(_, s)| s)
        .collect();
    assert!(after[0].first);
}

#[test]
fn a_member_that_goes_silent_is_dropped_within_about_three_seconds_and_the_others_play_on() {
    let silent = Behaviour {
        silent_after: Some(Duration::from_secs(5)),
        ..Behaviour::default()
    };
    let mut sim = Sim::new(2000, &[Behaviour::default(), silent], LATENCY_2S);
    sim.run(Duration::from_secs(60));
    let dropped = sim
        .event_time(|e| matches!(e, Event::Dropped { member, .. } if member.index() == 1))
        .expect("the silent member was dropped");
    let silent_at = sim.start + Duration::from_secs(5);
    let noticed = dropped - silent_at;
    assert!(noticed <= Duration::from_millis(3_100), "{noticed:?}");
    assert!(matches!(
        sim.stream.failure(MemberId::from_index(1)),
        Some(MemberFailure::Timeout { .. })
    ));
    assert_eq!(sim.finished(), Some(false));
    assert!(sim.receivers[0].played_indices() == in_order(2000));
    // Nothing more went to the dropped member.
    let after = sim.sent.iter().filter(|t| t.member.index() == 1).count();
    assert!(
        sim.stream
            .member_stats(MemberId::from_index(1))
            .packets_sent as usize
            <= after
    );
}

#[test]
fn a_lone_receiver_that_goes_silent_fails_the_stream() {
    let silent = Behaviour {
        silent_after: Some(Duration::from_secs(3)),
        ..Behaviour::default()
    };
    let mut sim = Sim::new(2000, &[silent], LATENCY_2S);
    sim.run(Duration::from_secs(60));
    let failed = sim
        .event_time(|e| matches!(e, Event::Failed { .. }))
        .expect("failed");
    assert!(failed - (sim.start + Duration::from_secs(3)) <= Duration::from_millis(3_100));
    assert_eq!(sim.stream.phase(), Phase::Done);
    assert_eq!(sim.finished(), None);
}

#[test]
fn loss_jitter_and_reordering_are_repaired_from_the_shared_history() {
    let lossy = Behaviour {
        lose_every: 20,
        jitter: 30 * MS,
        ..Behaviour::default()
    };
    let mut sim = Sim::new(3000, &[lossy, lossy], LATENCY_2S);
    sim.run(Duration::from_secs(90));
    for (i, r) in sim.receivers.iter().enumerate() {
        let played = r.played_indices();
        let wrong = played.iter().enumerate().find(|(k, p)| *k as u32 != **p);
        let missing: Vec<u32> = (0..3000).filter(|k| !played.contains(k)).collect();
        assert!(
            played.len() == 3000 && wrong.is_none(),
            "receiver {i}: {} played, first wrong {wrong:?}, missing {missing:?}",
            played.len()
        );
        assert!(r.resent_received >= 150, "{}", r.resent_received);
        let stats = sim.stream.member_stats(MemberId::from_index(i));
        assert_eq!(stats.retransmit_missed, 0);
        assert_eq!(stats.retransmitted, r.resent_received);
    }
}

#[test]
fn retransmits_inside_the_history_are_served_outside_are_counted_and_foreigners_are_ignored() {
    let mut sim = Sim::new(3000, &[Behaviour::default()], LATENCY_2S);
    sim.run(Duration::from_secs(15));
    let sent = sim.stream.totals().packets_sent;
    assert!(sent > RETRANSMIT_HISTORY as u64 + 10);
    let own = SocketAddr::new(receiver_ip(1), 6001);
    let (next_seq, _) = sim.stream.next_position();
    let before = sim.sent.len();
    // The last 3 packets are held.
    let inside = RetransmitRequest {
        first_seq: next_seq.wrapping_sub(3),
        count: 3,
    }
    .encode(9);
    sim.inject(0, Port::Control, own, &inside);
    let resent: Vec<_> = sim.sent[before..].iter().filter(|t| is_resent(t)).collect();
    assert_eq!(resent.len(), 3);
    assert!(resent.iter().all(|t| t.destination == own));
    // Older than the history: counted as missed, nothing sent.
    let stats = sim.stream.member_stats(MemberId::from_index(0));
    let outside = RetransmitRequest {
        first_seq: next_seq.wrapping_sub(RETRANSMIT_HISTORY as u16 + 5),
        count: 2,
    }
    .encode(10);
    let before = sim.sent.len();
    sim.inject(0, Port::Control, own, &outside);
    let after = sim.stream.member_stats(MemberId::from_index(0));
    assert_eq!(after.retransmit_missed, stats.retransmit_missed + 2);
    assert!(sim.sent[before..].iter().all(|t| !is_resent(t)));
    // From another address (or another port of the receiver): nothing at all.
    for stranger in [
        SocketAddr::new(receiver_ip(9), 6001),
        SocketAddr::new(receiver_ip(1), 6099),
    ] {
        let before = sim.sent.len();
        sim.inject(0, Port::Control, stranger, &inside);
        assert!(sim.sent[before..].iter().all(|t| t.destination != stranger));
        assert!(sim.sent[before..].iter().all(|t| !is_resent(t)));
    }
    assert_eq!(
        sim.stream
            .member_stats(MemberId::from_index(0))
            .foreign_datagrams,
        2
    );
}

#[test]
fn one_request_returns_at_most_one_latency_and_requests_at_most_the_stream_rate() {
    let mut sim = Sim::new(3000, &[Behaviour::default()], LATENCY_2S);
    sim.run(Duration::from_secs(12));
    let own = SocketAddr::new(receiver_ip(1), 6001);
    let (next_seq, _) = sim.stream.next_position();
    let everything = RetransmitRequest {
        first_seq: next_seq.wrapping_sub(1000),
        count: 1000,
    }
    .encode(1);
    let count_resent =
        |sim: &Sim, from: usize| sim.sent[from..].iter().filter(|t| is_resent(t)).count();
    let before = sim.sent.len();
    sim.inject(0, Port::Control, own, &everything);
    // 2 s of latency = 250 packets: the most a receiver can still use.
    assert_eq!(count_resent(&sim, before), 250);
    // At once again: nothing; the budget refills at the stream's rate.
    let before = sim.sent.len();
    for _ in 0..100 {
        sim.inject(0, Port::Control, own, &everything);
    }
    assert_eq!(count_resent(&sim, before), 0);
    let stats = sim.stream.member_stats(MemberId::from_index(0));
    assert!(stats.retransmit_refused >= 100 * 1000);
}

#[test]
fn timing_requests_from_strangers_are_not_answered_and_do_not_keep_a_dead_receiver_alive() {
    let silent = Behaviour {
        silent_after: Some(Duration::from_secs(3)),
        ..Behaviour::default()
    };
    let mut sim = Sim::new(3000, &[silent], LATENCY_2S);
    // A stranger sends timing requests in the receiver's name just after it went silent.
    sim.script.push((Duration::from_millis(3_200), |s| {
        let stranger = SocketAddr::new(receiver_ip(7), 6002);
        let request = TimingPacket {
            reply: false,
            reference: airstream_proto::ntp::NtpTime(0),
            received: airstream_proto::ntp::NtpTime(0),
            sent: airstream_proto::ntp::NtpTime(5),
        }
        .encode();
        for _ in 0..10 {
            s.inject(0, Port::Timing, stranger, &request);
        }
    }));
    sim.run(Duration::from_secs(60));
    let failed = sim
        .event_time(|e| matches!(e, Event::Failed { .. }))
        .expect("noticed");
    assert!(failed - (sim.start + Duration::from_secs(3)) <= Duration::from_millis(3_100));
    let stranger = SocketAddr::new(receiver_ip(7), 6002);
    assert!(sim.sent.iter().all(|t| t.destination != stranger));
}

#[test]
fn keep_alives_every_25_s_and_probes_only_when_the_receiver_is_quiet() {
    // Answers RTSP but sends no timing: quiet on UDP, so probed about once a second.
    let quiet = Behaviour {
        sends_timing: false,
        ..Behaviour::default()
    };
    let mut sim = Sim::new(6000, &[quiet, Behaviour::default()], LATENCY_2S);
    sim.run(Duration::from_secs(30));
    let probes_quiet = sim.receivers[0].requests_of("OPTIONS");
    let probes_chatty = sim.receivers[1].requests_of("OPTIONS");
    // 30 s with a probe after every quiet second (each answer counts as hearing it).
    assert!(probes_quiet.len() >= 10, "{}", probes_quiet.len());
    // The chatty one sends timing every 3 s, so it is probed after each quiet second in
    // between but gets its keep-alive at 25 s too.
    assert!(
        probes_chatty
            .iter()
            .any(|t| *t >= sim.start + Duration::from_secs(25))
    );
    assert!(probes_chatty.len() < probes_quiet.len());
    // Both still in.
    assert!(sim.stream.is_active(MemberId::from_index(0)));
    assert!(sim.stream.is_active(MemberId::from_index(1)));
    // The quiet one got no clock: the stream started after the 2 s wait anyway.
    assert!(
        sim.events
            .iter()
            .any(|(_, e)| matches!(e, Event::NoClock(m) if m.index() == 0))
    );
}

#[test]
fn a_thirty_minute_stream_keeps_its_sync_mapping_exact() {
    let packets = 30 * 60 * 44_100 / 352;
    let mut sim = Sim::new(packets, &[Behaviour::default()], LATENCY_2S);
    sim.run(Duration::from_secs(31 * 60));
    let r = &sim.receivers[0];
    assert_eq!(r.played_indices().len(), packets as usize);
    let syncs: Vec<SyncPacket> = r.syncs.iter().map(|(_, s)| *s).collect();
    // About one a second: at the first packet of the first burst a second after the last.
    let gaps = r.syncs.windows(2).map(|w| w[1].0 - w[0].0);
    assert!(gaps.max().unwrap() < Duration::from_millis(1_600));
    let first = syncs[0];
    let last = syncs[syncs.len() - 1];
    // Frames and NTP time between the first and last sync: exactly 44 100 per second,
    // to within one NTP fraction rounding per sync (2^-32 s).
    let frames = f64::from(last.rtp_now.wrapping_sub(first.rtp_now));
    let seconds = last.ntp.wrapping_diff(first.ntp) as f64 / 4_294_967_296.0;
    assert!(seconds > 29.0 * 60.0);
    assert!(
        (frames - seconds * 44_100.0).abs() < 0.01,
        "{frames} vs {}",
        seconds * 44_100.0
    );
    for s in &syncs {
        assert_eq!(s.latency_frames(), LATENCY_2S - 11_025);
    }
}

#[test]
fn a_receiver_asking_for_an_absurd_latency_gets_ten_seconds() {
    let greedy = Behaviour {
        audio_latency: Some(u32::MAX),
        ..Behaviour::default()
    };
    let sim = Sim::new(10, &[greedy], LATENCY_2S);
    assert_eq!(sim.stream.latency_frames(), MAX_LATENCY_FRAMES);
    let mut stream = sim.stream;
    let clamped = std::iter::from_fn(|| stream.poll_event())
        .any(|e| matches!(e, Event::LatencyClamped { used, .. } if used == MAX_LATENCY_FRAMES));
    assert!(clamped);
}

#[test]
fn answers_with_another_cseq_or_unasked_are_protocol_errors() {
    for case in 0..2 {
        let mut sim = Sim::new(
            3000,
            &[Behaviour::default(), Behaviour::default()],
            LATENCY_2S,
        );
        sim.run(Duration::from_secs(4));
        let now = sim.now;
        let member = MemberId::from_index(1);
        if case == 0 {
            // Unasked: nothing is in flight for the member.
            assert!(!sim.stream.awaiting_answer(member));
            let stray = Response::new(Version::Rtsp10, 200, "OK").with_header("CSeq", "99");
            sim.stream
                .handle_rtsp(member, RtspInput::Response(stray), now);
        } else {
            sim.stream.set_volume(Some(member), -10.0);
            let (asked, request) = sim.stream.poll_rtsp(now).expect("a request");
            assert_eq!(asked, member);
            let cseq: u32 = request.headers.get("CSeq").unwrap().parse().unwrap();
            let wrong = Response::new(Version::Rtsp10, 200, "OK")
                .with_header("CSeq", (cseq + 1).to_string());
            sim.stream
                .handle_rtsp(member, RtspInput::Response(wrong), now);
        }
        let failure = sim.stream.failure(member).cloned();
        assert!(
            matches!(failure, Some(MemberFailure::Unexpected(_))),
            "case {case}: {failure:?}"
        );
        assert!(sim.stream.is_active(MemberId::from_index(0)));
    }
}

#[test]
fn tags_of_the_next_item_carry_the_rtp_time_of_its_first_frame() {
    // Item N+1 starts 296 frames into source packet 200 (a gapless boundary inside a packet).
    let mut sim = Sim::new(400, &[Behaviour::default()], LATENCY_2S);
    sim.source.insert(
        200,
        SourceItem::Marker {
            token: 9,
            frame: 296,
        },
    );
    // Run until the engine reports the marker, then do what the shell does: the tags go
    // out tied to the RTP time the event names.
    let mut limit = Duration::ZERO;
    let rtptime = loop {
        limit += 10 * MS;
        sim.run(limit);
        let reached = sim.events.iter().find_map(|(_, e)| match e {
            Event::Marker { token: 9, rtptime } => Some(*rtptime),
            _ => None,
        });
        if let Some(rtptime) = reached {
            break rtptime;
        }
        assert!(
            limit < Duration::from_secs(10),
            "the marker was never reached"
        );
    };
    let body = bytes::Bytes::from_static(b"item two");
    sim.stream
        .set_parameter(None, "application/x-dmap-tagged", &body, Some(rtptime));
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.finished(), Some(false));
    // The boundary frame's RTP time, from what went on the wire: the timestamp of the
    // datagram carrying source packet 200, plus 296.
    let boundary_packet = sim
        .sent
        .iter()
        .filter(|t| t.port == Port::Audio)
        .filter_map(|t| airstream_proto::rtp::AudioPacket::parse(&t.datagram).ok())
        .find(|p| p.payload == &sim::payload(200)[..])
        .expect("packet 200 was sent");
    let boundary = boundary_packet.header.timestamp.wrapping_add(296);
    let r = &sim.receivers[0];
    let tags: Vec<_> = r
        .requests_received
        .iter()
        .filter(|q| q.method == "SET_PARAMETER" && q.body == body)
        .collect();
    assert_eq!(tags.len(), 1);
    let expected = format!("rtptime={boundary}");
    assert_eq!(tags[0].headers.get("RTP-Info"), Some(expected.as_str()));
    assert!(
        r.played_indices() == in_order(400),
        "the marker costs no audio"
    );
}

/// The source after a seek: packets `from..1500`, then the end.
fn source_from(from: u32) -> std::collections::VecDeque<SourceItem> {
    (from..1500)
        .map(|i| SourceItem::Audio {
            payload: sim::payload(i),
            frames: 352,
        })
        .chain([SourceItem::End])
        .collect()
}

#[test]
fn a_seek_flushes_and_continues_on_the_same_timeline_with_nothing_of_the_new_audio_lost() {
    // Two receivers, one 40 ms away: the new audio waits for both FLUSH answers.
    let far = Behaviour {
        delay: 40 * MS,
        ..Behaviour::default()
    };
    let mut sim = Sim::new(1500, &[Behaviour::default(), far], LATENCY_2S);
    sim.script.push((Duration::from_secs(4), |s| {
        let now = s.now;
        assert!(s.stream.seek(now));
        s.source = source_from(1000); // forward
    }));
    sim.script.push((Duration::from_secs(9), |s| {
        let now = s.now;
        assert!(s.stream.seek(now));
        s.source = source_from(100); // and back
    }));
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.finished(), Some(false));
    let seeks = [
        sim.start + Duration::from_secs(4),
        sim.start + Duration::from_secs(9),
    ];
    for r in &sim.receivers {
        assert_eq!(r.requests_of("FLUSH").len(), 2);
        // What played: a prefix of the source in order, then from 1000 on up to some
        // point, then from 100 on to the end: nothing of the new audio lost.
        let played = r.played_indices();
        let first_jump = played.iter().position(|&i| i == 1000).unwrap();
        assert!(played[..first_jump] == in_order(first_jump as u32));
        let second_jump = first_jump + played[first_jump..].iter().position(|&i| i == 100).unwrap();
        let middle: Vec<u32> = (1000..1000 + (second_jump - first_jump) as u32).collect();
        assert!(played[first_jump..second_jump] == middle[..]);
        assert!(played[second_jump..] == (100..1500).collect::<Vec<u32>>()[..]);
        // The receiver heard up to the seek: the audio it had buffered (2 s) is flushed. At
        // 4 s, 2 s of latency and the 13-packet lead-in after the start leave about 1.8 s.
        assert!((200..=240).contains(&first_jump), "{first_jump}");
    }
    // The first packet of new audio leaves only after both FLUSH answers came back (the far
    // receiver's arrives 80 ms after the seek) and a new lead-in of 13 packets.
    let audio: Vec<(std::time::Instant, &airstream_proto::stream::Transmit)> = sim
        .sent_at
        .iter()
        .filter(|(_, t)| t.port == Port::Audio)
        .map(|(at, t)| (*at, t))
        .collect();
    for (seek, first) in seeks.iter().zip([1000u32, 100]) {
        let sent = audio
            .iter()
            .find(|(at, t)| at >= seek && t.datagram.ends_with(&sim::payload(first)))
            .map(|(at, _)| *at)
            .unwrap();
        let waited = sent - *seek;
        assert!(
            waited >= 80 * MS + 12 * Duration::from_nanos(352 * 1_000_000_000 / 44_100),
            "{waited:?}"
        );
        // The timeline runs on: packets up to a burst (0.5 s) ahead of their time were sent
        // before the seek; the wait for the FLUSH answers is bounded.
        let packet = Duration::from_nanos(352 * 1_000_000_000 / 44_100);
        assert!(
            waited < FLUSH_WAIT + 64 * packet + 14 * packet,
            "{waited:?}"
        );
    }
    // One timeline: no packet after the start carries the marker bit, and no sync is a
    // first one again.
    let markers = audio
        .iter()
        .filter(|(_, t)| t.datagram[1] & 0x80 != 0)
        .count();
    assert_eq!(markers, 2, "the first packet, to each receiver");
    for r in &sim.receivers {
        assert_eq!(r.syncs.iter().filter(|(_, s)| s.first).count(), 1);
    }
    let played = sim.receivers[0].played_indices().len() as u64;
    assert_eq!(sim.stream.totals().frames_sent, played * 352);
    assert_eq!(sim.stream.totals().underruns, 0);
}

#[test]
fn a_seek_while_paused_drops_what_the_resume_would_have_replayed() {
    let mut sim = Sim::new(1500, &[Behaviour::default()], LATENCY_2S);
    sim.pause_at(Duration::from_secs(4));
    sim.script.push((Duration::from_secs(5), |s| {
        let now = s.now;
        assert!(s.stream.seek(now));
        s.source = source_from(700);
    }));
    sim.resume_at(Duration::from_secs(6));
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.finished(), Some(false));
    let r = &sim.receivers[0];
    // The pause's FLUSH is the only one: the receivers hold nothing while paused.
    assert_eq!(r.requests_of("FLUSH").len(), 1);
    let played = r.played_indices();
    let jump = played.iter().position(|&i| i == 700).unwrap();
    assert!(played[..jump] == in_order(jump as u32));
    assert!(played[jump..] == (700..1500).collect::<Vec<u32>>()[..]);
    assert_eq!(sim.stream.totals().frames_sent, played.len() as u64 * 352);
}

/// The RTP header (bytes 0..12) of every audio datagram sent to receiver `n`, in order.
fn audio_headers(sim: &Sim, n: u8) -> Vec<Vec<u8>> {
    sim.sent
        .iter()
        .filter(|t| t.port == Port::Audio && t.destination.ip() == receiver_ip(n))
        .map(|t| t.datagram[..12].to_vec())
        .collect()
}

#[test]
fn an_airplay2_member_gets_sealed_packets_and_anchors_on_the_master_clock() {
    // Every 50th packet lost: the receiver asks for it on the control port as shairport-sync does.
    let behaviour = Behaviour {
        lose_every: 50,
        ..Behaviour::airplay2()
    };
    let mut sim = Sim::new(1000, &[behaviour], LATENCY_2S);
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.finished(), Some(false));
    let r = &sim.receivers[0];
    assert!(
        r.played_indices() == in_order(1000),
        "every frame, in order"
    );
    assert_eq!(r.unopened, 0, "every datagram opens under the stream key");
    assert!(r.resent_received >= 19, "{} resent", r.resent_received);
    assert!(r.syncs.is_empty(), "no AirPlay 1 sync packets");
    let stats = sim.stream.member_stats(MemberId::from_index(0));
    assert_eq!(stats.timing_replies, 0);
    assert_eq!(stats.retransmit_missed, 0);
    // Anchors about once a second while packets leave (8 s of audio, sent up to 0.5 s
    // ahead); the first one flagged, the others not.
    assert!(
        (7..=9).contains(&r.anchors.len()),
        "{} anchors",
        r.anchors.len()
    );
    assert!(r.anchors[0].1.first);
    assert!(r.anchors[1..].iter().all(|(_, a)| !a.first));
    // Each anchor's master time is the PTP master's time of the deadline of the packet it
    // names, which left on its deadline; its latency plus the receiver's fixed part is ours.
    let master = sim::master_clock(&sim);
    for (_, anchor) in &r.anchors {
        let (left, _) = sim
            .sent_at
            .iter()
            .find(|(_, t)| {
                t.port == Port::Audio
                    && u32::from_be_bytes([
                        t.datagram[4],
                        t.datagram[5],
                        t.datagram[6],
                        t.datagram[7],
                    ]) == anchor.rtp_time
            })
            .expect("the packet an anchor names was sent");
        assert_eq!(anchor.master_nanos, master.nanos_at(*left));
        assert_eq!(anchor.clock, sim::MASTER_IDENTITY);
        assert_eq!(
            anchor.latency + airstream_proto::ap2::anchor::RECEIVER_FIXED_LATENCY,
            LATENCY_2S
        );
    }
    // A timing request on its behalf is never answered (it times with PTP).
    let from = SocketAddr::new(receiver_ip(1), 6002);
    let before = sim.sent.len();
    sim.inject(0, Port::Timing, from, &[0u8; 32]);
    assert_eq!(sim.sent.len(), before);
}

#[test]
fn a_mixed_group_plays_one_timeline_each_in_its_own_format() {
    let ap2 = Behaviour {
        lose_every: 40,
        ..Behaviour::airplay2()
    };
    let raop = Behaviour {
        lose_every: 60,
        ..Behaviour::default()
    };
    let mut sim = Sim::new(1000, &[raop, ap2], LATENCY_2S);
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.finished(), Some(false));
    for r in &sim.receivers {
        assert!(r.played_indices() == in_order(1000), "receiver {}", r.n);
        assert_eq!(r.unopened, 0);
        assert!(r.resent_received > 0, "receiver {} got retransmits", r.n);
    }
    // The same packets (sequence numbers, RTP times, SSRC, marker) to both, in the same
    // order; the AirPlay 2 payloads are sealed, the AirPlay 1 ones are not.
    let raop_headers = audio_headers(&sim, 1);
    let ap2_headers = audio_headers(&sim, 2);
    assert_eq!(raop_headers, ap2_headers);
    let ap2_audio = sim
        .sent
        .iter()
        .filter(|t| t.port == Port::Audio && t.destination.ip() == receiver_ip(2))
        .all(|t| t.datagram.len() == 12 + 4 + 16 + 8);
    assert!(ap2_audio, "header + 4-byte payload + tag + nonce counter");
    // Sync packets to the AirPlay 1 member, anchors to the AirPlay 2 one, at the same points
    // of the timeline: anchor frame at its master time = sync frame at its NTP time.
    let (raop_r, ap2_r) = (&sim.receivers[0], &sim.receivers[1]);
    assert!(raop_r.anchors.is_empty() && ap2_r.syncs.is_empty());
    assert_eq!(raop_r.syncs.len(), ap2_r.anchors.len());
    for ((_, sync), (_, anchor)) in raop_r.syncs.iter().zip(&ap2_r.anchors) {
        assert_eq!(sync.rtp_now, anchor.rtp_time);
        assert_eq!(sync.first, anchor.first);
    }
    // Only the AirPlay 1 member asks our timing port and is answered.
    assert!(
        sim.stream
            .member_stats(MemberId::from_index(0))
            .timing_replies
            > 0
    );
    assert_eq!(
        sim.stream
            .member_stats(MemberId::from_index(1))
            .timing_replies,
        0
    );
}

#[test]
fn an_airplay2_member_resumes_after_a_pause_with_a_first_anchor_and_nothing_lost() {
    let mut sim = Sim::new(1000, &[Behaviour::airplay2()], LATENCY_2S);
    sim.pause_at(Duration::from_secs(4));
    sim.resume_at(Duration::from_secs(6));
    sim.run(Duration::from_secs(60));
    let r = &sim.receivers[0];
    assert!(r.played_indices() == in_order(1000));
    assert_eq!(r.requests_of("FLUSH").len(), 1);
    let firsts = r.anchors.iter().filter(|(_, a)| a.first).count();
    assert_eq!(firsts, 2, "a flagged anchor at the start and at the resume");
}

#[test]
fn a_member_that_ends_its_session_while_paused_leaves_and_the_stream_stays_paused() {
    let mut sim = Sim::new(
        1500,
        &[Behaviour::default(), Behaviour::default()],
        LATENCY_2S,
    );
    sim.pause_at(Duration::from_secs(4));
    // Its idle timeout: the receiver closes the connection.
    sim.script.push((Duration::from_secs(5), |s| {
        let now = s.now;
        s.stream
            .handle_rtsp(MemberId::from_index(1), RtspInput::Closed, now);
    }));
    sim.script.push((Duration::from_millis(6_500), |s| {
        let now = s.now;
        assert_eq!(s.stream.phase(), Phase::Paused, "still paused");
        s.stream.resume(now);
    }));
    sim.run(Duration::from_secs(60));
    assert!(sim.events.iter().any(|(_, e)| matches!(
        e,
        Event::EndedWhilePaused { member, failure: MemberFailure::Closed } if member.index() == 1
    )));
    assert!(
        !sim.events
            .iter()
            .any(|(_, e)| matches!(e, Event::Dropped { .. } | Event::Failed { .. }))
    );
    assert_eq!(sim.finished(), Some(false));
    assert!(sim.receivers[0].played_indices() == in_order(1500));
    let closed_at = sim.start + Duration::from_secs(5);
    assert!(
        !sim.sent_at
            .iter()
            .any(|(t, x)| *t > closed_at && x.member.index() == 1 && x.port == Port::Audio),
        "nothing to the member that left"
    );
}

#[test]
fn a_lone_member_that_ended_while_paused_and_did_not_come_back_fails_the_resume() {
    let mut sim = Sim::new(1500, &[Behaviour::default()], LATENCY_2S);
    sim.pause_at(Duration::from_secs(4));
    sim.script.push((Duration::from_secs(5), |s| {
        let now = s.now;
        s.stream
            .handle_rtsp(MemberId::from_index(0), RtspInput::Closed, now);
        assert_eq!(s.stream.phase(), Phase::Paused, "paused with nobody");
    }));
    sim.resume_at(Duration::from_millis(6_500));
    sim.run(Duration::from_secs(60));
    assert!(sim.events.iter().any(|(_, e)| matches!(
        e,
        Event::Failed {
            failure: MemberFailure::Closed,
            ..
        }
    )));
    assert_eq!(sim.stream.phase(), Phase::Done);
}

/// HomePods and Apple TVs take AirPlay 2 timed with NTP: the session SETUP says
/// `timingProtocol: NTP` with our timing port (no PTP peer info), the receiver's timing
/// requests are answered from the stream's NTP clock mapping, the sync packets it gets carry
/// that same NTP time (no anchors), and the audio is sealed under the stream key.
#[test]
fn an_ntp_timed_airplay2_member_is_answered_and_synced_on_the_ntp_clock() {
    use airstream_proto::ap2::Timing;

    let (_, body) = sim::recording_ap2_session_timed(
        1,
        Timing::Ntp {
            timing_port: sim::SENDER_TIMING_PORT,
        },
    );
    let setup = airstream_proto::bplist::decode_dict(&body).unwrap();
    assert_eq!(
        setup.get("timingProtocol").and_then(|v| v.as_string()),
        Some("NTP")
    );
    assert_eq!(
        setup
            .get("timingPort")
            .and_then(plist::Value::as_unsigned_integer),
        Some(u64::from(sim::SENDER_TIMING_PORT))
    );
    assert!(setup.get("timingPeerInfo").is_none());

    let behaviour = Behaviour {
        lose_every: 50,
        ..Behaviour::airplay2_ntp()
    };
    let mut sim = Sim::new(1000, &[behaviour], LATENCY_2S);
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.finished(), Some(false));
    let r = &sim.receivers[0];
    assert!(
        r.played_indices() == in_order(1000),
        "every frame, in order"
    );
    assert_eq!(r.unopened, 0, "every datagram opens under the stream key");
    assert!(r.resent_received >= 19, "{} resent", r.resent_received);
    assert!(r.anchors.is_empty(), "no PTP anchors");
    let stats = sim.stream.member_stats(MemberId::from_index(0));
    assert!(
        stats.timing_replies >= 3,
        "{} replies",
        stats.timing_replies
    );
    assert_eq!(stats.retransmit_missed, 0);

    // Each timing reply: to the receiver's timing port, receive and send times on the
    // stream's NTP clock at the instant it left (virtual time: it arrived then too).
    let clock = sim::ntp_clock(sim.start);
    let replies: Vec<_> = sim
        .sent_at
        .iter()
        .filter(|(_, t)| t.port == Port::Timing)
        .collect();
    assert_eq!(replies.len() as u64, stats.timing_replies);
    for (left, transmit) in &replies {
        assert_eq!(transmit.destination, SocketAddr::new(receiver_ip(1), 6002));
        let reply = TimingPacket::parse(&transmit.datagram).unwrap();
        assert!(reply.reply);
        assert_eq!(reply.received, clock.ntp_at(*left));
        assert_eq!(reply.sent, clock.ntp_at(*left));
    }

    // Sync packets, not anchors, each naming the NTP time of the deadline of the packet it
    // carries the RTP time of (which left on its deadline), as for AirPlay 1.
    assert!((7..=9).contains(&r.syncs.len()), "{} syncs", r.syncs.len());
    assert!(r.syncs[0].1.first);
    for (_, sync) in &r.syncs {
        let (left, _) = sim
            .sent_at
            .iter()
            .find(|(_, t)| {
                t.port == Port::Audio
                    && u32::from_be_bytes([
                        t.datagram[4],
                        t.datagram[5],
                        t.datagram[6],
                        t.datagram[7],
                    ]) == sync.rtp_now
            })
            .expect("the packet a sync names was sent");
        assert_eq!(sync.ntp, clock.ntp_at(*left));
    }
    // The control datagrams it got are sync packets or retransmissions, never anchors.
    let syncs_sent = sim
        .sent
        .iter()
        .filter(|t| t.port == Port::Control && SyncPacket::parse(&t.datagram).is_ok())
        .count();
    assert_eq!(syncs_sent, r.syncs.len());
}

/// A PTP-timed AirPlay 2 receiver sends us nothing on its own (no timing requests), so only
/// the liveness probe can notice that it hangs: quiet for [`PROBE_AFTER`], probed, and the
/// probe unanswered for [`REQUEST_TIMEOUT`]. Either AirPlay 2 kind is dropped within that
/// (plus one network delay each way) of going silent, and the others play on.
#[test]
fn a_silent_airplay2_member_of_either_timing_is_dropped_within_about_three_seconds() {
    use airstream_proto::stream::{PROBE_AFTER, REQUEST_TIMEOUT};
    for behaviour in [Behaviour::airplay2(), Behaviour::airplay2_ntp()] {
        let silent = Behaviour {
            silent_after: Some(Duration::from_secs(5)),
            ..behaviour
        };
        let mut sim = Sim::new(2000, &[Behaviour::default(), silent], LATENCY_2S);
        sim.run(Duration::from_secs(60));
        let dropped = sim
            .event_time(|e| matches!(e, Event::Dropped { member, .. } if member.index() == 1))
            .expect("the silent member was dropped");
        let noticed = dropped - (sim.start + Duration::from_secs(5));
        let bound = PROBE_AFTER + REQUEST_TIMEOUT + 2 * silent.delay;
        assert!(
            noticed <= bound,
            "{behaviour:?}: noticed after {noticed:?} > {bound:?}"
        );
        assert!(matches!(
            sim.stream.failure(MemberId::from_index(1)),
            Some(MemberFailure::Timeout { .. })
        ));
        assert_eq!(sim.finished(), Some(false));
        assert!(sim.receivers[0].played_indices() == in_order(2000));
    }
}

#[test]
fn frames_heard_is_what_the_receiver_has_played_through_a_pause_and_the_drain() {
    let mut sim = Sim::new(1500, &[Behaviour::default()], LATENCY_2S);
    sim.pause_at(Duration::from_secs(4));
    sim.resume_at(Duration::from_millis(6_500));
    let mut last = 0;
    for ms in [1_000u64, 3_000, 3_900, 5_000, 7_000, 9_000, 12_000, 30_000] {
        sim.run(Duration::from_millis(ms));
        let played = sim.receivers[0].played_indices().len() as u64 * 352;
        let heard = sim.stream.frames_heard(sim.now);
        // Within one packet of the receiver (it plays a packet from its first frame on).
        assert!(
            heard.abs_diff(played) <= 352,
            "at {ms} ms: heard {heard}, played {played}"
        );
        assert!(heard >= last, "at {ms} ms: {heard} < {last}");
        last = heard;
        if ms == 3_000 {
            // While streaming, a latency's worth more was sent than heard, and up to a
            // burst (64 packets) ahead of its deadline.
            let in_flight = sim.stream.totals().frames_sent - heard;
            let latency = u64::from(LATENCY_2S);
            assert!(
                (latency..=latency + 64 * 352).contains(&in_flight),
                "{in_flight}"
            );
        }
    }
    assert_eq!(last, 1500 * 352);
}
