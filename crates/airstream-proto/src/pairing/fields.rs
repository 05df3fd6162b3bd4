//! Reading the typed fields of pair-setup plist bodies.

use plist::{Dictionary, Value};

use super::PairingError;
use crate::bplist;

pub(crate) fn decode(step: &'static str, body: &[u8]) -> Result<Dictionary, PairingError> {
    bplist::decode_dict(body).map_err(|err| PairingError::malformed(step, err.to_string()))
}

pub(crate) fn data<'a>(
    step: &'static str,
    dict: &'a Dictionary,
    key: &str,
) -> Result<&'a [u8], PairingError> {
    match dict.get(key) {
        Some(Value::Data(bytes)) => Ok(bytes),
        Some(_) => Err(PairingError::malformed(
            step,
            format!("`{key}` is not data"),
        )),
        None => Err(PairingError::malformed(step, format!("`{key}` is missing"))),
    }
}

/// A data field that must be exactly `N` bytes long.
pub(crate) fn data_array<const N: usize>(
    step: &'static str,
    dict: &Dictionary,
    key: &str,
) -> Result<[u8; N], PairingError> {
    let bytes = data(step, dict, key)?;
    bytes.try_into().map_err(|_| {
        PairingError::malformed(
            step,
            format!("`{key}` is {} bytes, expected {N}", bytes.len()),
        )
    })
}

pub(crate) fn string<'a>(
    step: &'static str,
    dict: &'a Dictionary,
    key: &str,
) -> Result<&'a str, PairingError> {
    match dict.get(key) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(PairingError::malformed(
            step,
            format!("`{key}` is not a string"),
        )),
        None => Err(PairingError::malformed(step, format!("`{key}` is missing"))),
    }
}

pub(crate) fn data_value(bytes: &[u8]) -> Value {
    Value::Data(bytes.to_vec())
}
