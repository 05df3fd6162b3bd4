//! Sans-IO core of airstream: every AirPlay/RAOP wire format and session state machine,
//! with no sockets and no clock reads. Callers pass bytes and `now` in and poll bytes out,
//! so everything here is testable with known-answer vectors and virtual time.
#![forbid(unsafe_code)]

pub mod alac;
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
pub mod stream;
