//! The RTSP side of the relay: one sender connection proxied to the receiver, message by
//! message. RAOP negotiates its UDP ports inside RTSP, so SETUP is rewritten on the way:
//! the sender's control/timing ports in the request and the receiver's server/control/timing
//! ports in the reply are replaced by relay sockets, and a [`Pipe`] per flow joins the two.

use super::pipe::Pipe;
use super::{Flow, Shared};
use airstream_proto::rtsp::{self, Request, Response, header_param};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection quiet this long on both sides is abandoned (RAOP keep-alives come every 25 s).
const IDLE_LIMIT: Duration = Duration::from_secs(120);
/// How long the UDP pipes outlive their RTSP connection.
const PIPE_LINGER: Duration = Duration::from_millis(200);

/// Replaces the non-zero values of `key=port` parameters in a `Transport` header, leaving
/// everything else as it was. Zero means "not offered" and stays zero.
pub(super) fn rewrite_ports(transport: &str, replacements: &[(&str, u16)]) -> String {
    transport
        .split(';')
        .map(|part| {
            let Some((key, value)) = part.split_once('=') else {
                return part.to_string();
            };
            let new = replacements
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key.trim()))
                .map(|(_, port)| *port);
            match (new, value.trim().parse::<u16>()) {
                (Some(port), Ok(old)) if old != 0 => format!("{key}={port}"),
                _ => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn port_param(transport: &str, key: &str) -> Option<u16> {
    header_param(transport, key)
        .and_then(|v| v.parse().ok())
        .filter(|p| *p != 0)
}

/// The relay sockets of one SETUP, waiting for the receiver's reply.
struct PendingSetup {
    /// Per flow (audio, control, timing): facing the sender, facing the receiver.
    sockets: Vec<(Flow, UdpSocket, UdpSocket)>,
    sender_ip: IpAddr,
    sender_control: Option<u16>,
    sender_timing: Option<u16>,
}

struct Proxy {
    shared: Arc<Shared>,
    /// Our address as the sender sees it, and as the receiver sees it.
    sender_facing: IpAddr,
    receiver_facing: IpAddr,
    sender_ip: IpAddr,
    receiver_ip: IpAddr,
    /// One entry per request in flight (RTSP answers in order): `Some` for a SETUP.
    in_flight: VecDeque<Option<PendingSetup>>,
    pipes: JoinSet<()>,
}

/// Proxies `client` to the receiver until either side closes; the session's UDP pipes
/// live as long as the connection.
pub(super) async fn serve(client: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let server = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(shared.config.receiver))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "relay: receiver did not accept"))??;
    let mut proxy = Proxy {
        sender_facing: client.local_addr()?.ip(),
        receiver_facing: server.local_addr()?.ip(),
        sender_ip: client.peer_addr()?.ip(),
        receiver_ip: server.peer_addr()?.ip(),
        shared,
        in_flight: VecDeque::new(),
        pipes: JoinSet::new(),
    };
    let ended = relay_messages(&mut proxy, client, server).await;
    // A sender sends its last packets just before TEARDOWN and closes at once: let the
    // pipes take in what is still queued on their sockets before they are dropped.
    if !proxy.pipes.is_empty() {
        tokio::time::sleep(PIPE_LINGER).await;
    }
    ended
}

/// Passes RTSP messages both ways until either side closes.
async fn relay_messages(proxy: &mut Proxy, client: TcpStream, server: TcpStream) -> io::Result<()> {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let mut from_client = BytesMut::with_capacity(4096);
    let mut from_server = BytesMut::with_capacity(4096);
    loop {
        tokio::select! {
            read = tokio::time::timeout(IDLE_LIMIT, client_rx.read_buf(&mut from_client)) => {
                if read.map_err(|_| idle())?? == 0 {
                    return Ok(());
                }
                while let Some(request) = rtsp::parse_request(&mut from_client).map_err(bad("request"))? {
                    let request = proxy.on_request(request).await?;
                    write(&mut server_tx, &request.to_bytes()).await?;
                }
            }
            read = tokio::time::timeout(IDLE_LIMIT, server_rx.read_buf(&mut from_server)) => {
                if read.map_err(|_| idle())?? == 0 {
                    return Ok(());
                }
                while let Some(response) = rtsp::parse_response(&mut from_server).map_err(bad("response"))? {
                    let response = proxy.on_response(response);
                    write(&mut client_tx, &response.to_bytes()).await?;
                }
            }
        }
    }
}

fn idle() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "relay: connection idle")
}

fn bad(what: &'static str) -> impl Fn(rtsp::ParseError) -> io::Error {
    move |e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("relay: unparseable RTSP {what}: {e}"),
        )
    }
}

async fn write(to: &mut tokio::net::tcp::OwnedWriteHalf, bytes: &[u8]) -> io::Result<()> {
    tokio::time::timeout(WRITE_TIMEOUT, to.write_all(bytes))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "relay: peer stopped reading"))?
}

impl Proxy {
    async fn on_request(&mut self, mut request: Request) -> io::Result<Request> {
        let transport = request.headers.get("Transport").map(str::to_string);
        let setup = match transport {
            Some(transport) if request.method.eq_ignore_ascii_case("SETUP") => {
                let mut sockets = Vec::new();
                for flow in [Flow::Audio, Flow::Control, Flow::Timing] {
                    let sender_side =
                        UdpSocket::bind(SocketAddr::new(self.sender_facing, 0)).await?;
                    let receiver_side =
                        UdpSocket::bind(SocketAddr::new(self.receiver_facing, 0)).await?;
                    sockets.push((flow, sender_side, receiver_side));
                }
                let receiver_port = |flow: Flow| -> io::Result<u16> {
                    Ok(sockets[flow as usize].2.local_addr()?.port())
                };
                let rewritten = rewrite_ports(
                    &transport,
                    &[
                        ("control_port", receiver_port(Flow::Control)?),
                        ("timing_port", receiver_port(Flow::Timing)?),
                    ],
                );
                tracing::debug!("relay: SETUP {transport} -> {rewritten}");
                request.headers.set("Transport", rewritten);
                Some(PendingSetup {
                    sockets,
                    sender_ip: self.sender_ip,
                    sender_control: port_param(&transport, "control_port"),
                    sender_timing: port_param(&transport, "timing_port"),
                })
            }
            _ => None,
        };
        self.in_flight.push_back(setup);
        Ok(request)
    }

    fn on_response(&mut self, mut response: Response) -> Response {
        let Some(Some(setup)) = self.in_flight.pop_front() else {
            return response;
        };
        let Some(transport) = response.headers.get("Transport").map(str::to_string) else {
            return response;
        };
        if !response.is_success() {
            return response;
        }
        let session = self.shared.next_session();
        let receiver_ports = [
            port_param(&transport, "server_port"),
            port_param(&transport, "control_port"),
            port_param(&transport, "timing_port"),
        ];
        let sender_ports = [None, setup.sender_control, setup.sender_timing];
        let mut relay_ports = [0u16; 3];
        for (flow, sender_side, receiver_side) in setup.sockets {
            let i = flow as usize;
            relay_ports[i] = sender_side.local_addr().map_or(0, |a| a.port());
            let pipe = Pipe {
                flow,
                sender_side,
                receiver_side,
                sender: sender_ports[i].map(|p| SocketAddr::new(setup.sender_ip, p)),
                receiver: receiver_ports[i].map(|p| SocketAddr::new(self.receiver_ip, p)),
                impairment: self
                    .shared
                    .config
                    .flows
                    .contains(flow)
                    .then_some(self.shared.config.impairment),
                seed: super::mix(super::mix(self.shared.config.seed, session), flow as u64),
                stats: Arc::clone(&self.shared.stats),
            };
            self.pipes.spawn(pipe.run());
        }
        let rewritten = rewrite_ports(
            &transport,
            &[
                ("server_port", relay_ports[Flow::Audio as usize]),
                ("control_port", relay_ports[Flow::Control as usize]),
                ("timing_port", relay_ports[Flow::Timing as usize]),
            ],
        );
        tracing::debug!("relay: SETUP reply {transport} -> {rewritten}");
        response.headers.set("Transport", rewritten);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_the_sender_ports_of_a_setup_request() {
        let request =
            "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port=60564;timing_port=38519";
        assert_eq!(
            rewrite_ports(request, &[("control_port", 40000), ("timing_port", 40001)]),
            "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port=40000;timing_port=40001"
        );
    }

    #[test]
    fn rewrites_the_receiver_ports_of_a_setup_reply_in_any_order_and_case() {
        // shairport-sync 3.3.8's reply, word for word.
        let reply = "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port=6001;timing_port=6002;server_port=6003";
        let ports = [
            ("server_port", 50000),
            ("control_port", 50001),
            ("timing_port", 50002),
        ];
        assert_eq!(
            rewrite_ports(reply, &ports),
            "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port=50001;timing_port=50002;server_port=50000"
        );
        assert_eq!(
            rewrite_ports("RTP/AVP/UDP;Server_Port=6003", &ports),
            "RTP/AVP/UDP;Server_Port=50000"
        );
    }

    #[test]
    fn leaves_zero_and_unparseable_ports_alone() {
        let reply = "RTP/AVP/UDP;unicast;server_port=6003;control_port=6001;timing_port=0;x=y;control_port=abc";
        assert_eq!(
            rewrite_ports(
                reply,
                &[("server_port", 1), ("control_port", 2), ("timing_port", 3)]
            ),
            "RTP/AVP/UDP;unicast;server_port=1;control_port=2;timing_port=0;x=y;control_port=abc"
        );
        assert_eq!(port_param(reply, "timing_port"), None);
        assert_eq!(port_param(reply, "server_port"), Some(6003));
    }
}
