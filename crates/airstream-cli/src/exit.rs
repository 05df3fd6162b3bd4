//! Exit codes: one per error kind, so scripts can tell a busy receiver from a wrong password.
//! [`TABLE`] is what `--help` and the README show.

use airstream::ErrorKind;

/// A bug or an unexpected local failure (an internal task died, a socket could not be made).
pub(crate) const INTERNAL: u8 = 1;

/// Every exit code besides 0, and what it means.
pub(crate) const TABLE: [(u8, &str); 15] = [
    (
        1,
        "internal error: a bug, or a local failure (e.g. the control socket)",
    ),
    (2, "invalid command line (unknown flag, missing argument)"),
    (
        10,
        "network: connection refused, unreachable, reset, receiver vanished",
    ),
    (
        11,
        "timeout (a receiver that stops answering is noticed within about 3 s)",
    ),
    (12, "protocol: the receiver answered with an error status"),
    (13, "receiver busy (another sender holds it)"),
    (14, "password missing or wrong"),
    (15, "pairing required"),
    (16, "wrong PIN"),
    (
        17,
        "unsupported receiver (says what it needs, e.g. AirPlay 2 or FairPlay)",
    ),
    (
        18,
        "unusable input: a file, flag value or config setting (names it and what is wrong)",
    ),
    (
        19,
        "no such device (or an ambiguous name: the candidates are listed)",
    ),
    (
        129,
        "stopped by SIGHUP (the stream was ended cleanly: TEARDOWN sent)",
    ),
    (
        130,
        "stopped by SIGINT, e.g. Ctrl-C (the stream was ended cleanly: TEARDOWN sent)",
    ),
    (
        143,
        "stopped by SIGTERM (the stream was ended cleanly: TEARDOWN sent)",
    ),
];

pub(crate) fn for_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Network => 10,
        ErrorKind::Timeout => 11,
        ErrorKind::Protocol => 12,
        ErrorKind::DeviceBusy => 13,
        ErrorKind::BadPassword => 14,
        ErrorKind::PairingRequired => 15,
        ErrorKind::BadPin => 16,
        ErrorKind::Unsupported => 17,
        ErrorKind::Input => 18,
        ErrorKind::NotFound => 19,
        // Internal, and kinds a newer library may add.
        _ => INTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_documented_code() {
        for kind in [
            ErrorKind::PairingRequired,
            ErrorKind::BadPassword,
            ErrorKind::BadPin,
            ErrorKind::DeviceBusy,
            ErrorKind::Unsupported,
            ErrorKind::Timeout,
            ErrorKind::Network,
            ErrorKind::Protocol,
            ErrorKind::Input,
            ErrorKind::NotFound,
            ErrorKind::Internal,
        ] {
            let code = for_kind(kind);
            assert!(
                TABLE.iter().any(|(c, _)| *c == code),
                "{kind:?} exits {code}, which the table does not list"
            );
        }
        // clap exits 2 on a usage error: the table says so.
        let usage: clap::Error = clap::Error::new(clap::error::ErrorKind::UnknownArgument);
        assert_eq!(usage.exit_code(), 2);
        assert!(TABLE.iter().any(|(c, _)| *c == 2));
    }
}
