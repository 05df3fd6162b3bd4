//! The RTSP side of a running stream: a task that owns the connection and the session state
//! machine, sends what the session queues (metadata, volume, keep-alives, TEARDOWN) one at a
//! time, and reports warnings or a lost connection. Running it apart from the pacer means a
//! slow RTSP reply never delays an audio packet.

use crate::connection::Connection;
use crate::error::{Error, Result};
use airstream_proto::raop::{RaopSession, SessionError, SessionEvent};
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::mpsc;

/// Receivers such as Apple TV 4 and HomePod drop sessions after ~30 s without RTSP traffic.
pub(crate) const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(25);
/// While streaming, a receiver that takes longer than this to answer counts as gone, so a
/// vanished receiver is noticed within about three seconds (see the driver's probes).
const STREAMING_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(crate) enum Command {
    Volume(f32),
    Parameter {
        content_type: &'static str,
        body: Bytes,
        rtptime: Option<u32>,
    },
    Flush {
        next_seq: u16,
        next_rtptime: u32,
    },
    /// Is the receiver still there? (An `OPTIONS` that must be answered promptly.)
    Probe,
    Teardown,
}

#[derive(Debug)]
pub(crate) enum Report {
    Warning(String),
    /// The receiver answered a request.
    Alive,
    /// The session ended: TEARDOWN answered (`Ok`) or the connection failed.
    Ended(Result<()>),
}

/// Where a member's control task reports, tagged with the member's index in the group.
pub(crate) struct Reporter {
    pub(crate) index: usize,
    pub(crate) tx: mpsc::UnboundedSender<(usize, Report)>,
}

impl Reporter {
    fn send(&self, report: Report) {
        let _ = self.tx.send((self.index, report));
    }
}

/// The warning for a refused non-fatal request, logged once here.
pub(crate) fn warning(peer: &str, request: &str, status: u16, reason: &str) -> String {
    let text = format!("{peer} refused {request}: {status} {reason}");
    tracing::warn!("{text}");
    text
}

/// Drives the RTSP session for the rest of the stream.
pub(crate) async fn run(
    mut conn: Connection,
    mut session: RaopSession,
    mut commands: mpsc::Receiver<Command>,
    reports: Reporter,
    keep_alive: Duration,
) {
    conn.set_request_timeout(STREAMING_REQUEST_TIMEOUT);
    let result = pump(&mut conn, &mut session, &mut commands, &reports, keep_alive).await;
    conn.shutdown().await;
    reports.send(Report::Ended(result));
}

async fn pump(
    conn: &mut Connection,
    session: &mut RaopSession,
    commands: &mut mpsc::Receiver<Command>,
    reports: &Reporter,
    keep_alive: Duration,
) -> Result<()> {
    let peer = conn.peer().to_string();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    loop {
        while let Some(request) = session.poll_request() {
            let response = conn.request(&request).await?;
            session
                .handle_response(&response)
                .map_err(|e| session_error(&peer, e))?;
            reports.send(Report::Alive);
            while let Some(event) = session.poll_event() {
                match event {
                    SessionEvent::Warning {
                        request,
                        status,
                        reason,
                    } => reports.send(Report::Warning(warning(&peer, &request, status, &reason))),
                    SessionEvent::Closed => return Ok(()),
                    SessionEvent::TransportReady(_)
                    | SessionEvent::Recording
                    | SessionEvent::Flushed => {}
                }
            }
        }
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Volume(db)) => session.set_volume(db),
                Some(Command::Parameter { content_type, body, rtptime }) => {
                    session.set_parameter(content_type, body, rtptime);
                }
                Some(Command::Flush { next_seq, next_rtptime }) => {
                    session.flush(next_seq, next_rtptime);
                }
                Some(Command::Probe) => session.keep_alive(),
                Some(Command::Teardown) | None => session.teardown(),
            },
            _ = ticker.tick() => session.keep_alive(),
            closed = conn.closed() => {
                closed?;
                // The receiver spoke without being asked; nothing we expect, ignore it.
            }
        }
    }
}

/// Maps a session failure to the public error, naming the receiver.
pub(crate) fn session_error(peer: &str, e: SessionError) -> Error {
    match e {
        SessionError::PasswordRequired => Error::PasswordRequired {
            receiver: peer.to_string(),
        },
        SessionError::BadPassword => Error::BadPassword {
            receiver: peer.to_string(),
        },
        SessionError::Busy => Error::DeviceBusy {
            receiver: peer.to_string(),
        },
        SessionError::Forbidden => Error::PairingRequired {
            device: peer.to_string(),
            command: format!("airstream pair --address {peer}"),
        },
        SessionError::Status {
            method,
            status,
            reason,
        } => Error::Protocol {
            peer: peer.to_string(),
            request: method,
            status,
            reason,
        },
        other => Error::BadMessage {
            peer: peer.to_string(),
            detail: other.to_string(),
        },
    }
}
