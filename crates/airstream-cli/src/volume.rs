//! `airstream volume`, `pause`, `resume`: control a running stream (started by
//! `airstream stream` in another process) through its stream handle.

use crate::ipc;
use crate::target::TargetArgs;
use airstream::discovery::ServiceKind;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The receiver the stream plays on, named as for `airstream stream`.
    #[command(flatten)]
    target: TargetArgs,
    /// Volume 0–100 (0 mutes).
    #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
    level: u8,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    send(&args.target, &format!("volume {}", args.level)).await
}

/// Sends one command (`pause`, `resume`, `volume N`) to the stream to the target.
pub(crate) async fn send(target: &TargetArgs, command: &str) -> anyhow::Result<()> {
    let target = target.resolve(Some(ServiceKind::Raop)).await?;
    ipc::send(target.addr, command).await
}
