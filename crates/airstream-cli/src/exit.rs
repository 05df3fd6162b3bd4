//! Exit codes: one per error kind, so scripts can tell a busy receiver from a wrong password.

use airstream::ErrorKind;

/// A bug or an unexpected local failure (an internal task died, a socket could not be made).
pub(crate) const INTERNAL: u8 = 1;

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
