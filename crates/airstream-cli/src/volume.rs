//! `airstream volume`, `pause`, `resume`, `stop`, `status`: control a running stream
//! (`airstream stream` or `airstream session` in another process) through its control
//! socket, found by any of its receivers (see [`crate::ipc`]).

use crate::ipc::{self, Found, Status};
use crate::target::TargetArgs;
use airstream::discovery::ServiceKind;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A receiver the stream plays on, named as for `airstream stream`.
    #[command(flatten)]
    target: TargetArgs,
    /// Set every receiver of the stream's group, not only the one named.
    #[arg(long)]
    all: bool,
    /// Volume 0–100 (0 mutes); without it, the receiver's volume is printed.
    #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
    level: Option<u8>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// A receiver the stream plays on; without one, the only stream running.
    #[command(flatten)]
    target: TargetArgs,
    /// One JSON object on stdout (state, position, track, each receiver's state and volume).
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let found = find(&args.target).await?;
    let Some(level) = args.level else {
        let receiver = &found.status.receivers[found.receiver];
        match receiver.volume {
            Some(volume) => outln!("{volume}")?,
            None => outln!(
                "unknown: {} plays at its own volume (none was set since the stream started)",
                receiver.member.label
            )?,
        }
        return Ok(());
    };
    // One receiver of a group, unless --all; a single receiver is the whole stream.
    let command = if args.all || found.status.receivers.len() == 1 {
        format!("volume {level}")
    } else {
        format!("volume {level} {}", found.receiver)
    };
    found.send(&command).await.map(drop)
}

/// Sends one command (`pause`, `resume`, `stop`) to the stream the target plays on.
pub(crate) async fn send(target: &TargetArgs, command: &str) -> anyhow::Result<()> {
    find(target).await?.send(command).await.map(drop)
}

pub(crate) async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let found = find(&args.target).await?;
    // Fresh: the status read while finding may be a moment old.
    let status: Status = serde_json::from_str(&found.send("status").await?)?;
    if args.json {
        outln!("{}", serde_json::to_string(&status)?)?;
    } else {
        outln!("{}", status_text(&status))?;
    }
    Ok(())
}

/// `playing 0:12 / 3:20  "Title" by Artist`, then one line per receiver.
fn status_text(status: &Status) -> String {
    let clock = |s: f64| crate::progress::clock(std::time::Duration::from_secs_f64(s.max(0.0)));
    let mut text = format!("{} {}", status.state, clock(status.position));
    if let Some(duration) = status.duration {
        let _ = write!(text, " / {}", clock(duration));
    }
    if let Some(title) = &status.track.title {
        let _ = write!(text, "  \"{title}\"");
    }
    if let Some(artist) = &status.track.artist {
        let _ = write!(text, " by {artist}");
    }
    if status.track.index > 0 {
        let _ = write!(text, " (track {})", status.track.index + 1);
    }
    for receiver in &status.receivers {
        let volume = receiver
            .volume
            .map_or_else(|| "its own volume".to_string(), |v| format!("volume {v}"));
        let _ = write!(
            text,
            "\n  {}: {}, {volume}, {} packets sent, {} resent",
            receiver.member.label, receiver.state, receiver.packets_sent, receiver.resent
        );
        if let Some(failure) = &receiver.failure {
            let _ = write!(text, " ({failure})");
        }
    }
    text
}

/// The running stream one of whose receivers the target names (by name, id or address);
/// with no target and no default in the config file, the only stream running.
async fn find(target: &TargetArgs) -> anyhow::Result<Found> {
    let streams = ipc::running().await;
    let (mut queries, addresses) = if target.device.is_empty() && target.address.is_empty() {
        let config = crate::config::Config::load()?;
        (config.device, config.address)
    } else {
        (target.device.clone(), target.address.clone())
    };
    queries.extend(addresses);
    match queries.as_slice() {
        [] => match streams.as_slice() {
            [(_, only)] => ipc::pick(&streams, &only.receivers[0].member.address.to_string())
                .ok_or_else(|| ipc::not_found("any receiver", &streams, "")),
            _ => Err(ipc::not_found(
                "any receiver",
                &streams,
                ": name one with --device",
            )),
        },
        [query] => {
            if let Some(found) = ipc::pick(&streams, query) {
                return Ok(found);
            }
            let is_address = query.parse::<SocketAddr>().is_ok() || query.parse::<IpAddr>().is_ok();
            if is_address || target.address.contains(query) {
                return Err(ipc::not_found(query, &streams, ""));
            }
            // A stream started by --address knows no name: ask mDNS where the name lives.
            let named = TargetArgs {
                device: vec![query.clone()],
                address: Vec::new(),
                discovery_timeout: target.discovery_timeout,
            };
            let found = named.resolve(Some(ServiceKind::Raop)).await?;
            found
                .addrs
                .iter()
                .find_map(|addr| ipc::pick_address(&streams, *addr))
                .ok_or_else(|| {
                    ipc::not_found(
                        query,
                        &streams,
                        &format!(", nor at {}, where mDNS found it", found.addr),
                    )
                })
        }
        _ => Err(airstream::Error::InvalidInput(
            "name one receiver of the stream: one --device or --address".into(),
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{Member, ReceiverStatus, Track};

    #[test]
    fn the_status_text_names_state_position_track_and_receivers() {
        let status = Status {
            pid: 1,
            state: "paused".into(),
            position: 12.4,
            duration: Some(200.0),
            stream_position: 312.0,
            track: Track {
                index: 1,
                title: Some("Song".into()),
                artist: Some("Band".into()),
                album: None,
            },
            receivers: vec![ReceiverStatus {
                member: Member {
                    name: Some("Kitchen".into()),
                    id: None,
                    address: SocketAddr::from(([10, 0, 0, 2], 5000)),
                    label: "Kitchen (10.0.0.2:5000)".into(),
                },
                index: 0,
                state: "paused".into(),
                volume: Some(40),
                packets_sent: 1234,
                resent: 3,
                failure: None,
            }],
        };
        assert_eq!(
            status_text(&status),
            "paused 0:12 / 3:20  \"Song\" by Band (track 2)\n  Kitchen (10.0.0.2:5000): paused, volume 40, 1234 packets sent, 3 resent"
        );
    }
}
