//! A one-file HTTP server for playing a local file on an Apple TV (airplay.md §1.6).
//!
//! It serves exactly one file under `/<random token>/<percent-encoded name>` on a random
//! port of the local address that routes to the device. `GET` and `HEAD`, single `Range`
//! requests (Apple TVs seek in MP4s by range), `Content-Type` sniffed from the content.
//! Everything else is 404: no listing, no other files, no path resolution. The file is
//! streamed, never read into memory. Shutting down (or dropping) frees the port.
//!
//! Anyone on the network can connect, so what a connection costs is bounded: at most
//! [`MAX_CONNECTIONS`] are served at once (further ones are closed on accept), and a
//! request's headers must arrive within [`HEADER_READ_TIMEOUT`].

mod range;
mod sniff;
mod url_path;

use crate::error::{Error, Result};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use range::{ByteRange, parse_range};
use std::convert::Infallible;
use std::io::SeekFrom;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// Size of each chunk streamed to the client.
const CHUNK: usize = 64 * 1024;

/// Connections served at once. A media player fetches one file over a handful of
/// connections (the current position plus a range or two it reads ahead, or the index at
/// the end of an MP4); 16 leaves room for that and for reconnects, while bounding what
/// stalled clients can hold (each connection buffers about one chunk each way).
pub const MAX_CONNECTIONS: usize = 16;

/// Time for a request's headers to arrive, counted from the connection (or the end of the
/// previous response on a kept-alive one). A player sends its request head in one
/// segment as soon as it connects and reuses a connection only while it keeps playing, so a
/// few round trips on a slow Wi-Fi suffice; 10 s frees slots held by silent clients long
/// before hyper's default of 30 s.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Range` parser, for the fuzz targets (`fuzz/` at the repository root); not part of
/// the API. Returns the inclusive span to send, and checks it lies inside the file.
#[doc(hidden)]
pub fn fuzz_parse_range(header: &str, file_len: u64) -> Option<(u64, u64)> {
    let span = parse_range(header, file_len)?;
    assert!(span.start <= span.end && span.end < file_len && span.len() > 0);
    Some((span.start, span.end))
}

/// A running one-file server. [`FileServer::shutdown`] (or dropping it) stops it.
#[derive(Debug)]
pub struct FileServer {
    url: String,
    local_addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// What the server knows about its file, fixed at start.
#[derive(Debug)]
struct ServedFile {
    path: PathBuf,
    len: u64,
    content_type: &'static str,
    token: String,
    name: Vec<u8>,
}

impl FileServer {
    /// Serves `path` to `device`, bound to the local address that routes to it.
    pub async fn start(path: &Path, device: SocketAddr) -> Result<Self> {
        Self::start_on(path, local_address_reaching(device)?).await
    }

    /// Serves `path` on a random port of `bind_ip`.
    pub async fn start_on(path: &Path, bind_ip: IpAddr) -> Result<Self> {
        let file = Arc::new(ServedFile::open(path).await?);
        let listener = TcpListener::bind(SocketAddr::new(bind_ip, 0))
            .await
            .map_err(|e| Error::network(format!("cannot start the file server on {bind_ip}"), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::network("file server address", e))?;
        let url = format!(
            "http://{local_addr}/{}/{}",
            file.token,
            url_path::encode_segment(&file.name)
        );
        tracing::info!(file = %file.path.display(), %url, content_type = file.content_type, "serving file");
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, file, stop.clone()));
        Ok(Self {
            url,
            local_addr,
            stop,
            task: Some(task),
        })
    }

    /// The URL to give the device.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection, and returns once the port is free.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl ServedFile {
    async fn open(path: &Path) -> Result<Self> {
        let unreadable =
            |e: std::io::Error| Error::InvalidInput(format!("cannot read {}: {e}", path.display()));
        let path = tokio::fs::canonicalize(path).await.map_err(unreadable)?;
        let mut file = tokio::fs::File::open(&path).await.map_err(unreadable)?;
        let metadata = file.metadata().await.map_err(unreadable)?;
        if !metadata.is_file() {
            return Err(Error::InvalidInput(format!(
                "cannot play {}: not a regular file",
                path.display()
            )));
        }
        let mut head = Vec::with_capacity(sniff::SNIFF_LEN);
        (&mut file)
            .take(sniff::SNIFF_LEN as u64)
            .read_to_end(&mut head)
            .await
            .map_err(unreadable)?;
        let name = path
            .file_name()
            .map(|n| n.as_encoded_bytes().to_vec())
            .unwrap_or_default();
        Ok(Self {
            len: metadata.len(),
            content_type: sniff::content_type(&head),
            token: hex::encode(rand::random::<[u8; 16]>()),
            name,
            path,
        })
    }
}

/// The local IP the system would use to reach `device` (connecting a UDP socket sends
/// nothing; it only selects the route). A device on loopback gets loopback.
pub fn local_address_reaching(device: SocketAddr) -> Result<IpAddr> {
    if device.ip().is_loopback() {
        return Ok(device.ip());
    }
    let any: IpAddr = match device {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let no_route =
        |e: std::io::Error| Error::network(format!("no local address reaches {device}"), e);
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).map_err(no_route)?;
    socket.connect(device).map_err(no_route)?;
    let local = socket.local_addr().map_err(no_route)?.ip();
    if local.is_unspecified() {
        return Err(Error::InvalidInput(format!(
            "no local address reaches {device}"
        )));
    }
    Ok(local)
}

async fn accept_loop(listener: TcpListener, file: Arc<ServedFile>, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        tracing::debug!(%peer, "file server: {MAX_CONNECTIONS} connections open, closing");
                        continue;
                    };
                    tracing::debug!(%peer, "file server connection");
                    let file = Arc::clone(&file);
                    connections.spawn(async move {
                        serve_connection(stream, file).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("file server cannot accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
    tracing::debug!("file server stopped");
}

async fn serve_connection(stream: TcpStream, file: Arc<ServedFile>) {
    let service = hyper::service::service_fn(move |request| {
        let file = Arc::clone(&file);
        async move { Ok::<_, Infallible>(respond(&request, &file).await) }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        tracing::debug!("file server connection ended: {e}");
    }
}

async fn respond(request: &Request<Incoming>, file: &ServedFile) -> Response<FileBody> {
    let method = request.method();
    if !(method == Method::GET || method == Method::HEAD)
        || !url_path::matches(request.uri().path(), &file.token, &file.name)
    {
        tracing::debug!(%method, path = request.uri().path(), "file server refused a request");
        return empty(StatusCode::NOT_FOUND);
    }
    let (status, span) = match request.headers().get(RANGE) {
        None => (StatusCode::OK, None),
        Some(value) => {
            let Some(span) = value.to_str().ok().and_then(|v| parse_range(v, file.len)) else {
                let mut response = empty(StatusCode::RANGE_NOT_SATISFIABLE);
                set(
                    &mut response,
                    CONTENT_RANGE,
                    &format!("bytes */{}", file.len),
                );
                return response;
            };
            (StatusCode::PARTIAL_CONTENT, Some(span))
        }
    };
    let (start, len) = span.map_or((0, file.len), |s: ByteRange| (s.start, s.len()));
    let body = if method == Method::HEAD {
        FileBody::empty()
    } else {
        match FileBody::open(&file.path, start, len).await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(file = %file.path.display(), "file server cannot read the file: {e}");
                return empty(StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    set(&mut response, CONTENT_TYPE, file.content_type);
    set(&mut response, CONTENT_LENGTH, &len.to_string());
    set(&mut response, ACCEPT_RANGES, "bytes");
    if let Some(span) = span {
        set(
            &mut response,
            CONTENT_RANGE,
            &format!("bytes {}-{}/{}", span.start, span.end, file.len),
        );
    }
    response
}

fn empty(status: StatusCode) -> Response<FileBody> {
    let mut response = Response::new(FileBody::empty());
    *response.status_mut() = status;
    response
}

fn set(response: &mut Response<FileBody>, name: hyper::header::HeaderName, value: &str) {
    if let Ok(value) = hyper::header::HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// Streams `remaining` bytes of a file from its current offset, a chunk at a time.
struct FileBody {
    file: Option<tokio::fs::File>,
    remaining: u64,
    buf: Vec<u8>,
}

impl FileBody {
    fn empty() -> Self {
        Self {
            file: None,
            remaining: 0,
            buf: Vec::new(),
        }
    }

    async fn open(path: &Path, start: u64, len: u64) -> std::io::Result<Self> {
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(SeekFrom::Start(start)).await?;
        Ok(Self {
            file: Some(file),
            remaining: len,
            buf: vec![0; CHUNK.min(usize::try_from(len).unwrap_or(CHUNK))],
        })
    }
}

impl Body for FileBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let Some(file) = this.file.as_mut() else {
            return Poll::Ready(None);
        };
        let want = usize::try_from(this.remaining)
            .unwrap_or(usize::MAX)
            .min(this.buf.len());
        let mut read_buf = ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(file).poll_read(cx, &mut read_buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let filled = read_buf.filled();
                if filled.is_empty() {
                    // The file shrank after we announced its length.
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file ended before the announced length",
                    ))));
                }
                this.remaining -= filled.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::copy_from_slice(filled)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_devices_get_loopback() {
        let v4: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(local_address_reaching(v4).unwrap(), v4.ip());
        let v6: SocketAddr = "[::1]:7000".parse().unwrap();
        assert_eq!(local_address_reaching(v6).unwrap(), v6.ip());
    }
}
