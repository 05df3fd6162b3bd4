//! Byte sources for symphonia: it wants `Read + Seek + Send + Sync`; callers give us plain
//! `Read + Send` (pipes, sockets) or `Read + Seek + Send`.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Mutex, PoisonError};
use symphonia::core::io::MediaSource;

/// How many bytes we look at before handing the input to symphonia (sniffing, WAV INFO tags).
pub(crate) const PREFIX_LEN: usize = 16 * 1024;

/// `Read + Seek` for boxing.
pub(crate) trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// A forward-only stream. The mutex only adds `Sync` (symphonia's bound); it is never
/// contended because every access goes through `&mut self`.
pub(crate) struct StreamSource {
    inner: Mutex<Box<dyn Read + Send>>,
    len: Option<u64>,
}

impl StreamSource {
    /// `len` is the total length if known in advance (an HTTP `Content-Length`).
    pub(crate) fn new(inner: Box<dyn Read + Send>, len: Option<u64>) -> Self {
        Self {
            inner: Mutex::new(inner),
            len,
        }
    }
}

impl Read for StreamSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .read(buf)
    }
}

impl Seek for StreamSource {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "input cannot seek",
        ))
    }
}

impl MediaSource for StreamSource {
    fn is_seekable(&self) -> bool {
        false
    }

    fn byte_len(&self) -> Option<u64> {
        self.len
    }
}

/// A seekable reader of known length. The reader's position when handed over is the start of
/// the media: positions are translated so symphonia sees it as offset 0.
pub(crate) struct SeekableSource {
    inner: Mutex<Box<dyn ReadSeek + Send>>,
    start: u64,
    len: Option<u64>,
}

impl SeekableSource {
    /// Measures the length from the current position, which becomes the start of the media.
    pub(crate) fn new(mut inner: Box<dyn ReadSeek + Send>) -> io::Result<Self> {
        let start = inner.stream_position()?;
        let end = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(start))?;
        Ok(Self {
            inner: Mutex::new(inner),
            start,
            len: Some(end.saturating_sub(start)),
        })
    }

    fn inner(&mut self) -> &mut Box<dyn ReadSeek + Send> {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Read for SeekableSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner().read(buf)
    }
}

impl Seek for SeekableSource {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let start = self.start;
        let pos = match pos {
            SeekFrom::Start(n) => SeekFrom::Start(start.saturating_add(n)),
            other => other,
        };
        let absolute = self.inner().seek(pos)?;
        absolute.checked_sub(start).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the input",
            )
        })
    }
}

impl MediaSource for SeekableSource {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        self.len
    }
}

/// Reads up to `limit` bytes, retrying short reads (pipes deliver in pieces) until EOF.
pub(crate) fn read_prefix(reader: &mut dyn Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(limit);
    reader.take(limit as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// Reads a whole stream into memory, refusing more than `cap` bytes.
pub(crate) fn read_all_capped(reader: &mut dyn Read, cap: u64) -> io::Result<Option<Vec<u8>>> {
    let mut all = Vec::new();
    reader.take(cap + 1).read_to_end(&mut all)?;
    Ok((all.len() as u64 <= cap).then_some(all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Hands out at most 3 bytes per read, like a slow pipe.
    struct Dribble(Cursor<Vec<u8>>);
    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn prefix_collects_short_reads_up_to_the_limit() {
        let mut r = Dribble(Cursor::new((0..100u8).collect()));
        assert_eq!(
            read_prefix(&mut r, 10).unwrap(),
            (0..10u8).collect::<Vec<_>>()
        );
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, (10..100u8).collect::<Vec<_>>());
    }

    #[test]
    fn capped_read_refuses_oversized_streams() {
        let mut r = Cursor::new(vec![1u8; 50]);
        assert_eq!(
            read_all_capped(&mut r, 50).unwrap().map(|v| v.len()),
            Some(50)
        );
        let mut r = Cursor::new(vec![1u8; 51]);
        assert_eq!(read_all_capped(&mut r, 50).unwrap(), None);
    }

    #[test]
    fn seekable_source_measures_from_its_start() {
        let mut c = Cursor::new(vec![0u8; 40]);
        c.set_position(10);
        let mut s = SeekableSource::new(Box::new(c)).unwrap();
        assert_eq!(s.byte_len(), Some(30));
        assert_eq!(s.stream_position().unwrap(), 0);
        assert_eq!(s.seek(SeekFrom::Start(5)).unwrap(), 5);
        assert_eq!(s.seek(SeekFrom::End(-2)).unwrap(), 28);
        assert!(s.seek(SeekFrom::Current(-29)).is_err());
    }

    #[test]
    fn stream_source_refuses_to_seek() {
        let mut s = StreamSource::new(Box::new(Cursor::new(vec![1, 2, 3])), None);
        assert!(!s.is_seekable());
        assert_eq!(
            s.seek(SeekFrom::Start(0)).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
        let mut b = Vec::new();
        s.read_to_end(&mut b).unwrap();
        assert_eq!(b, [1, 2, 3]);
    }
}
