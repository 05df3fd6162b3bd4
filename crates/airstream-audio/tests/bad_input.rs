//! Bad inputs fail with a clear error naming the input; damage in the middle is skipped with a
//! warning; nothing panics or hangs.

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

mod common;

use airstream_audio::{AudioError, PcmFormat, Source};
use common::{MODES, Mode, decode_all, fixture, fixture_bytes, source};
use std::sync::{Arc, Mutex, OnceLock};

fn open_error(source: Source) -> AudioError {
    match source.open(PcmFormat::RAOP) {
        Ok(_) => panic!("opened a bad input"),
        Err(e) => e,
    }
}

fn path_name(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn empty_input() {
    for mode in MODES {
        let err = open_error(source("empty.mp3", mode));
        assert!(matches!(err, AudioError::Empty { .. }), "{mode:?}: {err:?}");
        assert!(
            err.to_string().ends_with("input is empty (0 bytes)"),
            "{err}"
        );
    }
    let err = open_error(source("empty.mp3", Mode::Path));
    assert_eq!(err.input(), path_name("empty.mp3"));
}

#[test]
fn text_renamed_to_mp3() {
    for mode in MODES {
        let err = open_error(source("text.mp3", mode));
        assert!(
            matches!(err, AudioError::Invalid { .. }),
            "{mode:?}: {err:?}"
        );
        assert!(
            err.to_string().contains("not audio: this is a text file"),
            "{err}"
        );
    }
    let err = open_error(source("text.mp3", Mode::Path));
    assert_eq!(
        err.to_string(),
        format!("{}: not audio: this is a text file", path_name("text.mp3"))
    );
}

#[test]
fn unsupported_formats_are_named() {
    for (name, format) in [
        ("music.opus", "Opus (in Ogg)"),
        ("music.wma", "ASF (Windows Media Audio)"),
    ] {
        for mode in MODES {
            let err = open_error(source(name, mode));
            match &err {
                AudioError::UnsupportedFormat { format: f, .. } => assert_eq!(f, format),
                other => panic!("{name} via {mode:?}: {other:?}"),
            }
            assert!(err.to_string().contains("is not supported"), "{err}");
        }
    }
}

#[test]
fn truncated_files_play_up_to_the_cut_then_report_it() {
    for (name, min_frames) in [
        ("truncated.flac", 20_000),
        ("truncated.mp3", 20_000),
        ("truncated.wav", 20_000),
    ] {
        for mode in MODES {
            let pcm = source(name, mode).open(PcmFormat::RAOP).unwrap();
            let d = decode_all(pcm);
            let err = d
                .error
                .unwrap_or_else(|| panic!("{name} via {mode:?}: no error"));
            assert!(
                matches!(err, AudioError::Truncated { .. }),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains("truncated"), "{err}");
            let frames = d.samples.len() / 2;
            assert!(
                (min_frames..66_150).contains(&frames),
                "{name} via {mode:?}: {frames} frames before the cut"
            );
        }
    }
    // The audio before the cut is the original audio.
    let d = decode_all(
        source("truncated.flac", Mode::Path)
            .open(PcmFormat::RAOP)
            .unwrap(),
    );
    let reference = common::reference_pcm();
    assert!(d.samples[..] == reference[..d.samples.len()]);
}

#[test]
fn a_file_cut_inside_its_header_is_truncated() {
    let head = fixture_bytes("music.flac")[..30].to_vec();
    let err = open_error(Source::buffer(head));
    assert!(matches!(err, AudioError::Truncated { .. }), "{err:?}");
}

/// Everything `tracing` printed in this test binary. A global subscriber, because scoped ones
/// miss events when other tests run in parallel (tracing caches callsite interest).
fn logs() -> String {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static SINK: OnceLock<Sink> = OnceLock::new();
    let sink = SINK.get_or_init(|| {
        let sink = Sink::default();
        let writer = sink.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .init();
        sink
    });
    String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned()
}

#[test]
fn corrupt_frames_in_the_middle_are_skipped_with_a_warning() {
    logs();
    for name in ["corrupt.mp3", "corrupt.flac"] {
        for mode in MODES {
            let (label, frames, lines) = decode_logged("corrupt-test", name, mode);
            assert!(
                (60_000..=66_150).contains(&frames),
                "{label}: {frames} frames"
            );
            let warning = lines
                .first()
                .unwrap_or_else(|| panic!("{label}: no warning"));
            assert!(
                warning.contains("WARN") && warning.contains("damaged"),
                "{warning}"
            );
        }
    }
}

/// Decodes `name` read as `mode` to the end without error; returns the label it was named
/// by, the frames it gave and the log lines that name it.
fn decode_logged(test: &str, name: &str, mode: Mode) -> (String, usize, Vec<String>) {
    let label = format!("{test}:{name}:{mode:?}");
    let pcm = source(name, mode)
        .with_name(&label)
        .open(PcmFormat::RAOP)
        .unwrap();
    let d = decode_all(pcm);
    assert!(d.error.is_none(), "{label}: {:?}", d.error);
    let lines = logs()
        .lines()
        .filter(|l| l.contains(&label))
        .map(str::to_owned)
        .collect();
    (label, d.samples.len() / 2, lines)
}

/// Encoder delay is not damage: a Vorbis stream's first packet decodes to nothing (pts -128,
/// no frames), which once showed as "skipped 0.003 s of damaged audio".
#[test]
fn intact_inputs_decode_without_a_warning() {
    logs();
    for name in [
        "music.ogg",
        "music.mp3",
        "music.flac",
        "music_aac.m4a",
        "music_alac.m4a",
    ] {
        for mode in MODES {
            let (label, frames, lines) = decode_logged("intact-test", name, mode);
            assert!(frames > 0, "{label}: no audio");
            assert!(lines.is_empty(), "{label}: {lines:?}");
        }
    }
}

#[test]
fn raw_pcm_from_an_empty_input_is_empty() {
    let err = open_error(Source::buffer(Vec::<u8>::new()).raw("s16le:44100:2".parse().unwrap()));
    assert!(matches!(err, AudioError::Empty { .. }));
}

/// Truncations at many points and bytes overwritten with noise: every decode ends (error or
/// not) and nothing panics.
#[test]
fn damaged_inputs_never_panic() {
    let names = [
        "music.mp3",
        "music.flac",
        "music.ogg",
        "music_aac.m4a",
        "music_alac.m4a",
        "music.aiff",
        "music_s24.wav",
        "music_5ch1_ext.wav",
        "tagged.mp3",
        "tagged.flac",
    ];
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in names {
        let original = fixture_bytes(name);
        for step in 1..8 {
            let cut = original.len() * step / 8;
            let _ = Source::buffer(original[..cut].to_vec())
                .open(PcmFormat::RAOP)
                .map(decode_all);
            let mut noisy = original.clone();
            for _ in 0..20 * step {
                let i = rand() as usize % noisy.len();
                noisy[i] = rand() as u8;
            }
            let _ = Source::buffer(noisy.clone())
                .open(PcmFormat::RAOP)
                .map(decode_all);
            let _ = Source::reader(common::pipe_of(noisy))
                .open(PcmFormat::RAOP)
                .map(decode_all);
        }
    }
}
