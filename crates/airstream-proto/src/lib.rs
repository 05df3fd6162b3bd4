//! Sans-IO core of airstream: every AirPlay/RAOP wire format and session state machine,
//! with no sockets and no clock reads. Callers pass bytes and `now` in and poll bytes out,
//! so everything here is testable with known-answer vectors and virtual time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alac;
// Documented by the lead with the stream-engine rewrite (issue 14); the allow goes then.
#[allow(missing_docs)]
pub mod ap2;
pub mod bplist;
pub mod capabilities;
pub mod digest;
pub mod dmap;
pub mod format;
pub mod hap;
pub mod ntp;
pub mod pairing;
pub mod play;
pub mod raop;
pub mod route;
pub mod rtp;
pub mod rtsp;
pub mod sdp;
// Documented by the lead with the stream-engine rewrite (issue 14); the allow goes then.
#[allow(missing_docs)]
pub mod stream;
