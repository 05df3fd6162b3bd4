//! `airstream demo`: stream the bundled sample to an embedded receiver in this process and
//! report what arrived. Needs nothing but this binary.

use airstream::raop::{self, StreamOptions};
use airstream_audio::{PcmFormat, VecSource};
use airstream_receiver::{Receiver, ReceiverConfig};
use anyhow::Context;
use std::path::{Path, PathBuf};
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

/// The directory a file is to be written into must exist.
pub(crate) fn check_output_dir(path: &Path) -> Result<(), airstream::Error> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if dir.is_dir() {
        Ok(())
    } else {
        Err(airstream::Error::InvalidInput(format!(
            "cannot write {}: there is no directory {}",
            path.display(),
            dir.display()
        )))
    }
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let output = args.output.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("airstream-demo-{}.wav", std::process::id()))
    });
    // Found before streaming, not after: a wrong --output costs no time.
    check_output_dir(&output)?;
    let samples = sample()?;
    let mut receiver = Receiver::start(ReceiverConfig {
        port: 0,
        ..ReceiverConfig::default()
    })
    .await
    .context("cannot start the embedded receiver")?;
    let address = receiver.local_addr();
    outln!("embedded receiver listening on {address}")?;
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
    session.write_wav(&output).map_err(|e| {
        airstream::Error::InvalidInput(format!("cannot write {}: {e}", output.display()))
    })?;

    let sent_frames = samples.len() / 2;
    let lead = report.lead_in_frames as usize * 2;
    let received = session.samples.get(lead..lead + samples.len());
    let bit_exact = received == Some(&samples[..]);
    outln!("codec:                 {}", report.codec.name())?;
    outln!("frames sent:           {}", report.frames_sent)?;
    outln!(
        "frames received:       {} (audio {} + {} of lead-in, padding and drain silence)",
        session.frames(),
        sent_frames,
        session.frames().saturating_sub(sent_frames)
    )?;
    outln!(
        "packets:               {} sent, {} received, {} resent",
        report.packets_sent,
        session.summary.packets,
        session.summary.resent_packets
    )?;
    outln!(
        "bit-exact:             {}",
        if bit_exact { "yes" } else { "NO" }
    )?;
    if let Some(t) = report.time_to_first_packet {
        outln!("time to first packet:  {:.1} ms", t.as_secs_f64() * 1000.0)?;
    }
    outln!("received audio:        {}", output.display())?;
    anyhow::ensure!(bit_exact, "the received audio differs from the sample");
    Ok(())
}
