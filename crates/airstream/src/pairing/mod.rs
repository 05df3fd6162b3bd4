//! Legacy PIN pairing with an Apple TV ("device authentication", tvOS 10.2+), and the
//! pair-verify that proves the resulting credentials on every later connection.
//!
//! ```no_run
//! # async fn demo() -> airstream::Result<()> {
//! use airstream::airplay::AirPlayDevice;
//! let device = AirPlayDevice::new("192.168.1.20:7000".parse().unwrap());
//! // The PIN is asked for only once the TV shows it.
//! let credentials = airstream::pairing::pair(&device, || async { Ok(read_pin()) }, None).await?;
//! println!("{}", credentials.to_secret_string());
//! # Ok(()) }
//! # fn read_pin() -> String { String::new() }
//! ```
//!
//! The wire protocol (SRP with Apple's changes, AES-GCM, X25519/Ed25519/AES-CTR) lives in
//! [`airstream_proto::pairing`]; this module does the HTTP exchanges. AirPlay 2 devices use
//! HAP pairing instead ([`crate::hap`]); [`pairing_kind`] tells which one a device wants.

mod kind;
mod setup;
pub(crate) mod verify;

pub use airstream_proto::pairing::{Credentials, CredentialsParseError};
pub use kind::{CannotPair, PairingKind, pairing_kind};
pub use setup::{WRONG_PIN_STATUSES, pair};
