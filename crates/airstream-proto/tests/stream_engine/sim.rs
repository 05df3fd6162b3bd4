//! A simulated network and receivers on virtual time, for driving the stream engine the way
//! the tokio shell does (quinn-proto's `tests/util.rs` `Pair` is the model): every step
//! jumps to the next instant anything happens, so minutes of audio take milliseconds.

use airstream_proto::ap2::{
    Anchor, Ap2Session, Ap2SessionConfig, AudioCipher, ClockIdentity, SessionSetup, StreamSetup,
    Timing,
};
use airstream_proto::format::Codec;
use airstream_proto::ntp::NtpClock;
use airstream_proto::raop::{RaopSession, SessionConfig};
use airstream_proto::rtp::{AudioPacket, RetransmitRequest, SyncPacket, TimingPacket};
use airstream_proto::rtsp::{Request, Response, Version};
use airstream_proto::stream::{
    Ap2StreamConfig, Event, MasterClock, MemberConfig, MemberId, MemberTransport, Port,
    RECEIVER_FIXED_LATENCY, RtspInput, SourceItem, Stream, StreamConfig, Transmit,
};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

pub(crate) const SILENCE: &[u8] = &[0xEE; 4];
pub(crate) const MS: Duration = Duration::from_millis(1);
/// The AirPlay 2 stream key of every simulated stream.
pub(crate) const STREAM_KEY: [u8; 32] = [0x5A; 32];
/// The PTP master's identity and its time at the simulation's start.
pub(crate) const MASTER_IDENTITY: ClockIdentity = ClockIdentity([1, 2, 3, 0xFF, 0xFE, 4, 5, 6]);
pub(crate) const MASTER_OFFSET: Duration = Duration::from_secs(1_000_000);

/// A receiver's addresses: 10.0.0.N with RTSP 5000, audio 6000, control 6001, timing 6002.
pub(crate) fn receiver_ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

/// The payload of source packet `index` (4-byte index, recognisable after the fact).
pub(crate) fn payload(index: u32) -> Bytes {
    Bytes::copy_from_slice(&index.to_be_bytes())
}

/// How a simulated receiver (mis)behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Behaviour {
    /// One-way delay of every datagram and RTSP message.
    pub(crate) delay: Duration,
    /// Extra delay of up to this, by a fixed pattern (reorders packets).
    pub(crate) jitter: Duration,
    /// Every n-th audio packet to this receiver is lost (0: none).
    pub(crate) lose_every: u64,
    /// From this instant (after start) on, the receiver sends and answers nothing.
    pub(crate) silent_after: Option<Duration>,
    /// Sends timing requests (every 3 s).
    pub(crate) sends_timing: bool,
    /// Audio-Latency it answers RECORD with.
    pub(crate) audio_latency: Option<u32>,
    /// An AirPlay 2 realtime receiver: sealed packets, anchors, PTP (no timing requests).
    pub(crate) airplay2: bool,
    /// With `airplay2`: timed with NTP instead (session SETUP `timingProtocol: NTP`): sync
    /// packets and timing requests as AirPlay 1.
    pub(crate) ntp_timing: bool,
}

impl Behaviour {
    /// An AirPlay 2 receiver that otherwise behaves as the default.
    pub(crate) fn airplay2() -> Self {
        Self {
            airplay2: true,
            sends_timing: false,
            ..Self::default()
        }
    }

    /// An AirPlay 2 receiver timed with NTP (HomePods, Apple TVs): asks our timing port.
    pub(crate) fn airplay2_ntp() -> Self {
        Self {
            airplay2: true,
            ntp_timing: true,
            ..Self::default()
        }
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            delay: 2 * MS,
            jitter: Duration::ZERO,
            lose_every: 0,
            silent_after: None,
            sends_timing: true,
            audio_latency: None,
            airplay2: false,
            ntp_timing: false,
        }
    }
}

/// A receiver: buffers packets by RTP time, plays each at its sync-derived time, asks for
/// gaps to be resent, drops unplayed audio on FLUSH.
pub(crate) struct Receiver {
    pub(crate) n: u8,
    pub(crate) behaviour: Behaviour,
    /// Packets buffered: rtp time → (audible at, payload).
    buffer: BTreeMap<i64, (Instant, Bytes)>,
    /// What was played, in order: payloads.
    pub(crate) played: Vec<Bytes>,
    pub(crate) requests: Vec<(Instant, String)>,
    /// Every request as it arrived (headers and body too).
    pub(crate) requests_received: Vec<Request>,
    pub(crate) syncs: Vec<(Instant, SyncPacket)>,
    pub(crate) anchors: Vec<(Instant, Anchor)>,
    /// Sealed datagrams that did not open under the stream key.
    pub(crate) unopened: u64,
    pub(crate) resent_received: u64,
    pub(crate) audio_received: u64,
    /// The frame that plays at an instant, from the last sync or anchor.
    reference: Option<(u32, Instant)>,
    /// An AirPlay 2 receiver's key and its PTP follower's view of the master clock.
    ap2: Option<(AudioCipher, MasterClock)>,
    highest_seq: Option<u16>,
    next_timing: Instant,
    rtp_base: Option<u32>,
    clock: NtpClock,
}

impl Receiver {
    fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(receiver_ip(self.n), port)
    }

    fn silent(&self, start: Instant, now: Instant) -> bool {
        self.behaviour
            .silent_after
            .is_some_and(|after| now >= start + after)
    }

    /// Extends a 32-bit RTP time around the first one seen (which need not be the first
    /// sent: jitter reorders).
    fn extend(&mut self, ts: u32) -> i64 {
        let base = *self.rtp_base.get_or_insert(ts);
        i64::from(ts.wrapping_sub(base) as i32)
    }

    fn audible_at(&self, ts: u32) -> Option<Instant> {
        let (reference_ts, at) = self.reference?;
        let ahead = i64::from(ts.wrapping_sub(reference_ts) as i32);
        let nanos = ahead * 1_000_000_000 / 44_100;
        Some(if nanos >= 0 {
            at + Duration::from_nanos(nanos as u64)
        } else {
            at.checked_sub(Duration::from_nanos(nanos.unsigned_abs()))
                .expect("after the clock's anchor")
        })
    }

    /// Takes a sync packet (AirPlay 1): frame `rtp_now − latency − the fixed 11025` plays at
    /// its NTP time.
    fn take_sync(&mut self, sync: SyncPacket) {
        let ts = sync
            .rtp_now
            .wrapping_sub(sync.latency_frames())
            .wrapping_sub(RECEIVER_FIXED_LATENCY);
        self.reference = Some((ts, self.clock.instant_at(sync.ntp)));
    }

    /// Takes an anchor (AirPlay 2), as shairport-sync reads it: frame `bytes 4..8 − 11035`
    /// plays at the master time, which the PTP follower maps to its own clock.
    fn take_anchor(&mut self, anchor: Anchor, master: &MasterClock) {
        let ts = anchor
            .rtp_time
            .wrapping_sub(anchor.latency)
            .wrapping_sub(airstream_proto::ap2::anchor::RECEIVER_FIXED_LATENCY);
        let since_origin = Duration::from_nanos(anchor.master_nanos)
            .checked_sub(master.offset)
            .expect("anchors name master times after the origin");
        self.reference = Some((ts, master.origin + since_origin));
    }

    /// The RTP header fields and payload of an audio datagram of this receiver's kind.
    fn open(&mut self, datagram: &[u8]) -> Option<(airstream_proto::rtp::AudioHeader, Bytes)> {
        match &self.ap2 {
            Some((cipher, _)) => {
                let opened = cipher.open(datagram).ok();
                if opened.is_none() {
                    self.unopened += 1;
                }
                opened.map(|o| (o.header, Bytes::from(o.payload)))
            }
            None => AudioPacket::parse(datagram)
                .ok()
                .map(|p| (p.header, Bytes::copy_from_slice(p.payload))),
        }
    }

    /// Plays everything audible by `now`.
    fn play_until(&mut self, now: Instant) {
        while let Some(entry) = self.buffer.first_entry() {
            if entry.get().0 > now {
                break;
            }
            let (_, payload) = entry.remove();
            self.played.push(payload);
        }
    }

    /// The real audio played, as source indices (silence left out).
    pub(crate) fn played_indices(&self) -> Vec<u32> {
        self.played
            .iter()
            .filter(|p| &p[..] != SILENCE)
            .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
            .collect()
    }

    pub(crate) fn requests_of(&self, method: &str) -> Vec<Instant> {
        self.requests
            .iter()
            .filter(|(_, m)| m == method)
            .map(|(t, _)| *t)
            .collect()
    }
}

/// Something in flight on the simulated network.
enum Flight {
    ToReceiver {
        n: usize,
        transmit: Transmit,
    },
    RtspToReceiver {
        n: usize,
        request: Request,
    },
    ToSender {
        member: MemberId,
        port: Port,
        from: SocketAddr,
        datagram: Vec<u8>,
    },
    RtspToSender {
        member: MemberId,
        response: Response,
    },
}

/// Something a test does to the stream at a given time.
pub(crate) type Command = fn(&mut Sim);

/// The engine, its receivers and the network between them, on virtual time.
pub(crate) struct Sim {
    pub(crate) now: Instant,
    pub(crate) start: Instant,
    pub(crate) stream: Stream,
    pub(crate) receivers: Vec<Receiver>,
    pub(crate) events: Vec<(Instant, Event)>,
    /// Source packets not yet pushed; pushed while the engine holds fewer than 256.
    pub(crate) source: VecDeque<SourceItem>,
    /// In flight, by arrival time and then send order.
    flights: BTreeMap<(Instant, u64), Flight>,
    order: u64,
    sent_audio: Vec<u64>,
    /// Every datagram the engine sent, with its destination.
    pub(crate) sent: Vec<Transmit>,
    /// The same, with when each left.
    pub(crate) sent_at: Vec<(Instant, Transmit)>,
    /// Commands to run at given instants.
    pub(crate) script: Vec<(Duration, Command)>,
}

/// A RAOP session taken through the handshake up to RECORD, as the shell does before a
/// member joins.
pub(crate) fn recording_session(n: u8, audio_latency: Option<u32>) -> RaopSession {
    let mut session = RaopSession::new(SessionConfig {
        local_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)),
        remote_ip: receiver_ip(n),
        session_id: 1,
        dacp_id: 2,
        active_remote: 3,
        codec: Codec::AlacRaw,
        encryption: None,
        password: None,
        control_port: 7001,
        timing_port: 7002,
        first_seq: 0,
        first_rtptime: 0,
        initial_volume_db: None,
        auth_setup: false,
        min_latency: None,
        max_latency: None,
    });
    while let Some(request) = session.poll_request() {
        let cseq = request.headers.get("CSeq").unwrap_or("0").to_string();
        let mut response = Response::new(Version::Rtsp10, 200, "OK").with_header("CSeq", cseq);
        if request.method == "SETUP" {
            response = response
                .with_header(
                    "Transport",
                    "RTP/AVP/UDP;unicast;mode=record;server_port=6000;control_port=6001;timing_port=6002",
                )
                .with_header("Session", "1");
        }
        if request.method == "RECORD"
            && let Some(latency) = audio_latency
        {
            response = response.with_header("Audio-Latency", latency.to_string());
        }
        session.handle_response(&response).expect("handshake");
        while let Some(event) = session.poll_event() {
            if let airstream_proto::raop::SessionEvent::TransportReady(_) = event {
                session.record();
            }
        }
    }
    session
}

/// The stream's NTP clock mapping (timing replies and sync packets) for a sim started at
/// `start`.
pub(crate) fn ntp_clock(start: Instant) -> NtpClock {
    NtpClock::new(
        start,
        airstream_proto::ntp::NtpTime::from_parts(3_900_000_000, 0),
    )
}

/// The master clock the simulation's stream and its AirPlay 2 receivers share.
pub(crate) fn master_clock(sim: &Sim) -> MasterClock {
    MasterClock {
        origin: sim.start,
        offset: MASTER_OFFSET,
        identity: MASTER_IDENTITY,
    }
}

/// Our timing port in the simulation (AirPlay 1 SETUP, AirPlay 2 NTP session SETUP).
pub(crate) const SENDER_TIMING_PORT: u16 = 7002;

/// An AirPlay 2 session taken through both SETUPs and RECORD, as the shell does before a
/// member joins; PTP-timed.
pub(crate) fn recording_ap2_session(n: u8) -> Ap2Session {
    let local = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
    recording_ap2_session_timed(
        n,
        Timing::Ptp {
            addresses: vec![local],
            id: local.to_string(),
        },
    )
    .0
}

/// [`recording_ap2_session`] with `timing`; also returns the session SETUP's body as sent.
/// Under NTP the receiver answers with its timing port (6002), as real devices do.
pub(crate) fn recording_ap2_session_timed(n: u8, timing: Timing) -> (Ap2Session, Vec<u8>) {
    use airstream_proto::bplist;
    use plist::Value;
    let local = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
    let ntp = matches!(timing, Timing::Ntp { .. });
    let mut session_setup_body = Vec::new();
    let mut session = Ap2Session::new(Ap2SessionConfig {
        local_ip: local,
        session_id: 1,
        dacp_id: 2,
        active_remote: 3,
        session: SessionSetup {
            device_id: "0A:00:00:00:00:64".into(),
            session_uuid: "S".into(),
            group_uuid: "G".into(),
            group_contains_group_leader: false,
            model: "airstream".into(),
            name: format!("sim-{n}"),
            timing,
        },
        stream: StreamSetup {
            shk: STREAM_KEY,
            control_port: 7001,
            latency_min: 11_025,
            latency_max: 88_200,
            stream_connection_id: 1,
        },
        initial_volume_db: None,
    })
    .expect("valid SETUP bodies");
    let mut setups = 0;
    while let Some(request) = session.poll_request() {
        let cseq = request.headers.get("CSeq").unwrap_or("0").to_string();
        let mut response = Response::new(Version::Rtsp10, 200, "OK").with_header("CSeq", cseq);
        if request.method == "SETUP" {
            setups += 1;
            let body = if setups == 1 {
                session_setup_body = request.body.to_vec();
                let timing_port = if ntp { 6002u64 } else { 0 };
                bplist::encode_dict([
                    ("eventPort", Value::from(6003u64)),
                    ("timingPort", Value::from(timing_port)),
                ])
            } else {
                let stream = Value::Dictionary(
                    [
                        ("dataPort", Value::from(6000u64)),
                        ("controlPort", Value::from(6001u64)),
                        ("type", Value::from(96u64)),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                );
                bplist::encode_dict([("streams", Value::Array(vec![stream]))])
            };
            response = response.with_body("application/x-apple-binary-plist", body);
        }
        session.handle_response(&response).expect("handshake");
    }
    (session, session_setup_body)
}

impl Sim {
    /// A stream of `packets` source packets to receivers that behave as given.
    pub(crate) fn new(packets: u32, behaviours: &[Behaviour], latency_frames: u32) -> Self {
        let start = Instant::now();
        let clock = ntp_clock(start);
        let master = MasterClock {
            origin: start,
            offset: MASTER_OFFSET,
            identity: MASTER_IDENTITY,
        };
        let config = StreamConfig {
            ssrc: 0xABCD,
            first_seq: 65_000,
            first_rtptime: u32::MAX - 44_100,
            clock,
            latency_frames,
            lead_in_packets: 13,
            silence: Bytes::from_static(SILENCE),
            keep_alive: Duration::from_secs(25),
            timing_wait: Duration::from_secs(2),
            preroll_packets: 63,
            preroll_wait: Duration::from_secs(2),
            airplay2: behaviours
                .iter()
                .any(|b| b.airplay2)
                .then_some(Ap2StreamConfig {
                    shk: STREAM_KEY,
                    clock: master,
                }),
        };
        let mut stream = Stream::new(config, start);
        let mut receivers = Vec::new();
        for (i, behaviour) in behaviours.iter().enumerate() {
            let n = i as u8 + 1;
            let receiver = Receiver {
                n,
                behaviour: *behaviour,
                buffer: BTreeMap::new(),
                played: Vec::new(),
                requests: Vec::new(),
                requests_received: Vec::new(),
                syncs: Vec::new(),
                anchors: Vec::new(),
                unopened: 0,
                resent_received: 0,
                audio_received: 0,
                reference: None,
                ap2: behaviour
                    .airplay2
                    .then(|| (AudioCipher::new(&STREAM_KEY), master)),
                highest_seq: None,
                next_timing: start + behaviour.delay,
                rtp_base: None,
                clock,
            };
            let (session, transport, timing) = if behaviour.airplay2 && behaviour.ntp_timing {
                let timing = Timing::Ntp {
                    timing_port: SENDER_TIMING_PORT,
                };
                (
                    recording_ap2_session_timed(n, timing).0.into(),
                    MemberTransport::AirPlay2Ntp,
                    Some(receiver.addr(6002)),
                )
            } else if behaviour.airplay2 {
                (
                    recording_ap2_session(n).into(),
                    MemberTransport::AirPlay2,
                    None,
                )
            } else {
                (
                    recording_session(n, behaviour.audio_latency).into(),
                    MemberTransport::Raop,
                    Some(receiver.addr(6002)),
                )
            };
            stream.add_member(
                MemberConfig {
                    rtsp: receiver.addr(5000),
                    audio: receiver.addr(6000),
                    control: receiver.addr(6001),
                    timing,
                    audio_latency: behaviour.audio_latency,
                    session,
                    transport,
                },
                start,
            );
            receivers.push(receiver);
        }
        let mut source: VecDeque<SourceItem> = (0..packets)
            .map(|i| SourceItem::Audio {
                payload: payload(i),
                frames: 352,
            })
            .collect();
        source.push_back(SourceItem::End);
        Self {
            now: start,
            start,
            stream,
            sent_audio: vec![0; receivers.len()],
            receivers,
            events: Vec::new(),
            source,
            flights: BTreeMap::new(),
            order: 0,
            sent: Vec::new(),
            sent_at: Vec::new(),
            script: Vec::new(),
        }
    }

    fn fly(&mut self, at: Instant, flight: Flight) {
        self.order += 1;
        self.flights.insert((at, self.order), flight);
    }

    fn delay_to(&self, n: usize, count: u64) -> Duration {
        let b = self.receivers[n].behaviour;
        let jitter_ns = b.jitter.as_nanos() as u64;
        let extra = if jitter_ns == 0 {
            0
        } else {
            (count.wrapping_mul(2_654_435_761) % 1000) * jitter_ns / 1000
        };
        b.delay + Duration::from_nanos(extra)
    }

    fn member_of(&self, destination: SocketAddr) -> Option<usize> {
        self.receivers
            .iter()
            .position(|r| r.addr(destination.port()) == destination)
    }

    /// Pushes source items, runs the engine, and sends what it produced.
    fn pump(&mut self) {
        while self.stream.queued_audio() < 256
            && let Some(item) = self.source.pop_front()
        {
            self.stream.push(item);
        }
        self.stream.handle_timeout(self.now);
        while let Some(transmit) = self.stream.poll_transmit() {
            self.sent.push(transmit.clone());
            self.sent_at.push((self.now, transmit.clone()));
            let Some(n) = self.member_of(transmit.destination) else {
                continue;
            };
            let count = if transmit.port == Port::Audio {
                self.sent_audio[n] += 1;
                self.sent_audio[n]
            } else {
                0
            };
            let lose = self.receivers[n].behaviour.lose_every;
            if transmit.port == Port::Audio && lose > 0 && count % lose == 0 {
                continue;
            }
            let at = self.now + self.delay_to(n, count);
            self.fly(at, Flight::ToReceiver { n, transmit });
        }
        while let Some((member, request)) = self.stream.poll_rtsp(self.now) {
            let n = member.index();
            let at = self.now + self.receivers[n].behaviour.delay;
            self.fly(at, Flight::RtspToReceiver { n, request });
        }
        while let Some(event) = self.stream.poll_event() {
            self.events.push((self.now, event));
        }
    }

    fn receiver_step(&mut self, n: usize) {
        let now = self.now;
        let start = self.start;
        let r = &mut self.receivers[n];
        r.play_until(now);
        if r.behaviour.sends_timing && now >= r.next_timing {
            r.next_timing = now + Duration::from_secs(3);
            if r.silent(start, now) {
                return;
            }
            let request = TimingPacket {
                reply: false,
                reference: airstream_proto::ntp::NtpTime(0),
                received: airstream_proto::ntp::NtpTime(0),
                sent: r.clock.ntp_at(now),
            }
            .encode();
            let from = r.addr(6002);
            let at = now + r.behaviour.delay;
            self.fly(
                at,
                Flight::ToSender {
                    member: MemberId::from_index(n),
                    port: Port::Timing,
                    from,
                    datagram: request.to_vec(),
                },
            );
        }
    }

    fn deliver(&mut self, flight: Flight) {
        let now = self.now;
        let start = self.start;
        match flight {
            Flight::ToSender {
                member,
                port,
                from,
                datagram,
            } => self
                .stream
                .handle_datagram(member, port, from, &datagram, now, now),
            Flight::RtspToSender { member, response } => {
                self.stream
                    .handle_rtsp(member, RtspInput::Response(response), now);
            }
            Flight::RtspToReceiver { n, request } => {
                let r = &mut self.receivers[n];
                if r.silent(start, now) {
                    return;
                }
                r.requests.push((now, request.method.clone()));
                r.requests_received.push(request.clone());
                if request.method == "FLUSH" {
                    // Everything not yet played is dropped.
                    r.play_until(now);
                    r.buffer.clear();
                }
                let cseq = request.headers.get("CSeq").unwrap_or("0").to_string();
                let response = Response::new(Version::Rtsp10, 200, "OK").with_header("CSeq", cseq);
                let at = now + r.behaviour.delay;
                self.fly(
                    at,
                    Flight::RtspToSender {
                        member: MemberId::from_index(n),
                        response,
                    },
                );
            }
            Flight::ToReceiver { n, transmit } => self.receive_datagram(n, &transmit),
        }
    }

    fn receive_datagram(&mut self, n: usize, transmit: &Transmit) {
        let now = self.now;
        let start = self.start;
        let r = &mut self.receivers[n];
        if r.silent(start, now) {
            return;
        }
        match transmit.port {
            Port::Control => {
                let ptp_master = if r.behaviour.ntp_timing {
                    None
                } else {
                    r.ap2.as_ref().map(|(_, master)| *master)
                };
                if let Some(master) = ptp_master {
                    if let Ok(anchor) = Anchor::parse(&transmit.datagram) {
                        r.anchors.push((now, anchor));
                        r.take_anchor(anchor, &master);
                        return;
                    }
                } else if let Ok(sync) = SyncPacket::parse(&transmit.datagram) {
                    r.syncs.push((now, sync));
                    r.take_sync(sync);
                    return;
                }
                // A retransmission: 4-byte header, then the original packet.
                if let Some((header, payload)) = transmit.datagram.get(4..).and_then(|d| r.open(d))
                {
                    r.resent_received += 1;
                    let ts = header.timestamp;
                    if let Some(at) = r.audible_at(ts) {
                        let key = r.extend(ts);
                        r.buffer.entry(key).or_insert((at, payload));
                    }
                }
            }
            Port::Audio => {
                let Some((header, payload)) = r.open(&transmit.datagram) else {
                    return;
                };
                r.audio_received += 1;
                let seq = header.seq;
                let ts = header.timestamp;
                if let Some(at) = r.audible_at(ts) {
                    let key = r.extend(ts);
                    r.buffer.insert(key, (at, payload));
                }
                // Ask for a gap at once, from the control port.
                let gap = match r.highest_seq {
                    Some(high) if !header.marker => {
                        let ahead = seq.wrapping_sub(high);
                        (ahead > 1 && ahead < 0x8000).then(|| (high.wrapping_add(1), ahead - 1))
                    }
                    _ => None,
                };
                if r.highest_seq
                    .is_none_or(|h| header.marker || seq.wrapping_sub(h) < 0x8000)
                {
                    r.highest_seq = Some(seq);
                }
                if let Some((first_seq, count)) = gap {
                    let request = RetransmitRequest { first_seq, count }.encode(1);
                    let from = r.addr(6001);
                    let at = now + r.behaviour.delay;
                    self.fly(
                        at,
                        Flight::ToSender {
                            member: MemberId::from_index(n),
                            port: Port::Control,
                            from,
                            datagram: request.to_vec(),
                        },
                    );
                }
            }
            Port::Timing => {}
        }
    }

    /// Sends a datagram to the engine as if `from` had sent it to member `n`'s `port`.
    pub(crate) fn inject(&mut self, n: usize, port: Port, from: SocketAddr, datagram: &[u8]) {
        let now = self.now;
        self.stream
            .handle_datagram(MemberId::from_index(n), port, from, datagram, now, now);
        self.pump();
    }

    /// Pauses the stream `at` this far into the run.
    pub(crate) fn pause_at(&mut self, at: Duration) {
        self.script.push((at, |s| {
            let now = s.now;
            s.stream.pause(now);
        }));
    }

    /// Resumes the stream `at` this far into the run.
    pub(crate) fn resume_at(&mut self, at: Duration) {
        self.script.push((at, |s| {
            let now = s.now;
            s.stream.resume(now);
        }));
    }

    /// Runs until the stream is done or `limit` of virtual time passed.
    pub(crate) fn run(&mut self, limit: Duration) {
        self.script.sort_by_key(|(t, _)| *t);
        self.pump();
        let end = self.start + limit;
        loop {
            if matches!(self.stream.phase(), airstream_proto::stream::Phase::Done)
                && self.flights.is_empty()
            {
                return;
            }
            let next_flight = self.flights.first_key_value().map(|((t, _), _)| *t);
            let next_timing = self
                .receivers
                .iter()
                .filter(|r| r.behaviour.sends_timing)
                .map(|r| r.next_timing)
                .min();
            let next_script = self.script.first().map(|(t, _)| self.start + *t);
            let next = [
                self.stream.poll_timeout(),
                next_flight,
                next_timing,
                next_script,
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end);
            if next > end {
                return;
            }
            self.now = next.max(self.now);
            for n in 0..self.receivers.len() {
                self.receiver_step(n);
            }
            while self
                .flights
                .first_key_value()
                .is_some_and(|((t, _), _)| *t <= self.now)
            {
                let Some((_, flight)) = self.flights.pop_first() else {
                    break;
                };
                self.deliver(flight);
                self.pump();
            }
            while self
                .script
                .first()
                .is_some_and(|(t, _)| self.start + *t <= self.now)
            {
                let (_, command) = self.script.remove(0);
                command(self);
            }
            self.pump();
        }
    }

    pub(crate) fn finished(&self) -> Option<bool> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::Finished { stopped } => Some(*stopped),
            _ => None,
        })
    }

    pub(crate) fn event_time(&self, wanted: impl Fn(&Event) -> bool) -> Option<Instant> {
        self.events.iter().find(|(_, e)| wanted(e)).map(|(t, _)| *t)
    }
}
