//! `airstream`: stream audio to AirPlay receivers, play URLs on Apple TVs, and receive.

/// `println!` that returns the write error instead of panicking: a closed pipe
/// (`airstream scan | head -1`) then ends the command quietly (see `failure`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

mod config;
mod demo;
mod exit;
mod failure;
mod info;
mod ipc;
mod logging;
mod pair;
mod play;
mod progress;
mod receive;
mod report;
mod scan;
mod stored;
mod stream;
mod target;
mod volume;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "airstream",
    version,
    about = "Stream audio to AirPlay receivers"
)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Each subcommand lives in its own module with `Args` and `async fn run(args) -> anyhow::Result<()>`.
#[derive(Subcommand)]
enum Command {
    /// Stream the bundled sample to an embedded receiver and report what arrived.
    Demo(demo::Args),
    /// Stream audio to a RAOP (AirPlay 1 audio) receiver.
    Stream(stream::Args),
    /// Play a URL or a local file on an Apple TV and follow it to the end.
    Play(play::Args),
    /// Pair with an Apple TV that asks for a PIN; list or forget stored credentials.
    Pair(pair::Args),
    /// List the AirPlay devices on the network (mDNS) and what each can do.
    Scan(scan::Args),
    /// Show one device's capabilities and how airstream would stream or play to it.
    Info(info::Args),
    /// Run the embedded RAOP receiver and write what arrives to a WAV file.
    Receive(receive::Args),
    /// Change the volume of a running stream.
    Volume(volume::Args),
    /// Pause a running stream; the receiver stops at once and nothing is lost.
    Pause(target::TargetArgs),
    /// Resume a paused stream where it stopped.
    Resume(target::TargetArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("airstream: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Stream(args) => stream::run(args).await,
            Command::Play(args) => play::run(args).await,
            Command::Pair(args) => pair::run(args).await,
            Command::Scan(args) => scan::run(args).await,
            Command::Info(args) => info::run(args).await,
            Command::Receive(args) => receive::run(args).await,
            Command::Volume(args) => volume::run(args).await,
            Command::Pause(target) => volume::send(&target, "pause").await,
            Command::Resume(target) => volume::send(&target, "resume").await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(failure::report(&e)),
    }
}
