//! The AirPlay 2 benchmark's receiver (`bench/run --airplay2`): an [`Ap2Rig`] with one
//! receiver, shairport-sync 4.3.7 with nqptp (`airplay2`) or Debian's 3.3.8 (`classic`), so
//! AirPlay 2 and AirPlay 1 are measured over the same veth and bridge.
//!
//! `bench_ap2_receiver airplay2|classic` prints one line, `ns=SENDER_NS address=IP:PORT
//! interface=BRIDGE capture=PATH log=PATH`, once the receiver listens; the sender runs in
//! namespace SENDER_NS and its packets cross interface BRIDGE there. Then it runs until its
//! stdin closes or it gets SIGINT/SIGTERM, and drops the rig (processes and namespaces).
//! Needs `AIRSTREAM_AP2_PEER_BIN` (bench/run sets it).

use airstream_testkit::airplay2::{self, Ap2Rig, Peer, SENDER_BRIDGE};
use std::io::{Read, Write};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = airplay2::config("airstream-bench");
    let peer = match std::env::args().nth(1).as_deref() {
        Some("airplay2") => Peer::AirPlay2(config),
        Some("classic") => Peer::Classic(config),
        _ => return Err("usage: bench_ap2_receiver airplay2|classic".into()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Handlers go in before anything starts, so a Ctrl-C never skips the clean-up below.
    let mut interrupt = runtime.block_on(async { signal(SignalKind::interrupt()) })?;
    let mut terminate = runtime.block_on(async { signal(SignalKind::terminate()) })?;
    let rig = Ap2Rig::start_peers(&[peer])?;
    let receiver = &rig.receivers[0];
    println!(
        "ns={} address={} interface={SENDER_BRIDGE} capture={} log={}",
        rig.sender.name(),
        receiver.address,
        receiver.capture.display(),
        receiver.log.display(),
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
    drop(rig);
    // The blocking stdin reader may still be parked in read(); do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(10));
    Ok(())
}
