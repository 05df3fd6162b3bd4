//! What can go wrong while pairing or verifying.

/// A pairing step failed. Messages name the step and never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairingError {
    /// The PIN is not 1 to 8 decimal digits.
    #[error("PIN must be 1 to 8 decimal digits")]
    InvalidPin,
    /// Device side: the client's SRP proof (M1) does not match, i.e. it used another PIN.
    #[error("wrong PIN")]
    BadPin,
    /// Client side: the device's SRP proof (M2) is wrong, so it does not share our session
    /// key (it does not know the PIN, or the exchange was tampered with).
    #[error("the device's pairing proof (M2) is wrong; the device cannot be trusted")]
    DeviceProofMismatch,
    /// A body could not be parsed or a field has the wrong type or length.
    #[error("{step}: {detail}")]
    MalformedMessage {
        /// The pairing message that was malformed.
        step: &'static str,
        /// What is missing or wrong in it.
        detail: String,
    },
    /// An AES-GCM authentication tag did not verify.
    #[error("{step}: the encrypted key does not decrypt (authentication tag mismatch)")]
    DecryptionFailed {
        /// The pairing message whose encrypted data failed.
        step: &'static str,
    },
    /// Client side: the device's pair-verify signature does not verify with its known key.
    #[error("pair-verify: the device's signature does not match its public key")]
    DeviceSignatureMismatch,
    /// Device side: the client's pair-verify signature does not verify with its key.
    #[error("pair-verify: the client's signature does not match its public key")]
    ClientSignatureMismatch,
    /// Device side: pair-verify from a client key this device never paired with.
    #[error("pair-verify: client key {ed25519_public_key} is not paired with this device")]
    UnknownClient {
        /// The client's public key, hex (a public key, not a secret).
        ed25519_public_key: String,
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

impl PairingError {
    pub(crate) fn malformed(step: &'static str, detail: impl Into<String>) -> Self {
        PairingError::MalformedMessage {
            step,
            detail: detail.into(),
        }
    }
}
