//! RAOP (AirPlay 1 audio) sender core: the RTSP session and the audio key; the audio path
//! itself is the stream engine ([`crate::stream`]).

pub mod crypto;
mod encryption;
pub(crate) mod requests;
pub mod session;

pub use encryption::Encryption;
pub use session::{RaopSession, SessionConfig, SessionError, SessionEvent, Transport};
