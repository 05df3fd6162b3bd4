//! The sender against the in-repo receiver on loopback: what arrives must equal what was
//! sent, sample for sample, and every failure must map to its typed error.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Codec, StreamOptions};
use airstream::{Error, ErrorKind};
use airstream_audio::{PcmFormat, VecSource};
use airstream_receiver::{Behaviour, Receiver, ReceiverConfig};
use airstream_testkit::compare::compare_across_pause;
use airstream_testkit::signal::music;
use std::time::Duration;

fn options(codec: Codec) -> StreamOptions {
    StreamOptions {
        codec,
        latency: Duration::from_millis(300),
        ..StreamOptions::default()
    }
}

/// The next session `rx` recorded (each test's streams end before it looks).
async fn recorded(rx: &mut Receiver) -> airstream_receiver::SessionRecord {
    rx.next_session_within(Duration::from_secs(5))
        .await
        .expect("a session within 5 s")
}

async fn receiver(behaviour: Behaviour) -> Receiver {
    Receiver::start(ReceiverConfig {
        behaviour,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap()
}

/// The receiver keeps everything from RECORD on: the silent lead-in, the audio, then the
/// padding and drain silence.
fn assert_received(received: &[i16], samples: &[i16], lead_in_frames: u64) {
    let lead = lead_in_frames as usize * 2;
    assert!(
        received.len() >= lead + samples.len(),
        "received {} samples",
        received.len()
    );
    assert!(
        received[..lead].iter().all(|s| *s == 0),
        "lead-in is silence"
    );
    assert_eq!(
        &received[lead..lead + samples.len()],
        samples,
        "every sample arrives unchanged"
    );
    assert!(received[lead + samples.len()..].iter().all(|s| *s == 0));
}

/// The requests without the `OPTIONS` probes and keep-alives sent while streaming (their
/// number depends on how quiet the receiver was).
fn without_probes(requests: &[String]) -> Vec<String> {
    let mut out: Vec<String> = requests.iter().take(1).cloned().collect();
    out.extend(requests.iter().skip(1).filter(|r| *r != "OPTIONS").cloned());
    out
}

fn source(samples: &[i16]) -> Box<VecSource> {
    Box::new(VecSource::new(PcmFormat::RAOP, samples.to_vec()))
}

async fn stream_and_compare(
    codec: Codec,
    behaviour: Behaviour,
) -> (raop::StreamReport, airstream_receiver::SessionRecord) {
    let mut rx = receiver(behaviour).await;
    let samples = music(44_100 + 1234, 44_100);
    let report = raop::stream_to_end(rx.local_addr(), source(&samples), options(codec))
        .await
        .unwrap();
    let record = recorded(&mut rx).await;
    assert!(record.summary.teardown, "session ended with TEARDOWN");
    assert_eq!(report.frames_sent, (44_100 + 1234) as u64);
    assert_received(&record.samples, &samples, report.lead_in_frames);
    (report, record)
}

#[tokio::test]
async fn alac_raw_arrives_bit_exact() {
    let (report, record) = stream_and_compare(Codec::AlacRaw, Behaviour::default()).await;
    assert_eq!(record.summary.codec, "AppleLossless");
    assert_eq!(
        without_probes(&record.summary.requests),
        [
            "OPTIONS",
            "ANNOUNCE",
            "SETUP",
            "RECORD",
            "SET_PARAMETER",
            "TEARDOWN"
        ]
    );
    // The one SET_PARAMETER is the progress of the track: start/current/end in RTP time.
    let start = record.summary.record_rtptime.unwrap() + report.lead_in_frames as u32;
    let end = start + 44_100 + 1234;
    assert_eq!(
        record.summary.parameters,
        vec![(
            "text/parameters".to_string(),
            format!("progress: {start}/{start}/{end}\r\n").into_bytes()
        )]
    );
    assert!(record.summary.first_sync_flagged);
    assert!(
        record.summary.timing_before_first_sync,
        "sync only after the clock exchange"
    );
    assert_eq!(record.summary.missing_at_end, 0);
    assert!(report.time_to_first_packet.is_some());
}

#[tokio::test]
async fn compressed_alac_arrives_bit_exact_and_smaller() {
    let (report, record) = stream_and_compare(Codec::Alac, Behaviour::default()).await;
    assert_eq!(record.summary.codec, "AppleLossless");
    assert_eq!(record.summary.bad_packets, 0);
    assert_eq!(report.codec, Codec::Alac);
}

#[tokio::test]
async fn pcm_arrives_bit_exact() {
    let (_, record) = stream_and_compare(Codec::Pcm, Behaviour::default()).await;
    assert_eq!(record.summary.codec, "L16");
}

#[tokio::test]
async fn dropped_packets_are_retransmitted() {
    let behaviour = Behaviour {
        drop_packets: vec![0, 1, 5, 50, 51, 52, 100],
        ..Behaviour::default()
    };
    let (report, record) = stream_and_compare(Codec::AlacRaw, behaviour).await;
    assert_eq!(record.summary.dropped, 7);
    assert_eq!(record.summary.resent_packets, 7);
    assert_eq!(report.stats.retransmitted, 7);
    assert_eq!(report.stats.retransmit_missed, 0);
}

#[tokio::test]
async fn password_right_and_wrong() {
    let behaviour = Behaviour {
        password: Some("secret".into()),
        ..Behaviour::default()
    };
    let mut rx = receiver(behaviour.clone()).await;
    let samples = music(5000, 44_100);
    let opts = options(Codec::AlacRaw);
    let address = rx.local_addr();
    let with_password = |password: Option<&str>| raop::Receiver {
        password: password.map(str::to_string),
        ..raop::Receiver::new(address)
    };
    let report = raop::stream_to_end(
        with_password(Some("secret")),
        source(&samples),
        opts.clone(),
    )
    .await
    .unwrap();
    let record = recorded(&mut rx).await;
    assert_received(&record.samples, &samples, report.lead_in_frames);

    let err = raop::stream_to_end(with_password(Some("wrong")), source(&samples), opts.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadPassword);
    assert_eq!(
        err.to_string(),
        format!("wrong password for {}", rx.local_addr())
    );

    let err = raop::stream_to_end(with_password(None), source(&samples), opts)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadPassword);
}

#[tokio::test]
async fn busy_receivers() {
    for behaviour in [
        Behaviour {
            busy: true,
            ..Behaviour::default()
        },
        Behaviour {
            close_on_connect: true,
            ..Behaviour::default()
        },
    ] {
        let rx = receiver(behaviour).await;
        let err = raop::stream_to_end(
            rx.local_addr(),
            source(&music(1000, 44_100)),
            options(Codec::AlacRaw),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeviceBusy, "{err}");
    }
}

#[tokio::test]
async fn nothing_listening_is_a_network_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let err = raop::stream_to_end(
        address,
        source(&music(1000, 44_100)),
        options(Codec::AlacRaw),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
}

#[tokio::test]
async fn receiver_dying_mid_stream_ends_the_stream_with_an_error() {
    let rx = receiver(Behaviour {
        die_after_packets: Some(100),
        ..Behaviour::default()
    })
    .await;
    let started = std::time::Instant::now();
    let err = raop::stream_to_end(
        rx.local_addr(),
        source(&music(44_100 * 10, 44_100)),
        options(Codec::AlacRaw),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    // Not a timing assertion on speed: a hang would run the whole 10 s input.
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "no hang: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn stop_sends_teardown_early() {
    let mut rx = receiver(Behaviour::default()).await;
    let (handle, driver) = raop::start(
        rx.local_addr(),
        source(&music(44_100 * 30, 44_100)),
        options(Codec::AlacRaw),
    )
    .await
    .unwrap();
    let task = tokio::spawn(driver);
    let mut progress = handle.progress();
    while progress.borrow_and_update().frames_sent < 44_100 / 2 {
        progress.changed().await.unwrap();
    }
    handle.stop();
    let report = task.await.unwrap().unwrap();
    assert!(report.stopped);
    assert!(report.frames_sent < 44_100 * 30);
    let record = recorded(&mut rx).await;
    assert!(record.summary.teardown);
    assert!(matches!(
        handle.finished().await,
        raop::Outcome::Finished(_)
    ));
}

#[tokio::test]
async fn rejected_volume_is_a_warning_not_a_failure() {
    let mut rx = receiver(Behaviour {
        reject_volume: true,
        ..Behaviour::default()
    })
    .await;
    let samples = music(3000, 44_100);
    let at_half = raop::Receiver {
        volume: Some(50),
        ..raop::Receiver::new(rx.local_addr())
    };
    let report = raop::stream_to_end(at_half, source(&samples), options(Codec::AlacRaw))
        .await
        .unwrap();
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("volume"));
    let record = recorded(&mut rx).await;
    assert_received(&record.samples, &samples, report.lead_in_frames);
}

#[tokio::test]
async fn volume_is_set_before_audio() {
    let mut rx = receiver(Behaviour::default()).await;
    let muted = raop::Receiver {
        volume: Some(0),
        ..raop::Receiver::new(rx.local_addr())
    };
    raop::stream_to_end(muted, source(&music(3000, 44_100)), options(Codec::Pcm))
        .await
        .unwrap();
    let record = recorded(&mut rx).await;
    assert_eq!(record.summary.volumes, vec![-144.0]);
    assert_eq!(
        without_probes(&record.summary.requests),
        [
            "OPTIONS",
            "ANNOUNCE",
            "SETUP",
            "RECORD",
            "SET_PARAMETER",
            "SET_PARAMETER",
            "TEARDOWN"
        ]
    );
    let volume_at = without_probes(&record.summary.requests)
        .iter()
        .position(|r| r == "SET_PARAMETER");
    assert_eq!(
        volume_at,
        Some(4),
        "volume right after RECORD, before the metadata"
    );
}

fn tagged_source(samples: &[i16]) -> Box<VecSource> {
    use airstream_audio::{Artwork, ArtworkKind, Metadata};
    Box::new(
        VecSource::new(PcmFormat::RAOP, samples.to_vec()).with_metadata(Metadata {
            title: Some("Title".into()),
            artist: Some("Artist".into()),
            album: Some("Album".into()),
            artwork: Some(Artwork {
                kind: ArtworkKind::Png,
                data: b"\x89PNG\r\n\x1a\nfake".to_vec(),
            }),
            duration: None,
        }),
    )
}

#[tokio::test]
async fn metadata_is_sent_as_dmap_artwork_and_progress() {
    use airstream_proto::dmap::TrackText;
    let mut rx = receiver(Behaviour::default()).await;
    let samples = music(8000, 44_100);
    let report = raop::stream_to_end(
        rx.local_addr(),
        tagged_source(&samples),
        options(Codec::Pcm),
    )
    .await
    .unwrap();
    let record = recorded(&mut rx).await;
    let params = &record.summary.parameters;
    assert_eq!(params.len(), 3, "{params:?}");
    assert_eq!(params[0].0, "application/x-dmap-tagged");
    assert_eq!(
        TrackText::decode(&params[0].1).unwrap(),
        TrackText {
            title: Some("Title".into()),
            artist: Some("Artist".into()),
            album: Some("Album".into()),
        }
    );
    assert_eq!(
        params[1],
        ("image/png".to_string(), b"\x89PNG\r\n\x1a\nfake".to_vec())
    );
    let start = record.summary.record_rtptime.unwrap() + report.lead_in_frames as u32;
    assert_eq!(
        params[2].1,
        format!("progress: {start}/{start}/{}\r\n", start + 8000).into_bytes(),
        "duration of the source"
    );
}

#[tokio::test]
async fn metadata_kinds_gate_what_is_sent() {
    let mut rx = receiver(Behaviour::default()).await;
    let artwork_only = raop::Receiver {
        metadata_kinds: raop::MetadataKinds {
            text: false,
            artwork: true,
            progress: false,
        },
        ..raop::Receiver::new(rx.local_addr())
    };
    raop::stream_to_end(
        artwork_only,
        tagged_source(&music(3000, 44_100)),
        options(Codec::Pcm),
    )
    .await
    .unwrap();
    let record = recorded(&mut rx).await;
    let types: Vec<&str> = record
        .summary
        .parameters
        .iter()
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(types, ["image/png"]);

    let nothing = raop::Receiver {
        metadata_kinds: raop::MetadataKinds::NONE,
        ..raop::Receiver::new(rx.local_addr())
    };
    raop::stream_to_end(
        nothing,
        tagged_source(&music(3000, 44_100)),
        options(Codec::Pcm),
    )
    .await
    .unwrap();
    let record = recorded(&mut rx).await;
    assert!(record.summary.parameters.is_empty());
}

#[tokio::test]
async fn rejected_metadata_is_a_warning_not_a_failure() {
    let mut rx = receiver(Behaviour {
        reject_metadata: true,
        ..Behaviour::default()
    })
    .await;
    let samples = music(5000, 44_100);
    let report = raop::stream_to_end(
        rx.local_addr(),
        tagged_source(&samples),
        options(Codec::AlacRaw),
    )
    .await
    .unwrap();
    assert_eq!(report.warnings.len(), 3, "{:?}", report.warnings);
    let record = recorded(&mut rx).await;
    assert_received(&record.samples, &samples, report.lead_in_frames);
}

fn test_rsa_key() -> std::sync::Arc<airstream_proto::raop::crypto::RsaPrivateKey> {
    use airstream_proto::raop::crypto::RsaPrivateKey;
    // 1024 bits keeps debug-build key generation fast; OAEP-SHA1 of 16 bytes fits easily.
    std::sync::Arc::new(RsaPrivateKey::new(&mut rand::rng(), 1024).unwrap())
}

#[tokio::test]
async fn rsa_aes_encrypted_stream_arrives_bit_exact_with_retransmits() {
    let private = test_rsa_key();
    let behaviour = Behaviour {
        rsa_private_key: Some(private.clone()),
        drop_packets: vec![3, 4, 40],
        ..Behaviour::default()
    };
    let mut rx = receiver(behaviour).await;
    let encrypted = raop::Receiver {
        encryption: raop::Encryption::Rsa(std::sync::Arc::new(private.to_public_key())),
        ..raop::Receiver::new(rx.local_addr())
    };
    let samples = music(20_000, 44_100);
    let report = raop::stream_to_end(encrypted, source(&samples), options(Codec::AlacRaw))
        .await
        .unwrap();
    let record = recorded(&mut rx).await;
    assert!(record.summary.encrypted);
    assert_eq!(
        record.summary.resent_packets, 3,
        "resent packets decrypt like the originals"
    );
    assert_eq!(report.stats.retransmitted, 3);
    assert_received(&record.samples, &samples, report.lead_in_frames);
}

#[tokio::test]
async fn encrypted_stream_to_a_receiver_without_the_key_is_refused() {
    let rx = receiver(Behaviour::default()).await;
    let encrypted = raop::Receiver {
        encryption: raop::Encryption::Rsa(std::sync::Arc::new(test_rsa_key().to_public_key())),
        ..raop::Receiver::new(rx.local_addr())
    };
    let err = raop::stream_to_end(
        encrypted,
        source(&music(1000, 44_100)),
        options(Codec::AlacRaw),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert_eq!(err.status(), Some(456), "{err}");
}

#[tokio::test]
async fn receiver_that_goes_silent_is_noticed() {
    // After 150 packets the receiver stops answering anything but keeps its sockets open,
    // like a host that dropped off the network.
    let rx = receiver(Behaviour {
        hang_after_packets: Some(150),
        ..Behaviour::default()
    })
    .await;
    let input = source(&music(44_100 * 30, 44_100));
    let started = std::time::Instant::now();
    let err = raop::stream_to_end(rx.local_addr(), input, options(Codec::AlacRaw))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // Not a speed test: a sender that never noticed would run the whole 30 s input.
    let elapsed = started.elapsed();
    eprintln!("silent receiver noticed {elapsed:?} after the start (it hangs after ~1.3 s)");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

#[tokio::test]
async fn keep_alives_are_sent_on_long_streams() {
    let mut rx = receiver(Behaviour::default()).await;
    let mut opts = options(Codec::Pcm);
    opts.keep_alive = Duration::from_millis(300);
    raop::stream_to_end(rx.local_addr(), source(&music(44_100 * 2, 44_100)), opts)
        .await
        .unwrap();
    let record = recorded(&mut rx).await;
    let options_after_setup = record
        .summary
        .requests
        .iter()
        .skip(1)
        .filter(|r| *r == "OPTIONS")
        .count();
    assert!(options_after_setup >= 3, "{:?}", record.summary.requests);
}

#[tokio::test]
async fn forbidden_announce_is_retried_after_auth_setup() {
    let mut rx = receiver(Behaviour {
        require_auth_setup: true,
        ..Behaviour::default()
    })
    .await;
    let samples = music(3000, 44_100);
    let report = raop::stream_to_end(rx.local_addr(), source(&samples), options(Codec::AlacRaw))
        .await
        .unwrap();
    let record = recorded(&mut rx).await;
    assert_eq!(
        &without_probes(&record.summary.requests)[..4],
        ["OPTIONS", "ANNOUNCE", "POST /auth-setup", "ANNOUNCE"]
    );
    assert_received(&record.samples, &samples, report.lead_in_frames);

    let rx = receiver(Behaviour {
        require_pairing: true,
        ..Behaviour::default()
    })
    .await;
    let err = raop::stream_to_end(rx.local_addr(), source(&samples), options(Codec::AlacRaw))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PairingRequired, "{err}");
    // The command is the CLI's advice to give, not part of the library's message.
    match &err {
        Error::PairingRequired { command, .. } => {
            assert!(command.starts_with("airstream pair --address"), "{command}");
        }
        other => panic!("expected PairingRequired, got {other:?}"),
    }
    assert!(!err.to_string().contains("airstream pair"), "{err}");
}

#[tokio::test]
async fn pause_and_resume_lose_nothing() {
    let mut rx = receiver(Behaviour::default()).await;
    let samples = music(44_100 * 3, 44_100);
    let mut opts = options(Codec::AlacRaw);
    opts.latency = Duration::from_secs(1);
    let (handle, driver) = raop::start(rx.local_addr(), source(&samples), opts)
        .await
        .unwrap();
    let task = tokio::spawn(driver);
    let mut progress = handle.progress();
    while progress.borrow_and_update().frames_sent < 44_100 * 3 / 2 {
        progress.changed().await.unwrap();
    }
    handle.pause();
    while progress.borrow_and_update().state != raop::StreamState::Paused {
        progress.changed().await.unwrap();
    }
    let at_pause = progress.borrow().frames_sent;
    assert!(
        at_pause < 44_100 * 3 / 2,
        "unplayed audio was taken back: {at_pause}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    handle.resume();
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.frames_sent, 44_100 * 3, "every frame counted once");
    let record = recorded(&mut rx).await;
    assert_eq!(record.summary.flushes, 1);
    let lead = report.lead_in_frames as usize * 2;
    let pause = compare_across_pause(&samples, &record.samples[lead..], 2 * 352).unwrap();
    eprintln!("{pause:?}");
}

#[test]
fn blocking_stream_of_a_file_to_the_end() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut rx = runtime.block_on(receiver(Behaviour::default()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("song.wav");
    let samples = music(10_000, 44_100);
    std::fs::write(
        &path,
        airstream_testkit::signal::wav_bytes(&samples, 44_100),
    )
    .unwrap();
    let report = raop::blocking::stream(
        rx.local_addr(),
        airstream_audio::Source::path(&path),
        options(Codec::Alac),
    )
    .unwrap();
    assert_eq!(report.frames_sent, 10_000);
    let record = runtime
        .block_on(rx.next_session_within(Duration::from_secs(5)))
        .unwrap();
    assert_received(&record.samples, &samples, report.lead_in_frames);
}

/// A source that stops delivering for a while halfway, like a pipe or radio that stalls.
struct Stalling {
    inner: VecSource,
    stall_at: usize,
    stall: Duration,
    delivered: usize,
}

impl airstream_audio::PcmSource for Stalling {
    fn format(&self) -> PcmFormat {
        PcmFormat::RAOP
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, airstream_audio::AudioError> {
        if self.delivered >= self.stall_at && self.stall > Duration::ZERO {
            std::thread::sleep(std::mem::take(&mut self.stall));
        }
        let limit = if self.delivered < self.stall_at {
            (self.stall_at - self.delivered).min(buf.len() / 2) * 2
        } else {
            buf.len()
        };
        let frames = self.inner.read(&mut buf[..limit])?;
        self.delivered += frames;
        Ok(frames)
    }
}

#[tokio::test]
async fn a_stalled_source_costs_silence_not_the_stream() {
    let mut rx = receiver(Behaviour::default()).await;
    let samples = music(44_100 * 3, 44_100);
    let source = Stalling {
        inner: VecSource::new(PcmFormat::RAOP, samples.clone()),
        stall_at: 44_100 * 2,
        stall: Duration::from_millis(2500),
        delivered: 0,
    };
    let report = raop::stream_to_end(rx.local_addr(), Box::new(source), options(Codec::Alac))
        .await
        .unwrap();
    // The decoder reads ~2 s ahead, so a 2.5 s stall shows as ~0.5 s of silence.
    assert!(
        report.underruns > 10,
        "{} silent packets while stalled",
        report.underruns
    );
    assert_eq!(
        report.frames_sent,
        44_100 * 3,
        "and then the rest, to the end"
    );
    let record = recorded(&mut rx).await;
    assert!(record.summary.teardown);
    let lead = report.lead_in_frames as usize * 2;
    // The audio, with silence where the source stalled, nothing lost or repeated.
    let pause = compare_across_pause(&samples, &record.samples[lead..], 0).unwrap();
    assert_eq!(
        pause.gap as u64,
        report.underruns * 352,
        "one silent packet per underrun"
    );
}

fn group(receivers: &[&Receiver]) -> Vec<raop::Receiver> {
    receivers
        .iter()
        .map(|rx| raop::Receiver::new(rx.local_addr()))
        .collect()
}

#[tokio::test]
async fn a_group_plays_the_same_timeline_everywhere() {
    let mut a = receiver(Behaviour::default()).await;
    let mut b = receiver(Behaviour {
        drop_packets: vec![20, 21],
        ..Behaviour::default()
    })
    .await;
    let samples = music(44_100 * 2, 44_100);
    let opts = options(Codec::Alac);
    let (handle, driver) = raop::start_group(group(&[&a, &b]), source(&samples), opts)
        .await
        .unwrap();
    handle.set_receiver_volume(1, 30);
    let report = driver.await.unwrap();
    assert_eq!(report.receivers.len(), 2);
    assert!(report.receivers.iter().all(|r| r.failure.is_none()));
    assert_eq!(
        report.receivers[1].stats.retransmitted, 2,
        "each receiver repaired on its own"
    );
    let ra = recorded(&mut a).await;
    let rb = recorded(&mut b).await;
    for record in [&ra, &rb] {
        assert_received(&record.samples, &samples, report.lead_in_frames);
        assert!(record.summary.teardown);
    }
    // One timeline: the same first RTP time and the same sync packets (RTP time at NTP time).
    assert_eq!(ra.summary.record_rtptime, rb.summary.record_rtptime);
    assert!(ra.summary.first_syncs.len() >= 2);
    assert_eq!(ra.summary.first_syncs, rb.summary.first_syncs);
    assert_eq!(ra.summary.volumes, Vec::<f32>::new());
    assert_eq!(
        rb.summary.volumes,
        vec![-21.0],
        "only receiver 1's volume changed"
    );
}

#[tokio::test]
async fn a_receiver_that_fails_drops_out_and_the_others_play_on() {
    let mut healthy = receiver(Behaviour::default()).await;
    let dying = receiver(Behaviour {
        die_after_packets: Some(80),
        ..Behaviour::default()
    })
    .await;
    let busy = receiver(Behaviour {
        busy: true,
        ..Behaviour::default()
    })
    .await;
    let samples = music(44_100 * 2, 44_100);
    let opts = options(Codec::AlacRaw);
    let report = {
        let (handle, driver) =
            raop::start_group(group(&[&busy, &healthy, &dying]), source(&samples), opts)
                .await
                .unwrap();
        // Indexes are those of the list given, gaps left by the busy one included.
        handle.set_receiver_volume(1, 30);
        driver.await.unwrap()
    };
    assert_eq!(report.receivers.len(), 3, "one report per receiver given");
    assert!(report.receivers[1].failure.is_none());
    let left_out = &report.receivers[0];
    assert_eq!(left_out.receiver, busy.local_addr());
    assert_eq!(left_out.stats.packets_sent, 0);
    assert!(
        left_out
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("busy")),
        "{left_out:?}"
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("left out") && w.contains("busy")),
        "{:?}",
        report.warnings
    );
    assert!(
        report.receivers[2].failure.is_some(),
        "{:?}",
        report.receivers[2]
    );
    assert!(report.warnings.iter().any(|w| w.contains("dropped out")));
    let record = recorded(&mut healthy).await;
    assert_received(&record.samples, &samples, report.lead_in_frames);
    assert_eq!(record.summary.volumes, vec![-21.0]);
}

#[tokio::test]
async fn the_report_counts_the_packets_of_the_receivers_that_played_on() {
    // The first receiver given dies: the report's count is not frozen at its last packet.
    let dying = receiver(Behaviour {
        die_after_packets: Some(80),
        ..Behaviour::default()
    })
    .await;
    let mut healthy = receiver(Behaviour::default()).await;
    let samples = music(44_100 * 2, 44_100);
    let opts = options(Codec::AlacRaw);
    let (_handle, driver) = raop::start_group(group(&[&dying, &healthy]), source(&samples), opts)
        .await
        .unwrap();
    let report = driver.await.unwrap();
    assert!(report.receivers[0].failure.is_some(), "{report:?}");
    let played_on = report.receivers[1].stats.packets_sent;
    assert!(report.receivers[0].stats.packets_sent < played_on);
    assert_eq!(report.packets_sent, played_on);
    let record = recorded(&mut healthy).await;
    assert_received(&record.samples, &samples, report.lead_in_frames);
}

#[tokio::test]
async fn a_group_fails_only_when_no_receiver_can_play() {
    let busy = receiver(Behaviour {
        busy: true,
        ..Behaviour::default()
    })
    .await;
    let closed = receiver(Behaviour {
        close_on_connect: true,
        ..Behaviour::default()
    })
    .await;
    let opts = options(Codec::Alac);
    let err = raop::start_group(group(&[&busy, &closed]), source(&music(1000, 44_100)), opts)
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.kind(),
        ErrorKind::DeviceBusy,
        "the first receiver's error: {err}"
    );
}
