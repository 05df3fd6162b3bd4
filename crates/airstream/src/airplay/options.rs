//! Knobs of a playback; the defaults are pyatv's (airplay.md §1.4, §1.5).

use airstream_proto::hap::HapCredentials;
use airstream_proto::pairing::Credentials;
use std::time::Duration;

/// How a `play_url` session behaves: start position, credentials, polling.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlayOptions {
    /// Where to start in the media.
    pub start_position: Duration,
    /// Legacy pairing credentials: when set, pair-verify runs before `/play`.
    pub credentials: Option<Credentials>,
    /// HAP credentials (AirPlay 2, tvOS 14+): when set, pair-verify opens the encrypted
    /// session; without them, transient pairing is used where the device allows it.
    pub hap_credentials: Option<HapCredentials>,
    /// `/play` attempts in total while the device answers 500.
    pub play_attempts: u32,
    /// Wait between `/play` attempts.
    pub retry_delay: Duration,
    /// Wait between `/playback-info` polls.
    pub poll_interval: Duration,
    /// Replies without a duration tolerated before playback starts; the next one gives up.
    pub startup_polls: u32,
    /// How long the device may take to answer one request.
    pub request_timeout: Duration,
}

impl Default for PlayOptions {
    fn default() -> Self {
        Self {
            start_position: Duration::ZERO,
            credentials: None,
            hap_credentials: None,
            play_attempts: 3,
            retry_delay: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            startup_polls: 5,
            request_timeout: crate::connection::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}
