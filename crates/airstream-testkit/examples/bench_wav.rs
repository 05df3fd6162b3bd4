//! Writes the benchmark's source audio (`bench/run`): `bench_wav SECONDS OUT.wav` writes
//! that many seconds of [`music`] as 44.1 kHz/16-bit/stereo WAV.

use airstream_testkit::signal::{music, wav_bytes};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(seconds), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: bench_wav SECONDS OUT.wav".into());
    };
    let seconds: usize = seconds
        .parse()
        .map_err(|e| format!("SECONDS {seconds:?}: {e}"))?;
    let bytes = wav_bytes(&music(seconds * 44_100, 44_100), 44_100);
    if bytes.is_empty() {
        return Err("could not encode the WAV".into());
    }
    std::fs::write(&out, bytes).map_err(|e| format!("{out}: {e}"))?;
    Ok(())
}
