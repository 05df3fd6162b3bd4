//! Exit codes: one per error kind, so scripts can tell a busy receiver from a wrong password.

use airstream::ErrorKind;

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
        _ => INTERNAL,
    }
}

/// Finds the airstream error in an anyhow chain and maps its kind.
pub(crate) fn code_for(error: &anyhow::Error) -> u8 {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<airstream::Error>())
        .map_or(INTERNAL, |e| for_kind(e.kind()))
}
