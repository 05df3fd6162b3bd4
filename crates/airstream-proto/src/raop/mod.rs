//! RAOP (AirPlay 1 audio) sender core: the RTSP session and the RTP audio path.

pub mod crypto;
pub mod session;
pub mod streamer;

pub use session::{RaopSession, SessionConfig, SessionError, SessionEvent, Transport};
pub use streamer::{AudioStreamer, StreamerConfig, StreamerStats};
