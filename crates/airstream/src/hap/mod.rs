//! AirPlay 2 sessions: HAP pairing (full PIN and transient), pair-verify, and the encrypted
//! RTSP connection they open. The wire protocol lives in [`airstream_proto::hap`]; this
//! module does the RTSP exchanges.
//!
//! ```no_run
//! # async fn demo() -> airstream::Result<()> {
//! use airstream::airplay::AirPlayDevice;
//! use airstream_proto::rtsp::{Request, Version};
//! let device = AirPlayDevice::new("192.168.1.30:7000".parse().unwrap());
//! let credentials = airstream::hap::pair(&device, || async { Ok("3939".to_string()) }).await?;
//! let mut conn = airstream::hap::verified_session(&device, &credentials).await?;
//! let reply = conn
//!     .request(Request::new("GET_PARAMETER", "rtsp://192.168.1.30/1", Version::Rtsp10)
//!         .with_body("text/parameters", "volume\r\n"))
//!     .await?;
//! # Ok(()) }
//! ```

mod connection;
mod info;
pub(crate) mod play;
mod session;

pub use airstream_proto::hap::HapCredentials;
pub use connection::HapConnection;
pub use info::probe_capabilities;
pub use session::{pair, transient_session, verified_session};
