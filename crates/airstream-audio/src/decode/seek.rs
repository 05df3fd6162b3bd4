//! Seeking a decoded input to an exact frame of its output.
//!
//! symphonia seeks (accurately) to a packet at or before the frame asked for; the frames
//! before it are decoded and dropped. Where the input is resampled, the resampler restarts
//! on a boundary of its period a little before the frame (see
//! [`restart_period`](crate::resample::restart_period)), so that after the warm-up it puts
//! out exactly the frames a read from the start would have given at that position; the
//! frames of the warm-up are dropped. Dither (inputs of more than 16 bits) is moved on to
//! where a read from the start would have it. Lossless inputs therefore give, from the frame
//! asked for, the same samples as a read through; lossy decoders restart their state at the
//! packet symphonia seeks to, which may differ from a read through in the first frames.

use super::{Decoded, Packets, State, guard};
use crate::AudioError;
use crate::resample::restart_period;
use symphonia::core::errors::{Error as SymError, SeekErrorKind};
use symphonia::core::formats::{SeekMode, SeekTo};
use symphonia::core::units::Timestamp;

/// Output frames the resampler runs before the frame asked for, at least (besides one
/// period): the sinc resampler's history is 256 input frames.
const WARM_UP_FRAMES: u64 = 4096;

impl Decoded {
    /// Continues from output frame `frame` (0 is the first frame of the input).
    pub(crate) fn seek_frame(&mut self, frame: u64) -> Result<(), AudioError> {
        let not_seekable = |reason: &str| AudioError::NotSeekable {
            input: self.input.clone(),
            reason: reason.to_owned(),
        };
        if !self.seekable || !matches!(self.packets, Packets::Container(_)) {
            return Err(not_seekable(
                "it is read as a stream (a pipe, stdin or a URL), which cannot seek",
            ));
        }
        if let Some(length) = self.timing.declared {
            let last = (length.as_secs_f64() * f64::from(self.target.sample_rate)).round() as u64;
            if frame > last {
                return Err(not_seekable(&format!(
                    "{:.3} s is beyond its end ({:.3} s)",
                    frame as f64 / f64::from(self.target.sample_rate),
                    length.as_secs_f64()
                )));
            }
            if frame == last {
                // Nothing left to play; some demuxers cannot seek to the very end.
                self.pending.clear();
                self.pos = 0;
                self.skip_out = 0;
                self.state = State::Ended(None);
                return Ok(());
            }
        }
        let rate_in = self
            .decoder
            .codec_params()
            .sample_rate
            .ok_or_else(|| not_seekable("its sample rate is unknown"))?;
        let rate_out = self.target.sample_rate;
        // The input frame decoding restarts from, and the output frame that is.
        let (first_in, first_out) = if rate_in == rate_out {
            (frame, frame)
        } else {
            let (period_in, period_out) = restart_period(rate_in, rate_out);
            let periods = frame.saturating_sub(period_out.max(WARM_UP_FRAMES)) / period_out;
            let first_in = periods
                .checked_mul(period_in)
                .ok_or_else(|| not_seekable("the position is beyond any end"))?;
            (first_in, periods * period_out)
        };
        let track_id = self.track_id;
        let ts = self.timestamp_of(first_in, rate_in);
        let Packets::Container(reader) = &mut self.packets else {
            return Err(not_seekable("it holds raw PCM read as a stream"));
        };
        let seeked = guard(&self.input, || {
            reader.seek(
                SeekMode::Accurate,
                SeekTo::Timestamp {
                    ts: Timestamp::new(ts),
                    track_id,
                },
            )
        })?
        .map_err(|e| match e {
            SymError::SeekError(SeekErrorKind::OutOfRange) => {
                not_seekable("the position is beyond its end")
            }
            SymError::SeekError(_) => not_seekable("its container cannot seek"),
            other => AudioError::invalid(&self.input, format!("seek failed: {other}")),
        })?;
        let reached_in = self
            .frames_of(seeked.actual_ts.get(), rate_in)
            .min(first_in);
        self.decoder.reset();
        self.converter = None;
        self.pending.clear();
        self.pos = 0;
        self.state = State::Running;
        self.timing.next_expected = None;
        self.errors_in_a_row = 0;
        let channels = u64::from(self.target.channels);
        if rate_in == rate_out {
            // Output frames are input frames: decode from the packet, drop up to `frame`.
            self.skip_in = 0;
            self.skip_out = frame - reached_in;
            self.dither_skip = reached_in * channels;
        } else {
            // Feed the resampler from the period boundary on; drop its warm-up.
            self.skip_in = first_in - reached_in;
            self.skip_out = frame - first_out;
            self.dither_skip = first_out * channels;
        }
        Ok(())
    }

    /// The track's timestamp of input frame `frame`.
    fn timestamp_of(&self, frame: u64, rate: u32) -> i64 {
        let ticks = match self.timing.time_base {
            Some(tb) => {
                u128::from(frame) * u128::from(tb.denom.get())
                    / (u128::from(tb.numer.get()) * u128::from(rate))
            }
            None => u128::from(frame),
        };
        i64::try_from(ticks).unwrap_or(i64::MAX)
    }

    /// The input frame at the track's timestamp `ts`.
    fn frames_of(&self, ts: i64, rate: u32) -> u64 {
        let ts = u128::try_from(ts).unwrap_or(0);
        let frames = match self.timing.time_base {
            Some(tb) => {
                ts * u128::from(tb.numer.get()) * u128::from(rate) / u128::from(tb.denom.get())
            }
            None => ts,
        };
        u64::try_from(frames).unwrap_or(u64::MAX)
    }
}
