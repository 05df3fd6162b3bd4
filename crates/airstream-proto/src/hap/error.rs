//! What can go wrong in HAP pairing, pair-verify and the encrypted channel.

/// A HAP pairing step failed. Messages name the step and never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HapError {
    /// The PIN is not 1 to 8 decimal digits.
    #[error("PIN must be 1 to 8 decimal digits")]
    InvalidPin,
    /// Client side: the device answered M3 with an authentication error (HAP's answer to a
    /// wrong PIN). Device side: the client's SRP proof does not match.
    #[error("wrong PIN")]
    BadPin,
    /// Client side: the device refused pair-verify (it does not know our key any more).
    #[error("the device no longer accepts these credentials (pair-verify refused)")]
    CredentialsRejected,
    /// The device sent a TLV8 Error item at `step`.
    #[error("{step}: the device refused with HAP error {code}")]
    DeviceRefused {
        /// The pairing message that carried the error (`pair-setup M4`...).
        step: &'static str,
        /// HAP's error code (2 authentication, 3 backoff, 6 unavailable...).
        code: u8,
    },
    /// Client side: the device's SRP proof (M4) is wrong: it does not know the PIN, or the
    /// exchange was tampered with.
    #[error("pair-setup M4: the device's SRP proof is wrong; the device cannot be trusted")]
    DeviceProofMismatch,
    /// A body could not be parsed, or a field is missing or has the wrong length.
    #[error("{step}: {detail}")]
    MalformedMessage {
        /// The pairing message that was malformed.
        step: &'static str,
        /// What is missing or wrong in it.
        detail: String,
    },
    /// A ChaCha20-Poly1305 tag did not verify.
    #[error("{step}: the encrypted data does not decrypt (authentication tag mismatch)")]
    DecryptionFailed {
        /// The pairing message whose encrypted data failed.
        step: &'static str,
    },
    /// Client side: the device's Ed25519 signature does not verify with its long-term key.
    #[error("{step}: the device's signature does not match its long-term key")]
    DeviceSignatureMismatch {
        /// The pairing message carrying the signature.
        step: &'static str,
    },
    /// Client side, pair-verify: the device identifies as another device than the one paired.
    #[error("pair-verify M2: the device identifies as another device than the one paired")]
    DeviceIdentityMismatch,
    /// Device side: the client's Ed25519 signature does not verify.
    #[error("{step}: the client's signature does not match its key")]
    ClientSignatureMismatch {
        /// The pairing message carrying the signature.
        step: &'static str,
    },
    /// Device side: pair-verify from a controller this device never paired with.
    #[error("pair-verify M3: the controller is not paired with this device")]
    UnknownController,
    /// An X25519 public key that would make the shared secret predictable.
    #[error("{step}: the peer's X25519 key is a low-order point")]
    LowOrderKey {
        /// The pairing message carrying the key.
        step: &'static str,
    },
    /// Device side: a request arrived in a state that does not expect it.
    #[error("{step} arrived out of order (expected {expected})")]
    UnexpectedMessage {
        /// The message that arrived.
        step: &'static str,
        /// The message the state machine was waiting for.
        expected: &'static str,
    },
}

impl HapError {
    pub(crate) fn malformed(step: &'static str, detail: impl Into<String>) -> Self {
        HapError::MalformedMessage {
            step,
            detail: detail.into(),
        }
    }
}
