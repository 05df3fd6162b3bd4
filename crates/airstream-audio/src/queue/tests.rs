use super::*;
use crate::VecSource;
use std::sync::atomic::{AtomicU64, Ordering};

fn tone(frames: usize, seed: i16) -> Vec<i16> {
    (0..frames * 2)
        .map(|i| seed.wrapping_add((i % 1000) as i16))
        .collect()
}

fn item(name: &str, samples: Vec<i16>, title: Option<&str>) -> QueueItem {
    let tags = Metadata {
        title: title.map(String::from),
        ..Metadata::default()
    };
    QueueItem::opened(
        name,
        Box::new(VecSource::new(PcmFormat::RAOP, samples).with_metadata(tags)),
    )
}

/// Reads everything, in reads of `step` frames, noting where tag updates were taken.
fn drain(queue: &mut Queue, step: usize) -> (Vec<i16>, Vec<(u64, Metadata)>) {
    let mut out = Vec::new();
    let mut updates = Vec::new();
    let mut buf = vec![0i16; step * 2];
    loop {
        if let Some(update) = queue.take_metadata_update() {
            updates.push(((out.len() / 2) as u64, update));
        }
        let frames = queue.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        if frames == 0 {
            return (out, updates);
        }
        out.extend_from_slice(&buf[..frames * 2]);
    }
}

#[test]
fn items_play_back_to_back_with_their_tags_at_the_boundaries() {
    let (a, b, c) = (tone(5000, 0), tone(3, 7000), tone(10_000, -9000));
    let items = vec![
        item("a.flac", a.clone(), Some("A")),
        item("/music/b.mp3", b.clone(), None),
        item("c.ogg", c.clone(), Some("C")),
    ];
    let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(queue.metadata().title.as_deref(), Some("A"));
    let timeline = queue.timeline();
    // Reads that end exactly on each boundary: the update is taken before the next read.
    let (out, updates) = drain(&mut queue, 1);
    assert_eq!(
        out,
        [a, b, c].concat(),
        "no sample missing, doubled or inserted"
    );
    let at: Vec<(u64, Option<String>)> = updates
        .into_iter()
        .map(|(frame, m)| (frame, m.title))
        .collect();
    // The update is known once the item's first frame was read.
    assert_eq!(
        at,
        vec![(5001, Some("b.mp3".into())), (5004, Some("C".into()))]
    );
    let starts: Vec<(usize, u64)> = timeline
        .tracks()
        .iter()
        .map(|t| (t.index, t.start_frame))
        .collect();
    assert_eq!(starts, vec![(0, 0), (1, 5000), (2, 5003)]);
    assert_eq!(
        timeline.track_at(5002).map(|t| t.name),
        Some("/music/b.mp3".into())
    );
}

/// Reads `frames` frames (fewer at the end).
fn read_frames(queue: &mut Queue, frames: usize) -> Vec<i16> {
    let mut out = Vec::new();
    let mut buf = vec![0i16; 1000];
    while out.len() < frames * 2 {
        let want = (frames * 2 - out.len()).min(buf.len());
        match queue
            .read(&mut buf[..want])
            .unwrap_or_else(|e| panic!("{e}"))
        {
            0 => break,
            n => out.extend_from_slice(&buf[..n * 2]),
        }
    }
    out
}

#[test]
fn a_seek_in_the_item_playing_lands_on_its_frame_and_the_next_item_follows() {
    // Items longer than the prefetch: the thread still holds the one playing.
    let (a, b) = (tone(200_000, 0), tone(200_000, 5000));
    let items = vec![item("a", a.clone(), None), item("b", b.clone(), None)];
    let mut queue = Queue::new(
        PcmFormat::RAOP,
        items.into_iter(),
        Duration::from_millis(100),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let timeline = queue.timeline();
    assert!(read_frames(&mut queue, 10_000) == a[..20_000]);
    assert_eq!(queue.seek(150_000).unwrap(), 150_000);
    assert!(read_frames(&mut queue, 10_000) == a[300_000..320_000]);
    // Back, then into b: the timeline counts positions in the queue.
    assert_eq!(queue.seek(20_000).unwrap(), 20_000);
    assert!(read_frames(&mut queue, 180_000 + 5000) == [&a[40_000..], &b[..10_000]].concat());
    assert_eq!(timeline.track_at(200_000).map(|t| t.index), Some(1));
    assert_eq!(queue.seek(200_000 + 123).unwrap(), 123);
    let (rest, _) = drain(&mut queue, 777);
    assert!(rest == b[246..]);
}

#[test]
fn a_seek_back_into_an_item_read_to_its_end_is_done_and_the_next_item_follows_once() {
    // a is shorter than the prefetch: the thread reads it to its end and opens b, which
    // is far longer than what the seeks take off the channel (the thread keeps only the
    // last item it finished).
    let (a, b) = (tone(5000, 0), tone(400_000, 5000));
    let (opened, b_opened) = std::sync::mpsc::channel();
    let b_source = b.clone();
    let items = vec![
        item("a", a.clone(), None),
        QueueItem::from_fn("b", move |_| {
            let _ = opened.send(());
            Ok(Box::new(VecSource::new(PcmFormat::RAOP, b_source)) as Box<dyn PcmSource>)
        }),
    ];
    let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let timeline = queue.timeline();
    let head = read_frames(&mut queue, 4000);
    b_opened.recv().unwrap();
    // b is not playing yet: refused, and nothing changes.
    let err = queue.seek(6000).unwrap_err();
    assert!(matches!(err, AudioError::NotSeekable { .. }), "{err}");
    assert!(head == a[..8000]);
    // Back into a, twice: from frame 1000, then 3000.
    assert_eq!(queue.seek(1000).unwrap(), 1000);
    assert!(read_frames(&mut queue, 500) == a[2000..3000]);
    assert_eq!(queue.seek(3000).unwrap(), 3000);
    let (rest, _) = drain(&mut queue, 333);
    assert!(rest == [&a[6000..], &b[..]].concat(), "b once, whole");
    // b starts where a ended, counted in positions of the queue.
    assert_eq!(timeline.track_at(5000).map(|t| t.index), Some(1));
}

#[test]
fn a_failed_item_is_skipped_and_told_and_a_failed_first_item_is_an_error() {
    let failing = || {
        QueueItem::from_fn("missing.flac", |_| {
            Err(AudioError::invalid("missing.flac", "no such file"))
        })
    };
    let items = vec![
        item("a", tone(100, 1), None),
        failing(),
        item("c", tone(100, 2), None),
    ];
    let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut timeline = queue.timeline();
    let (out, _) = drain(&mut queue, 64);
    assert_eq!(out, [tone(100, 1), tone(100, 2)].concat());
    assert_eq!(
        timeline.take_failures(),
        vec!["skipped: missing.flac: no such file".to_string()]
    );
    assert_eq!(timeline.tracks()[1].index, 2, "indices count failed items");

    let first_fails = vec![failing(), item("c", tone(100, 2), None)];
    let error = Queue::new(
        PcmFormat::RAOP,
        first_fails.into_iter(),
        Duration::from_secs(1),
    )
    .err()
    .map(|e| e.to_string());
    assert!(
        error.as_deref().is_some_and(|e| e.contains("missing.flac")),
        "{error:?}"
    );
}

#[test]
fn the_next_item_is_opened_while_the_current_one_still_has_audio_to_play() {
    let first = tone(CHUNK_FRAMES * 8, 3);
    let consumed = Arc::new(AtomicU64::new(0));
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let seen = Arc::clone(&consumed);
    let second = QueueItem::from_fn("slow", move |_| {
        // What the reader had taken of the first item when the second was opened.
        let _ = opened_tx.send(seen.load(Ordering::SeqCst));
        Ok(Box::new(VecSource::new(PcmFormat::RAOP, tone(10, 4))) as Box<dyn PcmSource>)
    });
    let items = vec![item("first", first.clone(), None), second];
    // Prefetch of more than the whole first item: its end is buffered at once.
    let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = vec![0i16; 2 * CHUNK_FRAMES];
    let frames = queue.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
    consumed.store(frames as u64, Ordering::SeqCst);
    // Nothing more is read until the second item was opened: it must not wait for us.
    let at_open = opened_rx
        .recv()
        .unwrap_or_else(|e| panic!("the second item was never opened: {e}"));
    assert!(
        at_open < (first.len() / 2) as u64,
        "opened after the first item was read to its end ({at_open})"
    );
    let (rest, _) = drain(&mut queue, 500);
    assert_eq!(
        [&buf[..frames * 2], &rest[..]].concat(),
        [first, tone(10, 4)].concat()
    );
}

#[test]
fn a_dry_queue_with_idle_silence_gives_silence_until_the_next_item() {
    let (tx, rx) = std::sync::mpsc::channel();
    tx.send(item("one", tone(1000, 5), None))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut queue = Queue::new(PcmFormat::RAOP, rx.into_iter(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"))
        .idle_silence(true);
    let mut buf = vec![0i16; 2 * 2000];
    let mut out = Vec::new();
    while out.len() < 2000 {
        let frames = queue.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        out.extend_from_slice(&buf[..frames * 2]);
    }
    assert_eq!(&out[..2000], &tone(1000, 5)[..]);
    // Dry: silence, in small reads, for as long as nothing comes.
    let frames = queue.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
    assert!(frames > 0 && frames <= IDLE_FRAMES, "{frames}");
    assert!(buf[..frames * 2].iter().all(|s| *s == 0));
    let silence_before = queue.frames_out;
    tx.send(item("two", tone(500, 9), Some("Two")))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(tx);
    let (rest, updates) = drain(&mut queue, 100);
    let start = queue.timeline().tracks()[1].start_frame;
    assert!(start >= silence_before, "{start} {silence_before}");
    let offset = usize::try_from(start - silence_before).unwrap_or(usize::MAX) * 2;
    assert!(
        rest[..offset].iter().all(|s| *s == 0),
        "only silence before it"
    );
    assert_eq!(&rest[offset..], &tone(500, 9)[..], "then the item, whole");
    assert_eq!(updates[0].1.title.as_deref(), Some("Two"));
}

#[test]
fn the_items_tags_override_their_own_and_untagged_items_are_named_by_file() {
    let own = Metadata {
        title: Some("Own".into()),
        artist: Some("Band".into()),
        ..Metadata::default()
    };
    let flags = Metadata {
        artist: Some("Flag".into()),
        ..Metadata::default()
    };
    let merged = over(own, &flags);
    assert_eq!(merged.title.as_deref(), Some("Own"));
    assert_eq!(merged.artist.as_deref(), Some("Flag"));
    assert_eq!(display_name("/a/b/song.flac"), "song.flac");
    assert_eq!(display_name("-"), "stdin");
    assert_eq!(display_name("http://radio/x.mp3"), "http://radio/x.mp3");
}

/// Titles of the tag updates taken while draining, with the frame each was taken at.
fn titles(updates: Vec<(u64, Metadata)>) -> Vec<(u64, Option<String>)> {
    updates.into_iter().map(|(f, m)| (f, m.title)).collect()
}

#[test]
fn a_skip_drops_the_rest_of_the_item_read_and_the_next_one_starts_at_the_frame() {
    let (a, b, c) = (tone(200_000, 0), tone(3000, 5000), tone(2000, -7000));
    let items = vec![
        item("a", a.clone(), Some("A")),
        item("b", b.clone(), Some("B")),
        item("c", c.clone(), Some("C")),
    ];
    let mut queue = Queue::new(
        PcmFormat::RAOP,
        items.into_iter(),
        Duration::from_millis(100),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let timeline = queue.timeline();
    assert!(read_frames(&mut queue, 10_000) == a[..20_000]);
    // Heard so far: 5000 frames (the rest was read ahead).
    queue.skip(5000).unwrap_or_else(|e| panic!("{e}"));
    let (rest, updates) = drain(&mut queue, 500);
    assert!(
        rest == [&b[..], &c[..]].concat(),
        "b and c whole, nothing of a"
    );
    assert_eq!(
        titles(updates),
        [(500, Some("B".into())), (3500, Some("C".into()))],
        "taken after the read that holds each one's first frame"
    );
    let starts: Vec<(usize, u64)> = timeline
        .tracks()
        .iter()
        .map(|t| (t.index, t.start_frame))
        .collect();
    assert_eq!(starts, [(0, 0), (1, 5000), (2, 8000)]);
}

/// A queue of `a` (5000 frames, shorter than the prefetch) and `b` (400 000), read 1000
/// frames into `b`.
struct ReadIntoB {
    queue: Queue,
    timeline: QueueTimeline,
    a: Vec<i16>,
    b: Vec<i16>,
}

fn read_into_b() -> ReadIntoB {
    let (a, b) = (tone(5000, 0), tone(400_000, 5000));
    let items = vec![
        item("a", a.clone(), Some("A")),
        item("b", b.clone(), Some("B")),
    ];
    let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let timeline = queue.timeline();
    assert!(read_frames(&mut queue, 6000) == [&a[..], &b[..2000]].concat());
    ReadIntoB {
        queue,
        timeline,
        a,
        b,
    }
}

#[test]
fn a_skip_after_the_reader_read_into_the_next_item_plays_that_one_from_its_start() {
    // a is shorter than the prefetch; b is read from 1000 frames in when a is skipped at
    // frame 3000, as heard.
    let ReadIntoB {
        mut queue,
        timeline,
        a: _,
        b,
    } = read_into_b();
    queue.skip(3000).unwrap_or_else(|e| panic!("{e}"));
    let (rest, updates) = drain(&mut queue, 4096);
    assert!(rest == b, "b again from its start, once");
    assert_eq!(titles(updates), [(0, Some("B".into()))]);
    assert_eq!(timeline.track_at(3000).map(|t| t.index), Some(1));
    assert_eq!(timeline.tracks().len(), 2);
}

#[test]
fn a_seek_back_into_the_item_before_the_one_read_replays_it_then_the_next_from_its_start() {
    let ReadIntoB {
        mut queue,
        timeline,
        a,
        b,
    } = read_into_b();
    assert_eq!(queue.seek(2000).unwrap_or_else(|e| panic!("{e}")), 2000);
    assert_eq!(
        timeline.track_at(5500).map(|t| t.index),
        Some(0),
        "b forgotten"
    );
    let (rest, updates) = drain(&mut queue, 1000);
    assert!(
        rest == [&a[4000..], &b[..]].concat(),
        "a from 2000, then b whole"
    );
    assert_eq!(titles(updates), [(4000, Some("B".into()))]);
    assert_eq!(timeline.track_at(5000).map(|t| t.index), Some(1));
}

#[test]
fn skipping_the_last_item_ends_the_queue_and_a_single_source_cannot_skip() {
    let items = vec![item("a", tone(300_000, 1), None)];
    let mut queue = Queue::new(
        PcmFormat::RAOP,
        items.into_iter(),
        Duration::from_millis(100),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    read_frames(&mut queue, 1000);
    queue.skip(500).unwrap_or_else(|e| panic!("{e}"));
    let (rest, _) = drain(&mut queue, 1000);
    assert!(rest.is_empty());
    let mut single = VecSource::new(PcmFormat::RAOP, tone(10, 0));
    let err = single.skip(0).err();
    assert!(
        matches!(err, Some(AudioError::NotSkippable { .. })),
        "{err:?}"
    );
}

/// A source that plays from memory but cannot seek, as a pipe.
struct Unseekable(VecSource);

impl PcmSource for Unseekable {
    fn format(&self) -> PcmFormat {
        self.0.format()
    }
    fn read(&mut self, buf: &mut [i16]) -> Result<usize, AudioError> {
        self.0.read(buf)
    }
}

#[test]
fn a_skip_that_would_read_a_pipe_again_is_refused_and_changes_nothing() {
    let (a, b) = (tone(5000, 0), tone(400_000, 5000));
    let pipe = Unseekable(VecSource::new(PcmFormat::RAOP, b.clone()));
    let items = vec![
        item("a", a.clone(), None),
        QueueItem::opened("-", Box::new(pipe)),
    ];
    let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let head = read_frames(&mut queue, 6000);
    let err = queue.skip(3000).err();
    assert!(
        matches!(&err, Some(AudioError::NotSkippable { reason, .. }) if reason.contains("next item")),
        "{err:?}"
    );
    let (rest, _) = drain(&mut queue, 1000);
    assert!([head, rest].concat() == [a, b].concat());
}

/// A queue of short items `a` (5000 frames), `b` and `c` (3000 each) and a long `d`, read
/// 1000 frames into `d`: the thread has finished the three short ones.
fn read_into_d() -> (Queue, QueueTimeline, [Vec<i16>; 4]) {
    let parts = [
        tone(5000, 0),
        tone(3000, 3000),
        tone(3000, 6000),
        tone(400_000, 9000),
    ];
    let items: Vec<QueueItem> = parts
        .iter()
        .zip(["A", "B", "C", "D"])
        .map(|(samples, title)| item(title, samples.clone(), Some(title)))
        .collect();
    let mut queue = Queue::new(PcmFormat::RAOP, items.into_iter(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let timeline = queue.timeline();
    let head = read_frames(&mut queue, 12_000);
    assert!(
        head == [
            &parts[0][..],
            &parts[1][..],
            &parts[2][..],
            &parts[3][..2000]
        ]
        .concat()
    );
    (queue, timeline, parts)
}

fn starts(timeline: &QueueTimeline) -> Vec<(usize, u64)> {
    timeline
        .tracks()
        .iter()
        .map(|t| (t.index, t.start_frame))
        .collect()
}

#[test]
fn a_skip_three_items_behind_the_reader_plays_every_item_after_it_again_whole() {
    let (mut queue, timeline, [_, b, c, d]) = read_into_d();
    // Heard: 2000 frames of a.
    queue.skip(2000).unwrap_or_else(|e| panic!("{e}"));
    let (rest, updates) = drain(&mut queue, 1000);
    assert!(
        rest == [&b[..], &c[..], &d[..]].concat(),
        "b, c and d whole, once"
    );
    assert_eq!(
        titles(updates),
        [
            (0, Some("B".into())),
            (4000, Some("C".into())),
            (7000, Some("D".into()))
        ]
    );
    assert_eq!(starts(&timeline), [(0, 0), (1, 2000), (2, 5000), (3, 8000)]);
}

#[test]
fn seeks_and_skips_during_a_replay_keep_the_items_after_it() {
    let (mut queue, timeline, [a, b, c, d]) = read_into_d();
    // Back into a: a from 1000, then b, c, d from their start.
    assert_eq!(queue.seek(1000).unwrap_or_else(|e| panic!("{e}")), 1000);
    assert!(read_frames(&mut queue, 1000) == a[2000..4000]);
    // Again, within the item replaying.
    assert_eq!(queue.seek(3000).unwrap_or_else(|e| panic!("{e}")), 3000);
    assert!(read_frames(&mut queue, 1000) == a[6000..8000]);
    // Skip a (heard at 3500): b, c, d whole.
    queue.skip(3500).unwrap_or_else(|e| panic!("{e}"));
    let (rest, _) = drain(&mut queue, 777);
    assert!(
        rest == [&b[..], &c[..], &d[..]].concat(),
        "b, c and d whole, once"
    );
    assert_eq!(starts(&timeline), [(0, 0), (1, 3500), (2, 6500), (3, 9500)]);
}
