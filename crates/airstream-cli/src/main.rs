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
mod help;
mod info;
mod ipc;
mod logging;
mod pair;
mod play;
mod progress;
mod queue;
mod receive;
mod report;
mod scan;
mod session;
mod session_members;
mod signals;
mod stored;
mod stream;
mod target;
mod volume;

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

/// `airstream 0.1.0 (commit 1a2b3c4d5e6f, features: none)`; see build.rs.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("AIRSTREAM_COMMIT"),
    ", features: ",
    env!("AIRSTREAM_FEATURES"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "airstream",
    version = VERSION,
    about = "Stream audio to AirPlay receivers",
    after_help = help::SHORT,
    after_long_help = help::long(),
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
    /// Stream audio to a RAOP (AirPlay 1 audio) receiver, or to several in sync.
    #[command(after_help = help::STREAM_EXAMPLES)]
    Stream(stream::Args),
    /// A player for integrations: JSON-lines commands on stdin, JSON-lines events on stdout.
    #[command(after_help = help::SESSION_EXAMPLES)]
    Session(session::Args),
    /// Play a URL or a local file on an Apple TV and follow it to the end.
    #[command(after_help = help::PLAY_EXAMPLES)]
    Play(play::Args),
    /// Pair with an Apple TV that asks for a PIN; list or forget stored credentials.
    Pair(pair::Args),
    /// List the AirPlay devices on the network (mDNS) and what each can do.
    #[command(after_help = help::SCAN_EXAMPLES)]
    Scan(scan::Args),
    /// Show one device's capabilities and how airstream would stream or play to it.
    #[command(after_help = help::SCAN_EXAMPLES)]
    Info(info::Args),
    /// Run the embedded RAOP receiver and write what arrives to a WAV file.
    #[command(after_help = help::RECEIVE_EXAMPLES)]
    Receive(receive::Args),
    /// Change (or, without a level, print) the volume of a receiver of a running stream.
    #[command(after_help = help::VOLUME_EXAMPLES)]
    Volume(volume::Args),
    /// Pause a running stream; the receiver stops at once and nothing is lost.
    #[command(after_help = help::VOLUME_EXAMPLES)]
    Pause(target::TargetArgs),
    /// Resume a paused stream where it stopped.
    #[command(after_help = help::VOLUME_EXAMPLES)]
    Resume(target::TargetArgs),
    /// Continue a running stream from a position of the track playing (not a pipe or stdin).
    #[command(after_help = help::VOLUME_EXAMPLES)]
    Seek(volume::SeekArgs),
    /// End the track playing and go on with the next one of the queue.
    #[command(after_help = help::VOLUME_EXAMPLES)]
    Skip(target::TargetArgs),
    /// Stop a running stream (TEARDOWN to every receiver).
    #[command(after_help = help::VOLUME_EXAMPLES)]
    Stop(target::TargetArgs),
    /// Show a running stream: state, position, track, each receiver's state and volume.
    #[command(after_help = help::VOLUME_EXAMPLES)]
    Status(volume::StatusArgs),
    /// Print shell completions for bash, zsh, fish, elvish or powershell on stdout.
    #[command(
        after_help = "Example: airstream completions bash > ~/.local/share/bash-completion/completions/airstream"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (airstream.1 and one per subcommand) into a directory.
    #[command(hide = true)]
    Manpages {
        /// Where to write them.
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}

/// The clap definition of the whole command line (for completions and man pages).
pub(crate) fn command_line() -> clap::Command {
    Cli::command()
}

fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command_line(), "airstream", &mut out);
    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
    Ok(())
}

/// `airstream.1`, then `airstream-stream.1` and so on for each visible subcommand.
fn manpages(dir: &std::path::Path) -> anyhow::Result<()> {
    let write = |name: &str, man: clap_mangen::Man| -> anyhow::Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        man.title(name).render(&mut page)?;
        std::fs::write(&path, page).map_err(|e| {
            airstream::Error::InvalidInput(format!("cannot write {}: {e}", path.display()))
        })?;
        Ok(())
    };
    let mut command = command_line();
    command.build();
    for sub in command
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
    {
        let name = format!("airstream-{}", sub.get_name());
        write(&name, clap_mangen::Man::new(sub.clone()))?;
    }
    write("airstream", clap_mangen::Man::new(command))
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
            failure::note(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Stream(args) => stream::run(args).await,
            Command::Play(args) => play::run(args).await,
            Command::Session(args) => session::run(args).await,
            Command::Pair(args) => pair::run(args).await,
            Command::Scan(args) => scan::run(args).await,
            Command::Info(args) => info::run(args).await,
            Command::Receive(args) => receive::run(args).await,
            Command::Volume(args) => volume::run(args).await,
            Command::Pause(target) => volume::send(&target, "pause").await,
            Command::Resume(target) => volume::send(&target, "resume").await,
            Command::Seek(args) => volume::seek(args).await,
            Command::Skip(target) => volume::send(&target, "skip").await,
            Command::Stop(target) => volume::send(&target, "stop").await,
            Command::Status(args) => volume::status(args).await,
            Command::Completions { shell } => completions(shell),
            Command::Manpages { dir } => manpages(&dir),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(failure::report(&e)),
    }
}
