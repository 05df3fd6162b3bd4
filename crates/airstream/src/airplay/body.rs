//! The AirPlay 1 `POST /play` and `GET /playback-info` requests (airplay.md §1.3, §1.5).

use airstream_proto::rtsp::{Request, Version};
use std::time::Duration;

pub(crate) const PLAY_PATH: &str = "/play";
pub(crate) const PLAYBACK_INFO_PATH: &str = "/playback-info";
/// What iOS's MediaControl sent; pyatv copies it and the fake device checks it.
pub(crate) const USER_AGENT: &str = "MediaControl/1.0";

/// `POST /play` with the binary plist body; a fresh session id per attempt, as pyatv does.
pub(crate) fn play_request(url: &str, start_position: Duration, session_id: &str) -> Request {
    Request::new("POST", PLAY_PATH, Version::Http11)
        .with_header("User-Agent", USER_AGENT)
        .with_body(
            airstream_proto::play::PLAY_CONTENT_TYPE,
            play_request_body(url, start_position, session_id),
        )
}

pub(crate) fn playback_info_request() -> Request {
    Request::new("GET", PLAYBACK_INFO_PATH, Version::Http11).with_header("User-Agent", USER_AGENT)
}

/// `{Content-Location, Start-Position, X-Apple-Session-ID}` as a `bplist00`, byte-identical
/// to pyatv's (plistlib layout; a whole number of seconds is an integer, as pyatv sends it).
pub(crate) fn play_request_body(url: &str, start_position: Duration, session_id: &str) -> Vec<u8> {
    airstream_proto::play::play_request_body(url, start_position, session_id)
}

/// A random UUID4, lowercase with dashes.
pub(crate) fn new_session_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plist::Value;

    // shared/testdata/airplay-play-request.json, `airplay1.body_hex`: pyatv 0.18.0's body
    // for this URL, start 0 and session id.
    const URL: &str = "http://192.168.1.10:8080/video.mp4";
    const SESSION: &str = "12345678-1234-4234-8234-123456789abc";
    const PYATV_BODY: &str = "62706c6973743030d30102030405065f1010436f6e74656e742d4c6f636174696f6e5e53746172742d506f736974696f6e5f1012582d4170706c652d53657373696f6e2d49445f1022687474703a2f2f3139322e3136382e312e31303a383038302f766964656f2e6d703410005f102431323334353637382d313233342d343233342d383233342d313233343536373839616263080f2231466b6d0000000000000101000000000000000700000000000000000000000000000094";

    #[test]
    fn body_matches_pyatv_byte_for_byte() {
        let body = play_request_body(URL, Duration::ZERO, SESSION);
        assert_eq!(hex::encode(body), PYATV_BODY);
    }

    #[test]
    fn fractional_start_is_a_real_and_whole_start_an_integer() {
        let parse = |body: Vec<u8>| {
            Value::from_reader(std::io::Cursor::new(body))
                .unwrap()
                .into_dictionary()
                .unwrap()
        };
        let whole = parse(play_request_body(URL, Duration::from_secs(90), SESSION));
        assert_eq!(
            whole
                .get("Start-Position")
                .and_then(Value::as_unsigned_integer),
            Some(90)
        );
        let half = parse(play_request_body(URL, Duration::from_millis(1500), SESSION));
        assert_eq!(
            half.get("Start-Position").and_then(Value::as_real),
            Some(1.5)
        );
        assert_eq!(
            half.get("Content-Location").and_then(Value::as_string),
            Some(URL)
        );
    }

    #[test]
    fn play_request_headers_are_what_the_device_checks() {
        let request = play_request(URL, Duration::ZERO, SESSION);
        let wire = String::from_utf8_lossy(&request.to_bytes()).into_owned();
        assert!(wire.starts_with("POST /play HTTP/1.1\r\n"), "{wire}");
        assert!(wire.contains("User-Agent: MediaControl/1.0\r\n"), "{wire}");
        assert!(
            wire.contains("Content-Type: application/x-apple-binary-plist\r\n"),
            "{wire}"
        );
        assert!(wire.contains(&format!("Content-Length: {}\r\n", request.body.len())));
        assert!(!wire.to_ascii_lowercase().contains("host:"), "{wire}");
    }

    #[test]
    fn session_ids_are_fresh_lowercase_uuid4s() {
        let a = new_session_id();
        let b = new_session_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{a}");
        assert_eq!(a, a.to_lowercase());
    }
}
