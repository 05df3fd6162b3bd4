//! What a file is, from its first bytes (never its name): the one table of magic numbers that
//! the decoder's input check, cover-art detection and the AirPlay file server's
//! `Content-Type` all read. Each caller decides what a kind means for it.

/// How many leading bytes [`identify`] needs to tell everything it can (two MPEG-TS sync
/// bytes, 188 apart); fewer still tells the rest.
pub const IDENTIFY_LEN: usize = 189;

/// A file format recognised by its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Magic {
    /// JPEG image (`FF D8 FF`).
    Jpeg,
    /// PNG image (`89 'PNG' 0D 0A 1A 0A`).
    Png,
    /// GIF image (`GIF8`).
    Gif,
    /// PDF document (`%PDF`).
    Pdf,
    /// ZIP archive (`PK 03 04`).
    Zip,
    /// gzip archive (`1F 8B`).
    Gzip,
    /// ELF executable (`7F 'ELF'`).
    Elf,
    /// MP3 with an ID3v2 tag in front (`ID3`).
    Id3,
    /// An MPEG audio frame (layer I–III): 11-bit frame sync, layer bits not `00`.
    MpegAudio,
    /// An ADTS AAC frame: 11-bit frame sync, layer bits `00`.
    Adts,
    /// MPEG transport stream: sync byte 0x47 at 0 and at 188.
    MpegTs,
    /// ISO base media (MP4, M4A, M4V, MOV) starting with an `ftyp` box; its major brand
    /// (`isom`, `M4A `, `qt  `...) when the bytes reach that far.
    IsoMedia {
        /// The `ftyp` box's major brand.
        major_brand: Option<[u8; 4]>,
    },
    /// A QuickTime movie that starts with another top-level atom (`moov`, `mdat`, `wide`,
    /// `free`, `skip`, `pnot`) instead of `ftyp`.
    QuickTime,
    /// An Ogg bitstream (`OggS`); the codec is in its first packet.
    Ogg,
    /// ASF: Windows Media Audio/Video.
    Asf,
    /// Matroska or WebM (EBML header).
    Matroska,
    /// Monkey's Audio (`MAC `).
    MonkeysAudio,
    /// WavPack (`wvpk`).
    WavPack,
    /// AMR speech (`#!AMR`).
    Amr,
    /// Standard MIDI file (`MThd`).
    Midi,
    /// Sun/NeXT audio (`.snd`).
    SunAu,
    /// DSD audio in a DSF file (`DSD `).
    Dsf,
    /// DSD audio in a DSDIFF file (`FRM8`).
    Dsdiff,
    /// True Audio (`TTA1`).
    Tta,
    /// Musepack SV7 (`MP+`) or SV8 (`MPCK`).
    Musepack,
    /// Flash: a SWF movie (`FWS`) or an FLV video (`FLV 01`).
    Flash,
}

const ASF_GUID: [u8; 16] = [
    0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C,
];

/// Fixed signatures at offset 0.
const PREFIXES: &[(&[u8], Magic)] = &[
    (b"\xFF\xD8\xFF", Magic::Jpeg),
    (b"\x89PNG\r\n\x1a\n", Magic::Png),
    (b"GIF8", Magic::Gif),
    (b"%PDF", Magic::Pdf),
    (b"PK\x03\x04", Magic::Zip),
    (b"\x1F\x8B", Magic::Gzip),
    (b"\x7FELF", Magic::Elf),
    (b"ID3", Magic::Id3),
    (b"OggS", Magic::Ogg),
    (&ASF_GUID, Magic::Asf),
    (b"\x1A\x45\xDF\xA3", Magic::Matroska),
    (b"MAC ", Magic::MonkeysAudio),
    (b"wvpk", Magic::WavPack),
    (b"#!AMR", Magic::Amr),
    (b"MThd", Magic::Midi),
    (b".snd", Magic::SunAu),
    (b"DSD ", Magic::Dsf),
    (b"FRM8", Magic::Dsdiff),
    (b"TTA1", Magic::Tta),
    (b"MPCK", Magic::Musepack),
    (b"MP+", Magic::Musepack),
    (b"FWS", Magic::Flash),
    (b"FLV\x01", Magic::Flash),
];

/// The format `head` (the first bytes of a file, ideally [`IDENTIFY_LEN`]) starts with, if
/// it has a signature this table knows.
pub fn identify(head: &[u8]) -> Option<Magic> {
    if let Some(kind) = iso_media(head) {
        return Some(kind);
    }
    if let Some((_, kind)) = PREFIXES.iter().find(|(m, _)| head.starts_with(m)) {
        return Some(*kind);
    }
    if let [0xFF, second, ..] = head {
        // 11-bit frame sync; the layer bits tell MPEG audio (01/10/11) from ADTS AAC (00).
        if second & 0xE0 == 0xE0 {
            return Some(if second & 0b0000_0110 == 0 {
                Magic::Adts
            } else {
                Magic::MpegAudio
            });
        }
    }
    if head.len() >= IDENTIFY_LEN && head[0] == 0x47 && head[188] == 0x47 {
        return Some(Magic::MpegTs);
    }
    None
}

/// MP4-family files: an `ftyp` box, or a QuickTime file that starts with another atom.
fn iso_media(head: &[u8]) -> Option<Magic> {
    let box_type = head.get(4..8)?;
    if box_type == b"ftyp" {
        let major_brand = head.get(8..12).and_then(|b| b.try_into().ok());
        return Some(Magic::IsoMedia { major_brand });
    }
    matches!(
        box_type,
        b"moov" | b"mdat" | b"wide" | b"free" | b"skip" | b"pnot"
    )
    .then_some(Magic::QuickTime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_documents_and_archives() {
        assert_eq!(
            identify(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(Magic::Jpeg)
        );
        assert_eq!(
            identify(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"),
            Some(Magic::Png)
        );
        assert_eq!(identify(b"GIF89a"), Some(Magic::Gif));
        assert_eq!(identify(b"%PDF-1.7"), Some(Magic::Pdf));
        assert_eq!(identify(b"PK\x03\x04\x14\0"), Some(Magic::Zip));
        assert_eq!(identify(b"\x1F\x8B\x08\0"), Some(Magic::Gzip));
        assert_eq!(identify(b"\x7FELF\x02\x01"), Some(Magic::Elf));
    }

    #[test]
    fn mpeg_audio_and_adts_by_their_layer_bits() {
        assert_eq!(identify(b"ID3\x04\0\0\0\0\0\0"), Some(Magic::Id3));
        // MPEG-1 Layer III frame header, 128 kbit/s.
        assert_eq!(identify(&[0xFF, 0xFB, 0x90, 0x64]), Some(Magic::MpegAudio));
        assert_eq!(identify(&[0xFF, 0xF1, 0x50, 0x80]), Some(Magic::Adts));
        // Only 8 sync bits: not a frame.
        assert_eq!(identify(&[0xFF, 0x1B, 0x90, 0x64]), None);
    }

    #[test]
    fn iso_media_with_its_brand_or_a_bare_quicktime_atom() {
        let mut head = b"\0\0\0\x20ftypM4A ".to_vec();
        assert_eq!(
            identify(&head),
            Some(Magic::IsoMedia {
                major_brand: Some(*b"M4A ")
            })
        );
        head.truncate(8);
        assert_eq!(identify(&head), Some(Magic::IsoMedia { major_brand: None }));
        assert_eq!(
            identify(b"\0\0\0\x08wide\0\0\0\x10mdat"),
            Some(Magic::QuickTime)
        );
    }

    #[test]
    fn a_transport_stream_needs_two_sync_bytes() {
        let mut ts = vec![0u8; 376];
        ts[0] = 0x47;
        ts[188] = 0x47;
        assert_eq!(identify(&ts), Some(Magic::MpegTs));
        assert_eq!(identify(&ts[..IDENTIFY_LEN - 1]), None);
        ts[188] = 0;
        assert_eq!(identify(&ts), None);
    }

    #[test]
    fn containers_we_do_not_decode() {
        assert_eq!(identify(&ASF_GUID), Some(Magic::Asf));
        assert_eq!(identify(b"\x1A\x45\xDF\xA3\x01"), Some(Magic::Matroska));
        assert_eq!(identify(b"OggS\0\x02"), Some(Magic::Ogg));
        assert_eq!(identify(b"MP+\x07"), Some(Magic::Musepack));
        assert_eq!(identify(b"FLV\x01\x05"), Some(Magic::Flash));
    }

    #[test]
    fn unknown_short_and_empty_heads_are_nothing() {
        assert_eq!(identify(b""), None);
        assert_eq!(identify(b"hello world, plain text"), None);
        assert_eq!(identify(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(identify(b"fLaC\0\0\0\x22"), None);
    }
}
