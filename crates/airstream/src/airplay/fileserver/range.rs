//! The one `Range` form the file server answers: a single `bytes=` range (RFC 9110 §14.1.2).
//! Apple TVs seek in MP4s with exactly these.

/// Inclusive byte span of the file to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl ByteRange {
    pub(crate) fn len(self) -> u64 {
        self.end - self.start + 1
    }
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a file of `file_len` bytes, clamping
/// the end to the file. `None` (answered with 416) for anything malformed, for several
/// ranges, and for ranges that select nothing.
pub(crate) fn parse_range(header: &str, file_len: u64) -> Option<ByteRange> {
    let (unit, spec) = header.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') || file_len == 0 {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let last_byte = file_len - 1;
    if first.is_empty() {
        // Suffix range: the last n bytes.
        let n = digits(last)?;
        if n == 0 {
            return None;
        }
        return Some(ByteRange {
            start: file_len.saturating_sub(n),
            end: last_byte,
        });
    }
    let start = digits(first)?;
    if start > last_byte {
        return None;
    }
    let end = if last.is_empty() {
        last_byte
    } else {
        let end = digits(last)?;
        if end < start {
            return None;
        }
        end.min(last_byte)
    };
    Some(ByteRange { start, end })
}

/// Only plain ASCII digits (`u64::from_str` would also take a leading `+`).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)] // compared with parse_range's Option
    fn range(start: u64, end: u64) -> Option<ByteRange> {
        Some(ByteRange { start, end })
    }

    #[test]
    fn the_three_forms() {
        assert_eq!(parse_range("bytes=100-199", 5000), range(100, 199));
        assert_eq!(parse_range("bytes=4000-", 5000), range(4000, 4999));
        assert_eq!(parse_range("bytes=-500", 5000), range(4500, 4999));
        assert_eq!(parse_range("bytes=0-0", 1), range(0, 0));
        assert_eq!(parse_range(" Bytes=0-1 ", 5000), range(0, 1));
    }

    #[test]
    fn ends_are_clamped_to_the_file() {
        assert_eq!(parse_range("bytes=100-99999", 5000), range(100, 4999));
        assert_eq!(parse_range("bytes=-99999", 5000), range(0, 4999));
        assert_eq!(parse_range("bytes=0-18446744073709551615", 10), range(0, 9));
    }

    #[test]
    fn malformed_or_unsatisfiable_ranges_are_refused() {
        for bad in [
            "bytes=5000-",
            "bytes=5000-5001",
            "bytes=200-100",
            "bytes=-0",
            "bytes=-",
            "bytes=",
            "bytes=abc",
            "bytes=1-2x",
            "bytes=+1-2",
            "bytes=0-1,5-6",
            "items=0-1",
            "0-1",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(parse_range(bad, 5000), None, "{bad:?}");
        }
        assert_eq!(
            parse_range("bytes=0-", 0),
            None,
            "an empty file has no bytes to range"
        );
    }
}
