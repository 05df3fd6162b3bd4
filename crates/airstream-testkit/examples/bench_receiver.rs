//! The benchmark's receiver (`bench/run`): shairport-sync with avahi and a private D-Bus in
//! a network namespace of its own holding only `lo`, exactly as the end-to-end tests run it.
//!
//! `bench_receiver DIR [COUNT]` starts COUNT instances (default 1, for group streaming) in
//! the one namespace, the first with its files in DIR and the others in DIR/2, DIR/3, …,
//! and prints one line, `ns=NAME port=PORT capture=PATH log=PATH ports=P1,P2,…
//! captures=C1,C2,…`, once all listen and are advertised; then it runs until its stdin
//! closes (the driver ended or died) or it gets SIGINT/SIGTERM, and stops shairport-sync,
//! avahi and D-Bus and deletes the namespace.

use airstream_testkit::netns::Netns;
use airstream_testkit::process::{file_contains, wait_until};
use airstream_testkit::shairport::{PORT, Shairport, ShairportConfig};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// UDP ports between one instance's range and the next's (each uses up to 10).
const UDP_STRIDE: u16 = 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: bench_receiver DIR [COUNT]")?);
    let count: u16 = match args.next() {
        Some(n) => n
            .to_str()
            .and_then(|n| n.parse().ok())
            .ok_or("COUNT: 1 to 50")?,
        None => 1,
    };
    if !(1..=50).contains(&count) {
        return Err("COUNT: 1 to 50".into());
    }
    std::fs::create_dir_all(&dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Handlers go in before anything starts, so a Ctrl-C never skips the clean-up below.
    let mut interrupt = runtime.block_on(async { signal(SignalKind::interrupt()) })?;
    let mut terminate = runtime.block_on(async { signal(SignalKind::terminate()) })?;

    let ns = Netns::create()?;
    let config = |i: u16| ShairportConfig {
        name: if i == 0 {
            "airstream-bench".into()
        } else {
            format!("airstream-bench-{}", i + 1)
        },
        port: PORT + i,
        udp_port_base: 6001 + i * UDP_STRIDE,
        ..ShairportConfig::default()
    };
    let first = Shairport::start(&ns, &dir, &config(0))?;
    let mut receivers = vec![first];
    for i in 1..count {
        let sub = dir.join((i + 1).to_string());
        std::fs::create_dir_all(&sub)?;
        let next = receivers[0].start_beside(&ns, &sub, &config(i))?;
        receivers.push(next);
    }
    // Ready means advertised too: a sender that connects while shairport-sync is still
    // registering with avahi waits ~0.1 s longer for its first timing request, which would
    // be charged to whichever program happens to start faster.
    for receiver in &receivers {
        if !wait_until(Duration::from_secs(10), || {
            file_contains(&receiver.log, "successfully added")
        }) {
            return Err(format!(
                "shairport-sync did not register with avahi: {}",
                receiver.log.display()
            )
            .into());
        }
    }
    let join =
        |f: &dyn Fn(&Shairport) -> String| receivers.iter().map(f).collect::<Vec<_>>().join(",");
    println!(
        "ns={} port={PORT} capture={} log={} ports={} captures={}",
        ns.name(),
        receivers[0].capture.display(),
        receivers[0].log.display(),
        join(&|r| r.port.to_string()),
        join(&|r| r.capture.display().to_string()),
    );
    std::io::stdout().flush()?;

    runtime.block_on(async {
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        });
        tokio::select! {
            _ = stdin_closed => {}
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    });
    // The extra instances share the first one's avahi: stop them first.
    for receiver in receivers.into_iter().rev() {
        receiver.stop();
    }
    drop(ns);
    // The blocking stdin reader may still be parked in read(); do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(10));
    Ok(())
}
