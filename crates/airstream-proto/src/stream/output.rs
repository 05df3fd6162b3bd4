//! What the engine hands back to its caller: datagrams to send, RTSP input it expects, and
//! events.

use crate::raop::SessionError;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

/// A member of the stream, as numbered by [`Stream::add_member`](super::Stream::add_member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub(crate) usize);

impl MemberId {
    /// The member's place among those added (0 for the first).
    pub fn index(self) -> usize {
        self.0
    }

    /// The member added `index`-th (the engine ignores ids it never gave out).
    pub fn from_index(index: usize) -> Self {
        Self(index)
    }
}

/// Which of a member's UDP sockets a datagram leaves from or arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Audio packets, to the receiver's `server_port`.
    Audio,
    /// Sync packets and retransmissions out, retransmit requests in.
    Control,
    /// NTP-style timing requests in, replies out.
    Timing,
}

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Whose socket sends it.
    pub member: MemberId,
    /// The member's socket to send it from.
    pub port: Port,
    /// Always an address of that member's receiver: the engine never answers anyone else.
    pub destination: SocketAddr,
    /// The bytes.
    pub datagram: Bytes,
    /// Audio only: send this datagram, and any queued before it for the member, now rather
    /// than in the batch that follows. The packet that is due leaves alone and first; a
    /// receiver starts at the first packet it receives, so the start must not sit inside a
    /// batch that a jittery link may reorder.
    pub send_now: bool,
}

/// What the caller's RTSP connection of a member delivered.
#[derive(Debug)]
pub enum RtspInput {
    /// A complete response.
    Response(crate::rtsp::Response),
    /// The receiver closed the connection.
    Closed,
    /// Reading or writing failed; the text says how.
    Broken(String),
    /// The receiver sent bytes that are not a response we take (not RTSP, or a body larger
    /// than allowed).
    Malformed(crate::rtsp::ParseError),
}

/// Why a member left the stream before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberFailure {
    /// The RTSP session failed (a fatal status, a bad reply).
    Session(SessionError),
    /// A request went unanswered for too long.
    Timeout {
        /// The request's method.
        request: String,
        /// How long it waited.
        waited: Duration,
    },
    /// The receiver closed the RTSP connection.
    Closed,
    /// A response with a CSeq other than the request's, bytes nobody asked for, or bytes
    /// that are not a response we take.
    Unexpected(String),
    /// The connection or a socket failed (the caller's words).
    Transport(String),
}

impl std::fmt::Display for MemberFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemberFailure::Session(e) => write!(f, "{e}"),
            MemberFailure::Timeout { request, waited } => {
                write!(f, "did not answer {request} within {waited:?}")
            }
            MemberFailure::Closed => f.write_str("closed the connection"),
            MemberFailure::Unexpected(what) => write!(f, "protocol error: {what}"),
            MemberFailure::Transport(what) => f.write_str(what),
        }
    }
}

/// Where the stream is, as callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the receivers' clocks and the first decoded audio.
    SettingUp,
    /// Audio flows on the timeline.
    Streaming,
    /// Nothing is sent; the receivers dropped what they buffered, which is kept for resume.
    Paused,
    /// The input ended; silence keeps the receivers' clocks until they have played the rest.
    Draining,
    /// TEARDOWN sent; waiting (bounded) for the answers.
    TearingDown,
    /// Over: [`Event::Finished`] or [`Event::Failed`] said how.
    Done,
}

/// Something the caller should know or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The phase changed.
    Phase(Phase),
    /// The timeline started: the first real frame will carry `first_audio_rtptime` (after the
    /// lead-in). Send the initial metadata tied to it.
    Started {
        /// The RTP time of the first real frame.
        first_audio_rtptime: u32,
    },
    /// A member sent no timing request before the wait ran out; the stream starts anyway.
    NoClock(MemberId),
    /// The stream reached a [`SourceItem::Marker`](super::SourceItem::Marker): what the
    /// caller tied to it starts at `rtptime`, the RTP time of the frame it names.
    Marker {
        /// The caller's token.
        token: u64,
        /// The RTP time of the frame the marker names.
        rtptime: u32,
    },
    /// A non-fatal request (volume, metadata, keep-alive, flush) was refused.
    Warning {
        /// The member that refused.
        member: MemberId,
        /// The request, in words.
        request: String,
        /// The status it got.
        status: u16,
        /// The status's reason phrase.
        reason: String,
    },
    /// A receiver asked `asked` frames of latency beyond what is allowed; `used` applies.
    LatencyClamped {
        /// The member that asked.
        member: MemberId,
        /// Total frames it asked for.
        asked: u32,
        /// Total frames used.
        used: u32,
    },
    /// A member of a group failed and left; the others go on.
    Dropped {
        /// The member that left.
        member: MemberId,
        /// Why.
        failure: MemberFailure,
    },
    /// The source reported a failure at this point of the stream; the stream ends.
    SourceFailed,
    /// Everything sent and torn down (or stopped through [`Stream::stop`](super::Stream::stop)).
    Finished {
        /// Stopped through [`Stream::stop`](super::Stream::stop) rather than played to the end.
        stopped: bool,
    },
    /// The stream failed: its only member, or its last one, failed.
    Failed {
        /// The member whose failure ended it.
        member: MemberId,
        /// Why.
        failure: MemberFailure,
    },
}
