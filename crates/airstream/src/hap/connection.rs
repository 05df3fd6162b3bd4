//! One RTSP connection to an AirPlay 2 device that, once pair-verify (or transient
//! pair-setup) gave it keys, runs every request and reply through the ChaCha20-Poly1305
//! frame codec. A frame with a bad tag, an out-of-step counter or an oversize length closes
//! the connection with a protocol error.

use std::net::SocketAddr;
use std::time::Duration;

use airstream_proto::hap::{FrameDecoder, FrameEncoder, FrameError, SessionKeys};
use airstream_proto::rtsp::{self, Request, Response};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connection::DEFAULT_REQUEST_TIMEOUT;
use crate::error::{Error, Result};

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4096;

/// An RTSP connection, plain until pair-setup or pair-verify turns encryption on.
pub struct HapConnection {
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    /// Plaintext received and not yet parsed into a response.
    read_buf: BytesMut,
    cipher: Option<(FrameEncoder, FrameDecoder)>,
    next_cseq: u32,
    request_timeout: Duration,
    /// Set once the channel failed: nothing more is sent or read.
    broken: bool,
}

impl HapConnection {
    /// Connects (within 5 s); the connection is plain until encryption is enabled.
    pub async fn connect(peer: SocketAddr) -> Result<Self> {
        let (stream, local) = crate::connection::connect_tcp(peer).await?;
        Ok(HapConnection {
            stream,
            peer,
            local,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            cipher: None,
            next_cseq: 1,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            broken: false,
        })
    }

    /// The device's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The local address the device sees us on.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Whether requests and replies are encrypted now.
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// How long one request may wait for its reply (10 s unless changed).
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// From the next request on, every byte both ways is framed and encrypted.
    pub(crate) fn enable_encryption(&mut self, keys: SessionKeys) {
        self.cipher = Some(keys.into_codec());
    }

    /// Sends `request` (with the next CSeq unless it has one) and waits for the reply.
    pub async fn request(&mut self, mut request: Request) -> Result<Response> {
        if self.broken {
            return Err(Error::ConnectionLost(format!(
                "the encrypted channel to {} was closed after a protocol error",
                self.peer
            )));
        }
        if request.cseq().is_none() {
            request.headers.set("CSeq", self.next_cseq.to_string());
        }
        self.next_cseq = self.next_cseq.wrapping_add(1);
        tracing::debug!(method = %request.method, uri = %request.uri,
            encrypted = self.is_encrypted(), "request");
        self.send(&request).await?;
        let response = tokio::time::timeout(self.request_timeout, self.read_response())
            .await
            .map_err(|_| {
                Error::Timeout(format!(
                    "{} did not answer {} within {:?}",
                    self.peer, request.method, self.request_timeout
                ))
            })??;
        tracing::debug!(status = response.status, method = %request.method, "response");
        Ok(response)
    }

    async fn send(&mut self, request: &Request) -> Result<()> {
        let plain = request.to_bytes();
        let wire = match &mut self.cipher {
            Some((encoder, _)) => match encoder.encode(&plain) {
                Ok(wire) => wire,
                Err(e) => return Err(self.fail(&e).await),
            },
            None => plain.to_vec(),
        };
        self.stream.write_all(&wire).await.map_err(|e| {
            Error::ConnectionLost(format!(
                "connection to {} lost while sending {}: {e}",
                self.peer, request.method
            ))
        })
    }

    async fn read_response(&mut self) -> Result<Response> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match rtsp::parse_response(&mut self.read_buf) {
                Ok(Some(response)) => return Ok(response),
                Ok(None) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(Error::BadMessage {
                        device: self.peer.to_string(),
                        detail: e.to_string(),
                    });
                }
            }
            let n = self.stream.read(&mut chunk).await.map_err(|e| {
                Error::ConnectionLost(format!(
                    "connection to {} lost while reading a response: {e}",
                    self.peer
                ))
            })?;
            if n == 0 {
                return Err(Error::ConnectionLost(format!(
                    "{} closed the connection",
                    self.peer
                )));
            }
            match &mut self.cipher {
                None => self.read_buf.extend_from_slice(&chunk[..n]),
                Some((_, decoder)) => match decoder.decode(&chunk[..n]) {
                    Ok(plain) => self.read_buf.extend_from_slice(&plain),
                    Err(e) => return Err(self.fail(&e).await),
                },
            }
        }
    }

    /// Closes the connection after a broken frame; the error names the peer and the cause.
    async fn fail(&mut self, error: &FrameError) -> Error {
        self.broken = true;
        let _ = self.stream.shutdown().await;
        Error::BadMessage {
            device: self.peer.to_string(),
            detail: format!("{error}; connection closed"),
        }
    }

    /// The socket, its two ends, the plaintext read past the last response and the cipher
    /// (none before pairing), for a session that takes the channel over.
    pub(crate) fn into_parts(
        self,
    ) -> (
        TcpStream,
        SocketAddr,
        SocketAddr,
        BytesMut,
        Option<(FrameEncoder, FrameDecoder)>,
    ) {
        (
            self.stream,
            self.peer,
            self.local,
            self.read_buf,
            self.cipher,
        )
    }

    /// Closes the connection.
    pub async fn shutdown(mut self) {
        let _ = self.stream.shutdown().await;
    }
}
