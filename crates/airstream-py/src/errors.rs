//! One Python exception class per [`ErrorKind`], all under `AirstreamError`. The message is
//! the library's, with each cause once, and the advice a Python caller needs where the error
//! alone tells (the CLI gives the same advice in terms of its flags). No message carries a
//! password, PIN or key: the library's texts never hold one.

use airstream::{Error, ErrorKind};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    airstream,
    AirstreamError,
    PyException,
    "Base class of every error airstream raises."
);
create_exception!(
    airstream,
    BadPassword,
    AirstreamError,
    "The receiver wants a password and the one given (if any) is wrong."
);
create_exception!(
    airstream,
    PairingRequired,
    AirstreamError,
    "The device must be paired first (airstream.pair), or it rejected the credentials."
);
create_exception!(
    airstream,
    BadPin,
    AirstreamError,
    "The PIN entered during pairing was wrong."
);
create_exception!(
    airstream,
    DeviceBusy,
    AirstreamError,
    "Another sender is using the receiver."
);
create_exception!(
    airstream,
    Unsupported,
    AirstreamError,
    "The device needs something airstream does not do."
);
create_exception!(
    airstream,
    Timeout,
    AirstreamError,
    "The device did not answer in time."
);
create_exception!(
    airstream,
    NetworkError,
    AirstreamError,
    "The connection was refused, reset, closed or could not be made."
);
create_exception!(
    airstream,
    ProtocolError,
    AirstreamError,
    "The device answered with an error or sent something that cannot be understood."
);
create_exception!(
    airstream,
    InvalidInput,
    AirstreamError,
    "An argument or the audio given cannot be used."
);
create_exception!(
    airstream,
    NotFound,
    AirstreamError,
    "No device matches the name, id or address given (or several do)."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AirstreamError", py.get_type::<AirstreamError>())?;
    m.add("BadPassword", py.get_type::<BadPassword>())?;
    m.add("PairingRequired", py.get_type::<PairingRequired>())?;
    m.add("BadPin", py.get_type::<BadPin>())?;
    m.add("DeviceBusy", py.get_type::<DeviceBusy>())?;
    m.add("Unsupported", py.get_type::<Unsupported>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("NetworkError", py.get_type::<NetworkError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("InvalidInput", py.get_type::<InvalidInput>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    Ok(())
}

/// The exception for a library error: its class from the kind, its text from the chain.
pub(crate) fn to_py(error: &Error) -> PyErr {
    let mut message = error.to_string_with_causes().replace(['\r', '\n'], " ");
    if let Some(advice) = advice_for(error) {
        message.push_str(": ");
        message.push_str(advice);
    }
    of_kind(error.kind(), message)
}

/// What to do next, where the error alone tells (as the CLI adds it, in Python terms).
fn advice_for(error: &Error) -> Option<&'static str> {
    match error {
        Error::PairingRequired { .. } => {
            Some("pair it with airstream.pair() and pass the credentials")
        }
        Error::PasswordRequired { .. } => Some("pass it with password="),
        Error::BadPin => Some("pair again"),
        _ if error.kind() == ErrorKind::Internal => {
            Some("this is a bug in airstream; please report it")
        }
        _ => None,
    }
}

/// The exception of `kind` with `message` (for outcomes that carry only both).
pub(crate) fn of_kind(kind: ErrorKind, message: String) -> PyErr {
    match kind {
        ErrorKind::BadPassword => BadPassword::new_err(message),
        ErrorKind::PairingRequired => PairingRequired::new_err(message),
        ErrorKind::BadPin => BadPin::new_err(message),
        ErrorKind::DeviceBusy => DeviceBusy::new_err(message),
        ErrorKind::Unsupported => Unsupported::new_err(message),
        ErrorKind::Timeout => Timeout::new_err(message),
        ErrorKind::Network => NetworkError::new_err(message),
        ErrorKind::Protocol => ProtocolError::new_err(message),
        ErrorKind::Input => InvalidInput::new_err(message),
        ErrorKind::NotFound => NotFound::new_err(message),
        _ => AirstreamError::new_err(message),
    }
}

/// An unusable argument.
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    InvalidInput::new_err(message.into())
}
