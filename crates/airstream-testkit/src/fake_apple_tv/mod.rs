//! A fake Apple TV speaking the AirPlay 1 HTTP endpoints on loopback (shared/protocol/
//! airplay.md §1.3–1.5, §2.4), with behaviour flags for tests:
//!
//! - `/play`: checks the headers and the binary plist body like pyatv's fake device; can
//!   answer 500 a given number of times, or a fixed status; can insist on pair-verify first.
//! - `/playback-info`: answers a scripted sequence (loading → playing → stopped, or an
//!   error), in XML (as Apple TVs do) or binary plists; can drop the connection after N polls.
//! - It can **fetch the URL it was told to play**, in ranged requests, so tests can prove the
//!   file server served the right bytes.
//! - Legacy pairing, device side from `airstream_proto::pairing`: `/pair-pin-start` makes it
//!   "show" a PIN ([`FakeAppleTv::shown_pin`]), `/pair-setup-pin` runs SRP against that PIN
//!   and learns the client's key, `/pair-verify` accepts learned and pre-trusted keys.
//!   Statuses: wrong PIN (bad SRP proof, or a step-3 key that does not decrypt) →
//!   [`WRONG_PIN_STATUS`] 470; `/pair-setup-pin` before any PIN was shown → 403; a malformed
//!   or out-of-order body → 400; pair-verify refused → 403; no pairing configured → 404 for
//!   the pairing endpoints and 501 for `/pair-verify`.
//! - tvOS 14+ mode ([`Tvos14`], in `tvos14.rs`): HAP pairing (PIN or transient), the
//!   encrypted channel, and `/play` refused until `SETUP` and `RECORD` made a session.
//! - Every request and every connection open/close is recorded.

mod fetch;
mod tvos14;

pub use fetch::{FetchExchange, FetchPlan, FetchResult};
pub use tvos14::Tvos14;

use airstream_proto::hap::PairedController;
use airstream_proto::pairing::{
    DeviceIdentity, PairSetupServer, PairVerifyServer, PairedClient, PairingError,
};
use airstream_proto::rtsp::{self, Request, Response, Version};
use bytes::BytesMut;
use plist::{Dictionary, Value};
use std::io::{self, Cursor};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tvos14::Tvos14Connection;

/// One scripted `/playback-info` answer.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaybackInfoReply {
    /// `{readyToPlay: false, uuid: …}`: what an idle or still-loading Apple TV says.
    Loading,
    /// `{duration, position, rate: 1.0, readyToPlay: true}`.
    Playing { position: f64, duration: f64 },
    /// `{readyToPlay: false}` after playing: no duration any more, i.e. finished.
    Stopped,
    /// `{error: {code, domain}}`: the device cannot play the media.
    Error { code: i64, domain: String },
    /// An empty body (no Content-Length), which clients treat as `{}`.
    Empty,
}

impl PlaybackInfoReply {
    fn to_dict(&self) -> Option<Dictionary> {
        let mut dict = Dictionary::new();
        match self {
            PlaybackInfoReply::Loading => {
                dict.insert("readyToPlay".into(), Value::Boolean(false));
                dict.insert("uuid".into(), Value::String("123".into()));
            }
            PlaybackInfoReply::Playing { position, duration } => {
                dict.insert("duration".into(), Value::Real(*duration));
                dict.insert("position".into(), Value::Real(*position));
                dict.insert("rate".into(), Value::Real(1.0));
                dict.insert("readyToPlay".into(), Value::Boolean(true));
            }
            PlaybackInfoReply::Stopped => {
                dict.insert("readyToPlay".into(), Value::Boolean(false));
            }
            PlaybackInfoReply::Error { code, domain } => {
                let mut error = Dictionary::new();
                error.insert("code".into(), Value::Integer((*code).into()));
                error.insert("domain".into(), Value::String(domain.clone()));
                dict.insert("error".into(), Value::Dictionary(error));
            }
            PlaybackInfoReply::Empty => return None,
        }
        Some(dict)
    }
}

/// What `/pair-setup-pin` answers when the client's SRP proof shows it used another PIN
/// (RTSP/AirPlay 470 Connection Authorization Required).
pub const WRONG_PIN_STATUS: u16 = 470;

/// Legacy pairing state of the fake: its identity and the clients it paired with.
#[derive(Clone)]
pub struct LegacyPairing {
    pub identity: DeviceIdentity,
    /// Ed25519 public keys of clients paired before the fake started
    /// (`Credentials::ed25519_public_key`); clients that pair with it are added to these.
    pub trusted_clients: Vec<[u8; 32]>,
    /// The PIN `/pair-pin-start` shows; `None` shows a fresh random 4-digit PIN each time.
    pub pin: Option<String>,
}

impl LegacyPairing {
    /// A device with this identity, no trusted clients, and random PINs.
    pub fn new(identity: DeviceIdentity) -> Self {
        Self {
            identity,
            trusted_clients: Vec::new(),
            pin: None,
        }
    }
}

impl std::fmt::Debug for LegacyPairing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyPairing")
            .field("identity", &self.identity)
            .field("trusted_clients", &self.trusted_clients.len())
            .field("pin", &self.pin.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Behaviour flags. `Default` is a well-behaved Apple TV that loads, plays a 10 s clip
/// and stops.
#[derive(Debug, Clone)]
pub struct FakeAppleTvConfig {
    /// `/playback-info` answers in order; the last one repeats forever.
    pub playback_script: Vec<PlaybackInfoReply>,
    /// Answer the first N `/play` requests with 500.
    pub play_500_times: usize,
    /// Answer every `/play` with this status instead (e.g. 403, 503).
    pub play_status: Option<u16>,
    /// The device side of legacy pair-verify; `None` answers `/pair-verify` with 501.
    pub pairing: Option<LegacyPairing>,
    /// Refuse `/play` with `unauthorized_status` on connections that did not pair-verify.
    pub require_pair_verify: bool,
    /// Play an impostor in pair-setup: accept any SRP proof and answer with a made-up M2
    /// (a device that does not know the PIN cannot compute the real one).
    pub forge_setup_proof: bool,
    pub unauthorized_status: u16,
    /// Fetch the media URL after `/play`; `/playback-info` answers wait for the fetch.
    pub fetch: Option<FetchPlan>,
    /// Binary instead of XML plists in `/playback-info`.
    pub binary_plists: bool,
    /// Close the connection instead of answering the Nth `/playback-info` (1-based).
    pub close_on_poll: Option<usize>,
    /// Behave as a tvOS 14+ Apple TV: HAP pairing, encrypted channel, session before `/play`.
    pub tvos14: Option<Tvos14>,
}

impl Default for FakeAppleTvConfig {
    fn default() -> Self {
        Self {
            playback_script: vec![
                PlaybackInfoReply::Loading,
                PlaybackInfoReply::Playing {
                    position: 0.0,
                    duration: 10.0,
                },
                PlaybackInfoReply::Playing {
                    position: 5.0,
                    duration: 10.0,
                },
                PlaybackInfoReply::Stopped,
            ],
            play_500_times: 0,
            play_status: None,
            pairing: None,
            require_pair_verify: false,
            forge_setup_proof: false,
            unauthorized_status: 403,
            fetch: None,
            binary_plists: false,
            close_on_poll: None,
            tvos14: None,
        }
    }
}

/// A request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// 1-based number of the connection it came on.
    pub connection: usize,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as a plist dict, if it is one.
    pub fn plist(&self) -> Option<Dictionary> {
        Value::from_reader(Cursor::new(&self.body))
            .ok()?
            .into_dictionary()
    }
}

/// Connections opened and closed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionCounts {
    pub opened: usize,
    pub closed: usize,
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<RecordedRequest>,
    plays_seen: usize,
    polls_seen: usize,
    script_pos: usize,
    fetch: Option<FetchResult>,
    /// The PIN on "screen" since the last `/pair-pin-start`.
    shown_pin: Option<String>,
    /// Clients that completed pair-setup, in order.
    paired: Vec<PairedClient>,
    /// Controllers that completed a HAP pair-setup (tvOS 14+ mode), in order.
    hap_paired: Vec<PairedController>,
}

#[derive(Debug)]
struct Shared {
    config: FakeAppleTvConfig,
    state: Mutex<State>,
    connections: watch::Sender<ConnectionCounts>,
    /// `Some(done)` once a fetch started.
    fetch_done: watch::Sender<Option<bool>>,
    /// Port of the event channel `SETUP` announces (tvOS 14+ mode; 0 otherwise).
    event_port: u16,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the fake's records from the others.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running fake Apple TV on `127.0.0.1`. Dropping it stops it.
#[derive(Debug)]
pub struct FakeAppleTv {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    event_task: Option<JoinHandle<()>>,
}

impl Drop for FakeAppleTv {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(task) = &self.event_task {
            task.abort();
        }
    }
}

impl FakeAppleTv {
    pub async fn start(config: FakeAppleTvConfig) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (event_port, event_task) = if config.tvos14.is_some() {
            let (port, task) = tvos14::event_listener().await?;
            (port, Some(task))
        } else {
            (0, None)
        };
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(State::default()),
            connections: watch::Sender::new(ConnectionCounts::default()),
            fetch_done: watch::Sender::new(None),
            event_port,
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self {
            addr,
            shared,
            task,
            event_task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Requests to one path (e.g. `/play`), in arrival order.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// What the fake fetched from the URL it was given, once the fetch has finished.
    pub fn fetch_result(&self) -> Option<FetchResult> {
        self.shared.state().fetch.clone()
    }

    /// The PIN the fake "shows" since the last `/pair-pin-start`, like a TV screen.
    pub fn shown_pin(&self) -> Option<String> {
        self.shared.state().shown_pin.clone()
    }

    /// Clients that completed pair-setup with the fake (pair-verify now accepts them).
    pub fn paired_clients(&self) -> Vec<PairedClient> {
        self.shared.state().paired.clone()
    }

    /// Controllers that completed a HAP pair-setup with the fake (tvOS 14+ mode).
    pub fn hap_paired_controllers(&self) -> Vec<PairedController> {
        self.shared.state().hap_paired.clone()
    }

    pub fn connection_counts(&self) -> ConnectionCounts {
        *self.shared.connections.borrow()
    }

    /// Waits (up to `timeout`) until at least one connection was opened and all are closed.
    pub async fn wait_all_closed(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.connections.subscribe();
        tokio::time::timeout(
            timeout,
            rx.wait_for(|c| c.opened > 0 && c.opened == c.closed),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut number = 0;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        number += 1;
        shared.connections.send_modify(|c| c.opened += 1);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let result = serve(stream, number, &shared).await;
            if let Err(e) = result {
                tracing::debug!("fake Apple TV connection {number} ended: {e}");
            }
            shared.connections.send_modify(|c| c.closed += 1);
        });
    }
}

/// Per-connection state: pair-setup and pair-verify are per connection, as on a real device.
struct ConnectionState {
    number: usize,
    setup: Option<PairSetupServer>,
    verify: Option<PairVerifyServer>,
    verified: bool,
    tvos14: Tvos14Connection,
}

async fn serve(mut stream: TcpStream, number: usize, shared: &Arc<Shared>) -> io::Result<()> {
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let mut conn = ConnectionState {
        number,
        setup: None,
        verify: None,
        verified: false,
        tvos14: Tvos14Connection::default(),
    };
    let invalid =
        |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    loop {
        let request = loop {
            match rtsp::parse_request(&mut buf) {
                Ok(Some(request)) => break request,
                Ok(None) => {}
                Err(e) => return Err(invalid(&e)),
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            // After HAP pair-verify or transient setup, everything is framed and encrypted.
            match &mut conn.tvos14.cipher {
                Some((_, decoder)) => {
                    buf.extend_from_slice(&decoder.decode(&chunk[..n]).map_err(|e| invalid(&e))?);
                }
                None => buf.extend_from_slice(&chunk[..n]),
            }
        };
        record(shared, &conn, &request);
        let Some(mut response) = respond(shared, &mut conn, &request).await else {
            return Ok(()); // scripted connection drop
        };
        if request.version == Version::Rtsp10 {
            // An RTSP request gets an RTSP reply with its CSeq.
            response.version = Version::Rtsp10;
            if let Some(cseq) = request.headers.get("CSeq") {
                response.headers.set("CSeq", cseq);
            }
        }
        let bytes = response.to_bytes();
        match &mut conn.tvos14.cipher {
            Some((encoder, _)) => {
                stream
                    .write_all(&encoder.encode(&bytes).map_err(|e| invalid(&e))?)
                    .await?;
            }
            None => stream.write_all(&bytes).await?,
        }
        if let Some(keys) = conn.tvos14.pending.take() {
            conn.tvos14.cipher = Some(keys.into_codec());
        }
    }
}

fn record(shared: &Shared, conn: &ConnectionState, request: &Request) {
    shared.state().requests.push(RecordedRequest {
        connection: conn.number,
        method: request.method.clone(),
        path: request.uri.clone(),
        headers: request
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: request.body.to_vec(),
    });
}

fn status(code: u16) -> Response {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        470 => "Connection Authorization Required",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    };
    Response::new(Version::Http11, code, reason).with_header("Server", "AirTunes/220.68")
}

async fn respond(
    shared: &Arc<Shared>,
    conn: &mut ConnectionState,
    request: &Request,
) -> Option<Response> {
    if let Some(mode) = &shared.config.tvos14 {
        let session = &mut conn.tvos14;
        let path = request.uri.split('?').next().unwrap_or_default();
        let response = match (request.method.as_str(), path) {
            ("GET", "/info") => Some(tvos14::info(mode)),
            ("POST", "/pair-pin-start") => Some(tvos14::pair_pin_start(shared, mode, session)),
            ("POST", "/pair-setup") => Some(tvos14::pair_setup(shared, mode, session, request)),
            ("POST", "/pair-verify") => Some(tvos14::pair_verify(shared, mode, session, request)),
            ("SETUP", _) => Some(tvos14::setup(shared, session, request)),
            ("RECORD", _) => Some(tvos14::record(shared, session)),
            ("POST", "/feedback" | "/rate") | ("PUT", "/setProperty") => {
                Some(tvos14::session_request(shared, session))
            }
            ("POST", "/play") if !session.encrypted() || !session.recording => {
                Some(status(shared.config.unauthorized_status))
            }
            _ => None,
        };
        if response.is_some() {
            return response;
        }
    }
    let response = match (request.method.as_str(), request.uri.as_str()) {
        ("POST", "/play") => play(shared, conn, request),
        ("GET", "/playback-info") => return playback_info(shared).await,
        ("POST", "/pair-pin-start") => pair_pin_start(shared, conn),
        ("POST", "/pair-setup-pin") => pair_setup(shared, conn, request),
        ("POST", "/pair-verify") => pair_verify(shared, conn, request),
        ("POST" | "GET", "/stop") => status(200),
        ("GET", "/server-info") => server_info(),
        _ => status(404),
    };
    Some(response)
}

fn play(shared: &Arc<Shared>, conn: &ConnectionState, request: &Request) -> Response {
    let config = &shared.config;
    if config.require_pair_verify && !conn.verified && config.tvos14.is_none() {
        return status(config.unauthorized_status);
    }
    if let Some(code) = config.play_status {
        return status(code);
    }
    // pyatv's fake device checks exactly these two headers (pyatv's AirPlay 2 path sends
    // User-Agent AirPlay/550.10 instead).
    let user_agent_ok =
        config.tvos14.is_some() || request.headers.get("User-Agent") == Some("MediaControl/1.0");
    if !user_agent_ok
        || request.headers.get("Content-Type") != Some("application/x-apple-binary-plist")
    {
        return status(400);
    }
    let url = Value::from_reader(Cursor::new(&request.body[..]))
        .ok()
        .and_then(Value::into_dictionary)
        .and_then(|d| {
            d.get("Content-Location")
                .and_then(Value::as_string)
                .map(str::to_string)
        });
    let Some(url) = url else {
        return status(400);
    };
    {
        let mut state = shared.state();
        state.plays_seen += 1;
        if state.plays_seen <= config.play_500_times {
            return status(500);
        }
    }
    if let Some(plan) = config.fetch {
        start_fetch(shared, url, plan);
    }
    status(200)
}

fn start_fetch(shared: &Arc<Shared>, url: String, plan: FetchPlan) {
    shared.fetch_done.send_replace(Some(false));
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let result = fetch::fetch(&url, plan).await;
        if let Some(error) = &result.error {
            tracing::warn!("fake Apple TV could not fetch {url}: {error}");
        }
        shared.state().fetch = Some(result);
        shared.fetch_done.send_replace(Some(true));
    });
}

async fn playback_info(shared: &Shared) -> Option<Response> {
    // A real Apple TV reports "loading" until it has the media; the fake simply answers
    // once its fetch is done, which keeps tests deterministic.
    let mut fetch = shared.fetch_done.subscribe();
    let _ = tokio::time::timeout(
        crate::http::IO_TIMEOUT,
        fetch.wait_for(|d| *d != Some(false)),
    )
    .await;
    let reply = {
        let mut state = shared.state();
        state.polls_seen += 1;
        if shared.config.close_on_poll == Some(state.polls_seen) {
            return None;
        }
        let script = &shared.config.playback_script;
        let reply = script
            .get(state.script_pos)
            .or(script.last())
            .cloned()
            .unwrap_or(PlaybackInfoReply::Empty);
        state.script_pos = (state.script_pos + 1).min(script.len().saturating_sub(1));
        reply
    };
    let Some(dict) = reply.to_dict() else {
        return Some(status(200));
    };
    Some(plist_response(&dict, shared.config.binary_plists))
}

fn plist_response(dict: &Dictionary, binary: bool) -> Response {
    let value = Value::Dictionary(dict.clone());
    let mut body = Vec::new();
    let (content_type, written) = if binary {
        (
            "application/x-apple-binary-plist",
            value.to_writer_binary(&mut body),
        )
    } else {
        ("text/x-apple-plist+xml", value.to_writer_xml(&mut body))
    };
    match written {
        Ok(()) => status(200).with_body(content_type, body),
        Err(_) => status(500),
    }
}

fn server_info() -> Response {
    let mut dict = Dictionary::new();
    dict.insert("features".into(), Value::Integer(0x5A7F_FFF7_u64.into()));
    dict.insert("model".into(), Value::String("AppleTV3,2".into()));
    dict.insert("protovers".into(), Value::String("1.0".into()));
    dict.insert("srcvers".into(), Value::String("220.68".into()));
    plist_response(&dict, false)
}

/// "Shows" a PIN; a pair-setup already under way on this connection starts over.
fn pair_pin_start(shared: &Shared, conn: &mut ConnectionState) -> Response {
    let Some(pairing) = &shared.config.pairing else {
        return status(404);
    };
    let pin = pairing
        .pin
        .clone()
        .unwrap_or_else(|| format!("{:04}", rand::random_range(0..10_000u32)));
    shared.state().shown_pin = Some(pin);
    conn.setup = None;
    status(200)
}

fn pair_setup(shared: &Shared, conn: &mut ConnectionState, request: &Request) -> Response {
    let Some(pairing) = &shared.config.pairing else {
        return status(404);
    };
    if conn.setup.is_none() {
        let Some(pin) = shared.state().shown_pin.clone() else {
            tracing::debug!("fake Apple TV: pair-setup without a PIN on screen");
            return status(403);
        };
        match PairSetupServer::new(&pairing.identity, &pin, rand::random(), rand::random()) {
            Ok(server) => conn.setup = Some(server),
            Err(e) => {
                tracing::warn!("fake Apple TV: cannot pair with the configured PIN: {e}");
                return status(500);
            }
        }
    }
    let Some(setup) = conn.setup.as_mut() else {
        return status(500);
    };
    if shared.config.forge_setup_proof && is_setup_proof(&request.body) {
        let mut forged = Dictionary::new();
        forged.insert("proof".into(), Value::Data(vec![0x5A; 20]));
        return plist_response(&forged, true);
    }
    match setup.handle_request(&request.body) {
        Ok(body) => {
            if let Some(client) = setup.paired_client() {
                let mut state = shared.state();
                if !state.paired.contains(client) {
                    state.paired.push(client.clone());
                }
            }
            status(200).with_body("application/x-apple-binary-plist", body)
        }
        Err(e) => {
            tracing::debug!("fake Apple TV refused pair-setup: {e}");
            match e {
                PairingError::BadPin | PairingError::DecryptionFailed { .. } => {
                    status(WRONG_PIN_STATUS)
                }
                _ => status(400),
            }
        }
    }
}

/// Pair-setup step 2: `{pk: A, proof: M1}`.
fn is_setup_proof(body: &[u8]) -> bool {
    Value::from_reader(Cursor::new(body))
        .ok()
        .and_then(Value::into_dictionary)
        .is_some_and(|d| d.contains_key("proof") && d.contains_key("pk"))
}

/// A step-1 body starts a fresh exchange trusting the pre-trusted keys plus every client
/// that has paired so far.
fn pair_verify(shared: &Shared, conn: &mut ConnectionState, request: &Request) -> Response {
    let Some(pairing) = &shared.config.pairing else {
        return status(501);
    };
    if conn.verify.is_none() || request.body.starts_with(&[1, 0, 0, 0]) {
        let learned: Vec<[u8; 32]> = shared
            .state()
            .paired
            .iter()
            .map(|c| c.ed25519_public_key)
            .collect();
        conn.verify = Some(PairVerifyServer::new(
            &pairing.identity,
            rand::random(),
            pairing.trusted_clients.iter().copied().chain(learned),
        ));
    }
    let Some(verify) = conn.verify.as_mut() else {
        return status(500);
    };
    match verify.handle_request(&request.body) {
        Ok(body) => {
            conn.verified = verify.is_verified();
            let response = status(200);
            if body.is_empty() {
                response
            } else {
                response.with_body("application/octet-stream", body)
            }
        }
        Err(e) => {
            tracing::debug!("fake Apple TV refused pair-verify: {e}");
            conn.verified = false;
            status(403)
        }
    }
}
