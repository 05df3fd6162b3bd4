//! One UDP flow of a session (audio, control or timing) through the relay: a socket facing
//! the sender and one facing the receiver, packets passed across in both directions,
//! impaired where the configuration says so.

use super::impairment::{Impairer, Impairment, Schedule, Verdict};
use super::{Direction, Flow, SharedStats};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;

/// Larger than any datagram UDP can carry.
const DATAGRAM_MAX: usize = 65_536;

pub(super) struct Pipe {
    pub(super) flow: Flow,
    /// Where the sender sends this flow (announced to it in the SETUP reply).
    pub(super) sender_side: UdpSocket,
    /// Where the receiver sends this flow (announced to it in the SETUP request).
    pub(super) receiver_side: UdpSocket,
    /// Where packets for the sender go: the address it last sent this flow from, else the
    /// port its SETUP request announced. Learning the address mirrors what a receiver does
    /// when it answers a request to its source address.
    pub(super) sender: Option<SocketAddr>,
    /// The same for the receiver, with the port of its SETUP reply as the fallback.
    pub(super) receiver: Option<SocketAddr>,
    /// `None` forwards at once.
    pub(super) impairment: Option<Impairment>,
    pub(super) seed: u64,
    pub(super) stats: Arc<SharedStats>,
}

struct Lane {
    impairer: Option<Impairer>,
    schedule: Schedule<Vec<u8>>,
}

impl Pipe {
    pub(super) async fn run(mut self) {
        let mut lanes = [Direction::ToReceiver, Direction::ToSender].map(|direction| Lane {
            impairer: self
                .impairment
                .map(|config| Impairer::new(config, lane_seed(self.seed, direction))),
            schedule: Schedule::default(),
        });
        let mut from_sender = vec![0u8; DATAGRAM_MAX];
        let mut from_receiver = vec![0u8; DATAGRAM_MAX];
        loop {
            let next_due = lanes.iter().filter_map(|l| l.schedule.next_due()).min();
            let wake = next_due.unwrap_or_else(Instant::now);
            tokio::select! {
                received = self.sender_side.recv_from(&mut from_sender) => match received {
                    Ok((n, from)) => {
                        self.sender = Some(from);
                        let lane = &mut lanes[Direction::ToReceiver as usize];
                        self.arrive(Direction::ToReceiver, lane, &from_sender[..n]).await;
                    }
                    Err(e) => tracing::debug!("relay {:?}: sender side: {e}", self.flow),
                },
                received = self.receiver_side.recv_from(&mut from_receiver) => match received {
                    Ok((n, from)) => {
                        self.receiver = Some(from);
                        let lane = &mut lanes[Direction::ToSender as usize];
                        self.arrive(Direction::ToSender, lane, &from_receiver[..n]).await;
                    }
                    Err(e) => tracing::debug!("relay {:?}: receiver side: {e}", self.flow),
                },
                () = tokio::time::sleep_until(wake.into()), if next_due.is_some() => {
                    let now = Instant::now();
                    for direction in [Direction::ToReceiver, Direction::ToSender] {
                        let lane = &mut lanes[direction as usize];
                        while let Some(released) = lane.schedule.pop_due(now) {
                            if released.overtaken {
                                self.stats.count(self.flow, direction).reordered.add();
                            }
                            self.forward(direction, &released.item).await;
                        }
                    }
                }
            }
        }
    }

    async fn arrive(&self, direction: Direction, lane: &mut Lane, datagram: &[u8]) {
        let counters = self.stats.count(self.flow, direction);
        counters.received.add();
        let Some(impairer) = lane.impairer.as_mut() else {
            self.forward(direction, datagram).await;
            return;
        };
        match impairer.judge() {
            Verdict::Lost => counters.dropped.add(),
            Verdict::Deliver { after } => lane
                .schedule
                .push(Instant::now() + after, datagram.to_vec()),
        }
    }

    async fn forward(&self, direction: Direction, datagram: &[u8]) {
        let (socket, target) = match direction {
            Direction::ToReceiver => (&self.receiver_side, self.receiver),
            Direction::ToSender => (&self.sender_side, self.sender),
        };
        let Some(target) = target else {
            tracing::debug!("relay {:?}: nowhere to send {direction:?}", self.flow);
            return;
        };
        match socket.send_to(datagram, target).await {
            Ok(_) => self.stats.count(self.flow, direction).forwarded.add(),
            Err(e) => tracing::debug!("relay {:?}: {direction:?} to {target}: {e}", self.flow),
        }
    }
}

/// Each direction draws from its own generator, so one direction's traffic never shifts
/// the other's fates.
fn lane_seed(seed: u64, direction: Direction) -> u64 {
    super::mix(seed, direction as u64)
}
