//! The request bookkeeping both RTSP session machines share, RAOP's and AirPlay 2's: a queue,
//! one request in flight at a time with its CSeq (receivers expect no pipelining), the
//! headers every request carries, and the requests of a running stream (volume, parameters,
//! keep-alive, FLUSH, TEARDOWN), which are the same in both protocols.

use super::session::USER_AGENT;
use crate::rtsp::{Request, Version};
use bytes::Bytes;
use std::collections::VecDeque;

/// Why a request was sent: decides what its response means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Options,
    AuthSetup,
    Announce,
    /// RAOP's one SETUP (Transport header).
    Setup,
    /// AirPlay 2's first SETUP (timing).
    SessionSetup,
    /// AirPlay 2's second SETUP (the stream).
    StreamSetup,
    Record,
    InitialVolume,
    Parameter,
    KeepAlive,
    Flush,
    Teardown,
}

impl Purpose {
    /// Failures of these requests end the session; others are warnings.
    pub(crate) fn is_fatal(self) -> bool {
        matches!(
            self,
            Purpose::Options
                | Purpose::AuthSetup
                | Purpose::Announce
                | Purpose::Setup
                | Purpose::SessionSetup
                | Purpose::StreamSetup
                | Purpose::Record
        )
    }
}

/// A request waiting to be written, or in flight.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) purpose: Purpose,
    pub(crate) method: &'static str,
    pub(crate) uri: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) body: Bytes,
    /// Already resent with credentials after a 401.
    pub(crate) authorised_retry: bool,
}

impl Pending {
    /// A request without extra headers or body.
    pub(crate) fn new(purpose: Purpose, method: &'static str, uri: String) -> Self {
        Self {
            purpose,
            method,
            uri,
            headers: Vec::new(),
            content_type: None,
            body: Bytes::new(),
            authorised_retry: false,
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn with_body(mut self, content_type: &'static str, body: Bytes) -> Self {
        self.content_type = Some(content_type);
        self.body = body;
        self
    }

    /// The request as written, with the headers every session request carries; the session
    /// adds its own (`Session`, `Authorization`) before the body.
    pub(crate) fn to_request(&self, cseq: u32, dacp_id: u64, active_remote: u32) -> Request {
        let mut request = Request::new(self.method, &self.uri, Version::Rtsp10)
            .with_header("CSeq", cseq.to_string())
            .with_header("User-Agent", USER_AGENT)
            .with_header("DACP-ID", format!("{dacp_id:016X}"))
            .with_header("Active-Remote", active_remote.to_string())
            .with_header("Client-Instance", format!("{dacp_id:016X}"));
        for (name, value) in &self.headers {
            request = request.with_header(name, value.clone());
        }
        request
    }

    /// Adds the body, last (after any header the session adds).
    pub(crate) fn with_body_of(&self, request: Request) -> Request {
        match self.content_type {
            Some(content_type) => request.with_body(content_type, self.body.clone()),
            None => request,
        }
    }

    /// The request as warnings name it: `SET_PARAMETER volume`, `FLUSH`.
    pub(crate) fn describe(&self) -> String {
        match self.purpose {
            Purpose::InitialVolume => "SET_PARAMETER volume".to_string(),
            Purpose::Parameter => match self.content_type {
                Some("text/parameters") => {
                    let body = String::from_utf8_lossy(&self.body);
                    let key = body.split(':').next().unwrap_or_default().trim();
                    format!("SET_PARAMETER {key}")
                }
                Some(other) => format!("SET_PARAMETER {other}"),
                None => "SET_PARAMETER".to_string(),
            },
            _ => self.method.to_string(),
        }
    }
}

/// `SET_PARAMETER volume: <dB>`.
pub(crate) fn volume_request(db: f32, uri: String, purpose: Purpose) -> Pending {
    Pending::new(purpose, "SET_PARAMETER", uri).with_body(
        "text/parameters",
        Bytes::from(format!("volume: {db:.6}\r\n")),
    )
}

/// Requests to write, and the one in flight.
#[derive(Debug, Default)]
pub(crate) struct RequestQueue {
    queue: VecDeque<Pending>,
    in_flight: Option<Pending>,
    cseq: u32,
}

impl RequestQueue {
    pub(crate) fn push_back(&mut self, pending: Pending) {
        self.queue.push_back(pending);
    }

    /// Goes before everything queued (a retry, or the step a reply calls for next).
    pub(crate) fn push_front(&mut self, pending: Pending) {
        self.queue.push_front(pending);
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// The last CSeq handed out.
    pub(crate) fn cseq(&self) -> u32 {
        self.cseq
    }

    pub(crate) fn in_flight(&self) -> Option<&Pending> {
        self.in_flight.as_ref()
    }

    /// Puts the next request in flight and returns its CSeq; `None` while one is in flight
    /// or nothing is queued. Read it with [`Self::in_flight`].
    pub(crate) fn start_next(&mut self) -> Option<u32> {
        if self.in_flight.is_some() {
            return None;
        }
        self.in_flight = Some(self.queue.pop_front()?);
        self.cseq += 1;
        Some(self.cseq)
    }

    /// The request a response answers.
    pub(crate) fn take_in_flight(&mut self) -> Option<Pending> {
        self.in_flight.take()
    }

    pub(crate) fn set_volume(&mut self, uri: String, db: f32) {
        self.push_back(volume_request(db, uri, Purpose::Parameter));
    }

    /// A SET_PARAMETER with any body (DMAP, artwork, progress), optionally tied to an RTP time.
    pub(crate) fn set_parameter(
        &mut self,
        uri: String,
        content_type: &'static str,
        body: Bytes,
        rtptime: Option<u32>,
    ) {
        let mut pending =
            Pending::new(Purpose::Parameter, "SET_PARAMETER", uri).with_body(content_type, body);
        if let Some(t) = rtptime {
            pending = pending.with_header("RTP-Info", format!("rtptime={t}"));
        }
        self.push_back(pending);
    }

    /// `OPTIONS *`, at most one queued: receivers drop idle sessions (~30 s).
    pub(crate) fn keep_alive(&mut self) {
        if !self.queue.iter().any(|p| p.purpose == Purpose::KeepAlive) {
            self.push_back(Pending::new(Purpose::KeepAlive, "OPTIONS", "*".into()));
        }
    }

    /// Drops what the receiver buffered from `seq`/`rtptime` on (pause, seek).
    pub(crate) fn flush(&mut self, uri: String, next_seq: u16, next_rtptime: u32) {
        self.push_back(
            Pending::new(Purpose::Flush, "FLUSH", uri)
                .with_header("RTP-Info", format!("seq={next_seq};rtptime={next_rtptime}")),
        );
    }

    /// TEARDOWN after the set-up steps still queued; metadata still queued is pointless once
    /// we are leaving.
    pub(crate) fn teardown(&mut self, uri: String) {
        self.queue.retain(|p| p.purpose.is_fatal());
        self.push_back(Pending::new(Purpose::Teardown, "TEARDOWN", uri));
    }
}
