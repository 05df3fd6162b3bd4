//! An embedded RAOP receiver: the server side of an AirPlay 1 audio session, keeping the
//! samples it receives (placed by RTP timestamp, gaps as silence). It backs
//! `airstream receive`, the README demo, and the test suite's fake receiver, whose
//! [`Behaviour`] flags make it ask for a password, be busy, drop packets or die mid-stream
//! (all but the password and keys only with the `fault-injection` feature, which only tests
//! enable).
//!
//! Anyone on the network can talk to it, so everything a peer can make it hold is bounded
//! by the protocol: formats are RAOP's (ANNOUNCE otherwise gets 415), audio timestamps stay
//! within the window a sender pacing in real time can use, missing packets within the
//! window a sender keeps for resending, datagrams count only from the session's sender, and
//! connections, request size, the request log and kept metadata have caps
//! ([`MAX_CONNECTIONS`], [`MAX_REQUEST_BYTES`], [`MAX_LOGGED_REQUESTS`],
//! [`MAX_KEPT_PARAMETERS`]). It plays one sender at a time: another sender's ANNOUNCE gets
//! 453 while a session is on. A connection must complete its first request within
//! [`FIRST_REQUEST_LIMIT`], and when every connection slot is taken a new connection displaces
//! the quietest one that holds no session, so idle connections cannot lock a sender out.

pub mod advertise;
mod assembler;
mod decode;
mod faults;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod server;
mod slots;
mod udp;

pub use assembler::{Assembler, OutOfWindow, WINDOW_PACKETS};
pub use format::{FRAMES_PER_PACKET, FormatError};
pub use server::{
    FIRST_REQUEST_LIMIT, MAX_CONNECTIONS, MAX_KEPT_PARAMETERS, MAX_LOGGED_REQUESTS,
    MAX_REQUEST_BYTES,
};

use airstream_proto::pairing::DeviceIdentity;
use airstream_proto::raop::crypto::RsaPrivateKey;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// How the fake receiver misbehaves; the default is a well-behaved receiver.
// Each flag is an independent misbehaviour a test switches on.
#[allow(clippy::struct_excessive_bools)]
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Require RTSP Digest authentication with this password.
    pub password: Option<String>,
    /// Answer ANNOUNCE with 453 (another sender holds the device).
    #[cfg(feature = "fault-injection")]
    pub busy: bool,
    /// Close every connection right after accepting it (how some busy receivers refuse).
    #[cfg(feature = "fault-injection")]
    pub close_on_connect: bool,
    /// Drop these audio packets (0-based arrival order) the first time they arrive, so the
    /// sender must retransmit them.
    #[cfg(feature = "fault-injection")]
    pub drop_packets: Vec<u64>,
    /// Vanish after this many audio packets: close the RTSP connection and UDP sockets.
    #[cfg(feature = "fault-injection")]
    pub die_after_packets: Option<u64>,
    /// Stop all traffic after this many audio packets but keep the sockets open (a
    /// receiver that hangs or a network that silently drops everything).
    #[cfg(feature = "fault-injection")]
    pub hang_after_packets: Option<u64>,
    /// Answer volume changes with 500 (Samsung Q70 does).
    #[cfg(feature = "fault-injection")]
    pub reject_volume: bool,
    /// Answer metadata (DMAP, artwork, progress) with 400.
    #[cfg(feature = "fault-injection")]
    pub reject_metadata: bool,
    /// Never send timing requests (tests the sender's timeout path).
    #[cfg(feature = "fault-injection")]
    pub no_timing: bool,
    /// Answer ANNOUNCE with 403 until `POST /auth-setup` was sent (MFi devices); with
    /// `require_pairing` also 403 afterwards (devices that need pairing).
    #[cfg(feature = "fault-injection")]
    pub require_auth_setup: bool,
    #[cfg(feature = "fault-injection")]
    pub require_pairing: bool,
    /// Answer ANNOUNCE with 403 unless this connection first passed legacy pair-verify
    /// (`POST /pair-verify`) with one of these trusted client keys (Apple TVs that require
    /// device verification). Without it, `/pair-verify` gets 501.
    pub require_pair_verify: Option<PairVerifyConfig>,
    /// `Audio-Latency` to put in the RECORD reply.
    #[cfg(feature = "fault-injection")]
    pub audio_latency: Option<u32>,
    /// Private key for RSA-wrapped AES keys (et=1); without it encrypted streams get 456.
    pub rsa_private_key: Option<Arc<RsaPrivateKey>>,
}

/// Never shows the password.
impl fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Behaviour");
        out.field("password", &self.password.as_ref().map(|_| "<redacted>"));
        #[cfg(feature = "fault-injection")]
        out.field("busy", &self.busy)
            .field("close_on_connect", &self.close_on_connect)
            .field("drop_packets", &self.drop_packets)
            .field("die_after_packets", &self.die_after_packets)
            .field("hang_after_packets", &self.hang_after_packets)
            .field("reject_volume", &self.reject_volume)
            .field("reject_metadata", &self.reject_metadata)
            .field("no_timing", &self.no_timing)
            .field("require_auth_setup", &self.require_auth_setup)
            .field("require_pairing", &self.require_pairing)
            .field("audio_latency", &self.audio_latency);
        out.field("require_pair_verify", &self.require_pair_verify)
            .field(
                "rsa_private_key",
                &self.rsa_private_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The device side of legacy pair-verify: who the receiver is and whom it trusts.
#[derive(Debug, Clone)]
pub struct PairVerifyConfig {
    pub identity: DeviceIdentity,
    /// Ed25519 public keys of paired senders (`Credentials::ed25519_public_key`).
    pub trusted_clients: Vec<[u8; 32]>,
}

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    pub behaviour: Behaviour,
    /// How long a new connection may take to complete its first request before it is
    /// closed; [`FIRST_REQUEST_LIMIT`] unless a test wants it shorter.
    pub first_request_limit: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            behaviour: Behaviour::default(),
            first_request_limit: FIRST_REQUEST_LIMIT,
        }
    }
}

/// What one session delivered.
#[derive(Debug, Clone, Default)]
pub struct SessionRecord {
    /// Interleaved 16-bit samples from the RECORD position on, by RTP timestamp.
    pub samples: Vec<i16>,
    pub sample_rate: u32,
    pub channels: u16,
    pub summary: Summary,
}

// Counters and flags a test inspects; each bool is an independent observation.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// RTSP methods in the order received (`POST /x` for posts), the first
    /// [`MAX_LOGGED_REQUESTS`] of them, each cut to 64 bytes.
    pub requests: Vec<String>,
    /// Requests after the first [`MAX_LOGGED_REQUESTS`], counted only.
    pub requests_not_logged: u64,
    pub user_agent: Option<String>,
    /// "AppleLossless" or "L16".
    pub codec: String,
    pub packets: u64,
    pub duplicates: u64,
    /// Packets deliberately dropped on arrival (behaviour flag).
    pub dropped: u64,
    pub retransmit_requests: u64,
    pub resent_packets: u64,
    /// Packets still missing when the session ended.
    pub missing_at_end: usize,
    pub sync_packets: u64,
    pub first_sync_flagged: bool,
    /// Latency in sync packets (frames), as the receiver reads it.
    pub sync_latency: Option<u32>,
    /// The first few sync packets as (RTP time being sent, sender NTP time): receivers in
    /// sync get the same ones.
    pub first_syncs: Vec<(u32, u64)>,
    pub timing_exchanges: u64,
    /// Whether the first sync packet arrived after a timing exchange had completed.
    pub timing_before_first_sync: bool,
    pub volumes: Vec<f32>,
    /// The last `SET_PARAMETER` body of each content type (metadata is a current value),
    /// in order of first arrival; at most [`MAX_KEPT_PARAMETERS`] types.
    pub parameters: Vec<(String, Vec<u8>)>,
    pub flushes: u64,
    /// The ANNOUNCE carried an RSA-wrapped AES key (payloads were encrypted).
    pub encrypted: bool,
    /// `RTP-Info` of RECORD: where the stream starts.
    pub record_seq: Option<u16>,
    pub record_rtptime: Option<u32>,
    pub teardown: bool,
    /// Audio packets with a payload we could not decode.
    pub bad_packets: u64,
    /// Audio packets refused because their RTP timestamp lies outside the window a sender
    /// pacing in real time can use.
    pub out_of_window: u64,
    /// Datagrams from an address that is not this session's sender, ignored.
    pub foreign_datagrams: u64,
}

/// Why a session's WAV file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// A WAV file's sizes are 32-bit: this many samples do not fit.
    #[error("{0} samples are more than a WAV file holds")]
    TooLong(usize),
    #[error("{0}")]
    Write(hound::Error),
}

impl From<hound::Error> for WavError {
    fn from(e: hound::Error) -> Self {
        Self::Write(e)
    }
}

impl SessionRecord {
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    /// Writes the samples as a 16-bit WAV file.
    pub fn write_wav(&self, path: &Path) -> Result<(), WavError> {
        // The data chunk's size (2 bytes a sample) and the header must fit in 32 bits.
        let count = u32::try_from(self.samples.len())
            .ok()
            .filter(|n| u32::try_from(u64::from(*n) * 2 + 44).is_ok())
            .ok_or(WavError::TooLong(self.samples.len()))?;
        let spec = hound::WavSpec {
            channels: self.channels.max(1),
            sample_rate: self.sample_rate.max(1),
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(path, spec)?;
        let mut samples = writer.get_i16_writer(count);
        for &s in &self.samples {
            samples.write_sample(s);
        }
        samples.flush()?;
        Ok(writer.finalize()?)
    }
}

/// A running receiver. Dropping it shuts it down.
pub struct Receiver {
    addr: SocketAddr,
    sessions: mpsc::UnboundedReceiver<SessionRecord>,
    shutdown: watch::Sender<bool>,
}

impl Receiver {
    pub async fn start(config: ReceiverConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(config.bind, config.port)).await?;
        let addr = listener.local_addr()?;
        let (sessions_tx, sessions) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        tokio::spawn(server::serve(
            listener,
            server::Shared::new(config.behaviour, config.first_request_limit),
            sessions_tx,
            shutdown_rx,
        ));
        Ok(Self {
            addr,
            sessions,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the next session to end (TEARDOWN or connection closed).
    pub async fn next_session(&mut self) -> Option<SessionRecord> {
        self.sessions.recv().await
    }

    /// Like [`next_session`](Self::next_session) with a bound.
    pub async fn next_session_within(&mut self, limit: Duration) -> Option<SessionRecord> {
        tokio::time::timeout(limit, self.sessions.recv())
            .await
            .ok()
            .flatten()
    }

    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
