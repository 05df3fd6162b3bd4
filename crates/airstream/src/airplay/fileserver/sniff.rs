//! `Content-Type` from the first bytes of the file, not its name: Apple TVs pick the demuxer
//! from it, and a file called `clip` or `clip.bin` is still an MP4.

/// How many leading bytes [`content_type`] wants (enough for two MPEG-TS sync bytes).
pub(crate) const SNIFF_LEN: usize = 189;

const OCTET_STREAM: &str = "application/octet-stream";

pub(crate) fn content_type(head: &[u8]) -> &'static str {
    if let Some(kind) = iso_media(head) {
        return kind;
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return "image/jpeg";
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return "image/png";
    }
    if head.starts_with(b"ID3") {
        return "audio/mpeg";
    }
    if let [0xFF, second, ..] = head {
        // 11-bit frame sync; the layer bits tell MP3 (01/10/11) from ADTS AAC (00).
        if second & 0xE0 == 0xE0 {
            return if second & 0b0000_0110 == 0 {
                "audio/aac"
            } else {
                "audio/mpeg"
            };
        }
    }
    if head.len() >= SNIFF_LEN && head[0] == 0x47 && head[188] == 0x47 {
        return "video/mp2t";
    }
    OCTET_STREAM
}

/// MP4-family files (MP4, M4V, M4A, QuickTime): an `ftyp` box and its major brand, or a
/// QuickTime file that starts straight with another top-level atom.
fn iso_media(head: &[u8]) -> Option<&'static str> {
    let box_type = head.get(4..8)?;
    if box_type == b"ftyp" {
        let brand = head.get(8..12)?;
        return Some(match brand {
            b"M4A " | b"M4B " | b"M4P " => "audio/mp4",
            b"M4V " | b"M4VH" | b"M4VP" => "video/x-m4v",
            b"qt  " => "video/quicktime",
            _ => "video/mp4",
        });
    }
    matches!(
        box_type,
        b"moov" | b"mdat" | b"wide" | b"free" | b"skip" | b"pnot"
    )
    .then_some("video/quicktime")
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
