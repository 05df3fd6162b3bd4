//! The receiver's UDP side of one session: audio in, sync and resent packets in, retransmit
//! requests out, and timing requests out to the sender (3 quick ones, then every 3 s, as
//! shairport-sync does).

use crate::assembler::Assembler;
use crate::decode::PayloadDecoder;
use crate::format::{FRAMES_PER_PACKET, StreamFormat};
use crate::{Behaviour, Summary};
use airstream_proto::ntp::{NtpClock, NtpTime};
use airstream_proto::rtp::{AudioPacket, ControlDatagram, RetransmitRequest, TimingPacket};
use airstream_proto::stream::RECEIVER_FIXED_LATENCY;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

const RETRANSMIT_REPEAT: Duration = Duration::from_millis(250);

pub(crate) enum Command {
    Anchor { seq: u16, rtptime: u32 },
    Flush,
    Finish(oneshot::Sender<Outcome>),
}

pub(crate) struct Outcome {
    pub(crate) samples: Vec<i16>,
    pub(crate) summary: Summary,
}

/// Whether the session should go silent or vanish (behaviour flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Alive,
    Hung,
    Dead,
}

pub(crate) struct Sockets {
    pub(crate) audio: UdpSocket,
    pub(crate) control: UdpSocket,
    pub(crate) timing: UdpSocket,
}

pub(crate) struct UdpSession {
    pub(crate) sockets: Sockets,
    /// The RTSP peer: only its datagrams belong to this session.
    pub(crate) sender: IpAddr,
    pub(crate) format: StreamFormat,
    pub(crate) sender_control: SocketAddr,
    pub(crate) sender_timing: Option<SocketAddr>,
    pub(crate) decoder: PayloadDecoder,
    pub(crate) behaviour: Behaviour,
    pub(crate) fate: watch::Sender<Fate>,
}

struct State {
    assembler: Assembler,
    summary: Summary,
    arrivals: u64,
    request_seq: u16,
    clock: NtpClock,
    timing_sent: u32,
    /// The latest sync: which RTP frame the sender said was audible at which sender time.
    last_sync: Option<(u32, NtpTime)>,
    /// Sender clock minus ours, from the last timing reply (loopback: no transit time).
    clock_offset: Option<i64>,
}

impl State {
    /// The frame playing now, as a real receiver works it out: the sync's audible frame
    /// moved on by the sender-clock time since, minus the fixed 11025 frames receivers add.
    /// Senders may send a sync a little ahead of its time; the clock makes that harmless.
    fn audible_now(&self, now: Instant) -> Option<u32> {
        let (rtp, sync_time) = self.last_sync?;
        let sender_now = NtpTime(
            self.clock
                .ntp_at(now)
                .0
                .wrapping_add_signed(self.clock_offset?),
        );
        let elapsed = sender_now.wrapping_diff(sync_time) as f64 / 4_294_967_296.0;
        let frames = (elapsed * 44_100.0).round() as i64;
        Some(
            rtp.wrapping_add(frames as u32)
                .wrapping_sub(RECEIVER_FIXED_LATENCY),
        )
    }
}

impl UdpSession {
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut state = State {
            assembler: Assembler::new(
                usize::from(self.format.channels),
                self.format.sample_rate,
                FRAMES_PER_PACKET,
            ),
            summary: Summary::default(),
            arrivals: 0,
            request_seq: 0,
            clock: NtpClock::new(Instant::now(), NtpTime::from_parts(0x83AA_7E80, 0)),
            timing_sent: 0,
            last_sync: None,
            clock_offset: None,
        };
        let mut audio_buf = vec![0u8; 4096];
        let mut control_buf = vec![0u8; 4096];
        let mut timing_buf = vec![0u8; 256];
        let mut next_timing = tokio::time::Instant::now();
        let mut retransmit_tick = tokio::time::interval(RETRANSMIT_REPEAT);
        loop {
            let silent = *self.fate.borrow() != Fate::Alive;
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Anchor { seq, rtptime }) => {
                        state.assembler.anchor(seq, rtptime, Instant::now());
                    }
                    Some(Command::Flush) => {
                        // Like a real receiver: drop what is buffered and not yet played.
                        if let Some(audible) = state.audible_now(Instant::now()) {
                            state.assembler.drop_after(audible);
                        }
                        state.summary.flushes += 1;
                    }
                    Some(Command::Finish(reply)) => {
                        if !silent {
                            self.drain(&mut state, &mut audio_buf, &mut control_buf).await;
                        }
                        state.summary.packets = state.assembler.packets_received;
                        state.summary.duplicates = state.assembler.duplicates;
                        state.summary.missing_at_end = state.assembler.missing_count();
                        state.summary.out_of_window = state.assembler.out_of_window;
                        let _ = reply.send(Outcome {
                            samples: state.assembler.into_samples(),
                            summary: state.summary,
                        });
                        return;
                    }
                    None => return,
                },
                received = self.sockets.audio.recv_from(&mut audio_buf), if !silent => {
                    if let Ok((n, from)) = received && self.is_from_sender(from, &mut state) {
                        self.on_audio(&audio_buf[..n], &mut state, false).await;
                    }
                }
                received = self.sockets.control.recv_from(&mut control_buf), if !silent => {
                    if let Ok((n, from)) = received && self.is_from_sender(from, &mut state) {
                        self.on_control(&control_buf[..n], &mut state).await;
                    }
                }
                received = self.sockets.timing.recv_from(&mut timing_buf), if !silent => {
                    if let Ok((n, from)) = received
                        && self.is_from_sender(from, &mut state)
                        && let Ok(reply) = TimingPacket::parse(&timing_buf[..n])
                        && reply.reply
                    {
                        state.summary.timing_exchanges += 1;
                        let ours = state.clock.ntp_at(Instant::now());
                        state.clock_offset = Some(reply.sent.wrapping_diff(ours));
                    }
                }
                () = tokio::time::sleep_until(next_timing), if !silent && !self.behaviour.no_timing() => {
                    self.send_timing_request(&mut state).await;
                    let gap = if state.timing_sent < 3 { 300 } else { 3000 };
                    next_timing = tokio::time::Instant::now() + Duration::from_millis(gap);
                }
                _ = retransmit_tick.tick(), if !silent => {
                    for (first_seq, count) in state.assembler.missing_ranges() {
                        self.request_resend(first_seq, count, &mut state).await;
                    }
                }
            }
        }
    }

    async fn on_audio(&mut self, datagram: &[u8], state: &mut State, resent: bool) {
        let Ok(packet) = AudioPacket::parse(datagram) else {
            state.summary.bad_packets += 1;
            return;
        };
        if resent {
            state.summary.resent_packets += 1;
        } else {
            let index = state.arrivals;
            state.arrivals += 1;
            if let Some(limit) = self.behaviour.die_after_packets()
                && index >= limit
            {
                let _ = self.fate.send(Fate::Dead);
                return;
            }
            if let Some(limit) = self.behaviour.hang_after_packets()
                && index >= limit
            {
                let _ = self.fate.send(Fate::Hung);
                return;
            }
            if self.behaviour.drops_packet(index) {
                state.summary.dropped += 1;
                return;
            }
        }
        match self.decoder.decode(packet.payload) {
            Ok(samples) => {
                let placed = state.assembler.insert(
                    packet.header.seq,
                    packet.header.timestamp,
                    &samples,
                    Instant::now(),
                );
                match placed {
                    Ok(gaps) => {
                        for (first_seq, count) in gaps {
                            self.request_resend(first_seq, count, state).await;
                        }
                    }
                    Err(e) => tracing::debug!("audio packet {} refused: {e}", packet.header.seq),
                }
            }
            Err(e) => {
                tracing::warn!("undecodable audio packet {}: {e}", packet.header.seq);
                state.summary.bad_packets += 1;
            }
        }
    }

    /// Takes in the datagrams that arrived before the session ended (TEARDOWN can be read
    /// before the audio sent ahead of it): they belong to the session.
    async fn drain(&mut self, state: &mut State, audio_buf: &mut [u8], control_buf: &mut [u8]) {
        while let Ok((n, from)) = self.sockets.audio.try_recv_from(audio_buf) {
            if self.is_from_sender(from, state) {
                self.on_audio(&audio_buf[..n], state, false).await;
            }
        }
        while let Ok((n, from)) = self.sockets.control.try_recv_from(control_buf) {
            if self.is_from_sender(from, state) {
                self.on_control(&control_buf[..n], state).await;
            }
        }
    }

    /// Whether a datagram came from this session's sender; others are counted and ignored
    /// (anyone on the network can aim packets at our ports).
    fn is_from_sender(&self, from: SocketAddr, state: &mut State) -> bool {
        let ours = from.ip().to_canonical() == self.sender.to_canonical();
        if !ours {
            state.summary.foreign_datagrams += 1;
        }
        ours
    }

    async fn on_control(&mut self, datagram: &[u8], state: &mut State) {
        match ControlDatagram::parse(datagram) {
            Ok(ControlDatagram::Sync(sync)) => {
                if state.summary.sync_packets == 0 {
                    state.summary.first_sync_flagged = sync.first;
                    state.summary.timing_before_first_sync = state.summary.timing_exchanges > 0;
                }
                state.summary.sync_packets += 1;
                state.summary.sync_latency = Some(sync.latency_frames());
                if state.summary.first_syncs.len() < 5 {
                    state.summary.first_syncs.push((sync.rtp_now, sync.ntp.0));
                }
                state.last_sync = Some((sync.rtp_audible_now, sync.ntp));
            }
            Ok(ControlDatagram::Resent(packet)) => {
                self.on_audio(packet, state, true).await;
            }
            Ok(ControlDatagram::RetransmitRequest(_)) | Err(_) => {}
        }
    }

    async fn request_resend(&mut self, first_seq: u16, count: u16, state: &mut State) {
        let request = RetransmitRequest { first_seq, count }.encode(state.request_seq);
        state.request_seq = state.request_seq.wrapping_add(1);
        state.summary.retransmit_requests += 1;
        if let Err(e) = self
            .sockets
            .control
            .send_to(&request, self.sender_control)
            .await
        {
            tracing::debug!("retransmit request not sent: {e}");
        }
    }

    async fn send_timing_request(&mut self, state: &mut State) {
        let Some(target) = self.sender_timing else {
            return;
        };
        let now = state.clock.ntp_at(Instant::now());
        let request = TimingPacket {
            reply: false,
            reference: NtpTime(0),
            received: NtpTime(0),
            sent: now,
        }
        .encode();
        state.timing_sent += 1;
        if let Err(e) = self.sockets.timing.send_to(&request, target).await {
            tracing::debug!("timing request not sent: {e}");
        }
    }
}
