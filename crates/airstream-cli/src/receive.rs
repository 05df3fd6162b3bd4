//! `airstream receive`: the embedded RAOP receiver, writing what arrives to a WAV file, and
//! advertised on mDNS so senders find it by name.

use airstream_receiver::advertise::{self, AdvertiseEvent, Advertised, Advertisement};
use airstream_receiver::{Behaviour, Receiver, ReceiverConfig, SessionRecord};
use anyhow::Context;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on (0.0.0.0: every interface).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// RTSP port (0 picks a free one).
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// WAV file to write each session to (overwritten by the next session); its directory
    /// must exist.
    #[arg(long)]
    output: PathBuf,
    /// Exit after the first session.
    #[arg(long)]
    once: bool,
    /// Require this password (RTSP Digest).
    #[arg(long, env = "AIRSTREAM_RECEIVER_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// The name senders show: it is advertised on mDNS (`_raop._tcp`) on the interface of
    /// --bind.
    #[arg(long, default_value = "airstream")]
    name: String,
    /// Do not advertise on mDNS: senders then need the address (`--address`).
    #[arg(long)]
    no_advertise: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    // Found before any sender comes, not after its session.
    crate::demo::check_output_dir(&args.output)?;
    if !args.no_advertise {
        advertise::check_name(&args.name)
            .map_err(|e| airstream::Error::InvalidInput(format!("--name: {e}")))?;
    }
    // Watched before anything starts. Ctrl-C, SIGTERM (a service manager) and SIGHUP end it
    // alike: returning drops the advertisement, whose goodbye takes the receiver off
    // senders' lists at once.
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let password = args.password.is_some();
    let mut receiver = Receiver::start(ReceiverConfig {
        bind: args.bind,
        port: args.port,
        behaviour: Behaviour {
            password: args.password,
            ..Behaviour::default()
        },
        ..ReceiverConfig::default()
    })
    .await
    .map_err(|e| {
        // The address or port given cannot be used here: a flag value to change.
        let advice = if e.kind() == std::io::ErrorKind::AddrInUse {
            ": another program has it; choose another --port"
        } else {
            ""
        };
        airstream::Error::InvalidInput(format!(
            "cannot listen on {}: {e}{advice}",
            SocketAddr::new(args.bind, args.port)
        ))
    })?;
    eprintln!("listening on {}", receiver.local_addr());
    // Kept for as long as the receiver runs; dropping it withdraws the advertisement.
    let _advertisement = if args.no_advertise {
        None
    } else {
        advertise(&args.name, receiver.local_addr(), password)
    };
    loop {
        tokio::select! {
            session = receiver.next_session() => {
                let Some(session) = session else { return Ok(()) };
                let written = session
                    .write_wav(&args.output)
                    .with_context(|| format!("cannot write {}", args.output.display()));
                match written {
                    Ok(()) => outln!("{}", summary_line(&session, &args.output))?,
                    // One session's file failing ends that session, not the receiver.
                    Err(e) if !args.once => eprintln!("airstream: session lost: {e:#}"),
                    Err(e) => return Err(e),
                }
                if args.once {
                    return Ok(());
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
        }
    }
}

/// Starts the advertisement and reports on stderr when it is out (or renamed). A receiver
/// that cannot be advertised still works by address: that is said once, not fatal.
fn advertise(name: &str, address: SocketAddr, password: bool) -> Option<Advertisement> {
    let advertised = Advertised {
        name: name.to_string(),
        address,
        password,
    };
    let (advertisement, mut events) = match Advertisement::start(&advertised) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("airstream: not advertised on mDNS ({e}); senders need --address {address}");
            return None;
        }
    };
    let id = advertisement.id().to_string();
    let name = advertised.name;
    let mut announced = false;
    tokio::spawn(async move {
        loop {
            match events.next().await {
                // Announcements repeat (RFC 6762 §8.3); the first is news.
                Ok(AdvertiseEvent::Announced) if !announced => {
                    announced = true;
                    eprintln!("advertised on mDNS as \"{name}\" (id {id})");
                }
                Ok(AdvertiseEvent::Announced) => {}
                Ok(AdvertiseEvent::Renamed(new)) => {
                    eprintln!(
                        "airstream: \"{name}\" is taken on the network; advertised as \"{new}\""
                    );
                }
                Err(_) => return,
            }
        }
    });
    Some(advertisement)
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
