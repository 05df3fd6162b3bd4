//! The caller's side of a running playback: its status, a way to stop it, and its outcome.

use crate::error::{Error, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Where a playback is, as the device's `/playback-info` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlaybackState {
    /// `/play` was accepted; the device has not reported a duration yet.
    Loading,
    /// The device reports a duration: the media is playing (or paused on the TV).
    Playing,
    /// The device played the media and stopped (end of media, or stopped on the TV).
    Finished,
    /// Stopped from our side ([`PlaybackHandle::stop`] or dropping the handle).
    Stopped,
    /// The device reported an error, or the session broke; the outcome has the error.
    Failed,
}

impl PlaybackState {
    /// Lower-case name, as the CLI prints it in `--json` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            PlaybackState::Loading => "loading",
            PlaybackState::Playing => "playing",
            PlaybackState::Finished => "finished",
            PlaybackState::Stopped => "stopped",
            PlaybackState::Failed => "failed",
        }
    }

    /// True for the states a playback ends in (finished, stopped, failed).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PlaybackState::Finished | PlaybackState::Stopped | PlaybackState::Failed
        )
    }
}

/// The latest state, with position and duration (seconds) from the last `/playback-info`
/// that had them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaybackStatus {
    /// Where the playback is.
    pub state: PlaybackState,
    /// Seconds into the media, as last reported.
    pub position: Option<f64>,
    /// Length of the media in seconds, as last reported.
    pub duration: Option<f64>,
}

impl PlaybackStatus {
    pub(crate) fn loading() -> Self {
        Self {
            state: PlaybackState::Loading,
            position: None,
            duration: None,
        }
    }
}

/// How a playback that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackEnd {
    /// The device played the media to the end (or it was stopped on the device).
    Finished,
    /// We stopped it.
    Stopped,
}

/// Stops a playback from anywhere (a Ctrl-C handler, another task).
#[derive(Debug, Clone)]
pub struct Stopper(CancellationToken);

impl Stopper {
    /// Closes the connection to the device (which ends playback there) and the file server.
    /// The playback's outcome becomes [`PlaybackEnd::Stopped`].
    pub fn stop(&self) {
        self.0.cancel();
    }
}

/// A playback started by [`super::play_url`]. Dropping it stops the playback.
#[derive(Debug)]
pub struct PlaybackHandle {
    media_url: String,
    warnings: Vec<String>,
    status: watch::Receiver<PlaybackStatus>,
    stop: CancellationToken,
    task: JoinHandle<Result<PlaybackEnd>>,
    _stop_on_drop: DropGuard,
}

impl PlaybackHandle {
    pub(crate) fn new(
        media_url: String,
        warnings: Vec<String>,
        status: watch::Receiver<PlaybackStatus>,
        stop: CancellationToken,
        task: JoinHandle<Result<PlaybackEnd>>,
    ) -> Self {
        Self {
            media_url,
            warnings,
            status,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            task,
        }
    }

    /// The URL the device was given (for a local file, the file server's URL).
    pub fn media_url(&self) -> &str {
        &self.media_url
    }

    /// Things worth telling the user that did not stop the playback (e.g. an https URL).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The current status.
    pub fn status(&self) -> PlaybackStatus {
        *self.status.borrow()
    }

    /// A watch of the status: changes on every state change and every position update.
    pub fn subscribe(&self) -> watch::Receiver<PlaybackStatus> {
        self.status.clone()
    }

    /// Asks the session to stop the device's playback and end (does not wait).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// A clonable stop button, usable while [`Self::finished`] is being awaited.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }

    /// Waits for the end: `Finished`, `Stopped`, or the error that ended it.
    pub async fn finished(self) -> Result<PlaybackEnd> {
        let Self {
            task,
            _stop_on_drop,
            ..
        } = self;
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::ConnectionLost(
                "the playback task was cancelled (runtime shutting down)".into(),
            )),
        }
    }
}
