//! The benchmark's receiver (`bench/run`): shairport-sync with avahi and a private D-Bus in
//! a network namespace of its own holding only `lo`, exactly as the end-to-end tests run it.
//!
//! `bench_receiver DIR` prints one line, `ns=NAME port=PORT capture=PATH log=PATH`, once the
//! receiver listens and is advertised, then runs until its stdin closes (the driver ended or
//! died) or it gets SIGINT/SIGTERM; then it stops shairport-sync, avahi and D-Bus and deletes
//! the namespace.

use airstream_testkit::netns::Netns;
use airstream_testkit::process::{file_contains, wait_until};
use airstream_testkit::shairport::{PORT, Shairport, ShairportConfig};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .ok_or("usage: bench_receiver DIR")?,
    );
    std::fs::create_dir_all(&dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Handlers go in before anything starts, so a Ctrl-C never skips the clean-up below.
    let mut interrupt = runtime.block_on(async { signal(SignalKind::interrupt()) })?;
    let mut terminate = runtime.block_on(async { signal(SignalKind::terminate()) })?;

    let ns = Netns::create()?;
    let config = ShairportConfig {
        name: "airstream-bench".into(),
        ..ShairportConfig::default()
    };
    let receiver = Shairport::start(&ns, &dir, &config)?;
    // Ready means advertised too: a sender that connects while shairport-sync is still
    // registering with avahi waits ~0.1 s longer for its first timing request, which would
    // be charged to whichever program happens to start faster.
    if !wait_until(Duration::from_secs(10), || {
        file_contains(&receiver.log, "successfully added")
    }) {
        return Err(format!(
            "shairport-sync did not register with avahi: {}",
            receiver.log.display()
        )
        .into());
    }
    println!(
        "ns={} port={PORT} capture={} log={}",
        ns.name(),
        receiver.capture.display(),
        receiver.log.display()
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
    receiver.stop();
    drop(ns);
    // The blocking stdin reader may still be parked in read(); do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(10));
    Ok(())
}
