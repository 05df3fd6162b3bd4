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
