//! The public error type. Callers match on [`Error::kind`], a stable category; the variant
//! carries what to tell the user. Non-fatal receiver replies (a rejected volume or metadata
//! request) are never errors: they surface as warnings on the stream handle.

use std::io;

/// Stable category of an [`Error`]; the CLI maps each to its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The device needs `airstream pair` first, or rejected the stored credentials.
    PairingRequired,
    /// The receiver wants a password and the one given (if any) is wrong.
    BadPassword,
    /// The PIN entered during pairing was wrong.
    BadPin,
    /// Another sender holds the receiver.
    DeviceBusy,
    /// The device needs something airstream does not do (yet).
    Unsupported,
    /// The peer did not answer in time.
    Timeout,
    /// Connection refused, unreachable, reset or closed.
    Network,
    /// The peer answered with an error status or sent something we cannot parse.
    Protocol,
    /// The audio or file we were given cannot be used.
    Input,
    /// No device matches what the user asked for (or the name is ambiguous).
    NotFound,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{device} needs pairing: run `{command}`")]
    PairingRequired { device: String, command: String },
    #[error("{0}")]
    CredentialsRejected(String),
    #[error("wrong password for {receiver}")]
    BadPassword { receiver: String },
    #[error("{receiver} requires a password (use --password or AIRSTREAM_PASSWORD)")]
    PasswordRequired { receiver: String },
    #[error("wrong PIN, run airstream pair again")]
    BadPin,
    /// A pairing or pair-verify message failed its cryptographic check or could not be
    /// parsed (e.g. the device's SRP proof M2 is wrong): the device cannot be trusted.
    #[error("{device}: {source}")]
    Pairing {
        device: String,
        #[source]
        source: airstream_proto::pairing::PairingError,
    },
    /// A HAP (AirPlay 2) pairing or pair-verify message failed its check or could not be
    /// parsed: the device cannot be trusted.
    #[error("{device}: {source}")]
    HapPairing {
        device: String,
        #[source]
        source: airstream_proto::hap::HapError,
    },
    #[error("{receiver} is busy: another sender is using it")]
    DeviceBusy { receiver: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("{context}: {source}")]
    Network {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    ConnectionLost(String),
    #[error("{peer} answered {request} with {status} {reason}")]
    Protocol {
        peer: String,
        request: String,
        status: u16,
        reason: String,
    },
    #[error("protocol error from {peer}: {detail}")]
    BadMessage { peer: String, detail: String },
    #[error(transparent)]
    Input(#[from] airstream_audio::AudioError),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    /// The device reported an `error` in `/playback-info` (it could not fetch or play the media).
    #[error("{device} could not play {url}: {}", describe_device_error(*.code, .domain.as_deref()))]
    PlaybackFailed {
        device: String,
        url: String,
        code: Option<i64>,
        domain: Option<String>,
    },
}

fn describe_device_error(code: Option<i64>, domain: Option<&str>) -> String {
    let code = code.map_or_else(|| "without a code".to_string(), |c| format!("code {c}"));
    format!("error {code} in domain {}", domain.unwrap_or("unknown"))
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::PairingRequired { .. } | Error::CredentialsRejected(_) => {
                ErrorKind::PairingRequired
            }
            Error::BadPassword { .. } | Error::PasswordRequired { .. } => ErrorKind::BadPassword,
            Error::BadPin => ErrorKind::BadPin,
            Error::DeviceBusy { .. } => ErrorKind::DeviceBusy,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Network { .. } | Error::ConnectionLost(_) => ErrorKind::Network,
            Error::Protocol { .. }
            | Error::BadMessage { .. }
            | Error::PlaybackFailed { .. }
            | Error::Pairing { .. }
            | Error::HapPairing { .. } => ErrorKind::Protocol,
            Error::Input(_) | Error::InvalidInput(_) => ErrorKind::Input,
            Error::NotFound(_) => ErrorKind::NotFound,
        }
    }

    /// HTTP/RTSP status when the peer answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Protocol { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn network(context: impl Into<String>, source: io::Error) -> Self {
        Error::Network {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
