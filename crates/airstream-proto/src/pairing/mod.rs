//! Legacy AirPlay device authentication ("PIN pairing", tvOS 10.2+, the AirPlay 1 path):
//! pair-setup (SRP-6a with Apple's changes + an AES-GCM key exchange) and pair-verify
//! (X25519 + Ed25519 + AES-CTR). Every byte is specified in shared/protocol/airplay.md §2.
//!
//! Sans-IO: each step takes the previous reply body and returns the next request body;
//! the caller does the HTTP. Client side: [`PairSetup`] → [`PairSetupProof`] →
//! [`PairSetupKeyExchange`], and [`PairVerify`]. Device side (for test peers):
//! [`PairSetupServer`] and [`PairVerifyServer`], deterministic given their inputs.

mod apple_srp;
mod credentials;
mod device;
mod error;
mod fields;
mod keys;
mod setup;
mod verify;

#[cfg(test)]
mod tests;

pub use credentials::{Credentials, CredentialsParseError};
pub use device::{DeviceIdentity, PairSetupServer, PairVerifyServer, PairedClient};
pub use error::PairingError;
pub use setup::{PairSetup, PairSetupKeyExchange, PairSetupProof};
pub use verify::PairVerify;

/// `POST` with no body: makes the device show its PIN.
pub const PAIR_PIN_START_PATH: &str = "/pair-pin-start";
/// `POST` target of the three pair-setup steps (binary plist bodies).
pub const PAIR_SETUP_PATH: &str = "/pair-setup-pin";
/// `POST` target of the two pair-verify steps (raw 68-byte bodies).
pub const PAIR_VERIFY_PATH: &str = "/pair-verify";
/// Content type of pair-setup request and reply bodies.
pub const PAIR_SETUP_CONTENT_TYPE: &str = "application/x-apple-binary-plist";
/// Content type of pair-verify request bodies.
pub const PAIR_VERIFY_CONTENT_TYPE: &str = "application/octet-stream";
/// User-Agent that pairing requests carry (what iOS sent when the protocol was captured).
pub const PAIRING_USER_AGENT: &str = "AirPlay/320.20";
