//! The receiver's RTSP side: accepts connections and answers OPTIONS, ANNOUNCE, SETUP,
//! RECORD, SET_PARAMETER, GET_PARAMETER, FLUSH, TEARDOWN and the POSTs senders make.

use crate::decode::PayloadDecoder;
use crate::format::StreamFormat;
use crate::slots::{Slot, Slots};
use crate::udp::{self, Fate, Sockets, UdpSession};
use crate::{Behaviour, SessionRecord, Summary};
use airstream_proto::digest;
use airstream_proto::pairing::{PAIR_VERIFY_PATH, PairVerifyServer};
use airstream_proto::raop::crypto::AudioKey;
use airstream_proto::rtsp::{self, Request, Response, Version, header_param};
use airstream_proto::sdp::{AnnouncedFormat, AnnouncedStream, parse_announce};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

const REALM: &str = "raop";
const PUBLIC: &str = "ANNOUNCE, SETUP, RECORD, PAUSE, FLUSH, TEARDOWN, OPTIONS, GET_PARAMETER, SET_PARAMETER, POST, GET";
/// A sender that goes quiet this long without TEARDOWN has gone away.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// How long a new connection has to complete its first request before it loses its slot.
/// A sender's first request (OPTIONS, ANNOUNCE or a pairing POST) is small and follows the
/// connect at once; 5 s covers a slow network many times over. Without it a stranger that
/// connects and says nothing would hold a slot for the whole idle limit (60 s).
pub const FIRST_REQUEST_LIMIT: Duration = Duration::from_secs(5);
/// RTSP connections served at once. A receiver plays one sender; a few more cover a sender
/// reconnecting and probes. When all are taken, a new connection displaces the one quiet
/// longest that holds no session (see `slots`), so idle connections cannot lock a sender out.
pub const MAX_CONNECTIONS: usize = 8;
/// The largest request a connection may buffer: the RTSP header limit plus 4 MiB of body,
/// room for cover artwork, the largest thing a sender sends. Anything larger is refused
/// (413) before it is buffered further, so the cap on memory is
/// `MAX_CONNECTIONS × MAX_REQUEST_BYTES`.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 + 4 * 1024 * 1024;
/// Requests (and volume changes) the session summary lists; later ones are counted only.
pub const MAX_LOGGED_REQUESTS: usize = 256;
/// Content types of `SET_PARAMETER` bodies kept (text, artwork, progress, and one more).
pub const MAX_KEPT_PARAMETERS: usize = 4;
/// Characters kept of a logged method/URI or a content type.
const MAX_LABEL_CHARS: usize = 64;

/// What every connection of one receiver shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) behaviour: Behaviour,
    /// See [`FIRST_REQUEST_LIMIT`].
    pub(crate) first_request_limit: Duration,
    /// One permit: the session. A second sender's ANNOUNCE gets 453 while it is taken.
    session: Arc<Semaphore>,
}

impl Shared {
    pub(crate) fn new(behaviour: Behaviour, first_request_limit: Duration) -> Self {
        Self {
            behaviour,
            first_request_limit,
            session: Arc::new(Semaphore::new(1)),
        }
    }
}

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Shared,
    sessions: mpsc::UnboundedSender<SessionRecord>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Slots::new(MAX_CONNECTIONS);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if shared.behaviour.close_on_connect() {
                        drop(stream);
                        continue;
                    }
                    let Some((slot, displaced)) = slots.admit() else {
                        tracing::warn!("{peer}: {MAX_CONNECTIONS} connections already open, closing");
                        continue;
                    };
                    let shared = shared.clone();
                    let sessions = sessions.clone();
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        let connection = Connection::new(stream, peer, shared, slot);
                        // The session (if any) is released before its record is handed
                        // on: whoever waits for the record can start the next session.
                        if let Some(record) = connection.run(shutdown, displaced).await {
                            let _ = sessions.send(record);
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

struct UdpHandle {
    commands: mpsc::Sender<udp::Command>,
    fate: watch::Receiver<Fate>,
    format: StreamFormat,
}

/// An ANNOUNCE we accepted: the stream and its checked format.
#[derive(Clone)]
struct Announced {
    stream: AnnouncedStream,
    format: StreamFormat,
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    behaviour: Behaviour,
    first_request_limit: Duration,
    slot: Slot,
    /// Where the session permit comes from, and this connection's, once its ANNOUNCE was
    /// accepted (until TEARDOWN or the end of the connection).
    session_gate: Arc<Semaphore>,
    session: Option<OwnedSemaphorePermit>,
    nonce: String,
    announced: Option<Announced>,
    audio_key: Option<AudioKey>,
    auth_setup_done: bool,
    /// Legacy pair-verify on this connection: the exchange under way, and whether it passed.
    pair_verify: Option<PairVerifyServer>,
    pair_verified: bool,
    udp: Option<UdpHandle>,
    summary: Summary,
    volume: f32,
}

impl Connection {
    fn new(stream: TcpStream, peer: SocketAddr, shared: Shared, slot: Slot) -> Self {
        Self {
            stream,
            peer,
            behaviour: shared.behaviour,
            first_request_limit: shared.first_request_limit,
            slot,
            session_gate: shared.session,
            session: None,
            nonce: format!("{:016x}", rand::random::<u64>()),
            announced: None,
            audio_key: None,
            auth_setup_done: false,
            pair_verify: None,
            pair_verified: false,
            udp: None,
            summary: Summary::default(),
            volume: -15.0,
        }
    }

    /// Serves the connection; returns the session record if audio was set up.
    async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        mut displaced: oneshot::Receiver<()>,
    ) -> Option<SessionRecord> {
        let mut buf = BytesMut::with_capacity(4096);
        // Until the first complete request; then each read may take the idle limit.
        let mut first_request_by = Some(tokio::time::Instant::now() + self.first_request_limit);
        // Kept alive so `changed()` only fires once the UDP side reports something.
        let (_alive, mut fate) = watch::channel(Fate::Alive);
        'serve: loop {
            loop {
                let request = match rtsp::parse_request(&mut buf) {
                    Ok(Some(request)) => request,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("{}: unparseable request ({e}), closing", self.peer);
                        break 'serve;
                    }
                };
                let (response, done) = self.handle(&request).await;
                first_request_by = None;
                self.slot.active(self.session.is_some());
                if let Some(udp) = &self.udp {
                    fate = udp.fate.clone();
                }
                if *fate.borrow() == Fate::Hung {
                    continue;
                }
                if self.stream.write_all(&response.to_bytes()).await.is_err() || done {
                    break 'serve;
                }
            }
            if buf.len() >= MAX_REQUEST_BYTES {
                tracing::warn!(
                    "{}: request larger than {MAX_REQUEST_BYTES} bytes, closing",
                    self.peer
                );
                let refusal = Response::new(Version::Rtsp10, 413, "Request Entity Too Large")
                    .with_header("Connection", "close");
                let _ = self.stream.write_all(&refusal.to_bytes()).await;
                break;
            }
            // Never read past the cap: the buffer cannot outgrow it.
            let mut capped = (&mut self.stream).take((MAX_REQUEST_BYTES - buf.len()) as u64);
            let read_deadline =
                first_request_by.unwrap_or_else(|| tokio::time::Instant::now() + IDLE_LIMIT);
            tokio::select! {
                read = tokio::time::timeout_at(read_deadline, capped.read_buf(&mut buf)) => match read {
                    Ok(Ok(n)) if n > 0 => {}
                    Ok(_) => break,
                    Err(_) => {
                        tracing::debug!("{}: quiet too long, closing", self.peer);
                        break;
                    }
                },
                _ = &mut displaced => {
                    tracing::debug!("{}: slot taken by a newer connection, closing", self.peer);
                    break;
                }
                changed = fate.changed() => {
                    if changed.is_err() || *fate.borrow() == Fate::Dead {
                        break;
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        self.finish().await
    }

    async fn finish(mut self) -> Option<SessionRecord> {
        self.session = None;
        let udp = self.udp.take()?;
        let (tx, rx) = oneshot::channel();
        udp.commands.send(udp::Command::Finish(tx)).await.ok()?;
        let outcome = rx.await.ok()?;
        let mut summary = outcome.summary;
        summary.requests = std::mem::take(&mut self.summary.requests);
        summary.requests_not_logged = self.summary.requests_not_logged;
        summary.user_agent = self.summary.user_agent.take();
        summary.volumes = std::mem::take(&mut self.summary.volumes);
        summary.parameters = std::mem::take(&mut self.summary.parameters);
        summary.teardown = self.summary.teardown;
        summary.encrypted = self.summary.encrypted;
        summary.record_seq = self.summary.record_seq;
        summary.record_rtptime = self.summary.record_rtptime;
        summary.codec = udp.format.codec.name().to_string();
        Some(SessionRecord {
            samples: outcome.samples,
            sample_rate: udp.format.sample_rate,
            channels: udp.format.channels,
            summary,
        })
    }

    fn reply(request: &Request, status: u16, reason: &str) -> Response {
        let mut response =
            Response::new(request.version, status, reason).with_header("Server", "AirTunes/105.1");
        if let Some(cseq) = request.headers.get("CSeq") {
            response = response.with_header("CSeq", cseq);
        }
        response
    }

    fn authorised(&self, request: &Request) -> bool {
        let Some(password) = &self.behaviour.password else {
            return true;
        };
        request
            .headers
            .get("Authorization")
            .is_some_and(|auth| digest::verify(auth, &request.method, REALM, &self.nonce, password))
    }

    /// Answers one request; `true` = close the connection afterwards.
    async fn handle(&mut self, request: &Request) -> (Response, bool) {
        if self.summary.requests.len() < MAX_LOGGED_REQUESTS {
            let label = if request.method == "POST" || request.method == "GET" {
                format!("{} {}", request.method, request.uri)
            } else {
                request.method.clone()
            };
            self.summary
                .requests
                .push(label.chars().take(MAX_LABEL_CHARS).collect());
        } else {
            self.summary.requests_not_logged += 1;
        }
        if let Some(ua) = request.headers.get("User-Agent") {
            self.summary.user_agent = Some(ua.to_string());
        }
        if !self.authorised(request) {
            let challenge = format!("Digest realm=\"{REALM}\", nonce=\"{}\"", self.nonce);
            return (
                Self::reply(request, 401, "Unauthorized")
                    .with_header("WWW-Authenticate", challenge),
                false,
            );
        }
        match request.method.as_str() {
            "OPTIONS" => (
                Self::reply(request, 200, "OK").with_header("Public", PUBLIC),
                false,
            ),
            "ANNOUNCE" => (self.announce(request), false),
            "SETUP" => (self.setup(request).await, false),
            "RECORD" => (self.record(request).await, false),
            "SET_PARAMETER" => (self.set_parameter(request), false),
            "GET_PARAMETER" => (
                Self::reply(request, 200, "OK")
                    .with_body("text/parameters", format!("volume: {:.6}\r\n", self.volume)),
                false,
            ),
            "FLUSH" => (self.flush(request).await, false),
            "TEARDOWN" => {
                // Released before the reply: the sender may start its next session at once.
                self.session = None;
                self.summary.teardown = true;
                (
                    Self::reply(request, 200, "OK").with_header("Connection", "close"),
                    true,
                )
            }
            "POST" if request.uri == PAIR_VERIFY_PATH => (self.pair_verify(request), false),
            "POST" => {
                if request.uri == "/auth-setup" {
                    self.auth_setup_done = true;
                }
                (Self::reply(request, 200, "OK"), false)
            }
            _ => (Self::reply(request, 501, "Not Implemented"), false),
        }
    }

    fn announce(&mut self, request: &Request) -> Response {
        if self.behaviour.busy() {
            return Self::reply(request, 453, "Not Enough Bandwidth");
        }
        let authorised_device = !self.behaviour.require_pairing()
            && (!self.behaviour.require_auth_setup() || self.auth_setup_done)
            && (self.behaviour.require_pair_verify.is_none() || self.pair_verified);
        if !authorised_device {
            return Self::reply(request, 403, "Forbidden");
        }
        // One session at a time (another sender would be mixed into it): the second is
        // told the receiver is busy, as AirPlay receivers do.
        let claimed = if self.session.is_some() {
            None
        } else {
            match Arc::clone(&self.session_gate).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => return Self::reply(request, 453, "Not Enough Bandwidth"),
            }
        };
        let Ok(sdp) = std::str::from_utf8(&request.body) else {
            return Self::reply(request, 400, "Bad Request");
        };
        let announced = parse_announce(sdp)
            .map_err(|e| e.to_string())
            .and_then(|stream| {
                let format = StreamFormat::check(&stream.format).map_err(|e| e.to_string())?;
                Ok(Announced { stream, format })
            });
        match announced {
            Ok(Announced { stream, format }) => {
                self.audio_key = None;
                if let Some(encryption) = &stream.encryption {
                    // Like shairport-sync: a key we cannot unwrap is 456.
                    let Some(private_key) = &self.behaviour.rsa_private_key else {
                        return Self::reply(request, 456, "Header Field Not Valid");
                    };
                    match AudioKey::from_sdp(encryption, private_key) {
                        Ok(key) => self.audio_key = Some(key),
                        Err(e) => {
                            tracing::warn!("{}: {e}", self.peer);
                            return Self::reply(request, 456, "Header Field Not Valid");
                        }
                    }
                }
                self.summary.encrypted = stream.encryption.is_some();
                self.announced = Some(Announced { stream, format });
                if let Some(permit) = claimed {
                    self.session = Some(permit);
                    // At once, not after the reply: a connection with the session is never
                    // displaced, not even by one accepted meanwhile.
                    self.slot.active(true);
                }
                Self::reply(request, 200, "OK")
            }
            Err(e) => {
                tracing::warn!("{}: bad ANNOUNCE: {e}", self.peer);
                Self::reply(request, 415, "Unsupported Media Type")
            }
        }
    }

    /// Legacy pair-verify (airplay.md §2.4); a step-1 body starts a fresh exchange.
    fn pair_verify(&mut self, request: &Request) -> Response {
        let Some(config) = &self.behaviour.require_pair_verify else {
            return Self::reply(request, 501, "Not Implemented");
        };
        if self.pair_verify.is_none() || request.body.starts_with(&[1, 0, 0, 0]) {
            self.pair_verify = Some(PairVerifyServer::new(
                &config.identity,
                rand::random(),
                config.trusted_clients.iter().copied(),
            ));
        }
        let Some(verify) = self.pair_verify.as_mut() else {
            return Self::reply(request, 500, "Internal Server Error");
        };
        match verify.handle_request(&request.body) {
            Ok(body) => {
                self.pair_verified = verify.is_verified();
                let response = Self::reply(request, 200, "OK");
                if body.is_empty() {
                    response
                } else {
                    response.with_body("application/octet-stream", body)
                }
            }
            Err(e) => {
                tracing::debug!("{}: pair-verify refused: {e}", self.peer);
                self.pair_verified = false;
                Self::reply(request, 403, "Forbidden")
            }
        }
    }

    async fn setup(&mut self, request: &Request) -> Response {
        let Some(announced) = self.announced.clone() else {
            return Self::reply(request, 451, "Method Not Valid In This State");
        };
        let transport = request.headers.get("Transport").unwrap_or_default();
        let port = |key| header_param(transport, key).and_then(|v| v.parse::<u16>().ok());
        let (Some(control_port), Some(timing_port)) = (port("control_port"), port("timing_port"))
        else {
            return Self::reply(request, 451, "Parameter Not Understood");
        };
        let local_ip = match self.stream.local_addr() {
            Ok(addr) => addr.ip(),
            Err(_) => return Self::reply(request, 500, "Internal Server Error"),
        };
        let bind = || UdpSocket::bind(SocketAddr::new(local_ip, 0));
        let (Ok(audio), Ok(control), Ok(timing)) = (bind().await, bind().await, bind().await)
        else {
            return Self::reply(request, 500, "Internal Server Error");
        };
        let ports: Vec<u16> = [&audio, &control, &timing]
            .iter()
            .map(|s| s.local_addr().map_or(0, |a| a.port()))
            .collect();
        let (fate_tx, fate_rx) = watch::channel(Fate::Alive);
        let (commands_tx, commands_rx) = mpsc::channel(16);
        let session = UdpSession {
            sockets: Sockets {
                audio,
                control,
                timing,
            },
            sender: self.peer.ip(),
            sender_control: SocketAddr::new(self.peer.ip(), control_port),
            sender_timing: (timing_port != 0).then(|| SocketAddr::new(self.peer.ip(), timing_port)),
            format: announced.format,
            decoder: PayloadDecoder::new(
                announced.format,
                announced_fmtp(&announced.stream.format),
                self.audio_key.clone(),
            ),
            behaviour: self.behaviour.clone(),
            fate: fate_tx,
        };
        tokio::spawn(session.run(commands_rx));
        self.udp = Some(UdpHandle {
            commands: commands_tx,
            fate: fate_rx,
            format: announced.format,
        });
        Self::reply(request, 200, "OK")
            .with_header(
                "Transport",
                format!(
                    "RTP/AVP/UDP;unicast;mode=record;server_port={};control_port={};timing_port={}",
                    ports[0], ports[1], ports[2]
                ),
            )
            .with_header("Session", "1")
            .with_header("Audio-Jack-Status", "connected; type=analog")
    }

    async fn record(&mut self, request: &Request) -> Response {
        let Some(udp) = &self.udp else {
            return Self::reply(request, 451, "Method Not Valid In This State");
        };
        let info = request.headers.get("RTP-Info").unwrap_or_default();
        let seq = header_param(info, "seq").and_then(|v| v.parse().ok());
        let rtptime = header_param(info, "rtptime").and_then(|v| v.parse().ok());
        if let (Some(seq), Some(rtptime)) = (seq, rtptime) {
            let _ = udp
                .commands
                .send(udp::Command::Anchor { seq, rtptime })
                .await;
        }
        self.summary.record_seq = seq;
        self.summary.record_rtptime = rtptime;
        let mut response = Self::reply(request, 200, "OK");
        if let Some(latency) = self.behaviour.audio_latency() {
            response = response.with_header("Audio-Latency", latency.to_string());
        }
        response
    }

    fn set_parameter(&mut self, request: &Request) -> Response {
        let content_type = request
            .headers
            .get("Content-Type")
            .unwrap_or_default()
            .to_string();
        if content_type.eq_ignore_ascii_case("text/parameters") {
            let text = String::from_utf8_lossy(&request.body).to_string();
            if let Some(value) = text
                .lines()
                .find_map(|l| l.strip_prefix("volume:"))
                .and_then(|v| v.trim().parse::<f32>().ok())
            {
                if self.behaviour.reject_volume() {
                    return Self::reply(request, 500, "Internal Server Error");
                }
                self.volume = value;
                if self.summary.volumes.len() < MAX_LOGGED_REQUESTS {
                    self.summary.volumes.push(value);
                }
                return Self::reply(request, 200, "OK");
            }
        }
        if self.behaviour.reject_metadata() {
            return Self::reply(request, 400, "Bad Request");
        }
        // Metadata is a current value: keep the last body of each kind, a few kinds only.
        let content_type: String = content_type.chars().take(MAX_LABEL_CHARS).collect();
        let parameters = &mut self.summary.parameters;
        if let Some(kept) = parameters.iter_mut().find(|(t, _)| *t == content_type) {
            kept.1 = request.body.to_vec();
        } else if parameters.len() < MAX_KEPT_PARAMETERS {
            parameters.push((content_type, request.body.to_vec()));
        }
        Self::reply(request, 200, "OK")
    }

    async fn flush(&mut self, request: &Request) -> Response {
        if let Some(udp) = &self.udp {
            let _ = udp.commands.send(udp::Command::Flush).await;
        }
        Self::reply(request, 200, "OK")
    }
}

/// The ALAC fmtp numbers (for the decoder's magic cookie); none for L16.
fn announced_fmtp(format: &AnnouncedFormat) -> &[u32] {
    match format {
        AnnouncedFormat::Alac { fmtp, .. } => fmtp,
        AnnouncedFormat::L16 { .. } => &[],
    }
}
