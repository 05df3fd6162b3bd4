//! One persistent TCP connection carrying RTSP/1.0 or HTTP/1.1 requests, answered in order.
//! AirPlay receivers need the same socket for a whole session (an Apple TV stops playback
//! when the connection that sent `/play` closes), so requests are never spread over several.
//! After HAP pairing (AirPlay 2) the same connection carries them encrypted.

use crate::error::{Error, Result};
use crate::hap::HapConnection;
use airstream_proto::hap::{FrameDecoder, FrameEncoder};
use airstream_proto::rtsp::{self, Request, Response};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a receiver may take to answer one request.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take before the receiver counts as unreachable.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The frame codec of an encrypted (HAP) channel: requests out, responses in.
pub(crate) type ChannelCipher = (FrameEncoder, FrameDecoder);

/// Bytes read from the socket at a time on an encrypted channel.
const CIPHER_READ_CHUNK: usize = 4096;

/// The session's one connection to a receiver or device, with a timeout per request.
pub(crate) struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    /// Plaintext received and not yet parsed into a response.
    read_buf: BytesMut,
    request_timeout: Duration,
    /// Set after HAP pair-verify or transient pair-setup: every byte both ways is framed.
    /// Boxed: most connections never have one.
    cipher: Option<Box<ChannelCipher>>,
}

/// Connects to an AirPlay port (within [`CONNECT_TIMEOUT`]), without Nagle's delay (requests
/// are small and answered one at a time); returns the stream and our address on it.
pub(crate) async fn connect_tcp(peer: SocketAddr) -> Result<(TcpStream, SocketAddr)> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer))
        .await
        .map_err(|_| Error::Timeout(format!("connecting to {peer}")))?
        .map_err(|e| Error::network(format!("cannot connect to {peer}"), e))?;
    stream
        .set_nodelay(true)
        .map_err(|e| Error::network(format!("socket option for {peer}"), e))?;
    let local = stream
        .local_addr()
        .map_err(|e| Error::network(format!("local address for {peer}"), e))?;
    Ok((stream, local))
}

impl Connection {
    pub(crate) async fn connect(peer: SocketAddr) -> Result<Self> {
        let (stream, local) = connect_tcp(peer).await?;
        Ok(Self {
            stream,
            peer,
            local,
            read_buf: BytesMut::with_capacity(4096),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            cipher: None,
        })
    }

    /// Takes over a HAP connection (encrypted once pairing ran on it), for a session
    /// whose requests come from a sans-IO state machine.
    pub(crate) fn from_hap(conn: HapConnection) -> Self {
        let (stream, peer, local, read_buf, cipher) = conn.into_parts();
        Self {
            stream,
            peer,
            local,
            read_buf,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            cipher: cipher.map(Box::new),
        }
    }

    /// The local address the receiver sees us on (it goes into RTSP URIs and the SDP).
    pub(crate) fn local(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// Sends one request and waits for its response.
    pub(crate) async fn request(&mut self, request: &Request) -> Result<Response> {
        tracing::debug!(method = %request.method, uri = %request.uri, "request");
        tracing::trace!(?request, "request headers");
        self.send(request).await?;
        let response = tokio::time::timeout(self.request_timeout, self.read_response())
            .await
            .map_err(|_| {
                Error::Timeout(format!(
                    "{} did not answer {} within {:?}",
                    self.peer, request.method, self.request_timeout
                ))
            })??;
        // The answer must be to this request: a reply to another (a CSeq that does not
        // match) is a protocol error, never taken as the next reply.
        if let (Some(sent), Some(got)) = (request.headers.get("CSeq"), response.headers.get("CSeq"))
            && sent.trim() != got.trim()
        {
            return Err(Error::BadMessage {
                device: self.peer.to_string(),
                detail: format!(
                    "the answer to {} carries CSeq {got}, not {sent}",
                    request.method
                ),
            });
        }
        tracing::debug!(status = response.status, method = %request.method, "response");
        tracing::trace!(?response, "response headers");
        Ok(response)
    }

    pub(crate) async fn send(&mut self, request: &Request) -> Result<()> {
        let plain = request.to_bytes();
        let wire = match self.cipher.as_deref_mut() {
            Some((encoder, _)) => encoder.encode(&plain).map_err(|e| Error::BadMessage {
                device: self.peer.to_string(),
                detail: format!("cannot encrypt {}: {e}", request.method),
            })?,
            None => plain.to_vec(),
        };
        self.stream
            .write_all(&wire)
            .await
            .map_err(|e| self.lost(&format!("sending {}", request.method), &e))
    }

    /// Reads more of the next response into `read_buf` (decrypted on an encrypted
    /// channel); returns how many bytes came off the socket (0: closed).
    async fn fill(&mut self) -> Result<usize> {
        let Some((_, decoder)) = self.cipher.as_deref_mut() else {
            return self
                .stream
                .read_buf(&mut self.read_buf)
                .await
                .map_err(|e| self.lost("reading a response", &e));
        };
        let mut chunk = [0u8; CIPHER_READ_CHUNK];
        let n = match self.stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => return Err(self.lost("reading a response", &e)),
        };
        let plain = decoder.decode(&chunk[..n]).map_err(|e| Error::BadMessage {
            device: self.peer.to_string(),
            detail: format!("{e}; connection closed"),
        })?;
        self.read_buf.extend_from_slice(&plain);
        Ok(n)
    }

    /// Reads the next response; a closed connection is an error naming the peer.
    pub(crate) async fn read_response(&mut self) -> Result<Response> {
        loop {
            match rtsp::parse_response(&mut self.read_buf) {
                Ok(Some(response)) => return Ok(response),
                Ok(None) => {}
                Err(e) => {
                    return Err(Error::BadMessage {
                        device: self.peer.to_string(),
                        detail: e.to_string(),
                    });
                }
            }
            let n = self.fill().await?;
            if n == 0 && !self.read_buf.is_empty() {
                // Half a reply is not a refusal: say what it was.
                return Err(Error::BadMessage {
                    device: self.peer.to_string(),
                    detail: "its reply was cut off before the end".into(),
                });
            }
            if n == 0 {
                return Err(Error::ConnectionLost(format!(
                    "{} closed the connection",
                    self.peer
                )));
            }
        }
    }

    fn lost(&self, what: &str, e: &std::io::Error) -> Error {
        Error::ConnectionLost(format!(
            "connection to {} lost while {what}: {e}",
            self.peer
        ))
    }

    /// The socket, any plaintext read past the last response and the channel's cipher, for
    /// a task that takes the connection over.
    pub(crate) fn into_parts(self) -> (TcpStream, BytesMut, Option<Box<ChannelCipher>>) {
        (self.stream, self.read_buf, self.cipher)
    }

    pub(crate) async fn shutdown(mut self) {
        let _ = self.stream.shutdown().await;
    }
}
