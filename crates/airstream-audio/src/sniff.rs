//! A look at the first bytes of an input before symphonia probes it: to reject what is not
//! audio (or is audio we do not decode) with a message that says what it is, to spot MP4 files
//! whose index comes after the audio, and to read WAV `LIST/INFO` tags (symphonia 0.6.1 parses
//! them but drops them).

use crate::Metadata;
use crate::magic::{Magic, identify};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    Empty,
    /// Not audio at all; says what it is ("a text file").
    NotAudio(&'static str),
    /// Audio (or media) in a format we do not decode; names it.
    Unsupported(&'static str),
    /// An ISO-BMFF (MP4/M4A) file; `moov_first` is `None` when the prefix does not tell.
    Mp4 {
        moov_first: Option<bool>,
    },
    /// Anything else: left to symphonia.
    Other,
}

/// What the caller should do with an input of this kind: decode it (symphonia), or refuse it
/// naming what it is.
fn verdict(magic: Magic) -> Option<Sniffed> {
    Some(match magic {
        Magic::Jpeg => Sniffed::NotAudio("a JPEG image"),
        Magic::Png => Sniffed::NotAudio("a PNG image"),
        Magic::Gif => Sniffed::NotAudio("a GIF image"),
        Magic::Pdf => Sniffed::NotAudio("a PDF document"),
        Magic::Zip => Sniffed::NotAudio("a ZIP archive"),
        Magic::Gzip => Sniffed::NotAudio("a gzip archive"),
        Magic::Elf => Sniffed::NotAudio("a program (ELF)"),
        Magic::Asf => Sniffed::Unsupported("ASF (Windows Media Audio)"),
        Magic::Matroska => Sniffed::Unsupported("Matroska/WebM"),
        Magic::MonkeysAudio => Sniffed::Unsupported("Monkey's Audio (APE)"),
        Magic::WavPack => Sniffed::Unsupported("WavPack"),
        Magic::Amr => Sniffed::Unsupported("AMR"),
        Magic::Midi => Sniffed::Unsupported("MIDI"),
        Magic::SunAu => Sniffed::Unsupported("Sun AU"),
        Magic::Dsf => Sniffed::Unsupported("DSF (DSD audio)"),
        Magic::Dsdiff => Sniffed::Unsupported("DSDIFF (DSD audio)"),
        Magic::Tta => Sniffed::Unsupported("True Audio (TTA)"),
        Magic::Musepack => Sniffed::Unsupported("Musepack"),
        Magic::Flash => Sniffed::Unsupported("Flash video"),
        // MP4 (the caller looks for its index), formats symphonia reads or names itself,
        // and a bare QuickTime atom: left to the decoder.
        Magic::IsoMedia { .. }
        | Magic::Id3
        | Magic::MpegAudio
        | Magic::Adts
        | Magic::MpegTs
        | Magic::QuickTime
        | Magic::Ogg => return None,
    })
}

pub(crate) fn sniff(prefix: &[u8]) -> Sniffed {
    if prefix.is_empty() {
        return Sniffed::Empty;
    }
    let magic = identify(prefix);
    if let Some(verdict) = magic.and_then(verdict) {
        return verdict;
    }
    if magic == Some(Magic::Ogg)
        && let Some(name) = ogg_unsupported_codec(prefix)
    {
        return Sniffed::Unsupported(name);
    }
    if let Some(Magic::IsoMedia { .. }) = magic {
        return Sniffed::Mp4 {
            moov_first: mp4_moov_first(prefix),
        };
    }
    if let Some(what) = text_kind(prefix) {
        return Sniffed::NotAudio(what);
    }
    Sniffed::Other
}

/// Ogg streams whose first logical stream is a codec we do not decode. (symphonia names Opus
/// itself, but not the others.)
fn ogg_unsupported_codec(prefix: &[u8]) -> Option<&'static str> {
    // The first page's segment table starts at byte 27; the packet follows it.
    let segments = usize::from(*prefix.get(26)?);
    let packet = prefix.get(27 + segments..)?;
    [
        (&b"OpusHead"[..], "Opus (in Ogg)"),
        (b"Speex   ", "Speex (in Ogg)"),
        (b"\x80theora", "Theora video (in Ogg)"),
        (b"\x7FFLAC", "FLAC in Ogg"),
    ]
    .iter()
    .find(|(m, _)| packet.starts_with(m))
    .map(|(_, name)| *name)
}

/// Walks the top-level MP4 boxes in the prefix: is `moov` (the index) before `mdat` (the audio)?
fn mp4_moov_first(prefix: &[u8]) -> Option<bool> {
    let mut pos = 0usize;
    while let Some(header) = prefix.get(pos..pos + 8) {
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        match &header[4..8] {
            b"moov" => return Some(true),
            b"mdat" => return Some(false),
            _ => {}
        }
        let size = match size32 {
            0 => return None, // box runs to the end of the file
            1 => {
                let large = prefix.get(pos + 8..pos + 16)?;
                u64::from_be_bytes(large.try_into().ok()?)
            }
            n => u64::from(n),
        };
        if size < 8 {
            return None;
        }
        pos = pos.checked_add(usize::try_from(size).ok()?)?;
    }
    None
}

/// Text, HTML and playlists: a common result of a wrong path or URL.
fn text_kind(prefix: &[u8]) -> Option<&'static str> {
    // A cut in the middle of a UTF-8 sequence at the end of the prefix is still text.
    let text = match std::str::from_utf8(prefix) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() && prefix.len() - e.valid_up_to() < 4 => {
            std::str::from_utf8(&prefix[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
    {
        return None;
    }
    let head = text.trim_start_matches('\u{feff}').trim_start();
    let lower: String = head
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    Some(if lower.starts_with("#extm3u") {
        "an M3U playlist (give one of the stream URLs in it instead)"
    } else if lower.starts_with("[playlist]") {
        "a PLS playlist (give one of the stream URLs in it instead)"
    } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        "an HTML page"
    } else if lower.starts_with("<?xml") {
        "an XML document"
    } else {
        "a text file"
    })
}

/// Title/artist/album from a WAV `LIST/INFO` chunk found in the prefix.
pub(crate) fn wav_info_tags(prefix: &[u8]) -> Option<Metadata> {
    if !(prefix.starts_with(b"RIFF") && prefix.get(8..12) == Some(b"WAVE")) {
        return None;
    }
    let mut pos = 12usize;
    while let Some(header) = prefix.get(pos..pos + 8) {
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let body_start = pos + 8;
        match &header[..4] {
            b"data" => return None,
            b"LIST" if prefix.get(body_start..body_start + 4) == Some(b"INFO") => {
                let end = body_start.checked_add(size)?.min(prefix.len());
                return Some(parse_info_list(prefix.get(body_start + 4..end)?));
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = body_start.checked_add(size)?.checked_add(size & 1)?;
    }
    None
}

fn parse_info_list(mut body: &[u8]) -> Metadata {
    let mut meta = Metadata::default();
    while body.len() >= 8 {
        let size = u32::from_le_bytes([body[4], body[5], body[6], body[7]]) as usize;
        let value = body.get(8..8 + size).unwrap_or(&body[8..]);
        let text = String::from_utf8_lossy(value)
            .trim_end_matches('\0')
            .trim()
            .to_owned();
        let field = match &body[..4] {
            b"INAM" => Some(&mut meta.title),
            b"IART" => Some(&mut meta.artist),
            b"IPRD" => Some(&mut meta.album),
            _ => None,
        };
        if let Some(field) = field
            && !text.is_empty()
        {
            *field = Some(text);
        }
        let step = 8usize.saturating_add(size).saturating_add(size & 1);
        body = body.get(step..).unwrap_or(&[]);
    }
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_non_audio_and_unsupported_inputs() {
        assert_eq!(sniff(b""), Sniffed::Empty);
        assert_eq!(sniff(b"hello\nworld\n"), Sniffed::NotAudio("a text file"));
        assert_eq!(
            sniff(b"  <!DOCTYPE html><html>"),
            Sniffed::NotAudio("an HTML page")
        );
        assert!(matches!(sniff(b"#EXTM3U\nhttp://x/"), Sniffed::NotAudio(w) if w.contains("M3U")));
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n...."),
            Sniffed::NotAudio("a PNG image")
        );
        assert_eq!(
            sniff(&[
                0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62,
                0xCE, 0x6C
            ]),
            Sniffed::Unsupported("ASF (Windows Media Audio)")
        );
        // Binary that is no known signature is left to symphonia.
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x00, 0x01]), Sniffed::Other);
        // UTF-8 cut in the middle of a character at the end is still text.
        assert_eq!(
            sniff("é".repeat(3).as_bytes()[..5].as_ref()),
            Sniffed::NotAudio("a text file")
        );
    }

    #[test]
    fn finds_opus_in_the_first_ogg_page() {
        let mut page = b"OggS\0\x02".to_vec();
        page.resize(26, 0);
        page.push(1); // one segment
        page.push(19); // of 19 bytes
        page.extend_from_slice(b"OpusHead\x01\x02");
        assert_eq!(sniff(&page), Sniffed::Unsupported("Opus (in Ogg)"));
    }

    fn mp4_box(kind: [u8; 4], body_len: usize) -> Vec<u8> {
        let mut b = ((body_len + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(&kind);
        b.resize(body_len + 8, 0);
        b
    }

    #[test]
    fn tells_where_the_mp4_index_is() {
        let ftyp = mp4_box(*b"ftyp", 16);
        let moov_first = [ftyp.clone(), mp4_box(*b"moov", 30), mp4_box(*b"mdat", 10)].concat();
        let mdat_first = [ftyp.clone(), mp4_box(*b"free", 4), mp4_box(*b"mdat", 10)].concat();
        assert_eq!(
            sniff(&moov_first),
            Sniffed::Mp4 {
                moov_first: Some(true)
            }
        );
        assert_eq!(
            sniff(&mdat_first),
            Sniffed::Mp4 {
                moov_first: Some(false)
            }
        );
        assert_eq!(sniff(&ftyp), Sniffed::Mp4 { moov_first: None });
    }

    #[test]
    fn reads_wav_info_tags_before_the_data_chunk() {
        let mut info = b"INFO".to_vec();
        for (id, text) in [
            (b"INAM", &b"Song\0"[..]),
            (b"IART", b"Band\0\0"),
            (b"IPRD", b"LP"),
        ] {
            info.extend_from_slice(id);
            info.extend_from_slice(&(text.len() as u32).to_le_bytes());
            info.extend_from_slice(text);
            if text.len() % 2 == 1 {
                info.push(0);
            }
        }
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        wav.extend_from_slice(&[0; 16]);
        wav.extend_from_slice(b"LIST");
        wav.extend_from_slice(&(info.len() as u32).to_le_bytes());
        wav.extend_from_slice(&info);
        wav.extend_from_slice(b"data\x04\0\0\0\0\0\0\0");
        let meta = wav_info_tags(&wav).unwrap();
        assert_eq!(meta.title.as_deref(), Some("Song"));
        assert_eq!(meta.artist.as_deref(), Some("Band"));
        assert_eq!(meta.album.as_deref(), Some("LP"));
        assert_eq!(wav_info_tags(b"RIFF\0\0\0\0WAVEdata\0\0\0\0"), None);
    }
}
