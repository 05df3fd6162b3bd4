//! Writes the demo's bundled sample: `cargo run -p airstream-testkit --example make_sample`.

use airstream_testkit::signal::{SAMPLE_FRAMES, music, wav_bytes};

fn main() -> std::io::Result<()> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../airstream-cli/assets/sample.wav");
    std::fs::write(&path, wav_bytes(&music(SAMPLE_FRAMES, 44_100), 44_100))?;
    println!("wrote {}", path.display());
    Ok(())
}
