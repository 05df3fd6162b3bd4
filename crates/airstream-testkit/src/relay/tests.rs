//! The relay on loopback between a scripted sender and a scripted receiver: SETUP rewritten
//! both ways, every flow carried in both directions, and the impairment applied as seeded.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use super::*;
use airstream_proto::rtsp::{
    Request, Response, Version, header_param, parse_request, parse_response,
};
use bytes::BytesMut;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(5);

async fn udp() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

fn port(socket: &UdpSocket) -> u16 {
    socket.local_addr().unwrap().port()
}

fn transport_port(transport: &str, key: &str) -> u16 {
    header_param(transport, key).unwrap().parse().unwrap()
}

async fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("a datagram within 5 s")
        .unwrap();
    buf.truncate(n);
    (buf, from)
}

/// A receiver that answers every request 200, and SETUP with the ports of its own
/// sockets; it passes on each request it got.
struct FakeReceiver {
    addr: SocketAddr,
    audio: UdpSocket,
    control: UdpSocket,
    timing: UdpSocket,
    requests: mpsc::UnboundedReceiver<Request>,
}

impl FakeReceiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (audio, control, timing) = (udp().await, udp().await, udp().await);
        // shairport-sync's order of parameters.
        let transport = format!(
            "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port={};timing_port={};server_port={}",
            port(&control),
            port(&timing),
            port(&audio)
        );
        let (tx, requests) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            while stream.read_buf(&mut buf).await.unwrap_or(0) > 0 {
                while let Some(request) = parse_request(&mut buf).unwrap() {
                    let mut response = Response::new(Version::Rtsp10, 200, "OK")
                        .with_header("CSeq", request.headers.get("CSeq").unwrap_or("0"));
                    if request.method == "SETUP" {
                        response = response
                            .with_header("Transport", transport.clone())
                            .with_header("Session", "1");
                    }
                    stream.write_all(&response.to_bytes()).await.unwrap();
                    let _ = tx.send(request);
                }
            }
        });
        Self {
            addr,
            audio,
            control,
            timing,
            requests,
        }
    }
}

/// The sender's end: its control and timing sockets, an audio socket, and the RTSP
/// connection to the relay.
struct FakeSender {
    rtsp: TcpStream,
    buf: BytesMut,
    audio: UdpSocket,
    control: UdpSocket,
    timing: UdpSocket,
}

impl FakeSender {
    async fn connect(relay: SocketAddr) -> Self {
        Self {
            rtsp: TcpStream::connect(relay).await.unwrap(),
            buf: BytesMut::new(),
            audio: udp().await,
            control: udp().await,
            timing: udp().await,
        }
    }

    async fn request(&mut self, request: &Request) -> Response {
        self.rtsp.write_all(&request.to_bytes()).await.unwrap();
        loop {
            if let Some(response) = parse_response(&mut self.buf).unwrap() {
                return response;
            }
            let n = tokio::time::timeout(WAIT, self.rtsp.read_buf(&mut self.buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "relay closed the connection");
        }
    }

    /// OPTIONS then SETUP; returns the Transport of the SETUP reply.
    async fn setup(&mut self) -> String {
        let options = Request::new("OPTIONS", "*", Version::Rtsp10).with_header("CSeq", "1");
        assert_eq!(self.request(&options).await.status, 200);
        let setup = Request::new("SETUP", "rtsp://127.0.0.1/1", Version::Rtsp10)
            .with_header("CSeq", "2")
            .with_header(
                "Transport",
                format!(
                    "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port={};timing_port={}",
                    port(&self.control),
                    port(&self.timing)
                ),
            );
        let reply = self.request(&setup).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.cseq(), Some(2));
        reply.headers.get("Transport").unwrap().to_string()
    }
}

async fn relay(receiver: &FakeReceiver, seed: u64, impairment: Impairment) -> Relay {
    Relay::start(RelayConfig::new(receiver.addr, seed, impairment))
        .await
        .unwrap()
}

#[tokio::test]
async fn rewrites_setup_both_ways_and_carries_every_flow_both_ways() {
    let mut receiver = FakeReceiver::start().await;
    let relay = relay(
        &receiver,
        1,
        Impairment {
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(2),
            ..Impairment::NONE
        },
    )
    .await;
    let mut sender = FakeSender::connect(relay.local_addr()).await;
    let reply = sender.setup().await;

    // The receiver was told relay ports instead of the sender's, everything else unchanged.
    assert_eq!(receiver.requests.recv().await.unwrap().method, "OPTIONS");
    let setup = receiver.requests.recv().await.unwrap();
    let told = setup.headers.get("Transport").unwrap().to_string();
    let (relay_control, relay_timing) = (
        transport_port(&told, "control_port"),
        transport_port(&told, "timing_port"),
    );
    assert_ne!(relay_control, port(&sender.control));
    assert_ne!(relay_timing, port(&sender.timing));
    assert_eq!(
        told,
        format!(
            "RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port={relay_control};timing_port={relay_timing}"
        )
    );
    assert_eq!(setup.cseq(), Some(2));
    // And the sender got relay ports for the receiver's.
    for (key, theirs) in [
        ("server_port", port(&receiver.audio)),
        ("control_port", port(&receiver.control)),
        ("timing_port", port(&receiver.timing)),
    ] {
        assert_ne!(transport_port(&reply, key), theirs, "{key} in {reply}");
    }
    let relay_at = |key| SocketAddr::from(([127, 0, 0, 1], transport_port(&reply, key)));

    // Audio, sender → receiver.
    sender
        .audio
        .send_to(b"audio", relay_at("server_port"))
        .await
        .unwrap();
    assert_eq!(recv(&receiver.audio).await.0, b"audio");

    // Control: a sync packet to the announced control port, a retransmit request back to
    // the port the receiver was told, and the resent packet answered to its source.
    sender
        .control
        .send_to(b"sync", relay_at("control_port"))
        .await
        .unwrap();
    assert_eq!(recv(&receiver.control).await.0, b"sync");
    let to_sender_control = SocketAddr::from(([127, 0, 0, 1], relay_control));
    receiver
        .control
        .send_to(b"resend?", to_sender_control)
        .await
        .unwrap();
    let (request, from) = recv(&sender.control).await;
    assert_eq!(request, b"resend?");
    sender.control.send_to(b"resent", from).await.unwrap();
    assert_eq!(recv(&receiver.control).await.0, b"resent");

    // Timing: the receiver asks, the sender answers to the request's source.
    let to_sender_timing = SocketAddr::from(([127, 0, 0, 1], relay_timing));
    receiver
        .timing
        .send_to(b"what time?", to_sender_timing)
        .await
        .unwrap();
    let (request, from) = recv(&sender.timing).await;
    assert_eq!(request, b"what time?");
    sender.timing.send_to(b"now", from).await.unwrap();
    assert_eq!(recv(&receiver.timing).await.0, b"now");

    let stats = relay.stats();
    assert_eq!(stats.sessions, 1);
    let forwarded = |flow, direction| stats.get(flow, direction).forwarded;
    assert_eq!(forwarded(Flow::Audio, Direction::ToReceiver), 1);
    assert_eq!(forwarded(Flow::Control, Direction::ToReceiver), 2);
    assert_eq!(forwarded(Flow::Control, Direction::ToSender), 1);
    assert_eq!(forwarded(Flow::Timing, Direction::ToReceiver), 1);
    assert_eq!(forwarded(Flow::Timing, Direction::ToSender), 1);
}

/// Sends `count` numbered datagrams through a fresh relay, four every millisecond or so (an
/// audio stream sends one every 8 ms), and returns the numbers in the order they arrived,
/// with the relay's audio counters.
async fn numbered_audio(seed: u64, impairment: Impairment, count: u16) -> (Vec<u16>, FlowStats) {
    let receiver = FakeReceiver::start().await;
    let relay = relay(&receiver, seed, impairment).await;
    let mut sender = FakeSender::connect(relay.local_addr()).await;
    let reply = sender.setup().await;
    let to = SocketAddr::from(([127, 0, 0, 1], transport_port(&reply, "server_port")));
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let audio = receiver.audio;
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        while let Ok((n, _)) = audio.recv_from(&mut buf).await {
            assert_eq!(n, 2);
            let _ = arrivals_tx.send(u16::from_be_bytes([buf[0], buf[1]]));
        }
    });
    for n in 0..count {
        sender.audio.send_to(&n.to_be_bytes(), to).await.unwrap();
        if n % 4 == 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut arrived = Vec::new();
    let stats = tokio::time::timeout(WAIT, async {
        loop {
            tokio::select! {
                Some(n) = arrivals.recv() => arrived.push(n),
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
            let stats = relay.stats().get(Flow::Audio, Direction::ToReceiver);
            let settled = stats.received == u64::from(count)
                && stats.dropped + stats.forwarded == stats.received;
            if settled && arrived.len() as u64 == stats.forwarded {
                return stats;
            }
        }
    })
    .await
    .expect("every packet is settled and arrives within 5 s");
    reader.abort();
    (arrived, stats)
}

#[tokio::test]
async fn delay_and_jitter_reorder_but_lose_nothing() {
    let impairment = Impairment {
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(10),
        reorder: 0.05,
        reorder_hold: Duration::from_millis(20),
        loss: 0.0,
    };
    let (arrived, stats) = numbered_audio(42, impairment, 500).await;
    let set: BTreeSet<u16> = arrived.iter().copied().collect();
    assert_eq!(arrived.len(), 500, "every packet arrives once");
    assert_eq!(set, (0..500).collect(), "every packet arrives");
    assert_eq!(stats.dropped, 0);
    assert!(stats.reordered > 0, "{stats:?}");
    assert!(
        arrived.windows(2).any(|w| w[0] > w[1]),
        "arrival order differs"
    );
}

#[tokio::test]
async fn loss_is_seeded_and_reproducible() {
    let impairment = Impairment {
        loss: 0.1,
        ..Impairment::NONE
    };
    let (first, stats) = numbered_audio(7, impairment, 1000).await;
    let (again, _) = numbered_audio(7, impairment, 1000).await;
    let (other, _) = numbered_audio(8, impairment, 1000).await;
    assert_eq!(first, again, "same seed, same packets lost");
    assert_ne!(first, other, "another seed loses others");
    assert_eq!(first.len() as u64, stats.forwarded);
    assert_eq!(stats.dropped + stats.forwarded, 1000);
    assert!((50..150).contains(&stats.dropped), "{stats:?}");
    assert!(
        first.windows(2).all(|w| w[0] < w[1]),
        "no delay, no reordering"
    );
}

#[tokio::test]
async fn unimpaired_flows_pass_straight_through() {
    let receiver = FakeReceiver::start().await;
    let mut config = RelayConfig::new(
        receiver.addr,
        3,
        Impairment {
            loss: 1.0,
            ..Impairment::NONE
        },
    );
    config.flows = Flows {
        audio: false,
        control: true,
        timing: false,
    };
    let relay = Relay::start(config).await.unwrap();
    let mut sender = FakeSender::connect(relay.local_addr()).await;
    let reply = sender.setup().await;
    let relay_at = |key| SocketAddr::from(([127, 0, 0, 1], transport_port(&reply, key)));
    sender
        .control
        .send_to(b"lost", relay_at("control_port"))
        .await
        .unwrap();
    sender
        .audio
        .send_to(b"kept", relay_at("server_port"))
        .await
        .unwrap();
    assert_eq!(recv(&receiver.audio).await.0, b"kept");
    let stats = relay.stats();
    assert_eq!(stats.get(Flow::Control, Direction::ToReceiver).dropped, 1);
    assert_eq!(stats.get(Flow::Audio, Direction::ToReceiver).forwarded, 1);
}

#[tokio::test]
async fn dropping_the_relay_closes_every_socket() {
    let receiver = FakeReceiver::start().await;
    let relay = relay(&receiver, 1, Impairment::NONE).await;
    let addr = relay.local_addr();
    let mut sender = FakeSender::connect(addr).await;
    let reply = sender.setup().await;
    drop(relay);
    // The proxied connection is closed and nothing listens any more.
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, sender.rtsp.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    tokio::time::timeout(WAIT, async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the listener closes");
    // So are the UDP sockets of the session: their ports can be taken again.
    for key in ["server_port", "control_port", "timing_port"] {
        let port = transport_port(&reply, key);
        tokio::time::timeout(WAIT, async {
            while UdpSocket::bind(("127.0.0.1", port)).await.is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{key} {port} is released"));
    }
}
