//! Tags and cover art from each tagged fixture, from a path and from a pipe.

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

mod common;

use airstream_audio::{ArtworkKind, Metadata, PcmFormat};
use common::{Mode, fixture_bytes, source};
use std::time::Duration;

const TITLE: &str = "Test Tone Suite";
const ARTIST: &str = "The Fixtures";
const ALBUM: &str = "Airstream Samples";

fn metadata(name: &str, mode: Mode) -> Metadata {
    source(name, mode).open(PcmFormat::RAOP).unwrap().metadata()
}

fn assert_tagged(name: &str, art: Option<(ArtworkKind, &str)>, duration: Option<f64>) {
    for mode in [Mode::Path, Mode::Pipe] {
        let m = metadata(name, mode);
        assert_eq!(m.title.as_deref(), Some(TITLE), "{name} via {mode:?}");
        assert_eq!(m.artist.as_deref(), Some(ARTIST), "{name} via {mode:?}");
        assert_eq!(m.album.as_deref(), Some(ALBUM), "{name} via {mode:?}");
        match art {
            Some((kind, file)) => {
                let artwork = m
                    .artwork
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name} via {mode:?}: no art"));
                assert_eq!(artwork.kind, kind, "{name} via {mode:?}");
                assert!(
                    artwork.data == fixture_bytes(file),
                    "{name} via {mode:?}: art bytes"
                );
            }
            None => assert!(m.artwork.is_none()),
        }
        if let Some(seconds) = duration {
            let d = m
                .duration
                .unwrap_or_else(|| panic!("{name} via {mode:?}: no duration"));
            assert!(
                (d.as_secs_f64() - seconds).abs() < 0.03,
                "{name} via {mode:?}: {d:?}"
            );
        }
    }
}

#[test]
fn mp3_id3v2_tags_and_jpeg_art() {
    assert_tagged(
        "tagged.mp3",
        Some((ArtworkKind::Jpeg, "cover.jpg")),
        Some(0.5),
    );
}

#[test]
fn flac_vorbis_comments_and_png_picture_block() {
    assert_tagged(
        "tagged.flac",
        Some((ArtworkKind::Png, "cover.png")),
        Some(0.5),
    );
}

#[test]
fn ogg_vorbis_comments_and_jpeg_picture() {
    // The length of an Ogg stream is only in its last page: known from a path, not a pipe.
    assert_tagged("tagged.ogg", Some((ArtworkKind::Jpeg, "cover.jpg")), None);
    let d = metadata("tagged.ogg", Mode::Path).duration.unwrap();
    assert!((d.as_secs_f64() - 0.5).abs() < 0.01, "{d:?}");
}

#[test]
fn m4a_aac_moov_first_tags_and_png_art() {
    assert_tagged(
        "tagged_aac.m4a",
        Some((ArtworkKind::Png, "cover.png")),
        Some(0.523),
    );
}

#[test]
fn m4a_alac_tags_and_jpeg_art() {
    assert_tagged(
        "tagged_alac.m4a",
        Some((ArtworkKind::Jpeg, "cover.jpg")),
        Some(0.5),
    );
}

#[test]
fn wav_list_info_tags() {
    assert_tagged("tagged.wav", None, Some(0.25));
}

#[test]
fn untagged_files_have_a_duration_only() {
    for (name, seconds) in [("music.flac", 1.5), ("music.mp3", 1.5), ("music.wav", 1.5)] {
        for mode in [Mode::Path, Mode::Pipe] {
            let pcm = source(name, mode).open(PcmFormat::RAOP).unwrap();
            let m = pcm.metadata();
            assert_eq!(
                (m.title.as_deref(), m.artist.as_deref(), m.album.as_deref()),
                (None, None, None),
                "{name}"
            );
            assert!(m.artwork.is_none());
            let d = pcm.duration().unwrap();
            assert!((d.as_secs_f64() - seconds).abs() < 0.01, "{name}: {d:?}");
            assert_eq!(m.duration, Some(d));
        }
    }
}

#[test]
fn tags_do_not_change_while_playing_a_plain_file() {
    let d = common::decode_ok(source("tagged.flac", Mode::Pipe));
    assert!(d.updates.is_empty(), "{:?}", d.updates);
    assert_eq!(d.metadata.title.as_deref(), Some(TITLE));
    assert_eq!(d.samples.len(), 22_050 * 2);
}

#[test]
fn raw_pcm_duration_comes_from_the_byte_length() {
    let pcm = airstream_audio::Source::buffer(vec![0u8; 44_100 * 4 * 2])
        .raw("s16le:44100:2".parse().unwrap())
        .open(PcmFormat::RAOP)
        .unwrap();
    assert_eq!(pcm.duration(), Some(Duration::from_secs(2)));
}

#[test]
fn chained_ogg_streams_play_on_and_announce_their_tags() {
    // Two Ogg Vorbis files back to back form one chained stream (as internet radio sends).
    let chained = [fixture_bytes("music.ogg"), fixture_bytes("tagged.ogg")].concat();
    for source in [
        airstream_audio::Source::buffer(chained.clone()),
        airstream_audio::Source::reader(common::pipe_of(chained.clone())),
    ] {
        let d = common::decode_ok(source);
        assert_eq!(d.samples.len(), (66_150 + 22_050) * 2);
        assert_eq!(d.metadata.title, None);
        assert_eq!(d.updates.len(), 1, "{:?}", d.updates);
        let next = &d.updates[0];
        assert_eq!(next.title.as_deref(), Some(TITLE));
        assert_eq!(next.artist.as_deref(), Some(ARTIST));
        assert_eq!(
            next.artwork.as_ref().map(|a| a.kind),
            Some(ArtworkKind::Jpeg)
        );
    }
}
