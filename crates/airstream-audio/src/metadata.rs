use std::fmt;
use std::time::Duration;

/// What a receiver can show about the current track.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub artwork: Option<Artwork>,
    pub duration: Option<Duration>,
}

impl Metadata {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtworkKind {
    Jpeg,
    Png,
}

impl ArtworkKind {
    pub fn mime(self) -> &'static str {
        match self {
            ArtworkKind::Jpeg => "image/jpeg",
            ArtworkKind::Png => "image/png",
        }
    }

    /// Detects the kind from the image's magic bytes (tags often lie about it).
    pub fn sniff(data: &[u8]) -> Option<Self> {
        if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ArtworkKind::Jpeg)
        } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ArtworkKind::Png)
        } else {
            None
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Artwork {
    pub kind: ArtworkKind,
    pub data: Vec<u8>,
}

/// Prints the size, not the bytes.
impl fmt::Debug for Artwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Artwork({:?}, {} bytes)", self.kind, self.data.len())
    }
}
