//! AirPlay 2 wire formats, sans-IO (shared/protocol/airplay2.md §4–§6): the PTP master that
//! receivers such as nqptp follow, the anchor packet that ties RTP time to the master clock,
//! realtime audio packets sealed with ChaCha20-Poly1305, and the session and stream SETUP
//! bodies with their replies. No sockets, no clock reads: callers pass `now` in.

pub mod anchor;
pub mod audio;
pub mod clock;
pub mod ptp;
pub mod ptp_master;
pub mod session;
pub mod setup;
pub mod setup_reply;

pub use anchor::{ANCHOR_LEN, Anchor, AnchorError};
pub use audio::{AudioCipher, AudioPacketError, OpenedAudio};
pub use clock::{ClockIdentity, PtpTimestamp};
pub use ptp::{PtpError, PtpHeader, PtpMessage, PtpPort};
pub use ptp_master::{PtpMaster, PtpTransmit};
pub use session::{Ap2Session, Ap2SessionConfig, Ap2State};
pub use setup::{SessionSetup, SetupError, StreamSetup, Timing};
pub use setup_reply::{SessionSetupReply, StreamSetupReply};
