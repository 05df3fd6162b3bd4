//! Turns any audio input into the PCM an AirPlay receiver takes (44.1 kHz, 16-bit, stereo
//! for RAOP), with the tags found on the way.
//!
//! Everything here is synchronous and pull-based ([`PcmSource::read`]); the `airstream`
//! crate runs it on a thread of its own behind a bounded buffer, off the real-time path.
#![forbid(unsafe_code)]

mod error;
mod metadata;
mod pcm;

pub use error::AudioError;
pub use metadata::{Artwork, ArtworkKind, Metadata};
pub use pcm::{PcmFormat, PcmSource, VecSource};
