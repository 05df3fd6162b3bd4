//! Binary plist bodies laid out exactly as Python's `plistlib` writes them.
//!
//! Devices parse plists by value, but recorded sessions (our known-answer vectors, strict
//! test peers) compare bodies byte for byte, and pyatv's bodies come from plistlib. The
//! `plist` crate's binary writer already matches plistlib's layout (objects in
//! insertion order, keys before values, equal scalars written once, minimal widths) as
//! long as the dict keys are inserted in sorted order — which is what [`encode_dict`] does.

use std::io::Cursor;

use plist::{Dictionary, Value};

/// Encodes a dictionary as a `bplist00` body with plistlib's byte layout (sorted keys).
pub fn encode_dict<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Vec<u8> {
    let mut entries: Vec<(&str, Value)> = entries.into_iter().collect();
    // Rust's `str` order is byte order, which for UTF-8 equals the code-point order
    // plistlib sorts by.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut dict = Dictionary::new();
    for (key, value) in entries {
        dict.insert(key.to_owned(), value);
    }
    let mut body = Vec::new();
    Value::Dictionary(dict)
        .to_writer_binary(&mut body)
        .expect("writing a plist of strings, numbers and data into memory cannot fail");
    body
}

/// Decodes a plist body (binary or XML, as devices send either) whose root is a dict.
pub fn decode_dict(body: &[u8]) -> Result<Dictionary, DecodeError> {
    let value = Value::from_reader(Cursor::new(body)).map_err(DecodeError::Invalid)?;
    value.into_dictionary().ok_or(DecodeError::NotADict)
}

/// Why a plist body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not a binary or XML plist.
    #[error("not a valid plist: {0}")]
    Invalid(#[source] plist::Error),
    /// The root object is not a dictionary.
    #[error("plist root is not a dictionary")]
    NotADict,
}
