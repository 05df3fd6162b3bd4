//! `airstream stream`: play a file or stdin on a RAOP receiver.

use crate::{input, ipc, target};
use airstream::raop::{self, Codec, Encryption, StreamOptions, StreamState};
use airstream_audio::{Artwork, ArtworkKind, Metadata};
use anyhow::Context;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum CodecArg {
    /// ALAC frames holding uncompressed samples (plays everywhere ALAC does).
    AlacRaw,
    /// Raw 16-bit PCM (L16), announced without any ALAC line.
    Pcm,
}

impl From<CodecArg> for Codec {
    fn from(c: CodecArg) -> Self {
        match c {
            CodecArg::AlacRaw => Codec::AlacRaw,
            CodecArg::Pcm => Codec::Pcm,
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Receiver as HOST:PORT (the RAOP/RTSP port, e.g. 127.0.0.1:5000).
    #[arg(long)]
    address: String,
    /// What the audio packets carry.
    #[arg(long, value_enum, default_value = "alac-raw")]
    codec: CodecArg,
    /// End-to-end latency in milliseconds (at least 250).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(250..=10_000))]
    latency: u64,
    /// Receiver volume 0–100 (0 mutes); left unchanged when not given.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    volume: Option<u8>,
    /// Password of a protected receiver.
    #[arg(long, env = "AIRSTREAM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Encrypt the audio (RSA-wrapped AES, for receivers announcing et=1).
    #[arg(long)]
    encrypt: bool,
    /// Title to show on the receiver (overrides the file's tag).
    #[arg(long)]
    title: Option<String>,
    /// Artist to show (overrides the file's tag).
    #[arg(long)]
    artist: Option<String>,
    /// Album to show (overrides the file's tag).
    #[arg(long)]
    album: Option<String>,
    /// Cover art to show: a JPEG or PNG file (overrides the file's own).
    #[arg(long)]
    artwork: Option<std::path::PathBuf>,
    /// Print a JSON report on stdout when done.
    #[arg(long)]
    json: bool,
    /// WAV file to play, or `-` for stdin.
    input: String,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let receiver = target::resolve_address(&args.address).await?;
    let source = input::open(&args.input).map_err(airstream::Error::from)?;
    let metadata = Metadata {
        title: args.title,
        artist: args.artist,
        album: args.album,
        artwork: args.artwork.as_deref().map(read_artwork).transpose()?,
        duration: None,
    };
    let options = StreamOptions {
        metadata: Some(metadata),
        codec: args.codec.into(),
        latency: Duration::from_millis(args.latency),
        volume: args.volume,
        password: args.password,
        encryption: if args.encrypt {
            Encryption::AirPortRsa
        } else {
            Encryption::None
        },
        ..StreamOptions::default()
    };
    let (handle, driver) = raop::start(receiver, source, options).await?;
    let driver = tokio::spawn(driver);
    let _control = ipc::serve(receiver, handle.clone())?;
    let progress = spawn_progress_bar(&handle);
    let stopper = handle.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stopper.stop();
        }
    });
    let result = driver.await?;
    progress.abort();
    let report = result?;
    if args.json {
        println!("{}", crate::report::stream_json(&report));
    }
    Ok(())
}

/// Elapsed/total on a terminal; indicatif draws nothing when stderr is not one.
fn spawn_progress_bar(handle: &raop::StreamHandle) -> tokio::task::JoinHandle<()> {
    let mut progress = handle.progress();
    tokio::spawn(async move {
        let total = progress
            .borrow()
            .duration
            .map_or(0, |d| d.as_millis() as u64);
        let bar = if total > 0 {
            ProgressBar::new(total)
        } else {
            ProgressBar::no_length()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        while progress.changed().await.is_ok() {
            let p = progress.borrow_and_update().clone();
            bar.set_position(p.position().as_millis() as u64);
            let pos = p.position().as_secs();
            let msg = match p.duration {
                Some(d) => format!(
                    "{}:{:02} / {}:{:02}",
                    pos / 60,
                    pos % 60,
                    d.as_secs() / 60,
                    d.as_secs() % 60
                ),
                None => format!("{}:{:02}", pos / 60, pos % 60),
            };
            bar.set_message(msg);
            if p.state == StreamState::Finished {
                break;
            }
        }
        bar.finish_and_clear();
    })
}

/// Reads a cover image; the kind comes from its bytes, not its name.
fn read_artwork(path: &std::path::Path) -> anyhow::Result<Artwork> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let kind = ArtworkKind::sniff(&data).ok_or_else(|| {
        airstream::Error::InvalidInput(format!(
            "{}: artwork must be a JPEG or PNG image",
            path.display()
        ))
    })?;
    Ok(Artwork { kind, data })
}
