use crate::magic::Magic;
use std::fmt;
use std::time::Duration;

/// What a receiver can show about the current track.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Track title (RAOP DMAP `minm`).
    pub title: Option<String>,
    /// Performing artist (DMAP `asar`).
    pub artist: Option<String>,
    /// Album name (DMAP `asal`); the station name for internet radio.
    pub album: Option<String>,
    /// Cover image, sent to receivers as `SET_PARAMETER` `image/*`.
    pub artwork: Option<Artwork>,
    /// Length of the track; drives the receiver's progress bar.
    pub duration: Option<Duration>,
}

impl Metadata {
    /// True when no field is known, so there is nothing to send a receiver.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.artist.is_none()
            && self.album.is_none()
            && self.artwork.is_none()
            && self.duration.is_none()
    }

    /// Fills the fields `self` lacks from `other`.
    pub fn fill_missing_from(&mut self, other: &Metadata) {
        if self.title.is_none() {
            self.title.clone_from(&other.title);
        }
        if self.artist.is_none() {
            self.artist.clone_from(&other.artist);
        }
        if self.album.is_none() {
            self.album.clone_from(&other.album);
        }
        if self.artwork.is_none() {
            self.artwork.clone_from(&other.artwork);
        }
        if self.duration.is_none() {
            self.duration = other.duration;
        }
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("title", &self.title)
            .field("artist", &self.artist)
            .field("album", &self.album)
            .field("artwork", &self.artwork)
            .field("duration", &self.duration)
            .finish()
    }
}

/// Image format of cover art, as told by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtworkKind {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (`89 'PNG' 0D 0A 1A 0A`).
    Png,
}

impl ArtworkKind {
    /// The `Content-Type` a receiver is sent the image under.
    pub fn mime(self) -> &'static str {
        match self {
            ArtworkKind::Jpeg => "image/jpeg",
            ArtworkKind::Png => "image/png",
        }
    }

    /// Detects the kind from the image's magic bytes (tags often lie about it).
    pub fn sniff(data: &[u8]) -> Option<Self> {
        match crate::magic::identify(data)? {
            Magic::Jpeg => Some(ArtworkKind::Jpeg),
            Magic::Png => Some(ArtworkKind::Png),
            _ => None,
        }
    }
}

/// Cover art found in the input's tags.
#[derive(Clone, PartialEq, Eq)]
pub struct Artwork {
    /// Image format of `data`, sniffed from its bytes.
    pub kind: ArtworkKind,
    /// The encoded image file as stored in the tag.
    pub data: Vec<u8>,
}

/// Prints the size, not the bytes.
impl fmt::Debug for Artwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Artwork({:?}, {} bytes)", self.kind, self.data.len())
    }
}

impl Metadata {
    /// Title, artist, album and the front cover (or the first JPEG/PNG picture) of a symphonia
    /// metadata revision, including its per-track parts.
    pub(crate) fn from_revision(revision: &symphonia::core::meta::MetadataRevision) -> Metadata {
        use symphonia::core::meta::{StandardTag, StandardVisualKey};
        let containers =
            std::iter::once(&revision.media).chain(revision.per_track.iter().map(|t| &t.metadata));
        let mut meta = Metadata::default();
        let mut album_artist = None;
        let mut visuals = Vec::new();
        for container in containers {
            for tag in &container.tags {
                let (slot, value) = match &tag.std {
                    Some(StandardTag::TrackTitle(v)) => (&mut meta.title, v),
                    Some(StandardTag::Artist(v)) => (&mut meta.artist, v),
                    Some(StandardTag::AlbumArtist(v)) => (&mut album_artist, v),
                    Some(StandardTag::Album(v)) => (&mut meta.album, v),
                    _ => continue,
                };
                let value = value.trim();
                if slot.is_none() && !value.is_empty() {
                    *slot = Some(value.to_owned());
                }
            }
            visuals.extend(&container.visuals);
        }
        if meta.artist.is_none() {
            meta.artist = album_artist;
        }
        // Front cover first; tags often mislabel the image type, so sniff the bytes.
        visuals.sort_by_key(|v| v.usage != Some(StandardVisualKey::FrontCover));
        meta.artwork = visuals.iter().find_map(|v| {
            ArtworkKind::sniff(&v.data).map(|kind| Artwork {
                kind,
                data: v.data.to_vec(),
            })
        });
        meta
    }

    /// Fields of `newer` win; the ones it lacks keep their current value.
    pub(crate) fn overlay(&mut self, newer: Metadata) {
        let mut merged = newer;
        merged.fill_missing_from(self);
        *self = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artwork_kind_comes_from_the_bytes_and_only_jpeg_and_png_count() {
        assert_eq!(
            ArtworkKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ArtworkKind::Jpeg)
        );
        assert_eq!(
            ArtworkKind::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"),
            Some(ArtworkKind::Png)
        );
        assert_eq!(ArtworkKind::sniff(b"GIF89a"), None);
        assert_eq!(ArtworkKind::sniff(b"ID3\x04\0"), None);
        assert_eq!(ArtworkKind::sniff(b""), None);
    }
}
