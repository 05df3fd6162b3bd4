//! The public error type. Callers match on [`Error::kind`], a stable category; the variant
//! carries what to tell the user. The text of an error says what failed, never the
//! underlying cause again: that stays [`std::error::Error::source`], so a caller that prints
//! the chain prints each cause once. The text holds no command-line advice either (what to
//! run, which flag to pass): the CLI adds that per [`ErrorKind`]. Non-fatal device
//! replies (a rejected volume or metadata request) are never errors: they surface as
//! warnings on the stream handle.

use std::io;

/// Stable category of an [`Error`]; the CLI maps each to its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The device needs `airstream pair` first, or rejected the stored credentials.
    PairingRequired,
    /// The device wants a password and the one given (if any) is wrong.
    BadPassword,
    /// The PIN entered during pairing was wrong.
    BadPin,
    /// Another sender holds the device.
    DeviceBusy,
    /// The device needs something airstream does not do (yet).
    Unsupported,
    /// The device did not answer in time.
    Timeout,
    /// Connection refused, unreachable, reset or closed.
    Network,
    /// The device answered with an error status or sent something we cannot parse.
    Protocol,
    /// The audio or file we were given cannot be used.
    Input,
    /// No device matches what the user asked for (or the name is ambiguous).
    NotFound,
    /// An internal task of airstream panicked or failed: a bug, not the device's or the
    /// input's fault.
    Internal,
    /// The caller cancelled it (a signal while the stream was being set up).
    Cancelled,
}

/// Everything that can go wrong talking to a device or preparing what it plays; its
/// [`kind`](Error::kind) is the stable category to match on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device asks for pairing and no credentials were given.
    #[error("{device} needs pairing")]
    PairingRequired {
        /// The device, as named to the user.
        device: String,
        /// How to pair it with the `airstream` command; not part of the message (the CLI
        /// decides what advice to give).
        command: String,
    },
    /// The device refused the stored credentials in pair-verify (it was reset or unpaired us).
    #[error("{device} rejected the stored credentials ({reason})")]
    CredentialsRejected {
        /// The device, as named to the user.
        device: String,
        /// What the device answered or failed to prove.
        reason: String,
        /// How to pair it again with the `airstream` command; not part of the message (the
        /// CLI decides what advice to give).
        command: String,
    },
    /// The device answered the Digest-authenticated request with 401 again.
    #[error("wrong password for {device}")]
    BadPassword {
        /// The device, as named to the user.
        device: String,
    },
    /// The device asks for a password (401 with a Digest challenge) and none was given.
    #[error("{device} requires a password")]
    PasswordRequired {
        /// The device, as named to the user.
        device: String,
    },
    /// The device rejected the PIN entered during pair-setup.
    #[error("wrong PIN")]
    BadPin,
    /// A pairing or pair-verify message failed its cryptographic check or could not be
    /// parsed (e.g. the device's SRP proof M2 is wrong): the device cannot be trusted.
    #[error("pairing with {device} failed")]
    Pairing {
        /// The device, as named to the user.
        device: String,
        /// The check that failed.
        #[source]
        source: airstream_proto::pairing::PairingError,
    },
    /// A HAP (AirPlay 2) pairing or pair-verify message failed its check or could not be
    /// parsed: the device cannot be trusted.
    #[error("{device}: {source}")]
    HapPairing {
        /// The device, as named to the user.
        device: String,
        /// The check that failed.
        #[source]
        source: airstream_proto::hap::HapError,
    },
    /// Another sender holds the device: it answered 453 or dropped our first request.
    #[error("{device} is busy: another sender is using it")]
    DeviceBusy {
        /// The device, as named to the user.
        device: String,
    },
    /// The device needs something airstream does not do; the text says what.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The device did not answer in time; the text says what we were waiting for.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A socket operation failed (refused, unreachable, reset).
    #[error("{context}")]
    Network {
        /// What we were doing, and with whom.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The device closed the connection while we expected more.
    #[error("{0}")]
    ConnectionLost(String),
    /// The device answered a request with an error status.
    #[error("{device} answered {request} with {status} {reason}")]
    Protocol {
        /// The device, as named to the user.
        device: String,
        /// The request it refused (`SETUP`, `POST /pair-verify`...).
        request: String,
        /// The RTSP/HTTP status code.
        status: u16,
        /// The reason phrase it sent.
        reason: String,
    },
    /// The device sent something we cannot parse, or did not ask for.
    #[error("protocol error from {device}: {detail}")]
    BadMessage {
        /// The device, as named to the user.
        device: String,
        /// What is wrong with the message.
        detail: String,
    },
    /// The audio input cannot be read or decoded.
    #[error(transparent)]
    Input(#[from] airstream_audio::AudioError),
    /// An argument is unusable (a PIN that is not digits, a malformed credentials string).
    #[error("{0}")]
    InvalidInput(String),
    /// No device matches the name or address asked for, or several do.
    #[error("{0}")]
    NotFound(String),
    /// The device reported an `error` in `/playback-info` (it could not fetch or play the media).
    #[error("{device} could not play {url}: {}", describe_device_error(*.code, .domain.as_deref()))]
    PlaybackFailed {
        /// The device, as named to the user.
        device: String,
        /// The URL it was asked to play.
        url: String,
        /// The `error.code` it reported.
        code: Option<i64>,
        /// The `error.domain` it reported (`NSURLErrorDomain`...).
        domain: Option<String>,
    },
    /// The caller cancelled the setup before the stream ran (see
    /// [`start_group_until`](crate::raop::start_group_until)); every receiver that had a
    /// session was sent TEARDOWN.
    #[error("the stream's setup was cancelled")]
    Cancelled,
    /// An internal task panicked or failed (e.g. the decoder thread or the stream driver).
    #[error("{context}")]
    Internal {
        /// Which task failed.
        context: String,
        /// Why (a panic payload or the task's error).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn describe_device_error(code: Option<i64>, domain: Option<&str>) -> String {
    let code = code.map_or_else(|| "without a code".to_string(), |c| format!("code {c}"));
    format!("error {code} in domain {}", domain.unwrap_or("unknown"))
}

impl Error {
    /// A rejection of credentials that pairing has just made says so: the device forgot them
    /// at once, which is not the stale-credentials case.
    pub(crate) fn right_after_pairing(self) -> Error {
        match self {
            Error::CredentialsRejected {
                device,
                reason,
                command,
            } => Error::CredentialsRejected {
                device,
                reason: format!("the new ones, right after pairing: {reason}"),
                command,
            },
            other => other,
        }
    }

    /// The stable category callers match on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::PairingRequired { .. } | Error::CredentialsRejected { .. } => {
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
            Error::Internal { .. } => ErrorKind::Internal,
            Error::Cancelled => ErrorKind::Cancelled,
        }
    }

    /// HTTP/RTSP status when the device answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Protocol { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The message and then each cause in the [`source`](std::error::Error::source) chain
    /// whose text is not already in it, joined by `: `: the whole story in one line, for
    /// warnings and reports (`Display` alone says only what failed).
    pub fn to_string_with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            let more = error.to_string();
            if !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            cause = error.source();
        }
        text
    }

    /// An internal task failed: `context` says which, `source` why (e.g. a `JoinError`).
    pub fn internal(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Internal {
            context: context.into(),
            source: source.into(),
        }
    }

    pub(crate) fn network(context: impl Into<String>, source: io::Error) -> Self {
        Error::Network {
            context: context.into(),
            source,
        }
    }
}

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_what_failed_and_the_causes_follow_once() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "Connection refused");
        let error = Error::network("cannot connect to 127.0.0.1:5000", refused);
        assert_eq!(error.to_string(), "cannot connect to 127.0.0.1:5000");
        assert_eq!(
            error.to_string_with_causes(),
            "cannot connect to 127.0.0.1:5000: Connection refused"
        );
        assert_eq!(error.kind(), ErrorKind::Network);
        let error = Error::internal("the stream task failed", "it panicked");
        assert_eq!(error.kind(), ErrorKind::Internal);
        assert_eq!(
            error.to_string_with_causes(),
            "the stream task failed: it panicked"
        );
        // No advice in the library's text: the CLI gives it.
        let error = Error::PasswordRequired {
            device: "Patio".into(),
        };
        assert_eq!(error.to_string(), "Patio requires a password");
        assert_eq!(Error::BadPin.to_string(), "wrong PIN");
    }
}
