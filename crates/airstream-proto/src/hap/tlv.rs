//! TLV8, the body format of HAP pairing (airplay2.md §2): type byte, length byte, value.
//! A value longer than 255 bytes travels as consecutive items of the same type, every one
//! but the last exactly 255 bytes long.

use super::HapError;

/// Largest body we decode or encode. The biggest real message (M2 or M3: a 384-byte SRP
/// value plus a proof) is under 1 KiB; 64 KiB leaves room for unknown fields without
/// letting a peer make us hold more.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

const MAX_FRAGMENT: usize = 255;

/// The item types HAP pairing uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TlvType {
    /// kTLVType_Method: pair-setup, pair-verify, add/remove pairing.
    Method = 0x00,
    /// kTLVType_Identifier: a pairing identifier.
    Identifier = 0x01,
    /// kTLVType_Salt: the 16-byte SRP salt.
    Salt = 0x02,
    /// kTLVType_PublicKey: an SRP or X25519 public key.
    PublicKey = 0x03,
    /// kTLVType_Proof: an SRP proof (M1 or M2).
    Proof = 0x04,
    /// kTLVType_EncryptedData: a ChaCha20-Poly1305 sealed sub-TLV with its tag.
    EncryptedData = 0x05,
    /// kTLVType_State: the message number (M1…M6).
    State = 0x06,
    /// kTLVType_Error: the peer refuses (authentication, backoff...).
    Error = 0x07,
    /// kTLVType_Signature: an Ed25519 signature.
    Signature = 0x0A,
    /// kTLVType_Flags: pairing flags (transient pairing).
    Flags = 0x13,
}

/// Value of [`TlvType::Flags`] that asks for transient pairing.
pub const FLAG_TRANSIENT: u8 = 0x10;
/// Value of [`TlvType::Error`]: authentication failed (wrong PIN, unknown controller, bad
/// signature).
pub const ERROR_AUTHENTICATION: u8 = 0x02;

/// A decoded TLV8 message: items in wire order, fragments joined.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tlv8 {
    items: Vec<(u8, Vec<u8>)>,
}

impl Tlv8 {
    /// An empty message.
    pub fn new() -> Self {
        Tlv8::default()
    }

    /// Appends an item (builder style).
    #[must_use]
    pub fn with(mut self, kind: TlvType, value: impl Into<Vec<u8>>) -> Self {
        self.items.push((kind as u8, value.into()));
        self
    }

    /// The first item of `kind`, if any.
    pub fn get(&self, kind: TlvType) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|(t, _)| *t == kind as u8)
            .map(|(_, v)| v.as_slice())
    }

    /// The items in wire order, as (type, value).
    pub fn items(&self) -> &[(u8, Vec<u8>)] {
        &self.items
    }

    /// Encodes the message, splitting values over 255 bytes. An empty value is one item
    /// with length 0.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, value) in &self.items {
            if value.is_empty() {
                out.extend_from_slice(&[*kind, 0]);
            }
            for chunk in value.chunks(MAX_FRAGMENT) {
                out.push(*kind);
                out.push(chunk.len() as u8);
                out.extend_from_slice(chunk);
            }
        }
        out
    }

    /// Decodes a body of at most [`MAX_MESSAGE_LEN`] bytes. A fragment of exactly 255 bytes
    /// followed by an item of the same type continues that value.
    pub fn decode(step: &'static str, bytes: &[u8]) -> Result<Self, HapError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(HapError::malformed(
                step,
                format!(
                    "{} bytes of TLV8, more than the {MAX_MESSAGE_LEN} allowed",
                    bytes.len()
                ),
            ));
        }
        let mut items: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut continues = false;
        let mut rest = bytes;
        while let [kind, len, tail @ ..] = rest {
            let len = usize::from(*len);
            let Some(value) = tail.get(..len) else {
                return Err(HapError::malformed(
                    step,
                    format!(
                        "TLV8 item of type {kind:#04x} says {len} bytes but {} remain",
                        tail.len()
                    ),
                ));
            };
            match items.last_mut() {
                Some((last, joined)) if continues && *last == *kind => {
                    joined.extend_from_slice(value);
                }
                _ => items.push((*kind, value.to_vec())),
            }
            continues = len == MAX_FRAGMENT;
            rest = &tail[len..];
        }
        if !rest.is_empty() {
            return Err(HapError::malformed(step, "TLV8 ends inside an item header"));
        }
        Ok(Tlv8 { items })
    }

    /// The value of `kind`, or a typed error naming the step and the missing field.
    pub(crate) fn require(&self, step: &'static str, kind: TlvType) -> Result<&[u8], HapError> {
        self.get(kind)
            .ok_or_else(|| HapError::malformed(step, format!("no {kind:?} item")))
    }

    /// The value of `kind` as exactly `N` bytes.
    pub(crate) fn require_array<const N: usize>(
        &self,
        step: &'static str,
        kind: TlvType,
    ) -> Result<[u8; N], HapError> {
        let value = self.require(step, kind)?;
        value.try_into().map_err(|_| {
            HapError::malformed(
                step,
                format!("{kind:?} is {} bytes, expected {N}", value.len()),
            )
        })
    }

    /// Checks the State item, and turns an Error item into a typed error first.
    pub(crate) fn expect_state(&self, step: &'static str, state: u8) -> Result<(), HapError> {
        if let Some(code) = self.get(TlvType::Error) {
            return Err(HapError::DeviceRefused {
                step,
                code: code.first().copied().unwrap_or(0),
            });
        }
        match self.require(step, TlvType::State)? {
            [found] if *found == state => Ok(()),
            found => Err(HapError::malformed(
                step,
                format!("State is {found:02x?}, expected [{state:02x}]"),
            )),
        }
    }
}
