//! Comparing what a receiver produced with what we sent, sample for sample.

/// Result of aligning a capture with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Frame of the capture where source frame 0 sits.
    pub offset: usize,
    /// Source frames compared.
    pub frames_compared: usize,
    pub mismatched_frames: usize,
    pub first_mismatch: Option<usize>,
    /// Source frames missing because the capture ended early.
    pub missing_frames: usize,
}

impl Comparison {
    pub fn is_bit_exact(&self) -> bool {
        self.mismatched_frames == 0 && self.missing_frames == 0
    }
}

/// First frame whose left or right sample exceeds `threshold` in magnitude.
fn first_loud_frame(samples: &[i16], threshold: u16) -> Option<usize> {
    samples
        .chunks_exact(2)
        .position(|f| f[0].unsigned_abs() > threshold || f[1].unsigned_abs() > threshold)
}

/// Aligns on the first frame louder than ±2 (receivers dither their own silence by ±1)
/// and compares every source frame, the first one included.
pub fn align_and_compare(source: &[i16], capture: &[i16]) -> Option<Comparison> {
    const THRESHOLD: u16 = 2;
    let source_first = first_loud_frame(source, THRESHOLD)?;
    let capture_first = first_loud_frame(capture, THRESHOLD)?;
    let offset = capture_first.checked_sub(source_first)?;
    Some(compare_at(source, capture, offset))
}

/// Where in `source` the audio of `capture` (which starts mid-source: a receiver that
/// joined a running stream) begins: the source frame and the capture frame, found by
/// matching 2000 frames from the capture's first frame louder than ±2.
pub fn joined_at(source: &[i16], capture: &[i16]) -> Option<(usize, usize)> {
    const WINDOW: usize = 2000;
    let loud = first_loud_frame(capture, 2)?;
    if capture.len() < 2 * (loud + WINDOW) {
        return None;
    }
    let heard = &capture[2 * loud..2 * (loud + WINDOW)];
    let start = (0..(source.len() / 2).saturating_sub(WINDOW))
        .find(|&k| heard == &source[2 * k..2 * (k + WINDOW)])?;
    Some((start, loud))
}

/// Compares `source` with the last place in `capture` where it starts (the next item after
/// a skip, played whole after other audio): aligned on its first 2000 frames from its first
/// frame louder than ±2.
pub fn compare_last(source: &[i16], capture: &[i16]) -> Option<Comparison> {
    const WINDOW: usize = 2000;
    let loud = first_loud_frame(source, 2)?;
    let start = source.get(2 * loud..2 * (loud + WINDOW))?;
    let found = (0..(capture.len() / 2).saturating_sub(WINDOW))
        .rev()
        .find(|&k| &capture[2 * k..2 * (k + WINDOW)] == start)?;
    Some(compare_at(source, capture, found.checked_sub(loud)?))
}

/// Compares `source` with `capture` starting at capture frame `offset`.
pub fn compare_at(source: &[i16], capture: &[i16], offset: usize) -> Comparison {
    let source_frames = source.len() / 2;
    let available = (capture.len() / 2)
        .saturating_sub(offset)
        .min(source_frames);
    let mut mismatched = 0;
    let mut first_mismatch = None;
    for i in 0..available {
        let s = &source[i * 2..i * 2 + 2];
        let c = &capture[(offset + i) * 2..(offset + i) * 2 + 2];
        if s != c {
            mismatched += 1;
            first_mismatch.get_or_insert(i);
        }
    }
    Comparison {
        offset,
        frames_compared: available,
        mismatched_frames: mismatched,
        first_mismatch,
        missing_frames: source_frames - available,
    }
}

/// How a capture of a paused and resumed stream lines up with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseComparison {
    /// Source frame where the pause cut the audio.
    pub cut: usize,
    /// Source frame the resumed audio starts with (at most a few packets before `cut`: the
    /// receiver played on while the FLUSH travelled).
    pub restart: usize,
    /// Frames of silence between the two parts in the capture.
    pub gap: usize,
}

fn frame(s: &[i16], i: usize) -> (i16, i16) {
    (s[2 * i], s[2 * i + 1])
}

fn is_quiet(s: &[i16], i: usize) -> bool {
    s[2 * i].unsigned_abs() <= 2 && s[2 * i + 1].unsigned_abs() <= 2
}

/// Checks that `capture` (aligned so source frame 0 is capture frame 0) holds the source up
/// to a pause, silence, then the source again from at most `max_overlap` frames before the
/// cut to its end: a pause lost nothing and repeated little.
pub fn compare_across_pause(
    source: &[i16],
    capture: &[i16],
    max_overlap: usize,
) -> Result<PauseComparison, String> {
    let source_frames = source.len() / 2;
    let capture_frames = capture.len() / 2;
    let cut = (0..source_frames.min(capture_frames))
        .find(|&i| frame(capture, i) != frame(source, i))
        .ok_or("no pause gap in the capture")?;
    let resumed = (cut..capture_frames)
        .find(|&i| !is_quiet(capture, i))
        .ok_or("no audio after the pause")?;
    // The resumed audio may begin with source frames that are quiet themselves, so search
    // the restart point by matching a window of the capture.
    let window = 1000.min(capture_frames - resumed);
    let matches_at = |capture_start: usize, source_start: usize| {
        (0..window).all(|k| {
            source_start + k >= source_frames
                || capture_start + k >= capture_frames
                || frame(capture, capture_start + k) == frame(source, source_start + k)
        })
    };
    let (restart, resumed) = (cut.saturating_sub(max_overlap)..=cut)
        .flat_map(|s| (0..64).map(move |back| (s, back)))
        .find(|&(s, back)| resumed >= back && s >= back && matches_at(resumed - back, s - back))
        .map(|(s, back)| (s - back, resumed - back))
        .ok_or_else(|| {
            // Where it does continue, if anywhere: a loss (after the cut) or a long overlap.
            let elsewhere = (0..source_frames)
                .find(|&s| matches_at(resumed, s))
                .map_or_else(
                    || "nowhere in the source".to_string(),
                    |s| format!("source frame {s}"),
                );
            format!(
                "audio after the pause (capture frame {resumed}) does not continue the source \
                 near frame {cut}; it continues {elsewhere}"
            )
        })?;
    let rest = source_frames - restart;
    if capture_frames < resumed + rest {
        return Err(format!(
            "capture ends {} frames early",
            resumed + rest - capture_frames
        ));
    }
    if capture[2 * resumed..2 * (resumed + rest)] != source[2 * restart..] {
        return Err("audio after the resume differs from the source".into());
    }
    Ok(PauseComparison {
        cut,
        restart,
        gap: resumed - cut,
    })
}

/// Reads a raw signed 16-bit little-endian PCM capture.
pub fn read_s16le(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_past_dithered_silence() {
        let source = vec![5, -7, 100, 200, 1, 0];
        let mut capture = vec![1, -1, 0, 1, -1, 0];
        capture.extend_from_slice(&source);
        capture.extend_from_slice(&[1, 1]);
        let c = align_and_compare(&source, &capture).unwrap();
        assert_eq!(c.offset, 3);
        assert!(c.is_bit_exact(), "{c:?}");
    }

    #[test]
    fn pause_comparison_finds_cut_gap_and_restart() {
        let source: Vec<i16> = (1..=200).map(|i| i * 10).collect(); // 100 loud frames
        let mut capture = source[..80].to_vec(); // 40 frames, then a pause
        capture.extend_from_slice(&[1, -1].repeat(25)); // 25 frames of dithered silence
        capture.extend_from_slice(&source[76..]); // resumes 2 frames early
        let c = compare_across_pause(&source, &capture, 4).unwrap();
        assert_eq!((c.cut, c.restart, c.gap), (40, 38, 25));
        assert!(
            compare_across_pause(&source, &capture, 1).is_err(),
            "too much overlap"
        );
        let mut lossy = source[..80].to_vec();
        lossy.extend_from_slice(&source[90..]); // 5 frames lost
        assert!(compare_across_pause(&source, &lossy, 4).is_err());
    }

    #[test]
    fn reports_mismatches_and_missing_tail() {
        let source = vec![500, 500, 600, 600, 700, 700];
        let capture = vec![0, 0, 500, 500, 601, 600];
        let c = align_and_compare(&source, &capture).unwrap();
        assert_eq!(c.offset, 1);
        assert_eq!(c.mismatched_frames, 1);
        assert_eq!(c.first_mismatch, Some(1));
        assert_eq!(c.missing_frames, 1);
        assert!(!c.is_bit_exact());
    }
}
