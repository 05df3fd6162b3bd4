//! `airstream volume`, `pause`, `resume`: control a running stream (started by
//! `airstream stream` in another process) through its stream handle.

use crate::{ipc, target};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The receiver the stream plays on, as given to `airstream stream`.
    #[arg(long)]
    address: String,
    /// Volume 0–100 (0 mutes).
    #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
    level: u8,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let receiver = target::resolve_address(&args.address).await?;
    ipc::send(receiver, &format!("volume {}", args.level)).await
}

#[derive(Debug, clap::Args)]
pub(crate) struct TargetArgs {
    /// The receiver the stream plays on, as given to `airstream stream`.
    #[arg(long)]
    address: String,
}

/// Sends a one-word command (`pause`, `resume`) to the stream.
pub(crate) async fn send(args: TargetArgs, command: &str) -> anyhow::Result<()> {
    let receiver = target::resolve_address(&args.address).await?;
    ipc::send(receiver, command).await
}
