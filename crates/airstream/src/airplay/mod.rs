//! Playing a URL or a local file on an Apple TV (pyatv's `play_url`): the AirPlay 1 path,
//! and on tvOS 14+ the AirPlay 2 path that opens an encrypted session first
//! ([`crate::hap`]; airplay.md §1.7).
//!
//! ```no_run
//! # async fn demo() -> airstream::Result<()> {
//! use airstream::airplay::{AirPlayDevice, PlayOptions, play_url};
//! let device = AirPlayDevice::new("192.168.1.20:7000".parse().unwrap());
//! let handle = play_url(&device, "movie.mp4", PlayOptions::default()).await?;
//! let end = handle.finished().await?;
//! # Ok(()) }
//! ```
//!
//! On the AirPlay 2 path, [`PlayOptions::hap_credentials`] (from `airstream pair`) are
//! verified; without them, transient pairing is used where the device allows it.

mod body;
mod device;
// Public only for tests/fileserver.rs (connection cap, range requests); not API.
#[doc(hidden)]
pub mod fileserver;
mod handle;
mod media;
mod options;
mod playback_info;
mod session;
mod verify;

pub(crate) use body::new_session_id;
pub use device::AirPlayDevice;
pub use handle::{PlaybackEnd, PlaybackHandle, PlaybackState, PlaybackStatus, Stopper};
pub use media::Media;
pub use options::PlayOptions;

/// Plays `url_or_path` on `device`: an existing local path is served by a one-file web
/// server; anything else must be an http(s) URL. Returns once the device accepted `/play`;
/// the handle follows the playback to its end.
pub async fn play_url(
    device: &AirPlayDevice,
    url_or_path: &str,
    options: PlayOptions,
) -> crate::Result<PlaybackHandle> {
    device.play_route()?;
    play_media(device, Media::from_arg(url_or_path)?, options).await
}

/// [`play_url`] with the URL-or-file decision already made.
pub async fn play_media(
    device: &AirPlayDevice,
    media: Media,
    options: PlayOptions,
) -> crate::Result<PlaybackHandle> {
    session::start(device, media, options).await
}
