//! Playing a URL or a local file on an Apple TV (pyatv's `play_url`), AirPlay 1 path.
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
//! Devices whose features ask for the AirPlay 2 session path (tvOS 14+) get
//! [`crate::Error::Unsupported`]: that path is not built yet.

mod body;
mod device;
pub mod fileserver;
mod handle;
mod media;
mod options;
mod playback_info;
mod session;
mod verify;

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
    device.airplay1_route()?;
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
