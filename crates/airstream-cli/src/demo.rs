//! `airstream demo`: stream the bundled sample to an embedded receiver in this process and
//! report what arrived. Needs nothing but this binary.

use airstream::raop::{self, StreamOptions};
use airstream_audio::{PcmFormat, VecSource};
use airstream_receiver::{Receiver, ReceiverConfig};
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;

/// A few seconds of generated music-like audio (see the testkit's `make_sample` example).
const SAMPLE_WAV: &[u8] = include_bytes!("../assets/sample.wav");

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to write what the receiver got (default: a file in the temp directory).
    #[arg(long)]
    output: Option<PathBuf>,
}

pub(crate) fn sample() -> anyhow::Result<Vec<i16>> {
    let reader = hound::WavReader::new(SAMPLE_WAV).context("bundled sample is not a WAV")?;
    reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .context("bundled sample is truncated")
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let samples = sample()?;
    let mut receiver = Receiver::start(ReceiverConfig {
        port: 0,
        ..ReceiverConfig::default()
    })
    .await
    .context("cannot start the embedded receiver")?;
    let address = receiver.local_addr();
    println!("embedded receiver listening on {address}");
    let source = VecSource::new(PcmFormat::RAOP, samples.clone());
    let options = StreamOptions {
        latency: Duration::from_millis(500),
        ..StreamOptions::default()
    };
    let report = raop::stream_to_end(address, Box::new(source), options).await?;
    let session = receiver
        .next_session_within(Duration::from_secs(10))
        .await
        .context("the receiver reported no session")?;
    let output = args.output.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("airstream-demo-{}.wav", std::process::id()))
    });
    session
        .write_wav(&output)
        .with_context(|| format!("cannot write {}", output.display()))?;

    let sent_frames = samples.len() / 2;
    let lead = report.lead_in_frames as usize * 2;
    let received = session.samples.get(lead..lead + samples.len());
    let bit_exact = received == Some(&samples[..]);
    println!("codec:                 {}", report.codec.name());
    println!("frames sent:           {}", report.frames_sent);
    println!(
        "frames received:       {} (audio {} + {} of lead-in, padding and drain silence)",
        session.frames(),
        sent_frames,
        session.frames().saturating_sub(sent_frames)
    );
    println!(
        "packets:               {} sent, {} received, {} resent",
        report.packets_sent, session.summary.packets, session.summary.resent_packets
    );
    println!(
        "bit-exact:             {}",
        if bit_exact { "yes" } else { "NO" }
    );
    if let Some(t) = report.time_to_first_packet {
        println!("time to first packet:  {:.1} ms", t.as_secs_f64() * 1000.0);
    }
    println!("received audio:        {}", output.display());
    anyhow::ensure!(bit_exact, "the received audio differs from the sample");
    Ok(())
}
