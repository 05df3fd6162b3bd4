//! `Content-Type` from the first bytes of the file, not its name: Apple TVs pick the demuxer
//! from it, and a file called `clip` or `clip.bin` is still an MP4.

use airstream_audio::magic::{self, Magic};

/// How many leading bytes [`content_type`] wants (enough for two MPEG-TS sync bytes).
pub(crate) const SNIFF_LEN: usize = magic::IDENTIFY_LEN;

const OCTET_STREAM: &str = "application/octet-stream";

/// The MIME type for a file starting with `head`; `application/octet-stream` for anything
/// an Apple TV would not play or show.
pub(crate) fn content_type(head: &[u8]) -> &'static str {
    match magic::identify(head) {
        Some(Magic::IsoMedia {
            major_brand: Some(brand),
        }) => match &brand {
            b"M4A " | b"M4B " | b"M4P " => "audio/mp4",
            b"M4V " | b"M4VH" | b"M4VP" => "video/x-m4v",
            b"qt  " => "video/quicktime",
            _ => "video/mp4",
        },
        Some(Magic::QuickTime) => "video/quicktime",
        Some(Magic::Jpeg) => "image/jpeg",
        Some(Magic::Png) => "image/png",
        Some(Magic::Id3 | Magic::MpegAudio) => "audio/mpeg",
        Some(Magic::Adts) => "audio/aac",
        Some(Magic::MpegTs) => "video/mp2t",
        _ => OCTET_STREAM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(brand: [u8; 4]) -> Vec<u8> {
        let mut head = vec![0, 0, 0, 0x20];
        head.extend_from_slice(b"ftyp");
        head.extend_from_slice(&brand);
        head.extend_from_slice(&[0; 20]);
        head
    }

    #[test]
    fn mp4_family_by_brand() {
        assert_eq!(content_type(&ftyp(*b"isom")), "video/mp4");
        assert_eq!(content_type(&ftyp(*b"mp42")), "video/mp4");
        assert_eq!(content_type(&ftyp(*b"M4V ")), "video/x-m4v");
        assert_eq!(content_type(&ftyp(*b"qt  ")), "video/quicktime");
        assert_eq!(content_type(&ftyp(*b"M4A ")), "audio/mp4");
        assert_eq!(
            content_type(b"\0\0\0\x08wide\0\0\0\x10mdat"),
            "video/quicktime"
        );
    }

    #[test]
    fn audio_and_images() {
        assert_eq!(content_type(b"ID3\x04\0\0\0\0\0\0"), "audio/mpeg");
        // MPEG-1 Layer III frame header, 128 kbit/s.
        assert_eq!(content_type(&[0xFF, 0xFB, 0x90, 0x64]), "audio/mpeg");
        // ADTS AAC.
        assert_eq!(content_type(&[0xFF, 0xF1, 0x50, 0x80]), "audio/aac");
        assert_eq!(
            content_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            "image/jpeg"
        );
        assert_eq!(
            content_type(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"),
            "image/png"
        );
    }

    #[test]
    fn transport_stream_needs_two_sync_bytes() {
        let mut ts = vec![0u8; 376];
        ts[0] = 0x47;
        ts[188] = 0x47;
        assert_eq!(content_type(&ts), "video/mp2t");
        ts[188] = 0;
        assert_eq!(content_type(&ts), OCTET_STREAM);
    }

    #[test]
    fn unknown_short_and_empty_files_are_octet_streams() {
        assert_eq!(content_type(b""), OCTET_STREAM);
        assert_eq!(content_type(b"hello world, plain text"), OCTET_STREAM);
        assert_eq!(
            content_type(b"\0\0\0\x20ftyp"),
            OCTET_STREAM,
            "ftyp without a brand"
        );
    }
}
