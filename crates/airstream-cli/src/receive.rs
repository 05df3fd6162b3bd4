//! `airstream receive`: the embedded RAOP receiver, writing what arrives to a WAV file.

use airstream_receiver::{Behaviour, Receiver, ReceiverConfig, SessionRecord};
use anyhow::Context;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// RTSP port (0 picks a free one).
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// WAV file to write each session to (overwritten by the next session).
    #[arg(long)]
    output: PathBuf,
    /// Exit after the first session.
    #[arg(long)]
    once: bool,
    /// Require this password (RTSP Digest).
    #[arg(long, env = "AIRSTREAM_RECEIVER_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut receiver = Receiver::start(ReceiverConfig {
        bind: args.bind,
        port: args.port,
        behaviour: Behaviour {
            password: args.password,
            ..Behaviour::default()
        },
    })
    .await
    .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    eprintln!("listening on {}", receiver.local_addr());
    loop {
        tokio::select! {
            session = receiver.next_session() => {
                let Some(session) = session else { return Ok(()) };
                let written = session
                    .write_wav(&args.output)
                    .with_context(|| format!("cannot write {}", args.output.display()));
                match written {
                    Ok(()) => println!("{}", summary_line(&session, &args.output)),
                    // One session's file failing ends that session, not the receiver.
                    Err(e) if !args.once => eprintln!("airstream: session lost: {e:#}"),
                    Err(e) => return Err(e),
                }
                if args.once {
                    return Ok(());
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

pub(crate) fn summary_line(session: &SessionRecord, output: &std::path::Path) -> String {
    let s = &session.summary;
    format!(
        "received {} frames ({:.2} s, {}) in {} packets; {} resent, {} still missing; {} -> {}",
        session.frames(),
        session.frames() as f64 / f64::from(session.sample_rate.max(1)),
        s.codec,
        s.packets,
        s.resent_packets,
        s.missing_at_end,
        if s.teardown {
            "TEARDOWN"
        } else {
            "connection closed"
        },
        output.display()
    )
}
