//! Talking to a running stream from another process (`airstream volume`, `pause`, `status`…).
//!
//! A stream listens on one Unix socket per receiver, `<address>.sock` in a per-user
//! directory (mode 0700, see [`runtime_dir`]), each serving the whole stream. It takes one
//! command per line and answers one line:
//! - `volume LEVEL` (every receiver), `volume LEVEL INDEX` (one receiver of a group),
//!   `pause`, `resume`, `stop`, `seek SECONDS` (into the track playing), `skip` → `ok` or
//!   `error: …`;
//! - `status` → one JSON object ([`Status`]).
//!
//! The control commands find a stream by asking every socket in the directory for its
//! status and matching any member's name, id or address; so a group is controlled through
//! any of its receivers, without mDNS.

use airstream::raop::{ReceiverState, StreamHandle, StreamState};
use airstream_audio::Metadata;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// `$AIRSTREAM_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/airstream`, else `/tmp/airstream-<uid>`.
pub(crate) fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AIRSTREAM_RUNTIME_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("airstream");
    }
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    std::env::temp_dir().join(format!("airstream-{uid}"))
}

fn socket_path(receiver: SocketAddr) -> PathBuf {
    let name: String = receiver
        .to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    runtime_dir().join(format!("{name}.sock"))
}

/// One receiver of a stream, as the control socket describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Member {
    /// Its mDNS name (absent for one given by `--address`).
    pub(crate) name: Option<String>,
    /// Its device id (MAC), when discovery told.
    pub(crate) id: Option<String>,
    pub(crate) address: SocketAddr,
    /// How messages name it.
    pub(crate) label: String,
}

impl Member {
    pub(crate) fn of(target: &crate::target::Target) -> Self {
        Self {
            name: target.discovered.then(|| target.device.name.clone()),
            id: target
                .discovered
                .then(|| target.device.id.clone())
                .flatten(),
            address: target.addr,
            label: target.label.clone(),
        }
    }

    /// Whether `query` (a `--device` or `--address` value) names this receiver: its name
    /// (any case), its id (any case), its address, or its IP address alone.
    pub(crate) fn is_named(&self, query: &str) -> bool {
        let query = query.trim();
        self.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(query))
            || self
                .id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(query))
            || query.parse::<SocketAddr>() == Ok(self.address)
            || query.parse::<std::net::IpAddr>() == Ok(self.address.ip())
    }
}

/// What `status` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Status {
    /// The streaming process.
    pub(crate) pid: u32,
    /// `starting`, `playing`, `paused`, `ending` or `finished`.
    pub(crate) state: String,
    /// Seconds into the current track.
    pub(crate) position: f64,
    /// Length of the current track in seconds, when known.
    pub(crate) duration: Option<f64>,
    /// Seconds of audio played since the stream started (all tracks).
    pub(crate) stream_position: f64,
    pub(crate) track: Track,
    pub(crate) receivers: Vec<ReceiverStatus>,
}

/// The track playing: its place in the queue and its tags.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct Track {
    /// 0 for the first item of the stream's queue.
    pub(crate) index: usize,
    pub(crate) title: Option<String>,
    pub(crate) artist: Option<String>,
    pub(crate) album: Option<String>,
}

/// One receiver in [`Status`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReceiverStatus {
    #[serde(flatten)]
    pub(crate) member: Member,
    /// Its index in the group (what `volume LEVEL INDEX` takes).
    pub(crate) index: usize,
    /// Its own state: `connecting`, `streaming`, `paused`, `ended` (its session ended
    /// while paused; it rejoins on resume), `dropped`, `removed` or `finished`.
    pub(crate) state: String,
    /// The volume last set (flag or control), `None` while it is the receiver's own.
    pub(crate) volume: Option<u8>,
    /// Audio packets sent to it.
    #[serde(default)]
    pub(crate) packets_sent: u64,
    /// Packets resent because it asked.
    #[serde(default)]
    pub(crate) resent: u64,
    /// Why it dropped out, if it did.
    #[serde(default)]
    pub(crate) failure: Option<String>,
}

/// The word for a receiver's state in [`Status`] and the session's events.
pub(crate) fn receiver_state_name(state: ReceiverState) -> &'static str {
    match state {
        ReceiverState::Connecting => "connecting",
        ReceiverState::Streaming => "streaming",
        ReceiverState::Paused => "paused",
        ReceiverState::Ended => "ended",
        ReceiverState::Dropped => "dropped",
        ReceiverState::Removed => "removed",
        ReceiverState::Finished => "finished",
    }
}

/// The word for a stream state in [`Status`] and the session's events.
pub(crate) fn state_name(state: StreamState) -> &'static str {
    match state {
        StreamState::Starting => "starting",
        StreamState::Streaming => "playing",
        StreamState::Paused => "paused",
        StreamState::Draining => "ending",
        StreamState::Finished => "finished",
    }
}

/// Which track plays at a frame of the stream: its index, the frame it started at, its tags.
pub(crate) type TrackAt = Arc<dyn Fn(u64) -> (usize, u64, Metadata) + Send + Sync>;

/// Everything a control socket needs to answer for one stream.
#[derive(Clone)]
pub(crate) struct Control {
    pub(crate) handle: StreamHandle,
    /// Grows as receivers are added (their index is their place).
    members: Arc<Mutex<Vec<Member>>>,
    volumes: Arc<Mutex<Vec<Option<u8>>>>,
    track_at: TrackAt,
}

impl Control {
    /// `volumes`: the level each receiver starts at (`None`: left as it is).
    pub(crate) fn new(
        handle: StreamHandle,
        members: Vec<Member>,
        volumes: Vec<Option<u8>>,
        track_at: TrackAt,
    ) -> Self {
        Self {
            handle,
            members: Arc::new(Mutex::new(members)),
            volumes: Arc::new(Mutex::new(volumes)),
            track_at,
        }
    }

    /// A [`TrackAt`] for a stream of one item with these tags.
    pub(crate) fn single_track(metadata: Metadata) -> TrackAt {
        Arc::new(move |_| (0, 0, metadata.clone()))
    }

    /// Every receiver, in order (added ones last; removed ones stay, with their state).
    pub(crate) fn members(&self) -> Vec<Member> {
        self.members.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// A receiver added to the running stream, at `volume`.
    pub(crate) fn add_member(&self, member: Member, volume: Option<u8>) {
        if let (Ok(mut members), Ok(mut volumes)) = (self.members.lock(), self.volumes.lock()) {
            members.push(member);
            volumes.push(volume);
        }
    }

    /// Sets the volume of every receiver (`None`) or of one (by its index).
    pub(crate) fn set_volume(&self, level: u8, receiver: Option<usize>) -> Result<(), String> {
        if level > 100 {
            return Err(format!("volume must be 0-100, not {level}"));
        }
        let mut volumes = self.volumes.lock().map_err(|_| "volume state lost")?;
        match receiver {
            None => {
                self.handle.set_volume(level);
                volumes.iter_mut().for_each(|v| *v = Some(level));
            }
            Some(index) => {
                let slot = volumes.get_mut(index).ok_or_else(|| {
                    format!(
                        "no receiver {index} in this stream (it has {})",
                        self.members().len()
                    )
                })?;
                *slot = Some(level);
                self.handle.set_receiver_volume(index, level);
            }
        }
        Ok(())
    }

    pub(crate) fn status(&self) -> Status {
        let progress = self.handle.progress().borrow().clone();
        let rate = f64::from(progress.sample_rate.max(1));
        // What the receivers play now, moved by seeks and skips.
        let (index, start, metadata) = (self.track_at)(progress.position_frames);
        let state = state_name(progress.state).to_string();
        let volumes = self.volumes.lock().map(|v| v.clone()).unwrap_or_default();
        Status {
            pid: std::process::id(),
            state: state.clone(),
            position: progress.position_frames.saturating_sub(start) as f64 / rate,
            duration: metadata
                .duration
                .or(progress.duration.filter(|_| index == 0))
                .map(|d| d.as_secs_f64()),
            stream_position: progress.position_frames as f64 / rate,
            track: Track {
                index,
                title: metadata.title,
                artist: metadata.artist,
                album: metadata.album,
            },
            receivers: {
                let live = self.handle.receivers().borrow().clone();
                self.members()
                    .into_iter()
                    .enumerate()
                    .map(|(i, member)| {
                        let now = live.iter().find(|r| r.position == i);
                        ReceiverStatus {
                            member,
                            index: i,
                            state: now.map_or_else(
                                || "connecting".to_string(),
                                |r| receiver_state_name(r.state).to_string(),
                            ),
                            volume: volumes
                                .get(i)
                                .copied()
                                .flatten()
                                .or(now.and_then(|r| r.volume)),
                            packets_sent: now.map_or(0, |r| r.packets_sent),
                            resent: now.map_or(0, |r| r.resent),
                            failure: now.and_then(|r| r.failure.clone()),
                        }
                    })
                    .collect()
            },
        }
    }
}

/// Removes the socket files when the stream ends.
pub(crate) struct Listening {
    paths: Vec<PathBuf>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Serves commands for the stream, one socket per receiver, until the guard drops.
pub(crate) fn serve(control: Control) -> anyhow::Result<Listening> {
    let dir = runtime_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut paths = Vec::new();
    let mut listeners = Vec::new();
    for member in control.members() {
        let path = socket_path(member.address);
        // A socket left by a crashed stream would refuse the bind.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        paths.push(path);
        listeners.push(listener);
    }
    let task = tokio::spawn(async move {
        let mut accepting = tokio::task::JoinSet::new();
        for listener in listeners {
            let control = control.clone();
            accepting.spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let control = control.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, &control).await {
                            tracing::debug!("control connection: {e}");
                        }
                    });
                }
            });
        }
        while accepting.join_next().await.is_some() {}
    });
    Ok(Listening { paths, task })
}

async fn answer(stream: UnixStream, control: &Control) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["seek", seconds] => seek_reply(seconds, control).await,
            ["skip"] => match control.handle.skip().await {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("error: {}", e.to_string_with_causes()),
            },
            _ => reply_to(&line, control),
        };
        write.write_all(format!("{reply}\n").as_bytes()).await?;
    }
    Ok(())
}

/// The answer to `seek SECONDS` (into the track playing): once the source is at the new
/// position, or why it cannot.
async fn seek_reply(seconds: &str, control: &Control) -> String {
    let Some(into_track) = seconds
        .parse::<f64>()
        .ok()
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
    else {
        return format!("error: not a position in seconds: {seconds:?}");
    };
    let progress = control.handle.progress().borrow().clone();
    let (_, track_start, _) = (control.track_at)(progress.position_frames);
    let position = progress.in_track(track_start, into_track);
    match control.handle.seek(position).await {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("error: {}", e.to_string_with_causes()),
    }
}

/// The answer to one command line.
fn reply_to(line: &str, control: &Control) -> String {
    let done = |result: Result<(), String>| match result {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("error: {e}"),
    };
    let level = |text: &str| {
        text.parse::<u8>()
            .ok()
            .filter(|l| *l <= 100)
            .ok_or_else(|| format!("volume must be 0-100, not {text:?}"))
    };
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["volume", l] => done(level(l).and_then(|l| control.set_volume(l, None))),
        ["volume", l, index] => done(level(l).and_then(|l| {
            let index = index
                .parse::<usize>()
                .map_err(|_| format!("not a receiver index: {index:?}"))?;
            control.set_volume(l, Some(index))
        })),
        ["stop"] => {
            control.handle.stop();
            "ok".to_string()
        }
        ["pause"] => {
            control.handle.pause();
            "ok".to_string()
        }
        ["resume"] => {
            control.handle.resume();
            "ok".to_string()
        }
        ["status"] => serde_json::to_string(&control.status())
            .unwrap_or_else(|e| format!("error: cannot describe the stream: {e}")),
        _ => format!("error: unknown command {line:?}"),
    }
}

/// A running stream found through its control socket.
pub(crate) struct Found {
    socket: PathBuf,
    pub(crate) status: Status,
    /// The index of the receiver the query named.
    pub(crate) receiver: usize,
}

impl Found {
    /// Sends one command and returns the answer (`ok`, or the status JSON).
    pub(crate) async fn send(&self, command: &str) -> anyhow::Result<String> {
        let reply = exchange(&self.socket, command).await.with_context(|| {
            format!(
                "the stream on {} stopped answering",
                self.status.receivers[self.receiver].member.label
            )
        })?;
        match reply.strip_prefix("error: ") {
            Some(message) => Err(airstream::Error::InvalidInput(message.to_string()).into()),
            None => Ok(reply),
        }
    }
}

/// How long a stream may take to answer one command: it answers from memory at once, so
/// only a hung (stopped, traced) process takes longer, and it is passed over.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn exchange(socket: &Path, command: &str) -> std::io::Result<String> {
    tokio::time::timeout(ANSWER_TIMEOUT, exchange_now(socket, command))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

async fn exchange_now(socket: &Path, command: &str) -> std::io::Result<String> {
    let stream = UnixStream::connect(socket).await?;
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{command}\n").as_bytes()).await?;
    let mut lines = BufReader::new(read).lines();
    lines
        .next_line()
        .await?
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
}

/// Every stream that answers on a socket in the runtime directory (one entry per stream,
/// whichever of its sockets answered first).
pub(crate) async fn running() -> Vec<(PathBuf, Status)> {
    let dir = runtime_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut sockets: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sock"))
        .collect();
    sockets.sort();
    let mut found: Vec<(PathBuf, Status)> = Vec::new();
    for socket in sockets {
        // A socket left behind by a killed process refuses the connection: skip it.
        let Ok(reply) = exchange(&socket, "status").await else {
            continue;
        };
        let Ok(status) = serde_json::from_str::<Status>(&reply) else {
            continue;
        };
        if !found.iter().any(|(_, s)| s.pid == status.pid) {
            found.push((socket, status));
        }
    }
    found
}

/// The stream one of whose receivers `query` names, among `streams`.
pub(crate) fn pick(streams: &[(PathBuf, Status)], query: &str) -> Option<Found> {
    streams.iter().find_map(|(socket, status)| {
        let receiver = status
            .receivers
            .iter()
            .position(|r| r.member.is_named(query))?;
        Some(Found {
            socket: socket.clone(),
            status: status.clone(),
            receiver,
        })
    })
}

/// The stream playing on `address` (a receiver found with mDNS by the caller).
pub(crate) fn pick_address(streams: &[(PathBuf, Status)], address: SocketAddr) -> Option<Found> {
    pick(streams, &address.to_string())
}

/// The "no stream" error: what was looked for and where.
pub(crate) fn not_found(query: &str, streams: &[(PathBuf, Status)], also: &str) -> anyhow::Error {
    let dir = runtime_dir();
    let seen = if streams.is_empty() {
        "no stream has a control socket there".to_string()
    } else {
        let labels: Vec<String> = streams
            .iter()
            .map(|(_, s)| {
                s.receivers
                    .iter()
                    .map(|r| r.member.label.clone())
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .collect();
        format!("the streams there play on {}", labels.join("; "))
    };
    airstream::Error::NotFound(format!(
        "no stream is running on {query:?}: looked for a receiver with that name, id or \
         address among the control sockets in {} ({seen}){also}; start one with \
         `airstream stream --device {query} …` (AIRSTREAM_RUNTIME_DIR moves the directory)",
        dir.display()
    ))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: Option<&str>, id: Option<&str>, address: &str) -> Member {
        Member {
            name: name.map(String::from),
            id: id.map(String::from),
            address: address.parse().unwrap_or_else(|e| panic!("{e}")),
            label: address.to_string(),
        }
    }

    #[test]
    fn a_receiver_is_named_by_name_id_address_or_ip() {
        let kitchen = member(Some("Kitchen"), Some("AA:BB:CC:DD:EE:FF"), "10.0.0.2:5000");
        assert!(kitchen.is_named("kitchen"));
        assert!(kitchen.is_named("aa:bb:cc:dd:ee:ff"));
        assert!(kitchen.is_named("10.0.0.2:5000"));
        assert!(kitchen.is_named("10.0.0.2"));
        assert!(!kitchen.is_named("10.0.0.2:5001"));
        assert!(!kitchen.is_named("Lounge"));
        let bare = member(None, None, "[::1]:7000");
        assert!(bare.is_named("::1"));
        assert!(bare.is_named("[::1]:7000"));
        assert!(!bare.is_named("kitchen"));
    }

    #[test]
    fn the_stream_is_picked_by_any_of_its_members() {
        let status = |pid, members: Vec<Member>| Status {
            pid,
            state: "playing".into(),
            position: 0.0,
            duration: None,
            stream_position: 0.0,
            track: Track::default(),
            receivers: members
                .into_iter()
                .enumerate()
                .map(|(index, member)| ReceiverStatus {
                    member,
                    index,
                    state: "streaming".into(),
                    volume: None,
                    packets_sent: 0,
                    resent: 0,
                    failure: None,
                })
                .collect(),
        };
        let streams = vec![
            (
                PathBuf::from("a.sock"),
                status(1, vec![member(Some("Bath"), None, "10.0.0.9:5000")]),
            ),
            (
                PathBuf::from("b.sock"),
                status(
                    2,
                    vec![
                        member(Some("Kitchen"), None, "10.0.0.2:5000"),
                        member(None, None, "10.0.0.3:5000"),
                    ],
                ),
            ),
        ];
        let found = pick(&streams, "10.0.0.3").unwrap_or_else(|| panic!("found"));
        assert_eq!((found.status.pid, found.receiver), (2, 1));
        let found = pick(&streams, "KITCHEN").unwrap_or_else(|| panic!("found"));
        assert_eq!((found.status.pid, found.receiver), (2, 0));
        assert!(pick(&streams, "Lounge").is_none());
        let message = not_found("Lounge", &streams, "").to_string();
        assert!(
            message.contains("10.0.0.9:5000; 10.0.0.2:5000 + 10.0.0.3:5000"),
            "{message}"
        );
    }
}
