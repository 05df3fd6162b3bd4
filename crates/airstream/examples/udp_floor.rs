//! The kernel's share of streaming: sends one minute's worth of RAOP audio packets (7 517
//! datagrams of 1 424 bytes, like `--codec alac-raw`) over loopback as fast as it can to a
//! socket another thread drains, and prints the sending thread's CPU time. Nothing else
//! happens, so this is the floor under the sender's "CPU per audio minute" on this machine.
//!
//! `cargo run --release -p airstream --example udp_floor`

use std::net::UdpSocket;
use std::time::Instant;

/// Packets in 60 s at 352 frames per packet and 44.1 kHz.
const PACKETS: usize = 60 * 44_100 / 352;

fn cpu_seconds() -> f64 {
    // This thread's stat, fields 14 and 15: user and system time in clock ticks (100 Hz).
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> std::io::Result<()> {
    let sink = UdpSocket::bind("127.0.0.1:0")?;
    let sender = UdpSocket::bind("127.0.0.1:0")?;
    sender.connect(sink.local_addr()?)?;
    let packet = vec![0x5Au8; 1424];
    // The receiver's side, as shairport-sync would: read everything (its CPU is not ours).
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while sink.recv(&mut buf).is_ok() {}
    });
    // Several minutes, so the 10 ms tick of the CPU clock does not matter.
    let minutes = 10;
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    for _ in 0..PACKETS * minutes {
        sender.send(&packet)?;
    }
    let cpu = (cpu_seconds() - cpu0) / minutes as f64;
    let wall = wall0.elapsed().as_secs_f64() / minutes as f64;
    println!(
        "udp send floor: {:.3} s CPU per audio minute ({PACKETS} packets, {:.1} us each; wall {:.3} s)",
        cpu,
        cpu / PACKETS as f64 * 1e6,
        wall
    );
    Ok(())
}
