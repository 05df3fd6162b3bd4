use crate::{AudioError, Metadata};
use std::time::Duration;

/// Sample layout of interleaved signed 16-bit PCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    /// Frames per second.
    pub sample_rate: u32,
    /// Samples per frame (interleaved).
    pub channels: u16,
}

impl PcmFormat {
    /// What every RAOP receiver takes.
    pub const RAOP: PcmFormat = PcmFormat {
        sample_rate: 44_100,
        channels: 2,
    };
}

/// A pull source of interleaved i16 PCM in its [`PcmSource::format`], already converted.
pub trait PcmSource: Send {
    /// The layout of the samples `read` delivers; fixed for the source's life.
    fn format(&self) -> PcmFormat;

    /// Fills the front of `buf` with whole frames; returns the number of frames written.
    /// `Ok(0)` means end of input. May block (file or network I/O).
    fn read(&mut self, buf: &mut [i16]) -> Result<usize, AudioError>;

    /// Tags known so far (from the container headers).
    fn metadata(&self) -> Metadata {
        Metadata::default()
    }

    /// A change discovered while reading (an ICY `StreamTitle`, the next chained track).
    fn take_metadata_update(&mut self) -> Option<Metadata> {
        None
    }

    /// Length of the input, when the headers tell or it can be estimated.
    fn duration(&self) -> Option<Duration> {
        None
    }

    /// Continues from frame `frame` of the output (0 is the first): the next `read` starts
    /// exactly there. Returns where that is in the item playing, in frames: `frame` itself,
    /// except in a [`Queue`](crate::Queue). Inputs read as streams (pipes, stdin, URLs)
    /// cannot seek and fail with [`AudioError::NotSeekable`], as does a position beyond the
    /// end; the source is then unchanged.
    fn seek(&mut self, frame: u64) -> Result<u64, AudioError> {
        let _ = frame;
        Err(AudioError::NotSeekable {
            input: "the source".into(),
            reason: "this kind of source cannot seek".into(),
        })
    }

    /// Ends the item playing at frame `frame` of the output there: the next `read` gives
    /// the start of the item after it, and frames count on from `frame`. Only a
    /// [`Queue`](crate::Queue) has items; other sources fail with
    /// [`AudioError::NotSkippable`] and are unchanged.
    fn skip(&mut self, frame: u64) -> Result<(), AudioError> {
        let _ = frame;
        Err(AudioError::NotSkippable {
            input: "the source".into(),
            reason: "it is one input, not a queue".into(),
        })
    }
}

/// In-memory PCM, for generated audio and tests.
pub struct VecSource {
    format: PcmFormat,
    samples: Vec<i16>,
    position: usize,
    metadata: Metadata,
}

impl VecSource {
    /// A source that plays `samples` (interleaved in `format`) once, with no tags.
    pub fn new(format: PcmFormat, samples: Vec<i16>) -> Self {
        Self {
            format,
            samples,
            position: 0,
            metadata: Metadata::default(),
        }
    }

    /// Attaches tags that `metadata` will report.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

impl PcmSource for VecSource {
    fn format(&self) -> PcmFormat {
        self.format
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, AudioError> {
        let channels = usize::from(self.format.channels.max(1));
        let frames = (buf.len() / channels).min((self.samples.len() - self.position) / channels);
        let n = frames * channels;
        buf[..n].copy_from_slice(&self.samples[self.position..self.position + n]);
        self.position += n;
        Ok(frames)
    }

    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn seek(&mut self, frame: u64) -> Result<u64, AudioError> {
        let channels = self.format.channels.max(1) as usize;
        let sample = usize::try_from(frame)
            .ok()
            .and_then(|f| f.checked_mul(channels))
            .filter(|&s| s <= self.samples.len())
            .ok_or_else(|| AudioError::NotSeekable {
                input: "<samples>".into(),
                reason: format!("frame {frame} is beyond its end"),
            })?;
        self.position = sample;
        Ok(frame)
    }

    fn duration(&self) -> Option<Duration> {
        let frames = self.samples.len() / usize::from(self.format.channels.max(1));
        Some(Duration::from_secs_f64(
            frames as f64 / f64::from(self.format.sample_rate),
        ))
    }
}
