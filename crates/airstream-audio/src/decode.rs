//! The decoding [`PcmSource`]: packets from symphonia's demuxer (or from raw PCM) → decoder →
//! [`Converter`] → interleaved i16, with tags, tag updates, damage warnings and truncation
//! detection on the way.

use crate::convert::{Converter, SampleKind};
use crate::http::{IcyTitles, title_metadata};
use crate::raw::{RawFormat, RawPackets};
use crate::{AudioError, Metadata, PcmFormat, PcmSource};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::time::Duration;
use symphonia::core::codecs::audio::well_known as codec_ids;
use symphonia::core::codecs::audio::{
    AudioCodecId, AudioCodecParameters, AudioDecoder, AudioDecoderOptions,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;
use symphonia::core::units::TimeBase;
use tracing::{debug, warn};

mod seek;

/// Damaged packets in a row after which we give up: a file this broken is not worth playing.
const MAX_ERRORS_IN_A_ROW: u32 = 100;
/// Individual warnings for damaged packets; the rest are counted and summarised at the end.
const MAX_DAMAGE_WARNINGS: u64 = 5;

/// A probed input ready for decoding.
pub(crate) struct ContainerInput {
    pub(crate) name: String,
    pub(crate) media: Box<dyn MediaSource>,
    /// Tags found by our own look at the header (WAV `LIST/INFO`).
    pub(crate) header_tags: Option<Metadata>,
    pub(crate) station: Option<String>,
    pub(crate) titles: Option<IcyTitles>,
}

enum Packets {
    Container(Box<dyn FormatReader>),
    Raw(RawPackets),
}

impl Packets {
    fn next_packet(&mut self) -> Result<Option<Packet>, SymError> {
        match self {
            Packets::Container(reader) => reader.next_packet(),
            Packets::Raw(raw) => raw.next_packet().map_err(SymError::IoError),
        }
    }
}

enum State {
    Running,
    /// End of input; holds an error to report once the audio before it has been read.
    Ended(Option<AudioError>),
}

pub(crate) struct Decoded {
    input: String,
    packets: Packets,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    bits_per_sample: Option<u32>,
    target: PcmFormat,
    converter: Option<Converter>,
    pending: Vec<i16>,
    pos: usize,
    metadata: Metadata,
    updates: VecDeque<Metadata>,
    station: Option<String>,
    titles: Option<IcyTitles>,
    state: State,
    timing: Timing,
    errors_in_a_row: u32,
    damaged_packets: u64,
    /// 16-bit little-endian PCM already in the target rate and layout: the packet bytes are
    /// the samples, so the decoder and converter are skipped (the commonest lossless case,
    /// and the decoder's buffer round trip was most of the sender's CPU time for WAV).
    passthrough: bool,
    /// The bytes come from a file or buffer that symphonia can seek in.
    seekable: bool,
    /// After a seek: decoded input frames to leave out before the converter.
    skip_in: u64,
    /// After a seek: output frames to drop before the first one asked for.
    skip_out: u64,
    /// After a seek: dither draws the next converter moves on by.
    dither_skip: u64,
}

/// What we know about the length of the stream and how far decoding got.
struct Timing {
    time_base: Option<TimeBase>,
    /// From the headers.
    declared: Option<Duration>,
    byte_len: Option<u64>,
    /// End of the last packet, in `time_base` units.
    last_end: Option<i64>,
    /// Where the next packet should start if none were lost (for damage warnings).
    next_expected: Option<i64>,
    packet_bytes: u64,
    packet_seconds: f64,
    packets: u64,
}

impl Timing {
    fn new(track: &Track, rate: Option<u32>, byte_len: Option<u64>) -> Self {
        let time_base = track
            .time_base
            .or_else(|| rate.and_then(TimeBase::try_from_recip));
        let declared = match (track.num_frames, rate) {
            (Some(frames), Some(rate)) if rate > 0 => {
                Some(Duration::from_secs_f64(frames as f64 / f64::from(rate)))
            }
            _ => time_base
                .zip(track.duration)
                .and_then(|(tb, d)| tb.calc_duration(d))
                .and_then(|t| Duration::try_from_secs_f64(t.as_secs_f64()).ok()),
        };
        Self {
            time_base,
            declared,
            byte_len,
            last_end: None,
            next_expected: None,
            packet_bytes: 0,
            packet_seconds: 0.0,
            packets: 0,
        }
    }

    fn seconds(&self, ts: i64) -> Option<f64> {
        let tb = self.time_base?;
        Some(f64::from(tb.numer.get()) * ts as f64 / f64::from(tb.denom.get()))
    }

    /// Records a packet; returns the number of seconds skipped before it, if any.
    fn record(&mut self, packet: &Packet) -> Option<f64> {
        let start = packet.pts.get();
        // `dur` leaves out the trimmed frames (encoder delay, padding), `pts` does not: a
        // Vorbis stream's first packet is all delay (pts -128, dur 0), not 128 missing frames.
        let span = [packet.trim_start, packet.dur, packet.trim_end]
            .iter()
            .fold(0u64, |sum, d| sum.saturating_add(d.get()));
        let end = start.saturating_add(i64::try_from(span).unwrap_or(i64::MAX));
        let gap = self
            .next_expected
            .filter(|&expected| start > expected)
            .and_then(|expected| self.seconds(start - expected));
        self.next_expected = Some(end);
        self.last_end = Some(end);
        self.packets += 1;
        self.packet_bytes += packet.data.len() as u64;
        self.packet_seconds += self.seconds(end - start).unwrap_or(0.0);
        gap
    }

    fn duration(&self) -> Option<Duration> {
        if self.declared.is_some() {
            return self.declared;
        }
        // Estimate from the average packet size once a few dozen packets have been seen.
        let byte_len = self.byte_len?;
        if self.packets < 32 || self.packet_seconds <= 0.0 || self.packet_bytes == 0 {
            return None;
        }
        let bytes_per_second = self.packet_bytes as f64 / self.packet_seconds;
        Duration::try_from_secs_f64(byte_len as f64 / bytes_per_second).ok()
    }

    /// Whether the audio stopped well short of the length the headers announced. Corrupt
    /// packets in the middle may shorten a stream a little, so the margin is 10% (at least
    /// 0.2 s).
    fn missing_seconds(&self) -> Option<f64> {
        let declared = self.declared?.as_secs_f64();
        let reached = self.seconds(self.last_end.unwrap_or(0))?;
        let missing = declared - reached;
        (missing > (declared * 0.1).max(0.2)).then_some(missing)
    }
}

/// Probes `input` with symphonia and prepares decoding to `target`.
pub(crate) fn open_container(
    input: ContainerInput,
    target: PcmFormat,
) -> Result<Decoded, AudioError> {
    let name = input.name;
    let byte_len = input.media.byte_len();
    let seekable = input.media.is_seekable();
    let mss = MediaSourceStream::new(input.media, MediaSourceStreamOptions::default());
    let mut reader = guard(&name, || {
        symphonia::default::get_probe().probe(
            &Hint::new(),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
    })?
    .map_err(|e| probe_error(&name, e))?;
    let container = container_name(reader.format_info().short_name);

    let Some(track) = reader.default_track(TrackType::Audio).cloned() else {
        return Err(AudioError::invalid(
            &name,
            format!("the {container} file contains no audio track"),
        ));
    };
    let params = audio_params(&track)
        .ok_or_else(|| AudioError::invalid(&name, "the audio track has no codec parameters"))?;
    let decoder = make_decoder(&params).map_err(|_| AudioError::UnsupportedFormat {
        input: name.clone(),
        format: format!("{} (in {container})", codec_name(params.codec)),
    })?;
    debug!(
        input = %name,
        container,
        codec = %codec_name(params.codec),
        rate = ?params.sample_rate,
        channels = ?params.channels.as_ref().map(symphonia::core::audio::Channels::count),
        bits = ?params.bits_per_sample,
        "opened"
    );

    let mut metadata = input.header_tags.unwrap_or_default();
    let mut log = reader.metadata();
    loop {
        if let Some(revision) = log.current() {
            metadata.overlay(Metadata::from_revision(revision));
        }
        if log.pop().is_none() {
            break;
        }
    }
    let timing = Timing::new(&track, params.sample_rate, byte_len);
    metadata.duration = timing.declared;
    let mut decoded = Decoded::new(
        name,
        Packets::Container(reader),
        decoder,
        &track,
        &params,
        target,
        metadata,
        timing,
        input.station,
        input.titles,
    );
    decoded.seekable = seekable;
    Ok(decoded)
}

/// Prepares decoding raw PCM of a known layout.
pub(crate) fn open_raw(
    name: String,
    reader: Box<dyn Read + Send>,
    byte_len: Option<u64>,
    format: RawFormat,
    target: PcmFormat,
) -> Result<Decoded, AudioError> {
    let params = format.codec_params();
    let decoder = make_decoder(&params)
        .map_err(|e| AudioError::invalid(&name, format!("cannot decode raw {format}: {e}")))?;
    let mut track = Track::new(0);
    track.with_codec_params(symphonia::core::codecs::CodecParameters::Audio(
        params.clone(),
    ));
    if let Some(len) = byte_len {
        track.with_num_frames(len / format.bytes_per_frame() as u64);
    }
    let timing = Timing::new(&track, Some(format.sample_rate), byte_len);
    let metadata = Metadata {
        duration: timing.declared,
        ..Metadata::default()
    };
    Ok(Decoded::new(
        name,
        Packets::Raw(RawPackets::new(reader, format)),
        decoder,
        &track,
        &params,
        target,
        metadata,
        timing,
        None,
        None,
    ))
}

fn audio_params(track: &Track) -> Option<AudioCodecParameters> {
    track.codec_params.as_ref()?.audio().cloned()
}

/// Significant bits per sample, when the stream says: FLAC and ALAC decode into 32-bit buffers
/// whatever their depth, so without this 16-bit audio would look like 32-bit and be dithered.
fn declared_bits(params: &AudioCodecParameters, decoder: &dyn AudioDecoder) -> Option<u32> {
    params
        .bits_per_sample
        .or(decoder.codec_params().bits_per_sample)
        .or_else(|| {
            // ISO MP4 and CAF leave it to the ALAC magic cookie (ALACSpecificConfig), which may
            // sit behind `frma` and `alac` atom headers.
            if params.codec != codec_ids::CODEC_ID_ALAC {
                return None;
            }
            let mut cookie: &[u8] = params.extra_data.as_deref()?;
            for atom in [b"frma", b"alac"] {
                if cookie.get(4..8) == Some(atom) {
                    cookie = cookie.get(12..)?;
                }
            }
            cookie.get(5).map(|&bits| u32::from(bits))
        })
}

fn make_decoder(params: &AudioCodecParameters) -> Result<Box<dyn AudioDecoder>, SymError> {
    symphonia::default::get_codecs().make_audio_decoder(params, &AudioDecoderOptions::default())
}

/// Runs a symphonia call, turning a panic on malformed data (a decoder bug) into an error
/// instead of taking the sender down.
fn guard<T>(input: &str, f: impl FnOnce() -> T) -> Result<T, AudioError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| AudioError::invalid(input, "the decoder crashed on damaged data"))
}

fn probe_error(name: &str, error: SymError) -> AudioError {
    match error {
        SymError::Unsupported(_) => AudioError::invalid(
            name,
            "not a recognised audio format (no MP3, WAV, AIFF, FLAC, Ogg, MP4/M4A, CAF or ADTS data found)",
        ),
        SymError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => AudioError::Truncated {
            input: name.to_owned(),
            detail: "the input ends inside its header".into(),
        },
        SymError::IoError(e) => AudioError::io(name, e),
        other => AudioError::invalid(name, format!("unreadable header: {other}")),
    }
}

fn container_name(short: &str) -> &str {
    match short {
        "wave" => "WAV",
        "aiff" => "AIFF",
        "ogg" => "Ogg",
        "isomp4" => "MP4",
        "flac" => "FLAC",
        "mp1" | "mp2" | "mp3" => "MPEG audio",
        "caf" => "CAF",
        "adts" => "ADTS",
        "mkv" => "Matroska",
        other => other,
    }
}

/// A readable name for codecs we may meet but not decode (and the ones we do).
fn codec_name(id: AudioCodecId) -> String {
    let name = match id {
        codec_ids::CODEC_ID_OPUS => "Opus",
        codec_ids::CODEC_ID_VORBIS => "Vorbis",
        codec_ids::CODEC_ID_SPEEX => "Speex",
        codec_ids::CODEC_ID_MP1 => "MP1",
        codec_ids::CODEC_ID_MP2 => "MP2",
        codec_ids::CODEC_ID_MP3 => "MP3",
        codec_ids::CODEC_ID_AAC => "AAC",
        codec_ids::CODEC_ID_AC3 => "AC-3",
        codec_ids::CODEC_ID_EAC3 => "E-AC-3",
        codec_ids::CODEC_ID_DCA => "DTS",
        codec_ids::CODEC_ID_WMA => "WMA",
        codec_ids::CODEC_ID_FLAC => "FLAC",
        codec_ids::CODEC_ID_ALAC => "ALAC",
        codec_ids::CODEC_ID_WAVPACK => "WavPack",
        codec_ids::CODEC_ID_MONKEYS_AUDIO => "Monkey's Audio",
        codec_ids::CODEC_ID_TTA => "TTA",
        codec_ids::CODEC_ID_TRUEHD => "TrueHD",
        codec_ids::CODEC_ID_ADPCM_MS => "Microsoft ADPCM",
        codec_ids::CODEC_ID_ADPCM_IMA_WAV | codec_ids::CODEC_ID_ADPCM_IMA_QT => "IMA ADPCM",
        codec_ids::CODEC_ID_PCM_ALAW => "A-law",
        codec_ids::CODEC_ID_PCM_MULAW => "µ-law",
        symphonia::core::codecs::audio::CODEC_ID_NULL_AUDIO => "an unknown codec",
        other => return format!("codec {other}"),
    };
    name.to_owned()
}

impl Decoded {
    #[allow(clippy::too_many_arguments)]
    fn new(
        input: String,
        packets: Packets,
        decoder: Box<dyn AudioDecoder>,
        track: &Track,
        params: &AudioCodecParameters,
        target: PcmFormat,
        metadata: Metadata,
        timing: Timing,
        station: Option<String>,
        titles: Option<IcyTitles>,
    ) -> Self {
        let bits_per_sample = declared_bits(params, decoder.as_ref());
        let passthrough = params.codec == codec_ids::CODEC_ID_PCM_S16LE
            && params.sample_rate == Some(target.sample_rate)
            && params
                .channels
                .as_ref()
                .is_some_and(|c| c.count() == usize::from(target.channels));
        Self {
            input,
            packets,
            decoder,
            track_id: track.id,
            bits_per_sample,
            target,
            converter: None,
            pending: Vec::new(),
            pos: 0,
            metadata,
            updates: VecDeque::new(),
            station,
            titles,
            state: State::Running,
            timing,
            errors_in_a_row: 0,
            damaged_packets: 0,
            passthrough,
            seekable: false,
            skip_in: 0,
            skip_out: 0,
            dither_skip: 0,
        }
    }

    /// Decodes until some output is pending or the stream ended.
    fn decode_more(&mut self) -> Result<(), AudioError> {
        while self.pending.is_empty() {
            let packets = &mut self.packets;
            let next = guard(&self.input, || packets.next_packet()).inspect_err(|_| {
                self.state = State::Ended(None);
            })?;
            let packet = match next {
                Ok(Some(packet)) => packet,
                Ok(None) => return self.end(None),
                Err(SymError::ResetRequired) => {
                    self.switch_track()?;
                    continue;
                }
                Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return self.end(Some("the input ends in the middle of the audio".into()));
                }
                Err(SymError::IoError(e)) => {
                    self.state = State::Ended(None);
                    return Err(self.io_error(e));
                }
                Err(SymError::DecodeError(msg)) => {
                    self.damaged(msg)?;
                    continue;
                }
                Err(other) => {
                    self.state = State::Ended(None);
                    return Err(AudioError::invalid(&self.input, other.to_string()));
                }
            };
            self.poll_container_metadata();
            if packet.track_id != self.track_id {
                continue;
            }
            if let Some(gap) = self.timing.record(&packet)
                && gap > 0.001
            {
                warn!(input = %self.input, "skipped {gap:.3} s of damaged audio");
            }
            if self.passthrough {
                let data = &packet.data[..];
                self.pending.extend(
                    data[..data.len() / 2 * 2]
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]])),
                );
                // A packet of whole frames, as the demuxer cuts them.
                let whole = self.pending.len() / usize::from(self.target.channels)
                    * usize::from(self.target.channels);
                self.pending.truncate(whole);
                continue;
            }
            let decoder = &mut self.decoder;
            let decoded = match guard(&self.input, || decoder.decode(&packet)) {
                Ok(decoded) => decoded,
                Err(e) => {
                    self.state = State::Ended(None);
                    return Err(e);
                }
            };
            match decoded {
                Ok(buf) => {
                    self.errors_in_a_row = 0;
                    let spec = buf.spec();
                    let (rate, channels) = (spec.rate(), spec.channels().count());
                    if self
                        .converter
                        .as_ref()
                        .is_some_and(|c| !c.accepts(rate, channels))
                    {
                        // The stream changed shape (chained Ogg, new MP3 header): drain the old
                        // converter and start a new one.
                        if let Some(mut old) = self.converter.take() {
                            old.finish(&mut self.pending)
                                .map_err(|e| AudioError::invalid(&self.input, e))?;
                        }
                    }
                    if self.converter.is_none() {
                        let mut fresh = Converter::new(
                            self.target,
                            rate,
                            spec.channels(),
                            SampleKind::of(&buf, self.bits_per_sample),
                        )
                        .map_err(|e| AudioError::invalid(&self.input, e))?;
                        fresh.skip_dither(std::mem::take(&mut self.dither_skip));
                        self.converter = Some(fresh);
                    }
                    let Some(converter) = self.converter.as_mut() else {
                        return Err(AudioError::invalid(&self.input, "no converter"));
                    };
                    // After a seek that restarts the resampler: its input starts on a
                    // period boundary, which may be inside this packet.
                    let skip = if converter.is_float() {
                        let skip = self.skip_in.min(buf.frames() as u64);
                        self.skip_in -= skip;
                        skip as usize
                    } else {
                        0
                    };
                    converter
                        .push_from(&buf, skip, &mut self.pending)
                        .map_err(|e| AudioError::invalid(&self.input, e))?;
                }
                Err(SymError::DecodeError(msg)) => self.damaged(msg)?,
                Err(SymError::IoError(e)) => {
                    let msg = e.to_string();
                    self.damaged(&msg)?;
                }
                Err(SymError::ResetRequired) => self.decoder.reset(),
                Err(SymError::Unsupported(what)) => {
                    self.state = State::Ended(None);
                    return Err(AudioError::UnsupportedFormat {
                        input: self.input.clone(),
                        format: format!("a stream using {what}"),
                    });
                }
                Err(other) => {
                    self.state = State::Ended(None);
                    return Err(AudioError::invalid(&self.input, other.to_string()));
                }
            }
        }
        Ok(())
    }

    /// After a seek: drops decoded output before the frame asked for.
    fn drop_skipped_output(&mut self) {
        if self.skip_out == 0 {
            return;
        }
        let channels = usize::from(self.target.channels.max(1));
        let frames = ((self.pending.len() - self.pos) / channels)
            .min(usize::try_from(self.skip_out).unwrap_or(usize::MAX));
        self.pos += frames * channels;
        self.skip_out -= frames as u64;
        if self.pos == self.pending.len() {
            self.pending.clear();
            self.pos = 0;
        }
    }

    fn io_error(&self, e: io::Error) -> AudioError {
        // ureq reports timeouts and resets as I/O errors on the body reader.
        if self.input.starts_with("http://") || self.input.starts_with("https://") {
            AudioError::Http {
                input: self.input.clone(),
                detail: format!("stream broke off: {e}"),
            }
        } else {
            AudioError::io(&self.input, e)
        }
    }

    /// A packet that cannot be decoded: skipped with a warning, as players do.
    fn damaged(&mut self, msg: &str) -> Result<(), AudioError> {
        self.damaged_packets += 1;
        self.errors_in_a_row += 1;
        if self.damaged_packets <= MAX_DAMAGE_WARNINGS {
            warn!(input = %self.input, "skipping a damaged packet: {msg}");
        }
        if self.errors_in_a_row >= MAX_ERRORS_IN_A_ROW {
            self.state = State::Ended(None);
            return Err(AudioError::invalid(
                &self.input,
                format!("{MAX_ERRORS_IN_A_ROW} damaged packets in a row ({msg}); giving up"),
            ));
        }
        Ok(())
    }

    /// End of input: flush the converter; keep a truncation error for after the audio.
    fn end(&mut self, truncated: Option<String>) -> Result<(), AudioError> {
        if let Some(converter) = &mut self.converter {
            converter
                .finish(&mut self.pending)
                .map_err(|e| AudioError::invalid(&self.input, e))?;
        }
        if self.damaged_packets > MAX_DAMAGE_WARNINGS {
            warn!(input = %self.input, "skipped {} damaged packets in total", self.damaged_packets);
        }
        let truncated = truncated.or_else(|| {
            self.timing.missing_seconds().map(|missing| {
                format!("the audio stops {missing:.1} s before the length its header declares")
            })
        });
        if let Packets::Raw(raw) = &self.packets
            && raw.trailing_bytes > 0
        {
            warn!(input = %self.input, "ignored {} bytes at the end (not a whole frame)", raw.trailing_bytes);
        }
        self.state = State::Ended(truncated.map(|detail| AudioError::Truncated {
            input: self.input.clone(),
            detail,
        }));
        Ok(())
    }

    /// A chained Ogg stream starts a new logical stream: new track, new decoder.
    fn switch_track(&mut self) -> Result<(), AudioError> {
        let Packets::Container(reader) = &mut self.packets else {
            return Err(AudioError::invalid(&self.input, "unexpected stream reset"));
        };
        let track = reader
            .default_track(TrackType::Audio)
            .cloned()
            .ok_or_else(|| AudioError::invalid(&self.input, "the next stream has no audio"))?;
        let params = audio_params(&track)
            .ok_or_else(|| AudioError::invalid(&self.input, "the next stream has no codec"))?;
        self.decoder = make_decoder(&params).map_err(|_| AudioError::UnsupportedFormat {
            input: self.input.clone(),
            format: codec_name(params.codec),
        })?;
        self.track_id = track.id;
        self.bits_per_sample = declared_bits(&params, self.decoder.as_ref());
        self.timing = Timing::new(&track, params.sample_rate, None);
        debug!(input = %self.input, "switched to the next chained stream");
        Ok(())
    }

    /// New tags appearing in the stream (chained Ogg streams) become updates.
    fn poll_container_metadata(&mut self) {
        let Packets::Container(reader) = &mut self.packets else {
            return;
        };
        let mut log = reader.metadata();
        while !log.is_latest() {
            log.pop();
            if let Some(revision) = log.current() {
                let mut update = Metadata::from_revision(revision);
                update.duration = self.timing.declared;
                if update != self.metadata && !update.is_empty() {
                    self.metadata = update.clone();
                    self.updates.push_back(update);
                }
            }
        }
    }

    fn collect_icy_titles(&mut self) {
        let Some(titles) = &self.titles else {
            return;
        };
        for title in titles.take() {
            let update = title_metadata(&title, self.station.as_deref());
            self.metadata = update.clone();
            self.updates.push_back(update);
        }
    }
}

impl PcmSource for Decoded {
    fn format(&self) -> PcmFormat {
        self.target
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, AudioError> {
        let channels = usize::from(self.target.channels.max(1));
        if buf.len() < channels {
            return Err(AudioError::invalid(
                &self.input,
                "read buffer holds less than one frame",
            ));
        }
        loop {
            let available = self.pending.len() - self.pos;
            if available > 0 {
                let n = (buf.len() / channels).min(available / channels) * channels;
                buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
                self.pos += n;
                if self.pos == self.pending.len() {
                    self.pending.clear();
                    self.pos = 0;
                }
                return Ok(n / channels);
            }
            match &mut self.state {
                State::Running => {
                    self.decode_more()?;
                    self.drop_skipped_output();
                }
                State::Ended(deferred) => {
                    return match deferred.take() {
                        Some(error) => Err(error),
                        None => Ok(0),
                    };
                }
            }
        }
    }

    fn metadata(&self) -> Metadata {
        let mut metadata = self.metadata.clone();
        if metadata.duration.is_none() {
            metadata.duration = self.timing.duration();
        }
        metadata
    }

    fn take_metadata_update(&mut self) -> Option<Metadata> {
        self.collect_icy_titles();
        self.updates.pop_front()
    }

    fn duration(&self) -> Option<Duration> {
        self.timing.duration()
    }

    fn seek(&mut self, frame: u64) -> Result<u64, AudioError> {
        self.seek_frame(frame).map(|()| frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_decoder_becomes_an_error() {
        let err = guard("song.mp3", || -> u32 { panic!("index out of bounds") }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "song.mp3: the decoder crashed on damaged data"
        );
        assert_eq!(guard("song.mp3", || 7).unwrap(), 7);
    }

    #[test]
    fn codecs_and_containers_have_readable_names() {
        assert_eq!(codec_name(codec_ids::CODEC_ID_OPUS), "Opus");
        assert_eq!(codec_name(codec_ids::CODEC_ID_WMA), "WMA");
        assert_eq!(container_name("isomp4"), "MP4");
        assert_eq!(container_name("wave"), "WAV");
    }
}
