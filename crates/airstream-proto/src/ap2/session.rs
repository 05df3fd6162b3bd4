//! The RTSP session of one AirPlay 2 realtime stream, sans-IO, in the shape of
//! [`RaopSession`](crate::raop::RaopSession): session SETUP (timing) → stream SETUP (type 96,
//! the stream key) → RECORD (→ initial volume), then volume, metadata, keep-alives, FLUSH and
//! TEARDOWN while the stream engine holds it.

use super::setup::{STREAM_TYPE_REALTIME, SessionSetup, StreamSetup};
use super::setup_reply::{SessionSetupReply, StreamSetupReply};
use crate::raop::requests::{Pending, Purpose, RequestQueue, volume_request};
use crate::raop::{SessionError, SessionEvent};
use crate::rtsp::{Request, Response};
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::IpAddr;

const BPLIST: &str = "application/x-apple-binary-plist";

/// What an AirPlay 2 session is set up with.
#[derive(Debug, Clone)]
pub struct Ap2SessionConfig {
    /// Our address as the receiver sees it (goes into the URI).
    pub local_ip: IpAddr,
    /// The number in `rtsp://<local_ip>/<session_id>`.
    pub session_id: u32,
    /// `DACP-ID` and `Client-Instance`.
    pub dacp_id: u64,
    /// `Active-Remote` (the DACP remote's token).
    pub active_remote: u32,
    /// The first SETUP's body (timing protocol and peer).
    pub session: SessionSetup,
    /// The second SETUP's body (stream key, our control port, latency range).
    pub stream: StreamSetup,
    /// Volume in AirPlay dB set right after RECORD.
    pub initial_volume_db: Option<f32>,
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ap2State {
    /// The SETUPs are under way.
    SettingUp,
    /// RECORD (and the initial volume) sent.
    Recording,
    /// Audio may flow.
    Streaming,
    /// TEARDOWN sent.
    TearingDown,
    /// Over (torn down or failed).
    Closed,
}

/// The sans-IO AirPlay 2 session; see the [module documentation](self).
pub struct Ap2Session {
    config: Ap2SessionConfig,
    state: Ap2State,
    requests: RequestQueue,
    session_reply: Option<SessionSetupReply>,
    stream_reply: Option<StreamSetupReply>,
    events: VecDeque<SessionEvent>,
}

/// Shows where the session is, never the stream key.
impl std::fmt::Debug for Ap2Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ap2Session")
            .field("state", &self.state)
            .field("cseq", &self.requests.cseq())
            .field("queued", &self.requests.len())
            .field("in_flight", &self.requests.in_flight().map(|p| p.method))
            .finish_non_exhaustive()
    }
}

impl Ap2Session {
    /// A session whose first requests (both SETUPs) are queued; encoding errors in the
    /// bodies (a zero port, an insane latency range) are refused here.
    pub fn new(config: Ap2SessionConfig) -> Result<Self, super::SetupError> {
        let session_body = Bytes::from(config.session.encode()?);
        let stream_body = Bytes::from(config.stream.encode()?);
        let mut session = Self {
            config,
            state: Ap2State::SettingUp,
            requests: RequestQueue::default(),
            session_reply: None,
            stream_reply: None,
            events: VecDeque::new(),
        };
        let uri = session.uri();
        session.requests.push_back(
            Pending::new(Purpose::SessionSetup, "SETUP", uri.clone())
                .with_body(BPLIST, session_body),
        );
        session.requests.push_back(
            Pending::new(Purpose::StreamSetup, "SETUP", uri).with_body(BPLIST, stream_body),
        );
        Ok(session)
    }

    /// `rtsp://<our address>/<session id>`, brackets around IPv6.
    pub fn uri(&self) -> String {
        match self.config.local_ip {
            IpAddr::V4(ip) => format!("rtsp://{ip}/{}", self.config.session_id),
            IpAddr::V6(ip) => format!("rtsp://[{ip}]/{}", self.config.session_id),
        }
    }

    /// Where the session is.
    pub fn state(&self) -> Ap2State {
        self.state
    }

    /// The session SETUP's reply, once received.
    pub fn session_reply(&self) -> Option<&SessionSetupReply> {
        self.session_reply.as_ref()
    }

    /// The stream SETUP's reply (data and control ports), once received.
    pub fn stream_reply(&self) -> Option<&StreamSetupReply> {
        self.stream_reply.as_ref()
    }

    /// The next request to write, if none is in flight.
    pub fn poll_request(&mut self) -> Option<Request> {
        if self.state == Ap2State::Closed {
            return None;
        }
        let cseq = self.requests.start_next()?;
        let pending = self.requests.in_flight()?;
        match pending.purpose {
            Purpose::Record => self.state = Ap2State::Recording,
            Purpose::Teardown => self.state = Ap2State::TearingDown,
            _ => {}
        }
        let request = pending.to_request(cseq, self.config.dacp_id, self.config.active_remote);
        Some(pending.with_body_of(request))
    }

    /// Feeds the response to the request in flight. A failed SETUP or RECORD, or a SETUP
    /// reply that does not validate (absurd ports, another stream type), ends the session.
    pub fn handle_response(&mut self, response: &Response) -> Result<(), SessionError> {
        let Some(pending) = self.requests.take_in_flight() else {
            return Err(SessionError::Unexpected);
        };
        if !response.is_success() {
            if pending.purpose.is_fatal() {
                self.state = Ap2State::Closed;
                self.requests.clear();
                return Err(match response.status {
                    453 => SessionError::Busy,
                    // 470 Connection Authorization Required: HAP pairing first.
                    403 | 470 => SessionError::Forbidden,
                    _ => SessionError::Status {
                        method: pending.method.to_string(),
                        status: response.status,
                        reason: response.reason.clone(),
                    },
                });
            }
            if pending.purpose == Purpose::Teardown {
                self.close();
                return Ok(());
            }
            self.events.push_back(SessionEvent::Warning {
                request: pending.describe(),
                status: response.status,
                reason: response.reason.clone(),
            });
            if pending.purpose == Purpose::InitialVolume {
                self.start_streaming();
            }
            return Ok(());
        }
        let bad_reply = |e: super::SetupError| SessionError::BadReply {
            method: "SETUP".into(),
            header: "body",
            value: e.to_string(),
        };
        match pending.purpose {
            Purpose::SessionSetup => {
                let reply = SessionSetupReply::parse(&response.body, &self.config.session.timing)
                    .map_err(bad_reply);
                self.session_reply = Some(self.fail_on_err(reply)?);
            }
            Purpose::StreamSetup => {
                let reply = StreamSetupReply::parse(&response.body, STREAM_TYPE_REALTIME)
                    .map_err(bad_reply);
                self.stream_reply = Some(self.fail_on_err(reply)?);
                let uri = self.uri();
                self.requests.push_front(
                    Pending::new(Purpose::Record, "RECORD", uri)
                        .with_header("Range", "npt=0-".into()),
                );
            }
            Purpose::Record => match self.config.initial_volume_db {
                Some(db) => {
                    let uri = self.uri();
                    self.requests
                        .push_front(volume_request(db, uri, Purpose::InitialVolume));
                }
                None => self.start_streaming(),
            },
            Purpose::InitialVolume => self.start_streaming(),
            Purpose::Flush => self.events.push_back(SessionEvent::Flushed),
            Purpose::Teardown => self.close(),
            // RAOP's set-up steps never enter an AirPlay 2 session.
            Purpose::Options
            | Purpose::AuthSetup
            | Purpose::Announce
            | Purpose::Setup
            | Purpose::Parameter
            | Purpose::KeepAlive => {}
        }
        Ok(())
    }

    fn fail_on_err<T>(&mut self, result: Result<T, SessionError>) -> Result<T, SessionError> {
        if result.is_err() {
            self.state = Ap2State::Closed;
            self.requests.clear();
        }
        result
    }

    fn start_streaming(&mut self) {
        self.state = Ap2State::Streaming;
        self.events.push_back(SessionEvent::Recording);
    }

    fn close(&mut self) {
        self.state = Ap2State::Closed;
        self.requests.clear();
        self.events.push_back(SessionEvent::Closed);
    }

    /// The next session event (recording, warnings, flushed, closed).
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

    /// `OPTIONS *`, at most one queued: receivers drop idle sessions.
    pub fn keep_alive(&mut self) {
        self.requests.keep_alive();
    }

    /// Drops what the receiver buffered from `seq`/`rtptime` on (pause): realtime streams
    /// take the AirPlay 1 form.
    pub fn flush(&mut self, next_seq: u16, next_rtptime: u32) {
        let uri = self.uri();
        self.requests.flush(uri, next_seq, next_rtptime);
    }

    /// Gives up on the request in flight (its answer will not be read: a setup cancelled
    /// while the receiver is slow to answer) and everything queued, and returns a TEARDOWN
    /// to send at once when there is a stream to end; `None` otherwise (as
    /// [`teardown`](Self::teardown) decides).
    pub fn abandon(&mut self) -> Option<Request> {
        let stream_asked = self
            .requests
            .take_in_flight()
            .is_some_and(|p| p.purpose == Purpose::StreamSetup);
        self.requests.clear();
        if stream_asked && self.stream_reply.is_none() {
            // The stream SETUP may have been taken in without an answer yet: end it too.
            let uri = self.uri();
            self.requests.teardown(uri);
            return self.poll_request();
        }
        self.teardown();
        self.poll_request()
    }

    /// Ends the session (a TEARDOWN without a body ends the session, not just the stream).
    pub fn teardown(&mut self) {
        match self.state {
            Ap2State::TearingDown | Ap2State::Closed => return,
            Ap2State::SettingUp
                if self.stream_reply.is_none() && self.requests.in_flight().is_none() =>
            {
                self.close();
                return;
            }
            _ => {}
        }
        let uri = self.uri();
        self.requests.teardown(uri);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ap2::Timing;
    use crate::bplist;
    use crate::rtsp::Version;
    use plist::Value;
    use std::net::Ipv4Addr;

    fn config(volume: Option<f32>) -> Ap2SessionConfig {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        Ap2SessionConfig {
            local_ip: ip,
            session_id: 42,
            dacp_id: 7,
            active_remote: 9,
            session: SessionSetup {
                device_id: "0A:00:00:00:00:01".into(),
                session_uuid: "U".into(),
                group_uuid: "G".into(),
                group_contains_group_leader: false,
                model: "airstream".into(),
                name: "test".into(),
                timing: Timing::Ptp {
                    addresses: vec![ip],
                    id: ip.to_string(),
                },
            },
            stream: StreamSetup {
                shk: [1; 32],
                control_port: 7001,
                latency_min: 11_025,
                latency_max: 88_200,
                stream_connection_id: 1,
            },
            initial_volume_db: volume,
        }
    }

    fn ok(request: &Request) -> Response {
        Response::new(Version::Rtsp10, 200, "OK").with_header(
            "CSeq",
            request.headers.get("CSeq").unwrap_or_default().to_string(),
        )
    }

    fn stream_reply(data_port: u64) -> Bytes {
        let stream = crate::ap2::setup::sorted_dict([
            ("dataPort", Value::from(data_port)),
            ("controlPort", Value::from(6001u64)),
            ("type", Value::from(96u64)),
        ]);
        Bytes::from(bplist::encode_dict([(
            "streams",
            Value::Array(vec![stream]),
        )]))
    }

    fn to_recording(session: &mut Ap2Session) -> Vec<String> {
        let mut methods = Vec::new();
        while let Some(request) = session.poll_request() {
            methods.push(request.method.clone());
            let mut response = ok(&request);
            if methods.len() == 1 {
                response = response.with_body(
                    BPLIST,
                    bplist::encode_dict([("eventPort", Value::from(7010u64))]),
                );
            } else if methods.len() == 2 {
                response = response.with_body(BPLIST, stream_reply(6000));
            }
            session.handle_response(&response).expect("handshake");
            if session.state() == Ap2State::Streaming {
                break;
            }
        }
        methods
    }

    #[test]
    fn an_abandoned_setup_is_torn_down_once_the_stream_setup_was_sent() {
        // The session SETUP unanswered: nothing to end.
        let mut session = Ap2Session::new(config(None)).expect("config");
        assert!(session.poll_request().is_some());
        assert!(session.abandon().is_none());
        // The stream SETUP, then RECORD, sent and never answered: TEARDOWN at once.
        for answered in [1, 2] {
            let mut session = Ap2Session::new(config(None)).expect("config");
            for n in 0..answered {
                let request = session.poll_request().expect("setup");
                let body = if n == 0 {
                    Bytes::from(bplist::encode_dict([("eventPort", Value::from(7010u64))]))
                } else {
                    stream_reply(6000)
                };
                let response = ok(&request).with_body(BPLIST, body);
                session.handle_response(&response).expect("handshake");
            }
            let waiting = session.poll_request().expect("in flight");
            assert!(session.poll_request().is_none(), "one request in flight");
            let teardown = session.abandon().expect("a TEARDOWN");
            assert_eq!(
                (waiting.method.as_str(), teardown.method.as_str()),
                (["SETUP", "RECORD"][answered - 1], "TEARDOWN")
            );
        }
    }

    #[test]
    fn handshake_is_two_setups_record_and_volume() {
        let mut session = Ap2Session::new(config(Some(-15.0))).expect("config");
        let methods = to_recording(&mut session);
        assert_eq!(methods, ["SETUP", "SETUP", "RECORD", "SET_PARAMETER"]);
        assert_eq!(session.poll_event(), Some(SessionEvent::Recording));
        let reply = session.stream_reply().expect("stream reply");
        assert_eq!((reply.data_port, reply.control_port), (6000, 6001));
        assert_eq!(session.session_reply().map(|r| r.event_port), Some(7010));
    }

    #[test]
    fn requests_carry_bplists_and_teardown_closes() {
        let mut session = Ap2Session::new(config(None)).expect("config");
        let first = session.poll_request().expect("setup");
        assert_eq!(first.uri, "rtsp://10.0.0.1/42");
        assert_eq!(first.headers.get("Content-Type"), Some(BPLIST));
        let dict = bplist::decode_dict(&first.body).expect("bplist");
        assert_eq!(
            dict.get("timingProtocol").and_then(Value::as_string),
            Some("PTP")
        );
        session.requests = RequestQueue::default();
        session.state = Ap2State::Streaming;
        session.flush(5, 1000);
        let flush = session.poll_request().expect("flush");
        session.set_volume(-3.0);
        // Leaving drops what is still queued (the volume), then tears down.
        session.teardown();
        assert_eq!(flush.headers.get("RTP-Info"), Some("seq=5;rtptime=1000"));
        session.handle_response(&ok(&flush)).expect("flush ok");
        assert_eq!(session.poll_event(), Some(SessionEvent::Flushed));
        let teardown = session.poll_request().expect("teardown");
        assert_eq!(teardown.method, "TEARDOWN");
        session.handle_response(&ok(&teardown)).expect("ok");
        assert_eq!(session.poll_event(), Some(SessionEvent::Closed));
        assert_eq!(session.poll_request(), None);
    }

    #[test]
    fn absurd_setup_replies_and_refusals_end_the_session() {
        let mut session = Ap2Session::new(config(None)).expect("config");
        let setup = session.poll_request().expect("setup");
        let response = ok(&setup).with_body(
            BPLIST,
            bplist::encode_dict([("eventPort", Value::from(7010u64))]),
        );
        session.handle_response(&response).expect("session setup");
        let setup = session.poll_request().expect("stream setup");
        let bad = ok(&setup).with_body(BPLIST, stream_reply(70_000));
        assert!(matches!(
            session.handle_response(&bad),
            Err(SessionError::BadReply { .. })
        ));
        assert_eq!(session.poll_request(), None);

        let mut session = Ap2Session::new(config(None)).expect("config");
        let setup = session.poll_request().expect("setup");
        let refused = Response::new(Version::Rtsp10, 453, "Not Enough Bandwidth");
        assert_eq!(session.handle_response(&refused), Err(SessionError::Busy));
        let _ = setup;
    }

    #[test]
    fn a_setup_refused_for_want_of_pairing_says_so() {
        for status in [403, 470] {
            let mut session = Ap2Session::new(config(None)).expect("config");
            let setup = session.poll_request().expect("setup");
            let refused =
                Response::new(Version::Rtsp10, status, "Connection Authorization Required")
                    .with_header("CSeq", setup.headers.get("CSeq").unwrap_or("1"));
            assert_eq!(
                session.handle_response(&refused),
                Err(SessionError::Forbidden),
                "{status}"
            );
            assert_eq!(session.poll_request(), None);
        }
    }
}
