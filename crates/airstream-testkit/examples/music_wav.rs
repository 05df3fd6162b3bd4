//! Writes N seconds of the test music as a 44.1 kHz/16-bit/stereo WAV:
//! `cargo run -p airstream-testkit --example music_wav -- SECONDS OUT.wav`.

use airstream_testkit::signal::{music, wav_bytes};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let out = args.next().unwrap_or_else(|| "music.wav".into());
    std::fs::write(&out, wav_bytes(&music(seconds * 44_100, 44_100), 44_100))?;
    println!("wrote {out} ({seconds} s)");
    Ok(())
}
