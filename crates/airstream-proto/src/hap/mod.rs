//! HAP pairing as AirPlay 2 devices speak it (airplay2.md §1–3): TLV8 bodies, pair-setup
//! (full PIN pairing M1–M6 and transient M1–M4) over SRP-6a 3072/SHA-512, pair-verify over
//! X25519 + Ed25519, and the ChaCha20-Poly1305 frame codec of the encrypted RTSP channel.
//!
//! Sans-IO: each client step takes the previous reply body and returns the next request
//! body; the caller does the RTSP. Client side: [`PairSetup`] → [`PairSetupProof`] →
//! [`PairSetupExchange`] → [`HapCredentials`]; [`TransientPairSetup`] →
//! [`TransientPairSetupProof`] → [`SessionKeys`]; [`PairVerify`] → [`PairVerifyFinish`] →
//! [`SessionKeys`]. Device side (fakes, tests): [`PairSetupServer`], [`PairVerifyServer`].
//! Randomness comes in as arguments, so every step is reproducible.

mod credentials;
mod crypto;
mod device;
mod error;
mod frame;
mod setup;
mod srp;
mod tlv;
mod verify;

#[cfg(test)]
mod tests;

pub use credentials::{
    ClientIdentity, HapCredentials, HapCredentialsParseError, MAX_IDENTIFIER_LEN,
};
pub use device::{DeviceIdentity, DeviceStep, PairSetupServer, PairVerifyServer, PairedController};
pub use error::HapError;
pub use frame::{
    FrameDecoder, FrameEncoder, FrameError, HEADER_LEN, MAX_FRAME_LEN, MAX_FRAME_PAYLOAD,
    SessionKeys, TAG_LEN,
};
pub use setup::{
    PairSetup, PairSetupExchange, PairSetupProof, TRANSIENT_PIN, TransientPairSetup,
    TransientPairSetupProof,
};
pub use tlv::{ERROR_AUTHENTICATION, FLAG_TRANSIENT, MAX_MESSAGE_LEN, Tlv8, TlvType};
pub use verify::{PairVerify, PairVerifyFinish};

/// `POST` target of pair-setup (full and transient).
pub const PAIR_SETUP_PATH: &str = "/pair-setup";
/// `POST` target of pair-verify.
pub const PAIR_VERIFY_PATH: &str = "/pair-verify";
/// Content type of every pairing body.
pub const CONTENT_TYPE: &str = "application/octet-stream";
/// `X-Apple-HKP` header value of full pair-setup and pair-verify.
pub const HKP_PAIRING: &str = "3";
/// `X-Apple-HKP` header value of transient pair-setup.
pub const HKP_TRANSIENT: &str = "4";
