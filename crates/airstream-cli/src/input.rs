//! Opening the audio to stream: a WAV file or WAV on stdin (`-`).

use airstream_audio::{AudioError, PcmFormat, PcmSource};
use std::io::{BufReader, Read};
use std::time::Duration;

struct WavSource {
    reader: hound::WavReader<Box<dyn Read + Send>>,
    name: String,
    frames: u32,
}

impl PcmSource for WavSource {
    fn format(&self) -> PcmFormat {
        PcmFormat::RAOP
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, AudioError> {
        let mut n = 0;
        let mut samples = self.reader.samples::<i16>();
        while n + 1 < buf.len() {
            match (samples.next(), samples.next()) {
                (Some(Ok(l)), Some(Ok(r))) => {
                    buf[n] = l;
                    buf[n + 1] = r;
                    n += 2;
                }
                (Some(Err(e)), _) | (_, Some(Err(e))) => {
                    return Err(AudioError::Invalid {
                        input: self.name.clone(),
                        detail: e.to_string(),
                    });
                }
                // End of input (a dangling half frame is dropped).
                (None, _) | (Some(Ok(_)), None) => break,
            }
        }
        Ok(n / 2)
    }

    fn duration(&self) -> Option<Duration> {
        Some(Duration::from_secs_f64(f64::from(self.frames) / 44_100.0))
    }
}

pub(crate) fn open(path: &str) -> Result<Box<dyn PcmSource>, AudioError> {
    let (reader, name): (Box<dyn Read + Send>, String) = if path == "-" {
        (Box::new(BufReader::new(std::io::stdin())), "stdin".into())
    } else {
        let file = std::fs::File::open(path).map_err(|source| AudioError::Io {
            input: path.to_string(),
            source,
        })?;
        (Box::new(BufReader::new(file)), path.to_string())
    };
    let reader = hound::WavReader::new(reader).map_err(|e| AudioError::Invalid {
        input: name.clone(),
        detail: format!("not a WAV file: {e}"),
    })?;
    let spec = reader.spec();
    if spec.sample_rate != 44_100 || spec.channels != 2 || spec.bits_per_sample != 16 {
        return Err(AudioError::Invalid {
            input: name,
            detail: format!(
                "{} Hz/{}-bit/{} channels; only 44100 Hz/16-bit/stereo WAV is taken",
                spec.sample_rate, spec.bits_per_sample, spec.channels
            ),
        });
    }
    let frames = reader.duration();
    Ok(Box::new(WavSource {
        reader,
        name,
        frames,
    }))
}
