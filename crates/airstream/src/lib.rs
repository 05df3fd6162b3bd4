//! Stream audio to AirPlay receivers over RAOP, and play URLs on Apple TVs.
//!
//! This crate is the tokio shell around the sans-IO [`airstream_proto`] core: it owns the
//! sockets, the one timer each stream sleeps to, discovery, the file server, pairing and the
//! credential store. The stream itself is [`airstream_proto::stream`].
#![warn(missing_docs)]

pub mod airplay;
pub(crate) mod connection;
pub mod credentials;
pub mod discovery;
mod error;
pub mod hap;
pub mod pairing;
pub mod raop;

pub use error::{Error, ErrorKind, Result};
