//! Stream audio to AirPlay receivers over RAOP, and play URLs on Apple TVs.
//!
//! This crate is the tokio shell around the sans-IO [`airstream_proto`] core: it owns the
//! sockets, the real-time pacer, discovery, the file server, pairing and the credential store.
#![warn(missing_docs)]

pub mod airplay;
pub(crate) mod connection;
pub mod credentials;
pub mod discovery;
mod error;
pub mod hap;
pub mod pairing;
// Documented by the lead with the stream-engine rewrite (issue 14); the allow goes then.
#[allow(missing_docs)]
pub mod raop;

pub use error::{Error, ErrorKind, Result};
