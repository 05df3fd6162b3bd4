//! The AirPlay 1 `POST /play` request body (shared/protocol/airplay.md §1.3).

use std::time::Duration;

use plist::Value;

use crate::bplist;

/// Content type of the [`play_request_body`] body.
pub const PLAY_CONTENT_TYPE: &str = "application/x-apple-binary-plist";

/// Builds the binary plist body of an AirPlay 1 `/play` request:
/// `{Content-Location: url, Start-Position: start, X-Apple-Session-ID: session_id}`.
///
/// A whole number of seconds is written as a plist integer, exactly as pyatv sends it
/// (so bodies are byte-identical to pyatv's); a fractional start is written as a real
/// number of seconds. `session_id` is normally a fresh lowercase UUID4.
pub fn play_request_body(url: &str, start_position: Duration, session_id: &str) -> Vec<u8> {
    let start = if start_position.subsec_nanos() == 0 {
        Value::Integer(start_position.as_secs().into())
    } else {
        Value::Real(start_position.as_secs_f64())
    };
    bplist::encode_dict([
        ("Content-Location", Value::String(url.to_owned())),
        ("Start-Position", start),
        ("X-Apple-Session-ID", Value::String(session_id.to_owned())),
    ])
}
