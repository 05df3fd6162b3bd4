//! A small blocking RTSP client for rig tests, in the clear (shairport-sync 4.3.7 answers
//! `GET /info` and even the AirPlay 2 SETUPs before any pairing; real devices need HAP).

use airstream_proto::bplist;
use airstream_proto::rtsp::{self, Request, Response, Version};
use bytes::BytesMut;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A reply larger than this is not a receiver's.
const MAX_REPLY: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
/// The body type of every AirPlay 2 request and reply with a plist.
pub const BPLIST: &str = "application/x-apple-binary-plist";

/// One RTSP connection; create it inside the sender namespace.
pub struct RtspClient {
    stream: TcpStream,
    buf: BytesMut,
    cseq: u32,
}

impl RtspClient {
    /// Connects (5 s timeouts for connecting and each read).
    pub fn connect(address: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        Ok(Self {
            stream,
            buf: BytesMut::new(),
            cseq: 0,
        })
    }

    /// The local address of the connection (the sender's address as the receiver sees it).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Sends `request` with the next CSeq and returns the reply.
    pub fn send(&mut self, request: Request) -> io::Result<Response> {
        self.cseq += 1;
        let request = request
            .with_header("CSeq", self.cseq.to_string())
            .with_header("User-Agent", "AirPlay/550.10");
        self.stream.write_all(&request.to_bytes())?;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(response) =
                rtsp::parse_response(&mut self.buf).map_err(|e| io::Error::other(e.to_string()))?
            {
                return Ok(response);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 || self.buf.len() + n > MAX_REPLY {
                return Err(io::Error::other("no complete RTSP reply"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `method uri` with a bplist body; a non-2xx reply is an error.
    pub fn send_bplist(&mut self, method: &str, uri: &str, body: Vec<u8>) -> io::Result<Response> {
        let response =
            self.send(Request::new(method, uri, Version::Rtsp10).with_body(BPLIST, body))?;
        if response.is_success() {
            Ok(response)
        } else {
            Err(io::Error::other(format!("{method} answered {response:?}")))
        }
    }
}

/// Asks `address` for /info and returns the plist; call from inside the sender namespace.
pub fn get_info(address: SocketAddr) -> io::Result<plist::Dictionary> {
    let response =
        RtspClient::connect(address)?.send(Request::new("GET", "/info", Version::Rtsp10))?;
    if !response.is_success() {
        return Err(io::Error::other(format!("/info answered {response:?}")));
    }
    bplist::decode_dict(&response.body).map_err(|e| io::Error::other(e.to_string()))
}
