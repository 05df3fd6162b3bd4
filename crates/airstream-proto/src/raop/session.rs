//! The RAOP client's RTSP state machine: OPTIONS → [auth-setup] → ANNOUNCE → SETUP → RECORD →
//! \[volume\] → streaming (SET_PARAMETER, OPTIONS keep-alive, FLUSH) → TEARDOWN.
//!
//! Sans-IO: [`RaopSession::poll_request`] hands out the next request to write (one in
//! flight at a time, as receivers expect), [`RaopSession::handle_response`] takes the reply,
//! and [`RaopSession::poll_event`] reports what happened. Digest authentication is handled
//! here: a 401 is answered by resending the request with `Authorization`, and every later
//! request carries it too.

use super::requests::{Pending, Purpose, RequestQueue, volume_request};
use crate::digest::{Challenge, DigestCredentials};
use crate::format::Codec;
use crate::rtsp::{Request, Response, header_param};
use crate::sdp::{Announce, SdpEncryption};
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::IpAddr;

/// Body of `POST /auth-setup`: 0x01 (no encryption) and a fixed Curve25519 public key; the
/// reply is ignored. MFi receivers (AirPort Express 2, Sonos) refuse ANNOUNCE without it.
pub const AUTH_SETUP_BODY: [u8; 33] = [
    0x01, 0x59, 0x02, 0xed, 0xe9, 0x0d, 0x4e, 0xf2, 0xbd, 0x4c, 0xb6, 0x8a, 0x63, 0x30, 0x03, 0x82,
    0x07, 0xa9, 0x4d, 0xbd, 0x50, 0xd8, 0xaa, 0x46, 0x5b, 0x5d, 0x8c, 0x01, 0x2a, 0x0c, 0x7e, 0x1d,
    0x4e,
];

/// User-Agent of every RAOP request (iTunes-era AirPlay; receivers accept it).
pub const USER_AGENT: &str = "AirPlay/550.10";

/// Everything a session announces and needs, fixed when it is created.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our address as the receiver sees it (goes into the URI and the SDP).
    pub local_ip: IpAddr,
    /// The receiver's address (the SDP's `c=` line).
    pub remote_ip: IpAddr,
    /// Random id in the URI and the SDP's `o=` line.
    pub session_id: u32,
    /// `DACP-ID` header: who to ask for remote control (random per session).
    pub dacp_id: u64,
    /// `Active-Remote` header: the token a remote control would present.
    pub active_remote: u32,
    /// What the audio packets carry (announced in the SDP).
    pub codec: Codec,
    /// The RSA-wrapped AES key lines for the SDP, when the audio is encrypted.
    pub encryption: Option<SdpEncryption>,
    /// For receivers that ask for Digest authentication (401).
    pub password: Option<DigestCredentials>,
    /// Our control port (syncs out, retransmit requests in), announced in SETUP.
    pub control_port: u16,
    /// Our timing port (NTP-style requests in), announced in SETUP.
    pub timing_port: u16,
    /// Sequence number of the first packet (RECORD's `RTP-Info`).
    pub first_seq: u16,
    /// RTP time of the first packet (RECORD's `RTP-Info`).
    pub first_rtptime: u32,
    /// Initial volume in AirPlay dB (−30..0, −144 mute), set before any audio.
    pub initial_volume_db: Option<f32>,
    /// Send `POST /auth-setup` before ANNOUNCE (MFi receivers).
    pub auth_setup: bool,
    /// `a=min-latency` for the SDP, in frames.
    pub min_latency: Option<u32>,
    /// `a=max-latency` for the SDP, in frames.
    pub max_latency: Option<u32>,
}

/// Ports and latency the receiver gave us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// Where audio packets go.
    pub server_port: u16,
    /// Where sync packets and retransmissions go, and retransmit requests come from.
    pub control_port: u16,
    /// 0 when the receiver does not say; it then asks from whatever port it likes.
    pub timing_port: u16,
    /// The `Session` id every later request carries.
    pub session: String,
    /// `Audio-Latency` from RECORD, in frames.
    pub audio_latency: Option<u32>,
}

/// What happened in a session, polled with [`RaopSession::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// SETUP done: bind the audio path to these ports.
    TransportReady(Transport),
    /// RECORD (and the initial volume) done: audio may flow.
    Recording,
    /// A non-fatal request (volume, metadata, keep-alive, flush) was refused.
    Warning {
        /// The request, in words (e.g. "volume").
        request: String,
        /// The status it got.
        status: u16,
        /// The status's reason phrase.
        reason: String,
    },
    /// FLUSH answered: the receiver dropped what it buffered.
    Flushed,
    /// TEARDOWN answered (any status): the session is over.
    Closed,
}

/// Why a session failed: the fatal answers of the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// 401 and no password was given.
    #[error("the receiver requires a password")]
    PasswordRequired,
    /// 401 again after answering the challenge.
    #[error("the receiver rejected the password")]
    BadPassword,
    /// 453: another sender holds the receiver.
    #[error("the receiver is busy (453)")]
    Busy,
    /// Any other failure status of a request the session cannot go on without.
    #[error("{method} failed: {status} {reason}")]
    Status {
        /// The request's method.
        method: String,
        /// The status it got.
        status: u16,
        /// The status's reason phrase.
        reason: String,
    },
    /// A reply header the session needs is missing or unreadable.
    #[error("bad {header} in {method} reply: {value:?}")]
    BadReply {
        /// The request's method.
        method: String,
        /// The header.
        header: &'static str,
        /// What it said.
        value: String,
    },
    /// 403 on ANNOUNCE even after auth-setup, or 403/470 on an AirPlay 2 SETUP without
    /// pairing: the device wants pairing.
    #[error("the receiver refused the session (403/470): it needs pairing")]
    Forbidden,
    /// A response with no request outstanding.
    #[error("a response arrived with no request outstanding")]
    Unexpected,
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Before ANNOUNCE (OPTIONS, auth-setup).
    Connecting,
    /// ANNOUNCE sent.
    Announcing,
    /// SETUP sent.
    SettingUp,
    /// RECORD (and the initial volume) sent.
    Recording,
    /// Audio may flow; SET_PARAMETER, FLUSH and keep-alives go here.
    Streaming,
    /// TEARDOWN sent.
    TearingDown,
    /// Over (torn down or failed).
    Closed,
}

/// The RAOP client's RTSP state machine; see the [module documentation](self).
pub struct RaopSession {
    config: SessionConfig,
    state: State,
    requests: RequestQueue,
    challenge: Option<Challenge>,
    session: Option<String>,
    transport: Option<Transport>,
    events: VecDeque<SessionEvent>,
    /// `/auth-setup` was sent (configured, or after a 403 on ANNOUNCE).
    auth_setup_tried: bool,
}

/// Shows where the session is, never its password or keys.
impl std::fmt::Debug for RaopSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaopSession")
            .field("state", &self.state)
            .field("cseq", &self.requests.cseq())
            .field("queued", &self.requests.len())
            .field("in_flight", &self.requests.in_flight().map(|p| p.method))
            .finish_non_exhaustive()
    }
}

impl RaopSession {
    /// A session that starts with OPTIONS (and auth-setup), ANNOUNCE and SETUP queued.
    pub fn new(config: SessionConfig) -> Self {
        let mut session = Self {
            config,
            state: State::Connecting,
            requests: RequestQueue::default(),
            challenge: None,
            session: None,
            transport: None,
            events: VecDeque::new(),
            auth_setup_tried: false,
        };
        session
            .requests
            .push_back(Pending::new(Purpose::Options, "OPTIONS", "*".into()));
        if session.config.auth_setup {
            session.auth_setup_tried = true;
            session.requests.push_back(auth_setup_request());
        }
        let sdp = Announce {
            session_id: session.config.session_id,
            sender: session.config.local_ip,
            receiver: session.config.remote_ip,
            codec: session.config.codec,
            encryption: session.config.encryption.clone(),
            min_latency: session.config.min_latency,
            max_latency: session.config.max_latency,
        }
        .to_sdp();
        let uri = session.uri();
        session.requests.push_back(
            Pending::new(Purpose::Announce, "ANNOUNCE", uri.clone())
                .with_body("application/sdp", Bytes::from(sdp)),
        );
        let transport = format!(
            "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port={};timing_port={}",
            session.config.control_port, session.config.timing_port
        );
        session.requests.push_back(
            Pending::new(Purpose::Setup, "SETUP", uri).with_header("Transport", transport),
        );
        session
    }

    /// `rtsp://<our address>/<session id>`, brackets around IPv6.
    pub fn uri(&self) -> String {
        match self.config.local_ip {
            IpAddr::V4(ip) => format!("rtsp://{ip}/{}", self.config.session_id),
            IpAddr::V6(ip) => format!("rtsp://[{ip}]/{}", self.config.session_id),
        }
    }

    /// Where the session is.
    pub fn state(&self) -> State {
        self.state
    }

    /// What SETUP (and RECORD) told us, once they were answered.
    pub fn transport(&self) -> Option<&Transport> {
        self.transport.as_ref()
    }

    /// True while a request waits for its response.
    pub fn is_waiting(&self) -> bool {
        self.requests.in_flight().is_some()
    }

    /// The next request to write, if none is in flight.
    pub fn poll_request(&mut self) -> Option<Request> {
        if self.state == State::Closed {
            return None;
        }
        let cseq = self.requests.start_next()?;
        let pending = self.requests.in_flight()?;
        self.state = match pending.purpose {
            Purpose::Announce => State::Announcing,
            Purpose::Setup => State::SettingUp,
            Purpose::Record => State::Recording,
            Purpose::Teardown => State::TearingDown,
            _ => self.state,
        };
        let mut request = pending.to_request(cseq, self.config.dacp_id, self.config.active_remote);
        if let Some(session) = &self.session {
            request = request.with_header("Session", session.clone());
        }
        if let (Some(challenge), Some(creds)) = (&self.challenge, &self.config.password) {
            request = request.with_header(
                "Authorization",
                challenge.authorization(creds, pending.method, &pending.uri),
            );
        }
        Some(pending.with_body_of(request))
    }

    /// Feeds the response to the request in flight.
    pub fn handle_response(&mut self, response: &Response) -> Result<(), SessionError> {
        let Some(pending) = self.requests.take_in_flight() else {
            return Err(SessionError::Unexpected);
        };
        // Some receivers echo CSeq wrongly; the single in-flight request is what this answers.
        if response.status == 401 && pending.purpose != Purpose::Teardown {
            return self.handle_unauthorised(response, pending);
        }
        if response.status == 453 && pending.purpose.is_fatal() {
            self.state = State::Closed;
            return Err(SessionError::Busy);
        }
        // MFi receivers (AirPort Express 2, Sonos) refuse ANNOUNCE until /auth-setup ran:
        // run it once and try again. A second 403 means the device wants pairing.
        if response.status == 403 && pending.purpose == Purpose::Announce {
            if self.auth_setup_tried {
                self.state = State::Closed;
                return Err(SessionError::Forbidden);
            }
            self.auth_setup_tried = true;
            self.requests.push_front(pending);
            self.requests.push_front(auth_setup_request());
            return Ok(());
        }
        if !response.is_success() {
            // Receivers that do not implement OPTIONS still stream (libraop ignores 501).
            let tolerated = pending.purpose == Purpose::Options && response.status == 501;
            if pending.purpose.is_fatal() && !tolerated {
                self.state = State::Closed;
                return Err(SessionError::Status {
                    method: pending.method.to_string(),
                    status: response.status,
                    reason: response.reason.clone(),
                });
            }
            if pending.purpose == Purpose::Teardown {
                self.close();
                return Ok(());
            }
            if !tolerated {
                self.events.push_back(SessionEvent::Warning {
                    request: pending.describe(),
                    status: response.status,
                    reason: response.reason.clone(),
                });
            }
            if pending.purpose == Purpose::InitialVolume {
                self.start_streaming();
            }
            return Ok(());
        }
        match pending.purpose {
            Purpose::Setup => self.handle_setup(response)?,
            Purpose::Record => {
                if let Some(t) = self.transport.as_mut() {
                    t.audio_latency = response
                        .headers
                        .get("Audio-Latency")
                        .and_then(|v| v.trim().parse().ok());
                }
                match self.config.initial_volume_db {
                    Some(db) => {
                        let uri = self.uri();
                        self.requests
                            .push_front(volume_request(db, uri, Purpose::InitialVolume));
                    }
                    None => self.start_streaming(),
                }
            }
            Purpose::InitialVolume => self.start_streaming(),
            Purpose::Flush => self.events.push_back(SessionEvent::Flushed),
            Purpose::Teardown => self.close(),
            // AirPlay 2's SETUPs never enter a RAOP session.
            Purpose::Options
            | Purpose::AuthSetup
            | Purpose::Announce
            | Purpose::SessionSetup
            | Purpose::StreamSetup
            | Purpose::Parameter
            | Purpose::KeepAlive => {}
        }
        Ok(())
    }

    fn handle_unauthorised(
        &mut self,
        response: &Response,
        mut pending: Pending,
    ) -> Result<(), SessionError> {
        if self.config.password.is_none() {
            self.state = State::Closed;
            return Err(SessionError::PasswordRequired);
        }
        if pending.authorised_retry {
            self.state = State::Closed;
            return Err(SessionError::BadPassword);
        }
        let challenge = response
            .headers
            .get("WWW-Authenticate")
            .and_then(Challenge::parse)
            .ok_or_else(|| SessionError::BadReply {
                method: pending.method.to_string(),
                header: "WWW-Authenticate",
                value: response
                    .headers
                    .get("WWW-Authenticate")
                    .unwrap_or_default()
                    .to_string(),
            })?;
        self.challenge = Some(challenge);
        pending.authorised_retry = true;
        self.requests.push_front(pending);
        Ok(())
    }

    fn handle_setup(&mut self, response: &Response) -> Result<(), SessionError> {
        let header = response.headers.get("Transport").unwrap_or_default();
        let port = |key: &'static str| -> Result<Option<u16>, SessionError> {
            match header_param(header, key) {
                None => Ok(None),
                Some(v) => v.parse().map(Some).map_err(|_| SessionError::BadReply {
                    method: "SETUP".into(),
                    header: "Transport",
                    value: header.to_string(),
                }),
            }
        };
        let missing = || SessionError::BadReply {
            method: "SETUP".into(),
            header: "Transport",
            value: header.to_string(),
        };
        let server_port = port("server_port")?.ok_or_else(missing)?;
        let control_port = port("control_port")?.ok_or_else(missing)?;
        let timing_port = port("timing_port")?.unwrap_or(0);
        // Opaque: some receivers send non-numeric ids and `;timeout=` suffixes.
        let session = response
            .headers
            .get("Session")
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
            .unwrap_or_default();
        if !session.is_empty() {
            self.session = Some(session.clone());
        }
        let transport = Transport {
            server_port,
            control_port,
            timing_port,
            session,
            audio_latency: None,
        };
        self.transport = Some(transport.clone());
        self.events
            .push_back(SessionEvent::TransportReady(transport));
        Ok(())
    }

    /// Call after [`SessionEvent::TransportReady`] once the audio path is bound:
    /// queues RECORD announcing where the stream starts.
    pub fn record(&mut self) {
        let rtp_info = format!(
            "seq={};rtptime={}",
            self.config.first_seq, self.config.first_rtptime
        );
        let uri = self.uri();
        self.requests.push_back(
            Pending::new(Purpose::Record, "RECORD", uri)
                .with_header("Range", "npt=0-".into())
                .with_header("RTP-Info", rtp_info),
        );
    }

    fn start_streaming(&mut self) {
        self.state = State::Streaming;
        self.events.push_back(SessionEvent::Recording);
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.requests.clear();
        self.events.push_back(SessionEvent::Closed);
    }

    /// The next thing that happened, in order.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Volume in AirPlay dB: −30 (quietest) to 0, −144 mutes.
    pub fn set_volume(&mut self, db: f32) {
        let uri = self.uri();
        self.requests.set_volume(uri, db);
    }

    /// A SET_PARAMETER with any body (DMAP, artwork, progress), optionally tied to an RTP time.
    pub fn set_parameter(&mut self, content_type: &'static str, body: Bytes, rtptime: Option<u32>) {
        let uri = self.uri();
        self.requests
            .set_parameter(uri, content_type, body, rtptime);
    }

    /// `OPTIONS *`: keeps receivers that drop idle sessions (~30 s) from doing so.
    pub fn keep_alive(&mut self) {
        self.requests.keep_alive();
    }

    /// Drops everything the receiver buffered from `seq`/`rtptime` on (pause, seek).
    pub fn flush(&mut self, next_seq: u16, next_rtptime: u32) {
        let uri = self.uri();
        self.requests.flush(uri, next_seq, next_rtptime);
    }

    /// Gives up on the request in flight (its answer will not be read: a setup cancelled
    /// while the receiver is slow to answer) and everything queued, and returns a TEARDOWN
    /// to send at once when there is a session to end (SETUP was sent); `None` before that.
    pub fn abandon(&mut self) -> Option<Request> {
        self.requests.take_in_flight();
        self.requests.clear();
        self.teardown();
        self.poll_request()
    }

    /// Ends the session after what is queued; a no-op before SETUP (nothing to tear down).
    pub fn teardown(&mut self) {
        if self.session.is_none() && self.transport.is_none() {
            self.close();
            return;
        }
        if self.state == State::TearingDown || self.state == State::Closed {
            return;
        }
        let uri = self.uri();
        self.requests.teardown(uri);
    }
}

fn auth_setup_request() -> Pending {
    Pending::new(Purpose::AuthSetup, "POST", "/auth-setup".into()).with_body(
        "application/octet-stream",
        Bytes::from_static(&AUTH_SETUP_BODY),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtsp::Version;

    fn config() -> SessionConfig {
        SessionConfig {
            local_ip: "127.0.0.1".parse().unwrap(),
            remote_ip: "127.0.0.1".parse().unwrap(),
            session_id: 42,
            dacp_id: 0x0123_4567_89AB_CDEF,
            active_remote: 7,
            codec: Codec::AlacRaw,
            encryption: None,
            password: None,
            control_port: 6001,
            timing_port: 6002,
            first_seq: 100,
            first_rtptime: 5000,
            initial_volume_db: None,
            auth_setup: false,
            min_latency: None,
            max_latency: None,
        }
    }

    fn ok() -> Response {
        Response::new(Version::Rtsp10, 200, "OK")
    }

    fn setup_reply() -> Response {
        ok().with_header(
            "Transport",
            "RTP/AVP/UDP;unicast;mode=record;server_port=6010;control_port=6011;timing_port=6012",
        )
        .with_header("Session", "DEADBEEF;timeout=60")
    }

    /// Drives the session to Streaming and returns the methods it sent, in order.
    fn establish(session: &mut RaopSession) -> Vec<String> {
        let mut methods = vec![];
        loop {
            if let Some(req) = session.poll_request() {
                methods.push(req.method.clone());
                let reply = if req.method == "SETUP" {
                    setup_reply()
                } else {
                    ok()
                };
                session.handle_response(&reply).unwrap();
            }
            match session.poll_event() {
                Some(SessionEvent::TransportReady(_)) => session.record(),
                Some(SessionEvent::Recording) => return methods,
                Some(other) => panic!("unexpected {other:?}"),
                None => {}
            }
        }
    }

    #[test]
    fn an_abandoned_setup_is_torn_down_once_setup_was_answered_whatever_is_in_flight() {
        // Nothing to end before SETUP.
        let mut s = RaopSession::new(config());
        assert!(s.poll_request().is_some());
        assert!(s.abandon().is_none());
        // RECORD in flight and never answered (a receiver slow to answer).
        let mut s = RaopSession::new(config());
        loop {
            let request = s.poll_request().unwrap();
            if request.method == "SETUP" {
                s.handle_response(&setup_reply()).unwrap();
                break;
            }
            s.handle_response(&ok()).unwrap();
        }
        assert!(matches!(
            s.poll_event(),
            Some(SessionEvent::TransportReady(_))
        ));
        s.record();
        assert_eq!(s.poll_request().unwrap().method, "RECORD");
        assert!(s.poll_request().is_none(), "one request in flight");
        let teardown = s.abandon().unwrap();
        assert_eq!(teardown.method, "TEARDOWN");
        assert!(
            teardown
                .headers
                .get("Session")
                .is_some_and(|v| v.starts_with("DEADBEEF")),
            "{teardown:?}"
        );
    }

    #[test]
    fn happy_path_order_and_headers() {
        let mut s = RaopSession::new(config());
        let options = s.poll_request().unwrap();
        assert_eq!(options.method, "OPTIONS");
        assert_eq!(options.uri, "*");
        assert_eq!(options.cseq(), Some(1));
        assert_eq!(options.headers.get("DACP-ID"), Some("0123456789ABCDEF"));
        assert_eq!(options.headers.get("Active-Remote"), Some("7"));
        assert!(
            s.poll_request().is_none(),
            "one request in flight at a time"
        );
        s.handle_response(&ok()).unwrap();

        let announce = s.poll_request().unwrap();
        assert_eq!(announce.method, "ANNOUNCE");
        assert_eq!(announce.uri, "rtsp://127.0.0.1/42");
        assert_eq!(
            announce.headers.get("Content-Type"),
            Some("application/sdp")
        );
        assert!(
            std::str::from_utf8(&announce.body)
                .unwrap()
                .contains("AppleLossless")
        );
        s.handle_response(&ok()).unwrap();

        let setup = s.poll_request().unwrap();
        assert_eq!(
            setup.headers.get("Transport"),
            Some(
                "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port=6001;timing_port=6002"
            )
        );
        s.handle_response(&setup_reply()).unwrap();
        let Some(SessionEvent::TransportReady(t)) = s.poll_event() else {
            panic!("no transport");
        };
        assert_eq!(
            (t.server_port, t.control_port, t.timing_port),
            (6010, 6011, 6012)
        );
        assert_eq!(t.session, "DEADBEEF");
        assert!(
            s.poll_request().is_none(),
            "RECORD waits until the caller bound its sockets"
        );
        s.record();
        let record = s.poll_request().unwrap();
        assert_eq!(record.method, "RECORD");
        assert_eq!(record.headers.get("Session"), Some("DEADBEEF"));
        assert_eq!(record.headers.get("RTP-Info"), Some("seq=100;rtptime=5000"));
        assert_eq!(record.headers.get("Range"), Some("npt=0-"));
        s.handle_response(&ok().with_header("Audio-Latency", "11025"))
            .unwrap();
        assert_eq!(s.poll_event(), Some(SessionEvent::Recording));
        assert_eq!(s.transport().unwrap().audio_latency, Some(11025));
        assert_eq!(s.state(), State::Streaming);

        s.teardown();
        let teardown = s.poll_request().unwrap();
        assert_eq!(teardown.method, "TEARDOWN");
        assert_eq!(teardown.cseq(), Some(5));
        s.handle_response(&ok().with_header("Connection", "close"))
            .unwrap();
        assert_eq!(s.poll_event(), Some(SessionEvent::Closed));
        assert!(s.poll_request().is_none());
    }

    #[test]
    fn initial_volume_goes_before_audio_and_a_refusal_is_a_warning() {
        let mut s = RaopSession::new(SessionConfig {
            initial_volume_db: Some(-15.0),
            ..config()
        });
        let mut methods = vec![];
        loop {
            if let Some(req) = s.poll_request() {
                methods.push(req.method.clone());
                let reply = match req.method.as_str() {
                    "SETUP" => setup_reply(),
                    "SET_PARAMETER" => {
                        assert_eq!(&req.body[..], b"volume: -15.000000\r\n");
                        Response::new(Version::Rtsp10, 500, "Internal Server Error")
                    }
                    _ => ok(),
                };
                s.handle_response(&reply).unwrap();
            }
            match s.poll_event() {
                Some(SessionEvent::TransportReady(_)) => s.record(),
                Some(SessionEvent::Warning {
                    request, status, ..
                }) => {
                    assert_eq!((request.as_str(), status), ("SET_PARAMETER volume", 500));
                }
                Some(SessionEvent::Recording) => break,
                Some(other) => panic!("{other:?}"),
                None => {}
            }
        }
        assert_eq!(
            methods,
            ["OPTIONS", "ANNOUNCE", "SETUP", "RECORD", "SET_PARAMETER"]
        );
    }

    #[test]
    fn forbidden_announce_runs_auth_setup_once_then_gives_up() {
        let forbidden = || Response::new(Version::Rtsp10, 403, "Forbidden");
        let mut s = RaopSession::new(config());
        s.poll_request().unwrap();
        s.handle_response(&ok()).unwrap();
        assert_eq!(s.poll_request().unwrap().method, "ANNOUNCE");
        s.handle_response(&forbidden()).unwrap();
        let post = s.poll_request().unwrap();
        assert_eq!(
            (post.method.as_str(), post.uri.as_str()),
            ("POST", "/auth-setup")
        );
        s.handle_response(&ok()).unwrap();
        assert_eq!(s.poll_request().unwrap().method, "ANNOUNCE");
        s.handle_response(&ok()).unwrap();
        assert_eq!(s.poll_request().unwrap().method, "SETUP");

        let mut s = RaopSession::new(config());
        s.poll_request().unwrap();
        s.handle_response(&ok()).unwrap();
        s.poll_request().unwrap();
        s.handle_response(&forbidden()).unwrap();
        s.poll_request().unwrap();
        s.handle_response(&ok()).unwrap();
        s.poll_request().unwrap();
        assert_eq!(
            s.handle_response(&forbidden()),
            Err(SessionError::Forbidden)
        );
    }

    #[test]
    fn auth_setup_comes_before_announce() {
        let mut s = RaopSession::new(SessionConfig {
            auth_setup: true,
            ..config()
        });
        s.poll_request().unwrap();
        s.handle_response(&ok()).unwrap();
        let post = s.poll_request().unwrap();
        assert_eq!(
            (post.method.as_str(), post.uri.as_str()),
            ("POST", "/auth-setup")
        );
        assert_eq!(&post.body[..], &AUTH_SETUP_BODY);
        assert_eq!(
            post.headers.get("Content-Type"),
            Some("application/octet-stream")
        );
    }

    fn challenge() -> Response {
        Response::new(Version::Rtsp10, 401, "Unauthorized")
            .with_header("WWW-Authenticate", r#"Digest realm="raop", nonce="abc""#)
    }

    #[test]
    fn digest_retry_then_every_request_is_authorised() {
        let mut s = RaopSession::new(SessionConfig {
            password: Some(DigestCredentials::new("secret")),
            ..config()
        });
        let first = s.poll_request().unwrap();
        assert!(first.headers.get("Authorization").is_none());
        s.handle_response(&challenge()).unwrap();
        let retry = s.poll_request().unwrap();
        assert_eq!(retry.method, "OPTIONS");
        assert_eq!(retry.cseq(), Some(2));
        let auth = retry.headers.get("Authorization").unwrap();
        assert!(crate::digest::verify(
            auth, "OPTIONS", "raop", "abc", "secret"
        ));
        assert!(auth.contains("uri=\"*\""));
        s.handle_response(&ok()).unwrap();
        let announce = s.poll_request().unwrap();
        let auth = announce.headers.get("Authorization").unwrap();
        assert!(crate::digest::verify(
            auth, "ANNOUNCE", "raop", "abc", "secret"
        ));
    }

    #[test]
    fn wrong_password_fails_once_without_looping() {
        let mut s = RaopSession::new(SessionConfig {
            password: Some(DigestCredentials::new("wrong")),
            ..config()
        });
        s.poll_request().unwrap();
        s.handle_response(&challenge()).unwrap();
        s.poll_request().unwrap();
        assert_eq!(
            s.handle_response(&challenge()),
            Err(SessionError::BadPassword)
        );
        assert!(s.poll_request().is_none());
    }

    #[test]
    fn no_password_given_is_password_required() {
        let mut s = RaopSession::new(config());
        s.poll_request().unwrap();
        assert_eq!(
            s.handle_response(&challenge()),
            Err(SessionError::PasswordRequired)
        );
    }

    #[test]
    fn busy_and_other_fatal_statuses() {
        let mut s = RaopSession::new(config());
        s.poll_request().unwrap();
        s.handle_response(&ok()).unwrap();
        s.poll_request().unwrap();
        assert_eq!(
            s.handle_response(&Response::new(Version::Rtsp10, 453, "Not Enough Bandwidth")),
            Err(SessionError::Busy)
        );
        let mut s = RaopSession::new(config());
        s.poll_request().unwrap();
        s.handle_response(&ok()).unwrap();
        s.poll_request().unwrap();
        assert!(matches!(
            s.handle_response(&Response::new(
                Version::Rtsp10,
                456,
                "Header Field Not Valid"
            )),
            Err(SessionError::Status { status: 456, .. })
        ));
    }

    #[test]
    fn setup_without_ports_is_an_error() {
        let mut s = RaopSession::new(config());
        for _ in 0..2 {
            s.poll_request().unwrap();
            s.handle_response(&ok()).unwrap();
        }
        s.poll_request().unwrap();
        let reply = ok().with_header("Transport", "RTP/AVP/UDP;unicast;server_port=x");
        assert!(matches!(
            s.handle_response(&reply),
            Err(SessionError::BadReply { .. })
        ));
    }

    #[test]
    fn options_501_is_tolerated() {
        let mut s = RaopSession::new(config());
        s.poll_request().unwrap();
        s.handle_response(&Response::new(Version::Rtsp10, 501, "Not Implemented"))
            .unwrap();
        assert_eq!(s.poll_request().unwrap().method, "ANNOUNCE");
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn parameters_keepalive_flush_while_streaming() {
        let mut s = RaopSession::new(config());
        establish(&mut s);
        s.set_parameter(
            "application/x-dmap-tagged",
            Bytes::from_static(b"mlit"),
            Some(5000),
        );
        s.keep_alive();
        s.keep_alive();
        s.flush(200, 40000);
        let meta = s.poll_request().unwrap();
        assert_eq!(meta.headers.get("RTP-Info"), Some("rtptime=5000"));
        s.handle_response(&Response::new(Version::Rtsp10, 400, "Bad Request"))
            .unwrap();
        assert!(matches!(
            s.poll_event(),
            Some(SessionEvent::Warning { status: 400, .. })
        ));
        assert_eq!(s.poll_request().unwrap().method, "OPTIONS");
        s.handle_response(&ok()).unwrap();
        let flush = s.poll_request().unwrap();
        assert_eq!(
            flush.method, "FLUSH",
            "duplicate keep-alives collapse into one"
        );
        assert_eq!(flush.headers.get("RTP-Info"), Some("seq=200;rtptime=40000"));
        s.handle_response(&ok()).unwrap();
        assert_eq!(s.poll_event(), Some(SessionEvent::Flushed));
    }

    #[test]
    fn ipv6_uri_has_brackets() {
        let s = RaopSession::new(SessionConfig {
            local_ip: "::1".parse().unwrap(),
            ..config()
        });
        assert_eq!(s.uri(), "rtsp://[::1]/42");
    }
}
