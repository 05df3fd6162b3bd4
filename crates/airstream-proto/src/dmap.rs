//! DMAP, the tagged format of RAOP text metadata: a 4-byte ASCII tag, a 4-byte big-endian
//! length, then the value. A track is one `mlit` container holding `minm` (title), `asar`
//! (artist) and `asal` (album) strings.

/// `mlit`: the container holding one track's fields.
pub const ITEM: [u8; 4] = *b"mlit";
/// `minm`: track title.
pub const TITLE: [u8; 4] = *b"minm";
/// `asar`: artist.
pub const ARTIST: [u8; 4] = *b"asar";
/// `asal`: album.
pub const ALBUM: [u8; 4] = *b"asal";

/// Text fields of one track, all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackText {
    /// Track title (`minm`).
    pub title: Option<String>,
    /// Artist (`asar`).
    pub artist: Option<String>,
    /// Album (`asal`).
    pub album: Option<String>,
}

fn put(out: &mut Vec<u8>, tag: [u8; 4], value: &[u8]) {
    out.extend_from_slice(&tag);
    // Values are bounded by what callers pass; a u32 length caps one field at 4 GiB.
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

impl TrackText {
    /// The `mlit` container with the fields present, in title, artist, album order.
    pub fn encode(&self) -> Vec<u8> {
        let mut children = Vec::new();
        for (tag, value) in [
            (TITLE, &self.title),
            (ARTIST, &self.artist),
            (ALBUM, &self.album),
        ] {
            if let Some(v) = value {
                put(&mut children, tag, v.as_bytes());
            }
        }
        let mut out = Vec::with_capacity(children.len() + 8);
        put(&mut out, ITEM, &children);
        out
    }

    /// Reads an `mlit` container (receiver side); unknown children are skipped.
    pub fn decode(data: &[u8]) -> Result<Self, DmapError> {
        let (tag, body, _) = next(data)?;
        if tag != ITEM {
            return Err(DmapError::NotAnItem(tag));
        }
        let mut text = TrackText::default();
        let mut rest = body;
        while !rest.is_empty() {
            let (tag, value, remainder) = next(rest)?;
            let value = Some(String::from_utf8_lossy(value).into_owned());
            match &tag {
                t if *t == TITLE => text.title = value,
                t if *t == ARTIST => text.artist = value,
                t if *t == ALBUM => text.album = value,
                _ => {}
            }
            rest = remainder;
        }
        Ok(text)
    }
}

/// Why DMAP bytes cannot be read as a track.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmapError {
    /// A tag, length or value runs past the end of the data.
    #[error("DMAP data is truncated")]
    Truncated,
    /// The outer container has another tag than `mlit` (the tag found is given).
    #[error("DMAP container is {0:?}, not mlit")]
    NotAnItem([u8; 4]),
}

/// One tagged field split off the front of a buffer: (tag, value, rest).
type Field<'a> = ([u8; 4], &'a [u8], &'a [u8]);

fn next(data: &[u8]) -> Result<Field<'_>, DmapError> {
    if data.len() < 8 {
        return Err(DmapError::Truncated);
    }
    let tag = [data[0], data[1], data[2], data[3]];
    let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
    let body = data.get(8..8 + len).ok_or(DmapError::Truncated)?;
    Ok((tag, body, &data[8 + len..]))
}

/// The `progress` parameter: RTP times of the track start, the current position and the end.
pub fn progress_body(start: u32, current: u32, end: u32) -> String {
    format!("progress: {start}/{current}/{end}\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        let text = TrackText {
            title: Some("Song".into()),
            artist: Some("Band".into()),
            album: Some("LP".into()),
        };
        let bytes = text.encode();
        let expected = hex::decode(concat!(
            "6d6c6974", "00000022", "6d696e6d", "00000004", "536f6e67", "61736172", "00000004",
            "42616e64", "6173616c", "00000002", "4c50",
        ))
        .unwrap();
        assert_eq!(bytes, expected);
        assert_eq!(TrackText::decode(&bytes).unwrap(), text);
    }

    #[test]
    fn missing_fields_are_left_out_and_utf8_is_kept() {
        let text = TrackText {
            title: Some("Café ☕".into()),
            ..TrackText::default()
        };
        let bytes = text.encode();
        assert_eq!(bytes.len(), 8 + 8 + "Café ☕".len());
        assert_eq!(TrackText::decode(&bytes).unwrap(), text);
    }

    #[test]
    fn bad_data_is_an_error() {
        assert_eq!(TrackText::decode(b"mlit"), Err(DmapError::Truncated));
        assert_eq!(
            TrackText::decode(b"mlit\x00\x00\x00\x09minm\x00\x00\x00\x05ab"),
            Err(DmapError::Truncated)
        );
        assert_eq!(
            TrackText::decode(b"abcd\x00\x00\x00\x00"),
            Err(DmapError::NotAnItem(*b"abcd"))
        );
    }

    #[test]
    fn progress_format() {
        assert_eq!(progress_body(1, 2, 3), "progress: 1/2/3\r\n");
    }
}
