//! `GET /info` over RTSP, the request every AirPlay 2 sender starts with: the receiver
//! answers with a binary plist (features, device id, latencies).

use airstream_proto::{bplist, rtsp};
use bytes::BytesMut;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A reply larger than this is not a receiver's /info.
const MAX_REPLY: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Asks `address` for /info and returns the plist; call from inside the sender namespace.
pub fn get_info(address: SocketAddr) -> io::Result<plist::Dictionary> {
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.write_all(b"GET /info RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: AirPlay/550.10\r\n\r\n")?;
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let response = loop {
        if let Some(response) =
            rtsp::parse_response(&mut buf).map_err(|e| io::Error::other(e.to_string()))?
        {
            break response;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 || buf.len() + n > MAX_REPLY {
            return Err(io::Error::other("no complete /info reply"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if !response.is_success() {
        return Err(io::Error::other(format!("/info answered {response:?}")));
    }
    bplist::decode_dict(&response.body).map_err(|e| io::Error::other(e.to_string()))
}
