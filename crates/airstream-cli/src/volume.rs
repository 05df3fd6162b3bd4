//! `airstream volume`, `pause`, `resume`, `seek`, `stop`, `status`: control a running stream
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

#[derive(Debug, clap::Args)]
pub(crate) struct SeekArgs {
    /// A receiver the stream plays on, named as for `airstream stream`.
    #[command(flatten)]
    target: TargetArgs,
    /// Where to continue: seconds (`83`, `83.5`), `M:SS` or `H:MM:SS` (`1:23`, `1:02:03.5`).
    #[arg(value_parser = parse_position)]
    position: f64,
}

/// A position as seconds, `M:SS` or `H:MM:SS` (the last part may have decimals).
fn parse_position(text: &str) -> Result<f64, String> {
    let bad = || format!("not a position: {text:?} (seconds, M:SS or H:MM:SS)");
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return Err(bad());
    }
    let (last, whole) = parts.split_last().ok_or_else(bad)?;
    let seconds: f64 = last.parse().map_err(|_| bad())?;
    if !seconds.is_finite() || seconds < 0.0 || (!whole.is_empty() && seconds >= 60.0) {
        return Err(bad());
    }
    whole
        .iter()
        .try_fold(0u64, |sum, part| {
            let n: u64 = part.parse().map_err(|_| bad())?;
            if sum > 0 && n >= 60 || part.is_empty() {
                return Err(bad());
            }
            Ok(sum * 60 + n)
        })
        .map(|minutes| minutes as f64 * 60.0 + seconds)
}

/// `airstream seek`: the stream continues from the position, or says why it cannot (a
/// pipe or stdin cannot seek).
pub(crate) async fn seek(args: SeekArgs) -> anyhow::Result<()> {
    send(&args.target, &format!("seek {}", args.position)).await
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
            "\n  {}: {}, {volume}",
            receiver.member.label, receiver.state
        );
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

    #[test]
    fn positions_are_seconds_or_minutes_and_seconds() {
        assert_eq!(parse_position("83"), Ok(83.0));
        assert_eq!(parse_position("83.5"), Ok(83.5));
        assert_eq!(parse_position("1:23"), Ok(83.0));
        assert_eq!(parse_position("1:02:03.5"), Ok(3723.5));
        assert_eq!(parse_position("0:05"), Ok(5.0));
        for bad in [
            "", "-1", "1:60", "1:75:00", "a:10", "1::2", "1:2:3:4", "inf", "NaN",
        ] {
            assert!(parse_position(bad).is_err(), "{bad:?}");
        }
    }
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
            }],
        };
        assert_eq!(
            status_text(&status),
            "paused 0:12 / 3:20  \"Song\" by Band (track 2)\n  Kitchen (10.0.0.2:5000): paused, volume 40"
        );
    }
}
