//! Turns any audio input into the PCM an AirPlay receiver takes (44.1 kHz, 16-bit, stereo
//! for RAOP), with the tags found on the way.
//!
//! Everything here is synchronous and pull-based ([`PcmSource::read`]); the `airstream`
//! crate runs it on a thread of its own behind a bounded buffer, off the real-time path.
//!
//! # Inputs
//! A [`Source`] is a file path, bytes in memory, any `Read + Seek`, any `Read` that cannot
//! seek (a pipe), stdin, an `http://`/`https://` URL, or any of these holding headerless PCM
//! of a stated [`RawFormat`]. The format is detected from the content, never the file name:
//! MP3, WAV (8/16/24/32-bit integer, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE), AIFF, FLAC,
//! Ogg Vorbis, MP4/M4A (AAC-LC, ALAC), CAF and ADTS. Formats we recognise but do not decode
//! (Opus, WMA, Matroska...) fail with [`AudioError::UnsupportedFormat`] naming them.
//!
//! # Conversion
//! Output is interleaved i16 at the target rate and channel count. Resampling (any rate;
//! 8–192 kHz is the tested range) uses rubato's FFT resampler, or its sinc resampler for
//! rate pairs without a small common block. Mono is copied to both channels; more than two
//! channels are downmixed with ITU-R BS.775 gains (centre and surrounds −3 dB, LFE dropped),
//! scaled so the mix cannot clip. Sources with more than 16 bits (24/32-bit, float) get TPDF
//! dither when quantised to 16 bits; 16-bit sources are only rounded after mixing or
//! resampling; 44.1 kHz/16-bit/stereo (and mono) input passes through bit for bit.
//!
//! # Tags
//! Title, artist, album, cover art (JPEG/PNG) and duration are read while decoding, from
//! ID3v2, Vorbis comments, FLAC metadata blocks, MP4 `moov` atoms and WAV `LIST/INFO`, so they
//! are found in pipes too wherever the format puts them before the audio. ICY `StreamTitle`
//! changes of internet radio arrive through [`PcmSource::take_metadata_update`] (as
//! "artist - title", station name as album), as do the tags of chained Ogg streams.
//!
//! Limitations of non-seekable inputs (pipes, stdin, HTTP):
//! - Tags stored after the audio — ID3v1 and APE at the end of MP3s — are not seen.
//! - An MP4/M4A whose `moov` index follows the audio cannot be decoded front to back: it is
//!   read into memory first (up to 256 MiB). `ffmpeg -movflags +faststart` fixes such files.
//! - The duration of Ogg streams is unknown (it is in the last page); for other formats
//!   without a length in their headers it is estimated from the byte length when known
//!   (files, HTTP `Content-Length`), otherwise unknown.
//! - ICY title changes are reported as soon as they are read, which is a little before the
//!   audio they belong to is played (by the decoder's read-ahead, a few seconds at most).
//!
//! HTTP: redirects are followed (up to 10); connecting and the response headers time out
//! after 10–15 s, and a stream that delivers nothing for 30 s fails with
//! [`AudioError::Http`]. `Icy-MetaData: 1` is always requested. Old SHOUTcast v1 servers that
//! answer with an `ICY 200 OK` status line instead of `HTTP/1.x` are not understood by the
//! HTTP client (ureq); Icecast and SHOUTcast v2 answer in HTTP. HTTPS uses rustls with the
//! bundled Mozilla root certificates (`webpki-roots`).
//!
//! # Queues
//! A [`Queue`] plays several inputs back to back as one source (gapless), each converted to
//! its format, with the tags switching where each starts; a thread opens and decodes the
//! next item ahead of time.
//!
//! # Damaged input
//! Empty, non-audio, unsupported and truncated inputs fail with an error naming the input.
//! Damaged packets in the middle are skipped with a `tracing` warning, as players do; audio
//! that stops well before the length the headers declare is played up to the cut and then
//! reported as [`AudioError::Truncated`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alac;
mod convert;
mod decode;
mod error;
mod http;
mod io;
pub mod magic;
mod metadata;
mod pcm;
mod queue;
mod raw;
mod resample;
mod sniff;
mod source;

pub use error::AudioError;
pub use metadata::{Artwork, ArtworkKind, Metadata};
pub use pcm::{PcmFormat, PcmSource, VecSource};
pub use queue::{Queue, QueueItem, QueueTimeline, TrackStart};
pub use raw::{RawEncoding, RawFormat};
pub use source::Source;
