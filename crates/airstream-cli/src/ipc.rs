//! Talking to a running `airstream stream` from another process (`airstream volume`): the
//! streaming process listens on a Unix socket named after the receiver, in a per-user
//! directory (mode 0700), and takes one-line commands.

use airstream::raop::StreamHandle;
use anyhow::Context;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// `$AIRSTREAM_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/airstream`, else `/tmp/airstream-<uid>`.
fn runtime_dir() -> PathBuf {
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

/// Removes the socket file when the stream ends.
pub(crate) struct Listening {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Serves commands for the stream to `receiver` until the returned guard drops.
pub(crate) fn serve(receiver: SocketAddr, handle: StreamHandle) -> anyhow::Result<Listening> {
    let dir = runtime_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let path = socket_path(receiver);
    // A socket left by a crashed stream would refuse the bind.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                if let Err(e) = answer(stream, &handle).await {
                    tracing::debug!("control connection: {e}");
                }
            });
        }
    });
    Ok(Listening { path, task })
}

async fn answer(stream: UnixStream, handle: &StreamHandle) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["volume", level] => match level.parse::<u8>() {
                Ok(level) if level <= 100 => {
                    handle.set_volume(level);
                    "ok".to_string()
                }
                _ => format!("error: volume must be 0-100, not {level:?}"),
            },
            ["stop"] => {
                handle.stop();
                "ok".to_string()
            }
            ["pause"] => {
                handle.pause();
                "ok".to_string()
            }
            ["resume"] => {
                handle.resume();
                "ok".to_string()
            }
            _ => format!("error: unknown command {line:?}"),
        };
        write.write_all(format!("{reply}\n").as_bytes()).await?;
    }
    Ok(())
}

/// Sends one command to the stream to `receiver` and returns its answer.
pub(crate) async fn send(receiver: SocketAddr, command: &str) -> anyhow::Result<()> {
    let path = socket_path(receiver);
    let stream = UnixStream::connect(&path).await.map_err(|_| {
        airstream::Error::NotFound(format!(
            "no stream to {receiver} is running (start one with `airstream stream --address {receiver} …`)"
        ))
    })?;
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{command}\n").as_bytes()).await?;
    let mut lines = BufReader::new(read).lines();
    let reply = lines.next_line().await?.unwrap_or_default();
    match reply.strip_prefix("error: ") {
        Some(message) => Err(airstream::Error::InvalidInput(message.to_string()).into()),
        None if reply == "ok" => Ok(()),
        None => anyhow::bail!("unexpected answer from the stream: {reply:?}"),
    }
}
