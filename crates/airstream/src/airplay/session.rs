//! The `/play` session (airplay.md §1.3–1.5): one connection for the whole playback,
//! optional pair-verify, `/play` with retries on 500, then `/playback-info` polls until the
//! media ends, fails or we stop. Stopping = closing the connection. On tvOS 14+ (§1.7) the
//! connection is an encrypted AirPlay 2 session ([`crate::hap`]) and gets `/feedback`.

use super::body::{PLAY_PATH, new_session_id, play_request, playback_info_request};
use super::device::{AirPlayDevice, PlayRoute};
use super::fileserver::FileServer;
use super::handle::{PlaybackEnd, PlaybackHandle, PlaybackState, PlaybackStatus};
use super::media::Media;
use super::options::PlayOptions;
use super::playback_info::{PlaybackInfo, PlaybackTracker, Verdict};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::hap::play::{self as airplay2, Airplay2Session, FEEDBACK_INTERVAL};
use airstream_proto::rtsp::{Request, Response};
use std::time::Instant;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub(crate) async fn start(
    device: &AirPlayDevice,
    media: Media,
    options: PlayOptions,
) -> Result<PlaybackHandle> {
    let route = match device.play_route()? {
        // Known only by address, but HAP credentials were given for it: only AirPlay 2
        // devices make those, and a bare `/play` would not work there.
        PlayRoute::AirPlay1(_)
            if device.capabilities.is_none() && options.hap_credentials.is_some() =>
        {
            PlayRoute::AirPlay2 {
                transient_pairing: false,
            }
        }
        route => route,
    };
    let needs_pairing = match route {
        PlayRoute::AirPlay1(route) => route.pair_verify && options.credentials.is_none(),
        PlayRoute::AirPlay2 { transient_pairing } => {
            !transient_pairing && options.hap_credentials.is_none()
        }
    };
    if needs_pairing {
        // The device would answer 403 (or show an error on screen): say what to do instead.
        return Err(Error::PairingRequired {
            device: device.label(),
            command: device.pair_command(),
        });
    }
    let mut warnings = Vec::new();
    if let Some(warning) = media.warning() {
        tracing::warn!("{warning}");
        warnings.push(warning);
    }
    let (server, media_url) = match media {
        Media::File(path) => {
            let server = FileServer::start(&path, device.address).await?;
            let url = server.url().to_string();
            (Some(server), url)
        }
        Media::Url(url) => (None, url),
    };

    // Dropping `conn` or `server` on an early return closes them.
    let (mut conn, verified) = match route {
        PlayRoute::AirPlay1(_) => {
            let mut conn = Connection::connect(device.address).await?;
            conn.set_request_timeout(options.request_timeout);
            let verified = match &options.credentials {
                Some(credentials) => {
                    super::verify::pair_verify(&mut conn, device, credentials).await?;
                    true
                }
                None => false,
            };
            (Channel::Plain(conn), verified)
        }
        PlayRoute::AirPlay2 { transient_pairing } => {
            let session = airplay2::open(
                device,
                options.hap_credentials.as_ref(),
                transient_pairing,
                options.request_timeout,
            )
            .await?;
            tracing::debug!(uri = session.uri(), "AirPlay 2 session open");
            (
                Channel::Airplay2(Box::new(session)),
                options.hap_credentials.is_some(),
            )
        }
    };
    let session = Session {
        device: device.clone(),
        media_url: media_url.clone(),
        verified,
    };
    session.play(&mut conn, &options).await?;

    let (status_tx, status_rx) = watch::channel(PlaybackStatus::loading());
    let stop = CancellationToken::new();
    let task = tokio::spawn(session.follow(conn, server, options, status_tx, stop.clone()));
    Ok(PlaybackHandle::new(
        media_url, warnings, status_rx, stop, task,
    ))
}

/// The playback connection: plain (AirPlay 1) or an encrypted AirPlay 2 session.
enum Channel {
    Plain(Connection),
    Airplay2(Box<Airplay2Session>),
}

impl Channel {
    async fn request(&mut self, request: &Request) -> Result<Response> {
        match self {
            Channel::Plain(conn) => conn.request(request).await,
            Channel::Airplay2(session) => session.conn.request(request.clone()).await,
        }
    }

    async fn shutdown(self) {
        match self {
            Channel::Plain(conn) => conn.shutdown().await,
            Channel::Airplay2(session) => session.conn.shutdown().await,
        }
    }
}

struct Session {
    device: AirPlayDevice,
    media_url: String,
    /// Pair-verify succeeded on this connection, so a 401/403 means "credentials rejected".
    verified: bool,
}

impl Session {
    /// Sends `/play`, retrying on 500 (a device still busy with a previous item).
    async fn play(&self, conn: &mut Channel, options: &PlayOptions) -> Result<()> {
        let attempts = options.play_attempts.max(1);
        let mut attempt = 1;
        loop {
            let session_id = new_session_id();
            let request = match conn {
                Channel::Plain(_) => {
                    play_request(&self.media_url, options.start_position, &session_id)
                }
                Channel::Airplay2(_) => {
                    airplay2::play_request(&self.media_url, options.start_position, &session_id)
                }
            };
            let response = conn.request(&request).await?;
            match response.status {
                200..=299 => {
                    if let Channel::Airplay2(session) = conn {
                        session.start_playback(&self.device).await?;
                    }
                    return Ok(());
                }
                500 if attempt < attempts => {
                    tracing::info!(
                        attempt,
                        "{} answered /play with 500, retrying",
                        self.device.label()
                    );
                    attempt += 1;
                    tokio::time::sleep(options.retry_delay).await;
                }
                500 => {
                    return Err(Error::Protocol {
                        device: self.device.label(),
                        request: format!("POST {PLAY_PATH} ({attempts} attempts)"),
                        status: response.status,
                        reason: response.reason,
                    });
                }
                _ => return Err(self.refusal(&format!("POST {PLAY_PATH}"), &response)),
            }
        }
    }

    /// The error for a non-2xx reply that is not retried.
    fn refusal(&self, request: &str, response: &Response) -> Error {
        let status = response.status;
        match (status, self.verified) {
            (401 | 403, true) => Error::CredentialsRejected {
                device: self.device.label(),
                reason: format!("{request} answered {status}"),
                command: self.device.pair_command(),
            },
            // 503 is what devices answer when they want authentication and got none.
            (401 | 403 | 503, false) => Error::PairingRequired {
                device: self.device.label(),
                command: self.device.pair_command(),
            },
            _ => Error::Protocol {
                device: self.device.label(),
                request: request.to_string(),
                status,
                reason: response.reason.clone(),
            },
        }
    }

    /// Polls `/playback-info` until the end, then closes the connection and the file server
    /// before publishing the final state (so whoever sees it can rely on both being closed).
    async fn follow(
        self,
        mut conn: Channel,
        server: Option<FileServer>,
        options: PlayOptions,
        status: watch::Sender<PlaybackStatus>,
        stop: CancellationToken,
    ) -> Result<PlaybackEnd> {
        let result = self.poll(&mut conn, &options, &status, &stop).await;
        conn.shutdown().await;
        if let Some(server) = server {
            server.shutdown().await;
        }
        let state = match &result {
            Ok(PlaybackEnd::Finished) => PlaybackState::Finished,
            Ok(PlaybackEnd::Stopped) => PlaybackState::Stopped,
            Err(_) => PlaybackState::Failed,
        };
        status.send_modify(|s| s.state = state);
        match &result {
            Ok(end) => tracing::info!(?end, "playback ended"),
            Err(e) => tracing::info!("playback failed: {e}"),
        }
        result
    }

    async fn poll(
        &self,
        conn: &mut Channel,
        options: &PlayOptions,
        status: &watch::Sender<PlaybackStatus>,
        stop: &CancellationToken,
    ) -> Result<PlaybackEnd> {
        let mut tracker = PlaybackTracker::new(options.startup_polls);
        let request = playback_info_request();
        let mut last_feedback = Instant::now();
        loop {
            // An AirPlay 2 session ends unless kept alive.
            if let Channel::Airplay2(session) = conn
                && last_feedback.elapsed() >= FEEDBACK_INTERVAL
            {
                session.feedback(&self.device).await?;
                last_feedback = Instant::now();
            }
            let response = tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(PlaybackEnd::Stopped),
                response = conn.request(&request) => response?,
            };
            if !response.is_success() {
                return Err(self.refusal(&format!("GET {}", request.uri), &response));
            }
            let info = PlaybackInfo::parse(&response.body).map_err(|detail| Error::BadMessage {
                device: self.device.label(),
                detail,
            })?;
            match tracker.on_reply(info) {
                Verdict::Loading => {}
                Verdict::Playing { position, duration } => {
                    status.send_if_modified(|s| {
                        let new = PlaybackStatus {
                            state: PlaybackState::Playing,
                            position,
                            duration: Some(duration),
                        };
                        std::mem::replace(s, new) != new
                    });
                }
                Verdict::Finished => return Ok(PlaybackEnd::Finished),
                Verdict::NeverStarted => return Err(self.never_started(options.startup_polls)),
                Verdict::Failed(error) => {
                    return Err(Error::PlaybackFailed {
                        device: self.device.label(),
                        url: self.media_url.clone(),
                        code: error.code,
                        domain: error.domain,
                    });
                }
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(PlaybackEnd::Stopped),
                () = tokio::time::sleep(options.poll_interval) => {}
            }
        }
    }

    fn never_started(&self, startup_polls: u32) -> Error {
        let hint = if self
            .media_url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            " (it is an https URL: the device may refuse its certificate)"
        } else {
            ""
        };
        Error::Timeout(format!(
            "{} never started playing {}: {} /playback-info replies without a duration{hint}",
            self.device.label(),
            self.media_url,
            startup_polls + 1,
        ))
    }
}
