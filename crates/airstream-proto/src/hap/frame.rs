//! The encrypted channel after pair-verify or transient pair-setup (airplay2.md §1):
//! frames of a 2-byte little-endian length (also the AAD), ≤ 1024 bytes of ChaCha20-Poly1305
//! ciphertext and a 16-byte tag; nonce = 4 zero bytes + a 64-bit little-endian counter,
//! one counter per direction starting at 0.

use std::fmt;

use super::crypto::{self, Key};

/// Most plaintext bytes one frame carries.
pub const MAX_FRAME_PAYLOAD: usize = 1024;
/// Length of the Poly1305 tag after each frame's ciphertext.
pub const TAG_LEN: usize = 16;
/// Length of the frame header (the little-endian payload length).
pub const HEADER_LEN: usize = 2;
/// Largest frame on the wire: header, payload, tag.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_FRAME_PAYLOAD + TAG_LEN;

/// Counters this far around the expected one are tried when a tag fails, only to say
/// "counter mismatch" rather than "bad tag" in the error.
const COUNTER_PROBE: u64 = 4;

/// The channel broke: the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame header announces more than 1024 bytes.
    #[error("encrypted frame announces {len} bytes, more than the {MAX_FRAME_PAYLOAD} allowed")]
    Oversize {
        /// The payload length the header announces.
        len: usize,
    },
    /// The frame's tag does not verify under the expected key and counter.
    #[error("encrypted frame {counter} does not authenticate (bad tag)")]
    BadTag {
        /// The nonce counter the frame was expected under.
        counter: u64,
    },
    /// The frame authenticates, but under another counter: replayed, dropped or reordered.
    #[error("encrypted frame was sealed with counter {found}, expected {expected}")]
    CounterMismatch {
        /// The counter this direction is at.
        expected: u64,
        /// The counter the frame was actually sealed with.
        found: u64,
    },
    /// 2^64 frames in one direction; the nonce would repeat.
    #[error("encrypted channel counter exhausted")]
    CounterExhausted,
}

/// Keys of one side of the channel.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// Seals what this side sends.
    pub write: Key,
    /// Opens what this side receives.
    pub read: Key,
}

const CONTROL_SALT: &str = "Control-Salt";
const CONTROL_WRITE: &str = "Control-Write-Encryption-Key";
const CONTROL_READ: &str = "Control-Read-Encryption-Key";

impl SessionKeys {
    /// The sender's (controller's) RTSP channel keys from the shared secret.
    pub fn client(shared: &[u8]) -> Self {
        SessionKeys {
            write: crypto::hkdf(shared, CONTROL_SALT, CONTROL_WRITE),
            read: crypto::hkdf(shared, CONTROL_SALT, CONTROL_READ),
        }
    }

    /// The device's RTSP channel keys: the client's, swapped.
    pub fn device(shared: &[u8]) -> Self {
        let SessionKeys { write, read } = SessionKeys::client(shared);
        SessionKeys {
            write: read,
            read: write,
        }
    }

    /// An encoder and a decoder for the two directions.
    pub fn into_codec(self) -> (FrameEncoder, FrameDecoder) {
        (FrameEncoder::new(self.write), FrameDecoder::new(self.read))
    }
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys").finish_non_exhaustive()
    }
}

/// Seals outgoing bytes into frames.
pub struct FrameEncoder {
    key: Key,
    counter: u64,
}

impl FrameEncoder {
    /// An encoder whose first frame uses counter 0.
    pub fn new(key: Key) -> Self {
        FrameEncoder { key, counter: 0 }
    }

    /// Seals `plaintext` into as many frames as it takes (none for an empty input).
    pub fn encode(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, FrameError> {
        let frames = plaintext.len().div_ceil(MAX_FRAME_PAYLOAD);
        let mut out = Vec::with_capacity(plaintext.len() + frames * (HEADER_LEN + TAG_LEN));
        for chunk in plaintext.chunks(MAX_FRAME_PAYLOAD) {
            let header = (chunk.len() as u16).to_le_bytes();
            let nonce = crypto::nonce(self.counter.to_le_bytes());
            self.counter = self
                .counter
                .checked_add(1)
                .ok_or(FrameError::CounterExhausted)?;
            out.extend_from_slice(&header);
            out.extend_from_slice(&crypto::seal(&self.key, &nonce, &header, chunk));
        }
        Ok(out)
    }
}

/// Opens incoming frames. Holds at most one frame (header included) between calls.
pub struct FrameDecoder {
    key: Key,
    counter: u64,
    pending: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder that expects counter 0 first.
    pub fn new(key: Key) -> Self {
        FrameDecoder {
            key,
            counter: 0,
            pending: Vec::with_capacity(MAX_FRAME_LEN),
        }
    }

    /// Consumes bytes from the front of `input` up to the end of at most one frame.
    /// Returns how many bytes it took and the frame's plaintext once a frame is complete.
    /// A caller loops until `input` is used up.
    pub fn decode_one(&mut self, input: &[u8]) -> Result<(usize, Option<Vec<u8>>), FrameError> {
        let mut consumed = 0;
        if self.pending.len() < HEADER_LEN {
            let take = (HEADER_LEN - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            consumed += take;
            if self.pending.len() < HEADER_LEN {
                return Ok((consumed, None));
            }
        }
        let len = usize::from(u16::from_le_bytes([self.pending[0], self.pending[1]]));
        if len > MAX_FRAME_PAYLOAD {
            return Err(FrameError::Oversize { len });
        }
        let frame_len = HEADER_LEN + len + TAG_LEN;
        let take = (frame_len - self.pending.len()).min(input.len() - consumed);
        self.pending
            .extend_from_slice(&input[consumed..consumed + take]);
        consumed += take;
        if self.pending.len() < frame_len {
            return Ok((consumed, None));
        }
        let plaintext = self.open_pending()?;
        self.pending.clear();
        Ok((consumed, Some(plaintext)))
    }

    /// Decodes all of `input`; returns the plaintext of every frame it completes.
    pub fn decode(&mut self, mut input: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let (consumed, plaintext) = self.decode_one(input)?;
            if let Some(plaintext) = plaintext {
                out.extend_from_slice(&plaintext);
            }
            input = &input[consumed..];
        }
        Ok(out)
    }

    /// Whether a frame is partly received (the stream must not end here).
    pub fn is_mid_frame(&self) -> bool {
        !self.pending.is_empty()
    }

    fn open_pending(&mut self) -> Result<Vec<u8>, FrameError> {
        let (header, sealed) = self.pending.split_at(HEADER_LEN);
        let open = |counter: u64| {
            crypto::open(
                &self.key,
                &crypto::nonce(counter.to_le_bytes()),
                header,
                sealed,
            )
        };
        if let Some(plaintext) = open(self.counter) {
            self.counter = self
                .counter
                .checked_add(1)
                .ok_or(FrameError::CounterExhausted)?;
            return Ok(plaintext);
        }
        let expected = self.counter;
        let nearby =
            expected.saturating_sub(COUNTER_PROBE)..=expected.saturating_add(COUNTER_PROBE);
        match nearby
            .filter(|&c| c != expected)
            .find(|&c| open(c).is_some())
        {
            Some(found) => Err(FrameError::CounterMismatch { expected, found }),
            None => Err(FrameError::BadTag { counter: expected }),
        }
    }
}

impl fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}
