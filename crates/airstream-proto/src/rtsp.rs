//! RTSP/1.0 and HTTP/1.x messages as AirPlay uses them: one codec for both, because receivers
//! answer `POST /pair-setup-pin` with `HTTP/1.1` on the same socket that carries `RTSP/1.0`.
//!
//! Parsing is incremental: feed whatever bytes arrived, get `Ok(None)` until a whole message
//! (headers plus `Content-Length` body) is there. A missing `Content-Length` means an empty
//! body, never "read until close", because the connection stays open.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt;

/// Largest header block we accept; real receivers send a few hundred bytes.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Largest body we accept (cover art and plists stay far below this).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Protocol token on the request or status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `RTSP/1.0`: the RAOP control channel.
    Rtsp10,
    /// `HTTP/1.0`, as some receivers answer pairing requests.
    Http10,
    /// `HTTP/1.1`: AirPlay 1 video (`/play`) and pairing.
    Http11,
}

impl Version {
    /// The token as written on the wire (`RTSP/1.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Rtsp10 => "RTSP/1.0",
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }

    fn parse(token: &str) -> Option<Self> {
        match token.to_ascii_uppercase().as_str() {
            "RTSP/1.0" => Some(Version::Rtsp10),
            "HTTP/1.0" => Some(Version::Http10),
            "HTTP/1.1" => Some(Version::Http11),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header list that keeps the order and spelling it was given but looks names up
/// case-insensitively (receivers write `CSeq`, `Cseq` and `cseq`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of the first header with that name, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every header of that name with one value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.0.push((name.to_string(), value.into()));
    }

    /// Adds a header without touching existing ones of the same name.
    pub fn append(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_string(), value.into()));
    }

    /// Drops every header of that name, compared case-insensitively.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Name/value pairs in the order they were given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of header lines (repeated names count once each).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no header lines.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn content_length(&self, max_body: usize) -> Result<usize, ParseError> {
        match self.get("Content-Length") {
            None => Ok(0),
            Some(v) => {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| ParseError::BadContentLength(v.to_string()))?;
                if n > max_body {
                    return Err(ParseError::BodyTooLarge(n));
                }
                Ok(n)
            }
        }
    }
}

/// Header values can carry secrets (`Authorization`), so `Debug` masks them.
impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.0 {
            if name.eq_ignore_ascii_case("Authorization") {
                map.entry(name, &"<redacted>");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

/// Why a byte stream is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The header block exceeds its limit before the blank line.
    #[error("header block larger than {MAX_HEADER_BYTES} bytes")]
    HeadersTooLarge,
    /// `Content-Length` announces more than allowed ([`MAX_BODY_BYTES`], or the limit given
    /// to [`parse_response_within`]).
    #[error("body of {0} bytes is larger than allowed")]
    BodyTooLarge(usize),
    /// `Content-Length` is not a decimal number.
    #[error("bad Content-Length {0:?}")]
    BadContentLength(String),
    /// The request or status line is not `METHOD URI VERSION` / `VERSION CODE REASON`.
    #[error("bad start line {0:?}")]
    BadStartLine(String),
    /// A header line has no `:`.
    #[error("bad header line {0:?}")]
    BadHeader(String),
    /// The start line or headers are not valid text.
    #[error("message is not UTF-8/ASCII text")]
    NotText,
}

/// An RTSP or HTTP request: what a sender sends (or the embedded receiver parses).
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// `OPTIONS`, `ANNOUNCE`, `SETUP`, `RECORD`, `POST`...
    pub method: String,
    /// Request target: `rtsp://…/<session>`, `*` or an HTTP path.
    pub uri: String,
    /// Protocol on the request line.
    pub version: Version,
    /// Header lines, in order.
    pub headers: Headers,
    /// Body, exactly `Content-Length` bytes.
    pub body: Bytes,
}

impl Request {
    /// A request with no headers and an empty body.
    pub fn new(method: &str, uri: &str, version: Version) -> Self {
        Self {
            method: method.to_string(),
            uri: uri.to_string(),
            version,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Sets the body and its `Content-Type`; `Content-Length` is written by `encode`.
    #[must_use]
    pub fn with_body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.headers.set("Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// Sets a header, replacing any of that name (builder form).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.set(name, value);
        self
    }

    /// The `CSeq` header as a number, if present and numeric.
    pub fn cseq(&self) -> Option<u32> {
        self.headers.get("CSeq").and_then(|v| v.trim().parse().ok())
    }

    /// Serialises the request. `Content-Length` is emitted only for a non-empty body, as
    /// Apple's senders do (some receivers reject `Content-Length: 0` on OPTIONS).
    pub fn encode(&self, out: &mut BytesMut) {
        out.extend_from_slice(self.method.as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(self.uri.as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        encode_headers_and_body(&self.headers, &self.body, out);
    }

    /// The request serialised into a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// An RTSP or HTTP response: a receiver's answer to one request.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// Protocol on the status line.
    pub version: Version,
    /// Status code (`200`, `401`, `453`...).
    pub status: u16,
    /// Reason phrase after the code.
    pub reason: String,
    /// Header lines, in order.
    pub headers: Headers,
    /// Body, exactly `Content-Length` bytes.
    pub body: Bytes,
}

impl Response {
    /// A response with no headers and an empty body.
    pub fn new(version: Version, status: u16, reason: &str) -> Self {
        Self {
            version,
            status,
            reason: reason.to_string(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Sets a header, replacing any of that name (builder form).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.set(name, value);
        self
    }

    /// Sets `Content-Type` and the body (builder form).
    #[must_use]
    pub fn with_body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.headers.set("Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `CSeq` header as a number, echoing the request's.
    pub fn cseq(&self) -> Option<u32> {
        self.headers.get("CSeq").and_then(|v| v.trim().parse().ok())
    }

    /// Appends the serialised response to `out` (`Content-Length` only for a non-empty body).
    pub fn encode(&self, out: &mut BytesMut) {
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(format!(" {} ", self.status).as_bytes());
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        encode_headers_and_body(&self.headers, &self.body, out);
    }

    /// The response serialised into a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

fn encode_headers_and_body(headers: &Headers, body: &[u8], out: &mut BytesMut) {
    for (name, value) in headers.iter() {
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Finds the end of the header block; accepts bare `\n` line ends from sloppy receivers.
/// Returns (index where headers end, length of the terminator).
fn find_header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, 3));
            }
        }
        i += 1;
    }
    None
}

/// Splits a complete message off the front of `buf`: (start line, headers, body).
fn split_message(
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<Option<(String, Headers, Bytes)>, ParseError> {
    // Leading blank lines between pipelined messages are allowed by RFC 2326.
    while buf.first().is_some_and(|b| *b == b'\r' || *b == b'\n') {
        buf.advance(1);
    }
    let Some((end, term_len)) = find_header_end(buf) else {
        if buf.len() > MAX_HEADER_BYTES {
            return Err(ParseError::HeadersTooLarge);
        }
        return Ok(None);
    };
    if end > MAX_HEADER_BYTES {
        return Err(ParseError::HeadersTooLarge);
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ParseError::NotText)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().unwrap_or_default().trim().to_string();
    let mut headers = Headers::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        // Obsolete line folding: a continuation line extends the previous value.
        if line.starts_with([' ', '\t']) {
            match headers.0.last_mut() {
                Some((_, value)) => {
                    value.push(' ');
                    value.push_str(line.trim());
                    continue;
                }
                None => return Err(ParseError::BadHeader(line.to_string())),
            }
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ParseError::BadHeader(line.to_string()));
        };
        let name = name.trim();
        if name.is_empty() || name.contains(' ') {
            return Err(ParseError::BadHeader(line.to_string()));
        }
        headers.append(name, value.trim());
    }
    let body_len = headers.content_length(max_body)?;
    let total = end + term_len + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    buf.advance(end + term_len);
    let body = buf.split_to(body_len).freeze();
    Ok(Some((start, headers, body)))
}

/// Parses one response from the front of `buf`, consuming it; `Ok(None)` = need more bytes.
pub fn parse_response(buf: &mut BytesMut) -> Result<Option<Response>, ParseError> {
    parse_response_within(buf, MAX_BODY_BYTES)
}

/// [`parse_response`] with a tighter bound on the body: a reply announcing more than
/// `max_body` bytes is refused at its headers, before anything of it is buffered.
pub fn parse_response_within(
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<Option<Response>, ParseError> {
    let Some((start, headers, body)) = split_message(buf, max_body)? else {
        return Ok(None);
    };
    let (version, status, reason) = parse_status_line(&start)?;
    Ok(Some(Response {
        version,
        status,
        reason,
        headers,
        body,
    }))
}

/// Accepts `RTSP/1.0 200 OK`, `RTSP/1.0 200` (no reason), extra spaces, and lower-case tokens.
fn parse_status_line(line: &str) -> Result<(Version, u16, String), ParseError> {
    let bad = || ParseError::BadStartLine(line.to_string());
    let mut parts = line.splitn(2, char::is_whitespace);
    let version = parts.next().and_then(Version::parse).ok_or_else(bad)?;
    let rest = parts.next().unwrap_or_default().trim_start();
    let (code, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if code.len() != 3 {
        return Err(bad());
    }
    let status: u16 = code.parse().map_err(|_| bad())?;
    Ok((version, status, reason.trim().to_string()))
}

/// Parses one request from the front of `buf` (the receiver side), consuming it.
pub fn parse_request(buf: &mut BytesMut) -> Result<Option<Request>, ParseError> {
    let Some((start, headers, body)) = split_message(buf, MAX_BODY_BYTES)? else {
        return Ok(None);
    };
    let bad = || ParseError::BadStartLine(start.clone());
    let mut parts = start.split_whitespace();
    let method = parts.next().ok_or_else(bad)?.to_string();
    let uri = parts.next().ok_or_else(bad)?.to_string();
    let version = parts.next().and_then(Version::parse).ok_or_else(bad)?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Some(Request {
        method,
        uri,
        version,
        headers,
        body,
    }))
}

/// Reads a `key=value` parameter out of a `;`-separated header such as `Transport` or
/// `RTP-Info` (`server_port=6000;control_port=6001`).
pub fn header_param<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    header.split([';', ',']).find_map(|part| {
        let (k, v) = part.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(s: &str) -> BytesMut {
        BytesMut::from(s.as_bytes())
    }

    #[test]
    fn encodes_request_exactly() {
        let req = Request::new("OPTIONS", "*", Version::Rtsp10)
            .with_header("CSeq", "1")
            .with_header("User-Agent", "AirPlay/550.10");
        assert_eq!(
            &req.to_bytes()[..],
            b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: AirPlay/550.10\r\n\r\n"
        );
        let req = Request::new("SET_PARAMETER", "rtsp://127.0.0.1/1", Version::Rtsp10)
            .with_header("CSeq", "5")
            .with_body("text/parameters", &b"volume: -15.000000\r\n"[..]);
        assert_eq!(
            &req.to_bytes()[..],
            &b"SET_PARAMETER rtsp://127.0.0.1/1 RTSP/1.0\r\nCSeq: 5\r\nContent-Type: text/parameters\r\nContent-Length: 20\r\n\r\nvolume: -15.000000\r\n"[..]
        );
    }

    #[test]
    fn parses_response_with_body_and_case_insensitive_headers() {
        let mut b = buf(
            "RTSP/1.0 200 OK\r\ncseq: 3\r\nCONTENT-length: 4\r\nAudio-Latency: 11025\r\n\r\nabcdRTSP",
        );
        let r = parse_response(&mut b).unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.cseq(), Some(3));
        assert_eq!(r.headers.get("audio-latency"), Some("11025"));
        assert_eq!(&r.body[..], b"abcd");
        assert_eq!(
            &b[..],
            b"RTSP",
            "the next message's bytes stay in the buffer"
        );
    }

    #[test]
    fn partial_reads_wait_for_the_whole_message() {
        let full = "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 3\r\n\r\nxyz";
        for cut in 0..full.len() {
            let mut b = buf(&full[..cut]);
            assert_eq!(parse_response(&mut b).unwrap(), None, "cut at {cut}");
            b.extend_from_slice(&full.as_bytes()[cut..]);
            let r = parse_response(&mut b).unwrap().unwrap();
            assert_eq!(&r.body[..], b"xyz");
            assert!(b.is_empty());
        }
    }

    #[test]
    fn odd_status_lines_are_accepted() {
        for (line, status, reason) in [
            ("RTSP/1.0 200\r\n\r\n", 200, ""),
            (
                "RTSP/1.0  453   Not Enough Bandwidth\r\n\r\n",
                453,
                "Not Enough Bandwidth",
            ),
            ("rtsp/1.0 401 Unauthorized\n\n", 401, "Unauthorized"),
            (
                "HTTP/1.1 500 Internal Server Error\r\n\r\n",
                500,
                "Internal Server Error",
            ),
        ] {
            let r = parse_response(&mut buf(line)).unwrap().unwrap();
            assert_eq!((r.status, r.reason.as_str()), (status, reason), "{line:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "HELLO\r\n\r\n",
            "RTSP/1.0 2000 OK\r\n\r\n",
            "RTSP/1.0 abc\r\n\r\n",
            "RTSP/1.0 200 OK\r\nno colon here\r\n\r\n",
            "RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n",
            "RTSP/1.0 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
        ] {
            assert!(parse_response(&mut buf(bad)).is_err(), "{bad:?}");
        }
        let huge = "x".repeat(MAX_HEADER_BYTES + 10);
        assert_eq!(
            parse_response(&mut buf(&huge)),
            Err(ParseError::HeadersTooLarge)
        );
    }

    #[test]
    fn a_tighter_body_limit_refuses_at_the_headers() {
        let head = "RTSP/1.0 200 OK\r\nContent-Length: 65537\r\n\r\n";
        assert_eq!(
            parse_response_within(&mut buf(head), 64 * 1024),
            Err(ParseError::BodyTooLarge(65537))
        );
        let fits = "RTSP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let reply = parse_response_within(&mut buf(fits), 64 * 1024)
            .unwrap()
            .unwrap();
        assert_eq!(&reply.body[..], b"ok");
    }

    #[test]
    fn missing_content_length_means_empty_body() {
        let mut b = buf("HTTP/1.1 200 OK\r\nServer: AirTunes/220.68\r\nCSeq: 1\r\n\r\n");
        let r = parse_response(&mut b).unwrap().unwrap();
        assert!(r.body.is_empty());
        assert_eq!(r.version, Version::Http11);
    }

    #[test]
    fn folded_headers_join() {
        let mut b = buf("RTSP/1.0 200 OK\r\nPublic: ANNOUNCE,\r\n SETUP\r\n\r\n");
        let r = parse_response(&mut b).unwrap().unwrap();
        assert_eq!(r.headers.get("public"), Some("ANNOUNCE, SETUP"));
    }

    #[test]
    fn request_round_trip() {
        let req = Request::new("ANNOUNCE", "rtsp://[::1]/42", Version::Rtsp10)
            .with_header("CSeq", "2")
            .with_body("application/sdp", &b"v=0\r\n"[..]);
        let mut b = BytesMut::new();
        req.encode(&mut b);
        let parsed = parse_request(&mut b).unwrap().unwrap();
        assert_eq!(parsed.method, "ANNOUNCE");
        assert_eq!(parsed.uri, "rtsp://[::1]/42");
        assert_eq!(parsed.cseq(), Some(2));
        assert_eq!(&parsed.body[..], b"v=0\r\n");
    }

    #[test]
    fn debug_redacts_authorization() {
        let req = Request::new("OPTIONS", "*", Version::Rtsp10)
            .with_header("Authorization", "Digest response=\"secret\"");
        let shown = format!("{req:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn transport_params() {
        let t = "RTP/AVP/UDP;unicast;mode=record;server_port=6010;control_port=6011;timing_port=0";
        assert_eq!(header_param(t, "server_port"), Some("6010"));
        assert_eq!(header_param(t, "timing_port"), Some("0"));
        assert_eq!(header_param(t, "interleaved"), None);
        assert_eq!(header_param("seq=5;rtptime=99", "RTPTIME"), Some("99"));
    }
}
