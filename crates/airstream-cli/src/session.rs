//! `airstream session`: a long-running player for integrations. JSON-lines commands on
//! stdin, JSON-lines events on stdout (schema in docs/session.md). The stream starts with
//! the first item enqueued and plays a gapless queue; it ends at `stop`, at a signal, or
//! at the end of stdin once the queue has played.

use crate::ipc::{self, Control, Member};
use crate::stream::{self, CodecArg};
use crate::target::TargetArgs;
use airstream::raop::{self, StreamOptions, StreamReport};
use airstream_audio::{Metadata, PcmFormat, Queue, QueueItem, QueueTimeline, Source};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Write as _;
use std::time::Duration;
use tokio::sync::mpsc;

/// No `Debug`: it holds the password.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// What the audio packets carry (default: compressed ALAC where the receiver takes ALAC).
    #[arg(long, value_enum)]
    codec: Option<CodecArg>,
    #[command(flatten)]
    protocol: stream::ProtocolArgs,
    /// End-to-end latency in milliseconds, 250–10000 (default: the config file's, else 2000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(250..=10_000))]
    latency: Option<u64>,
    /// Volume 0–100 every receiver starts at; left unchanged when not given.
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(0..=100))]
    volume: Option<u8>,
    /// Password of a protected receiver (default: the config file's password_command).
    #[arg(long, env = "AIRSTREAM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

/// One command line on stdin.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "lowercase", deny_unknown_fields)]
enum Command {
    /// Adds a file, URL or `-` to the queue (the first one starts the stream).
    Enqueue {
        source: String,
    },
    Play,
    Pause,
    Resume,
    /// `receiver`: an index, name, id or address; all receivers when absent.
    Volume {
        level: u8,
        #[serde(default)]
        receiver: Option<Value>,
    },
    Metadata {
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        artist: Option<String>,
        #[serde(default)]
        album: Option<String>,
        #[serde(default)]
        artwork: Option<std::path::PathBuf>,
    },
    Stop,
    /// Continues the item playing from `position` seconds into it.
    Seek {
        #[serde(default)]
        position: Option<f64>,
    },
    /// Ends the item playing; the next one starts at once.
    Skip,
    Add {
        #[serde(default)]
        receiver: Option<Value>,
    },
    Remove {
        #[serde(default)]
        receiver: Option<Value>,
    },
}

/// Writes one event per line on stdout, flushed at once (the reader acts on each).
pub(crate) fn emit(event: &Value) {
    let mut out = std::io::stdout().lock();
    // A reader that went away is no reason to stop the music: the stream goes on.
    let _ = writeln!(out, "{event}");
    let _ = out.flush();
}

pub(crate) fn error_event(
    kind: &str,
    message: &str,
    exit_code: Option<u8>,
    command: Option<&str>,
) -> Value {
    json!({
        "event": "error",
        "kind": kind,
        "message": message,
        "exit_code": exit_code,
        "command": command,
    })
}

/// `enqueue "-"`: stdin carries the commands, it cannot carry audio too.
fn stdin_refused() -> Value {
    error_event(
        "input",
        "`-` (stdin) cannot be enqueued: stdin carries the commands; give a file or a URL",
        None,
        Some("enqueue"),
    )
}

/// The error event for an error that ends the session, with its exit code.
fn fatal_event(error: &anyhow::Error) -> Value {
    let kind = error
        .chain()
        .find_map(|e| e.downcast_ref::<airstream::Error>())
        .map_or_else(|| "internal".to_string(), |e| kind_name(e.kind()));
    error_event(
        &kind,
        &crate::failure::message(error),
        Some(crate::failure::exit_code(error)),
        None,
    )
}

pub(crate) fn kind_name(kind: airstream::ErrorKind) -> String {
    format!("{kind:?}")
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let lower = c.to_ascii_lowercase();
            if c.is_ascii_uppercase() && i > 0 {
                vec!['_', lower]
            } else {
                vec![lower]
            }
        })
        .collect()
}

/// Reads stdin line by line; the channel closes at its end.
fn read_commands() -> mpsc::Receiver<Result<Command, String>> {
    let (tx, rx) = mpsc::channel(16);
    // A thread of its own: reading stdin blocks. It ends with stdin or with the session.
    let reader = std::thread::Builder::new()
        .name("airstream-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { return };
                if line.trim().is_empty() {
                    continue;
                }
                let parsed = serde_json::from_str::<Command>(&line).map_err(|e| {
                    let shown: String = line.chars().take(200).collect();
                    format!("not a command: {e}: {shown}")
                });
                if tx.blocking_send(parsed).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = reader {
        tracing::warn!("cannot read stdin: {e}");
    }
    rx
}

pub(crate) async fn run(mut args: Args) -> anyhow::Result<()> {
    match session(&mut args).await {
        Ok(()) => Ok(()),
        Err(e) => {
            if e.downcast_ref::<crate::signals::Interrupted>().is_none() {
                emit(&fatal_event(&e));
            }
            Err(e)
        }
    }
}

async fn session(args: &mut Args) -> anyhow::Result<()> {
    // From the start (before `ready`) a signal ends the session cleanly: at once while idle, through the
    // stream's stop (TEARDOWN) once it runs.
    let (signalled, mut signal) = tokio::sync::watch::channel(false);
    let signals = crate::signals::watch(move || {
        let _ = signalled.send(true);
    })?;
    let config = crate::config::Config::load()?;
    let codec_asked = args.codec.or(config.codec()?);
    let latency = Duration::from_millis(
        args.latency
            .or(config.latency)
            .unwrap_or(stream::DEFAULT_LATENCY_MS),
    );
    let forced = stream::forced(args.protocol)?;
    let mut targets = args.target.resolve_all(stream::service_for(forced)).await?;
    let routes = stream::routes_for(&mut targets, codec_asked, false, forced)?;
    let codec = stream::group_codec(&targets, &routes, codec_asked)?;
    let may_want_password = targets
        .iter()
        .zip(&routes)
        .any(|(t, r)| r.auth.password || !t.discovered);
    if args.password.is_none() && may_want_password {
        args.password = config.password()?;
    }
    let members: Vec<Member> = targets.iter().map(Member::of).collect();
    emit(&json!({"event": "ready", "receivers": members}));

    let mut commands = read_commands();
    let mut volumes = vec![args.volume; targets.len()];
    let mut tags = Metadata::default();
    // Idle: wait for the first item that opens.
    let (first, first_name) = loop {
        let next = tokio::select! {
            next = commands.recv() => next,
            _ = signal.changed() => {
                emit(&json!({"event": "finished", "report": null}));
                signals.check()?;
                continue;
            }
        };
        let Some(command) = next else {
            emit(&json!({"event": "finished", "report": null}));
            return Ok(());
        };
        let command = match command {
            Ok(c) => c,
            Err(message) => {
                emit(&error_event("input", &message, None, None));
                continue;
            }
        };
        match command {
            Command::Enqueue { source } if source == "-" => emit(&stdin_refused()),
            Command::Enqueue { source } => {
                let opening = Source::from_arg(&source);
                match tokio::task::spawn_blocking(move || opening.open(PcmFormat::RAOP)).await {
                    Ok(Ok(pcm)) => {
                        emit(&json!({"event": "enqueued", "index": 0, "source": source}));
                        break (pcm, source);
                    }
                    Ok(Err(e)) => {
                        emit(&error_event("input", &e.to_string(), None, Some("enqueue")));
                    }
                    Err(e) => anyhow::bail!(airstream::Error::internal("opening failed", e)),
                }
            }
            Command::Volume { level, receiver } => {
                match volume_target(&members, receiver.as_ref(), level) {
                    Ok(None) => volumes.iter_mut().for_each(|v| *v = Some(level)),
                    Ok(Some(index)) => volumes[index] = Some(level),
                    Err(message) => {
                        emit(&error_event("input", &message, None, Some("volume")));
                        continue;
                    }
                }
                emit(&json!({"event": "volume", "level": level, "receiver": receiver}));
            }
            Command::Metadata { .. } => match metadata_of(command) {
                Ok(new) => tags = new,
                Err(message) => emit(&error_event("input", &message, None, Some("metadata"))),
            },
            Command::Stop => {
                emit(&json!({"event": "finished", "report": null}));
                return Ok(());
            }
            _ => emit(&error_event(
                "state",
                "nothing plays yet: enqueue a source first",
                None,
                None,
            )),
        }
    };

    // Playing: the queue takes later items through a channel.
    let (items, queued) = std::sync::mpsc::channel::<QueueItem>();
    let first_item = QueueItem::opened(first_name, first).with_tags(tags.clone());
    let queue = tokio::task::spawn_blocking(move || {
        Queue::new(
            PcmFormat::RAOP,
            std::iter::once(first_item).chain(queued),
            crate::queue::PREFETCH,
        )
    })
    .await
    .map_err(|e| airstream::Error::internal("the queue could not be opened", e))?
    .map_err(airstream::Error::from)?
    .idle_silence(true);
    let mut timeline = queue.timeline();
    let mut options = StreamOptions::for_route(&routes[0]);
    options.codec = codec;
    options.latency = latency;
    options.metadata = Some(tags.clone());
    let settings = stream::ReceiverSettings {
        volume: None,
        password: args.password.clone(),
        legacy: None,
        hap: None,
    };
    let receivers = targets
        .iter()
        .zip(&routes)
        .zip(&volumes)
        .map(|((target, route), volume)| {
            let mut receiver = stream::receiver_for(target, route, &settings)?;
            receiver.volume = *volume;
            Ok(receiver)
        })
        .collect::<Result<Vec<_>, airstream::Error>>()?;
    // A signal during the setup cancels it (TEARDOWN to every receiver with a session).
    let cancelled = {
        let mut signal = signal.clone();
        async move {
            if signal.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let started = raop::start_group_until(receivers, Box::new(queue), options, cancelled).await;
    let (handle, task) = match started {
        Ok(started) => started,
        Err(airstream::Error::Cancelled) => {
            emit(&json!({"event": "finished", "report": null}));
            return Ok(signals.check()?);
        }
        Err(e) => return Err(stream::pair_by_id(e, &targets[0]).into()),
    };
    let control = Control::new(
        handle.clone(),
        members.clone(),
        volumes,
        crate::queue::track_at(timeline.clone()),
    );
    let _listening = ipc::serve(control.clone())?;
    emit(&json!({"event": "started", "latency_ms": handle.latency().as_millis()}));

    let mut playing = Playing {
        control,
        timeline: timeline.clone(),
        items: Some(items),
        next_index: 1,
        last_state: None,
        last_track: None,
        joins: crate::session_members::JoinSettings {
            codec: codec_asked,
            password: args.password.clone(),
            volume: args.volume,
        },
        last_receivers: Vec::new(),
    };
    let mut progress = handle.progress();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut reading = true;
    let mut stopping = false;
    tokio::pin!(task);
    let result = loop {
        tokio::select! {
            result = &mut task => break result,
            changed = progress.changed() => {
                if changed.is_err() {
                    // The stream is over; its task says how.
                    break (&mut task).await;
                }
                playing.follow();
            }
            _ = ticker.tick() => {
                playing.follow();
                playing.position();
                for failure in timeline.take_failures() {
                    emit(&json!({"event": "warning", "message": failure}));
                }
            }
            _ = signal.changed(), if !stopping => {
                // Once: the sender is gone after the first signal.
                stopping = true;
                handle.stop();
            }
            command = commands.recv(), if reading => match command {
                None => {
                    reading = false;
                    // The queue ends once what it holds has played.
                    playing.items = None;
                    emit(&json!({"event": "input_closed"}));
                }
                Some(Err(message)) => emit(&error_event("input", &message, None, None)),
                Some(Ok(command)) => playing.obey(command),
            }
        }
    };
    playing.follow();
    let report = result?;
    emit(&finished_event(&report, latency));
    Ok(signals.check()?)
}

fn finished_event(report: &StreamReport, asked: Duration) -> Value {
    json!({"event": "finished", "report": stream::report_json(report, asked)})
}

/// A receiver named by index, name, id or address; `None` for all.
fn volume_target(
    members: &[Member],
    receiver: Option<&Value>,
    level: u8,
) -> Result<Option<usize>, String> {
    if level > 100 {
        return Err(format!("volume must be 0-100, not {level}"));
    }
    match receiver {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < members.len())
            .map(Some)
            .ok_or_else(|| format!("no receiver {n}: there are {}", members.len())),
        Some(Value::String(name)) => members
            .iter()
            .position(|m| m.is_named(name))
            .map(Some)
            .ok_or_else(|| format!("no receiver named {name:?} in this session")),
        Some(other) => Err(format!("receiver must be an index or a name, not {other}")),
    }
}

/// The tags a `metadata` command gives (its artwork read from the file).
fn metadata_of(command: Command) -> Result<Metadata, String> {
    let Command::Metadata {
        title,
        artist,
        album,
        artwork,
    } = command
    else {
        return Err("not a metadata command".into());
    };
    let artwork = artwork
        .as_deref()
        .map(stream::read_artwork)
        .transpose()
        .map_err(|e| crate::failure::message(&e))?;
    Ok(Metadata {
        title,
        artist,
        album,
        artwork,
        duration: None,
    })
}

/// The session while its stream runs.
struct Playing {
    control: Control,
    timeline: QueueTimeline,
    /// Closed at the end of stdin: the queue then ends after its last item.
    items: Option<std::sync::mpsc::Sender<QueueItem>>,
    next_index: usize,
    last_state: Option<String>,
    last_track: Option<usize>,
    /// How receivers added with `add` are set up.
    joins: crate::session_members::JoinSettings,
    /// Each receiver's state as last reported.
    last_receivers: Vec<String>,
}

impl Playing {
    /// Emits `state` and `track` events for what changed since the last call.
    fn follow(&mut self) {
        let status = self.control.status();
        crate::session_members::receiver_events(&status, &mut self.last_receivers);
        if self.last_state.as_deref() != Some(status.state.as_str()) {
            emit(&json!({"event": "state", "state": status.state}));
            self.last_state = Some(status.state.clone());
        }
        let Some(track) = self.timeline.track_at(status_frames(&self.control)) else {
            return;
        };
        if self.last_track != Some(track.index) {
            self.last_track = Some(track.index);
            emit(&json!({
                "event": "track",
                "index": track.index,
                "source": track.name,
                "title": track.metadata.title,
                "artist": track.metadata.artist,
                "album": track.metadata.album,
                "duration": track.metadata.duration.map(|d| d.as_secs_f64()),
            }));
        }
    }

    /// The once-a-second `position` event, while playing.
    fn position(&self) {
        let status = self.control.status();
        if status.state == "playing" {
            emit(&json!({
                "event": "position",
                "position": status.position,
                "duration": status.duration,
                "track": status.track.index,
                "stream_position": status.stream_position,
                "receivers": status.receivers.iter().map(|r| json!({
                    "index": r.index,
                    "state": r.state,
                    "volume": r.volume,
                    "packets_sent": r.packets_sent,
                    "resent": r.resent,
                })).collect::<Vec<_>>(),
            }));
        }
    }

    fn obey(&mut self, command: Command) {
        let members = &self.control.members()[..];
        let handle = &self.control.handle;
        match command {
            Command::Enqueue { source } if source == "-" => emit(&stdin_refused()),
            Command::Enqueue { source } => {
                let Some(items) = &self.items else {
                    return;
                };
                let item = QueueItem::source(Source::from_arg(&source));
                if items.send(item).is_ok() {
                    emit(&json!({"event": "enqueued", "index": self.next_index, "source": source}));
                    self.next_index += 1;
                } else {
                    emit(&error_event(
                        "state",
                        "the queue has ended",
                        None,
                        Some("enqueue"),
                    ));
                }
            }
            Command::Play | Command::Resume => handle.resume(),
            Command::Pause => handle.pause(),
            Command::Stop => handle.stop(),
            Command::Volume { level, receiver } => {
                let set = volume_target(members, receiver.as_ref(), level)
                    .and_then(|index| self.control.set_volume(level, index));
                match set {
                    Ok(()) => {
                        emit(&json!({"event": "volume", "level": level, "receiver": receiver}));
                    }
                    Err(message) => emit(&error_event("input", &message, None, Some("volume"))),
                }
            }
            command @ Command::Metadata { .. } => match metadata_of(command) {
                Ok(tags) => {
                    handle.set_metadata(tags.clone());
                    emit(
                        &json!({"event": "metadata", "title": tags.title, "artist": tags.artist, "album": tags.album}),
                    );
                }
                Err(message) => emit(&error_event("input", &message, None, Some("metadata"))),
            },
            Command::Add { receiver } => {
                crate::session_members::add(&self.control, &self.joins, receiver.as_ref());
            }
            Command::Remove { receiver } => match volume_target(members, receiver.as_ref(), 0) {
                Ok(Some(index)) => {
                    crate::session_members::remove(&self.control, members[index].address, receiver);
                }
                Ok(None) => emit(&error_event(
                    "input",
                    "remove needs a receiver: an index, name, id or address",
                    None,
                    Some("remove"),
                )),
                Err(message) => emit(&error_event("input", &message, None, Some("remove"))),
            },
            Command::Seek { position } => self.seek(position),
            Command::Skip => self.skip(),
        }
    }

    /// `seek`: the item playing continues from `position` seconds into it; `seeked` once
    /// it does, or an `error` (a pipe or stdin cannot seek, nor an item already read to its
    /// end).
    fn seek(&self, position: Option<f64>) {
        let Some(seconds) = position.filter(|p| p.is_finite() && *p >= 0.0) else {
            let message = "seek needs a \"position\" in seconds, 0 or more";
            emit(&error_event("input", message, None, Some("seek")));
            return;
        };
        let progress = self.control.handle.progress().borrow().clone();
        let Some(track) = self.timeline.track_at(progress.position_frames) else {
            emit(&error_event(
                "state",
                "nothing plays yet",
                None,
                Some("seek"),
            ));
            return;
        };
        // An absurd position saturates and is refused by the source as beyond its end.
        let into_track = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        let target = progress.in_track(track.start_frame, into_track);
        let handle = self.control.handle.clone();
        // Answered once the source is there (a moment); commands go on meanwhile.
        tokio::spawn(async move {
            match handle.seek(target).await {
                Ok(()) => emit(&json!({
                    "event": "seeked",
                    "position": seconds,
                    "track": track.index,
                })),
                Err(e) => emit(&error_event(
                    &kind_name(e.kind()),
                    &e.to_string_with_causes(),
                    None,
                    Some("seek"),
                )),
            }
        });
    }

    /// `skip`: the item playing ends, the next one starts at once; `skipped` once it does
    /// (a `track` event follows when it plays), or an `error`.
    fn skip(&self) {
        let skipped = self
            .timeline
            .track_at(status_frames(&self.control))
            .map(|t| t.index);
        let handle = self.control.handle.clone();
        tokio::spawn(async move {
            match handle.skip().await {
                Ok(()) => emit(&json!({"event": "skipped", "track": skipped})),
                Err(e) => emit(&error_event(
                    &kind_name(e.kind()),
                    &e.to_string_with_causes(),
                    None,
                    Some("skip"),
                )),
            }
        });
    }
}

/// Where the stream is in its queue, in frames: what the receivers play now.
fn status_frames(control: &Control) -> u64 {
    control.handle.progress().borrow().position_frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_from_json_lines() {
        let parse = |line: &str| serde_json::from_str::<Command>(line).map_err(|e| e.to_string());
        assert_eq!(
            parse(r#"{"cmd":"enqueue","source":"a.flac"}"#),
            Ok(Command::Enqueue {
                source: "a.flac".into()
            })
        );
        assert_eq!(
            parse(r#"{"cmd":"volume","level":40,"receiver":1}"#),
            Ok(Command::Volume {
                level: 40,
                receiver: Some(json!(1))
            })
        );
        assert_eq!(parse(r#"{"cmd":"pause"}"#), Ok(Command::Pause));
        assert!(parse(r#"{"cmd":"dance"}"#).is_err());
        assert!(parse(r#"{"cmd":"volume","level":400}"#).is_err());
        assert_eq!(
            parse(r#"{"cmd":"seek","position":5}"#),
            Ok(Command::Seek {
                position: Some(5.0)
            })
        );
        assert_eq!(parse(r#"{"cmd":"skip"}"#), Ok(Command::Skip));
    }

    #[test]
    fn a_volume_names_a_receiver_by_index_or_name() {
        let members = vec![
            Member {
                name: Some("Kitchen".into()),
                id: None,
                address: std::net::SocketAddr::from(([10, 0, 0, 2], 5000)),
                label: "Kitchen".into(),
            },
            Member {
                name: None,
                id: None,
                address: std::net::SocketAddr::from(([10, 0, 0, 3], 5000)),
                label: "10.0.0.3:5000".into(),
            },
        ];
        assert_eq!(volume_target(&members, None, 10), Ok(None));
        assert_eq!(volume_target(&members, Some(&json!(1)), 10), Ok(Some(1)));
        assert_eq!(
            volume_target(&members, Some(&json!("kitchen")), 10),
            Ok(Some(0))
        );
        assert_eq!(
            volume_target(&members, Some(&json!("10.0.0.3")), 10),
            Ok(Some(1))
        );
        assert!(volume_target(&members, Some(&json!(2)), 10).is_err());
        assert!(volume_target(&members, Some(&json!("Lounge")), 10).is_err());
        assert_eq!(kind_name(airstream::ErrorKind::DeviceBusy), "device_busy");
    }
}
