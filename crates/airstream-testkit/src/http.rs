//! A deliberately dumb HTTP/1.1 client for tests: it sends exactly the bytes it is given
//! (odd methods, `..` and percent escapes stay untouched, which real clients normalise
//! away) and reports exactly what came back. Loopback only.

use airstream_proto::rtsp::{self, Request, Response, Version};
use bytes::BytesMut;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single read or write may take before the test fails instead of hanging.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn timeout_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} took longer than {IO_TIMEOUT:?}"),
    )
}

fn check_loopback(addr: SocketAddr) -> io::Result<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("test HTTP client only talks to loopback, not {addr}"),
        ))
    }
}

/// Sends `request` verbatim on a fresh connection and reads until the server closes it.
/// Send `Connection: close` so it does. The body is whatever followed the header block
/// (so a `HEAD` response with a body would show up here).
pub async fn exchange_raw(addr: SocketAddr, request: &[u8]) -> io::Result<RawResponse> {
    check_loopback(addr)?;
    let mut stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| timeout_error("connecting"))??;
    stream.write_all(request).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .map_err(|_| timeout_error("reading the response"))??;
    parse_until_close(&raw)
}

fn parse_until_close(raw: &[u8]) -> io::Result<RawResponse> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no complete header block before the connection closed"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("header block is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(RawResponse {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}

/// One keep-alive connection for several `GET`s, the way a media player fetches ranges.
#[derive(Debug)]
pub struct KeepAliveClient {
    stream: TcpStream,
    host: String,
    buf: BytesMut,
}

impl KeepAliveClient {
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        check_loopback(addr)?;
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| timeout_error("connecting"))??;
        Ok(Self {
            stream,
            host: addr.to_string(),
            buf: BytesMut::new(),
        })
    }

    /// `GET path` with an optional `Range` header value; the body is framed by
    /// `Content-Length`.
    pub async fn get(&mut self, path: &str, range: Option<&str>) -> io::Result<Response> {
        let mut request = Request::new("GET", path, Version::Http11)
            .with_header("Host", self.host.clone())
            .with_header(
                "User-Agent",
                "AppleCoreMedia/1.0.0 (airstream fake Apple TV)",
            );
        if let Some(range) = range {
            request = request.with_header("Range", range);
        }
        self.stream.write_all(&request.to_bytes()).await?;
        loop {
            match rtsp::parse_response(&mut self.buf) {
                Ok(Some(response)) => return Ok(response),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
            let n = tokio::time::timeout(IO_TIMEOUT, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| timeout_error("reading a response"))??;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection mid-response",
                ));
            }
        }
    }
}
