//! [`Source`]: one type for every kind of input, opened into a converting [`PcmSource`].

use crate::decode::{ContainerInput, open_container, open_raw};
use crate::http::{self, IcyTitles};
use crate::io::{PREFIX_LEN, ReadSeek, SeekableSource, StreamSource, read_all_capped, read_prefix};
use crate::sniff::{Sniffed, sniff, wav_info_tags};
use crate::{AudioError, PcmFormat, PcmSource, RawFormat};
use bytes::Bytes;
use std::fmt;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::PathBuf;
use symphonia::core::io::MediaSource;
use tracing::info;

/// An MP4 whose index (`moov`) follows the audio cannot be decoded front to back; from a
/// stream that cannot seek we hold it in memory instead, up to this size.
const MAX_SPOOL_BYTES: u64 = 256 * 1024 * 1024;

/// An audio input: a file, bytes in memory, a reader, stdin or a URL, holding any supported
/// format (detected from the content) or raw PCM of a stated layout.
///
/// ```no_run
/// use airstream_audio::{PcmFormat, Source};
/// let mut pcm = Source::from_arg("song.flac").open(PcmFormat::RAOP)?;
/// let mut buf = vec![0i16; 352 * 2];
/// while pcm.read(&mut buf)? > 0 { /* send */ }
/// # Ok::<(), airstream_audio::AudioError>(())
/// ```
pub struct Source {
    name: String,
    input: Input,
    raw: Option<RawFormat>,
}

enum Input {
    Path(PathBuf),
    Buffer(Bytes),
    Seekable(Box<dyn ReadSeek + Send>),
    Stream(Box<dyn Read + Send>),
    Stdin,
    Url(String),
}

/// The opened bytes of an input, before any format is looked at.
enum ByteStream {
    Seekable(Box<dyn ReadSeek + Send>),
    Stream {
        reader: Box<dyn Read + Send>,
        len: Option<u64>,
    },
}

#[derive(Default)]
struct HttpExtras {
    station: Option<String>,
    titles: Option<IcyTitles>,
}

impl Source {
    /// A file. Regular files are read with seeking (tags at the end are found too); FIFOs and
    /// devices are read as streams.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self::new(path.display().to_string(), Input::Path(path))
    }

    /// A whole file already in memory (`Vec<u8>`, `bytes::Bytes`, `&'static [u8]`...).
    pub fn buffer(data: impl Into<Bytes>) -> Self {
        Self::new("<buffer>".into(), Input::Buffer(data.into()))
    }

    /// Any seekable reader; its current position is the start of the input.
    pub fn seekable<R: Read + Seek + Send + 'static>(reader: R) -> Self {
        Self::new("<reader>".into(), Input::Seekable(Box::new(reader)))
    }

    /// Any reader that cannot seek (a pipe, a socket). Every format plays; tags that sit
    /// after the audio (ID3v1, APE) are not seen, and an MP4 with its index at the end is
    /// held in memory first (up to 256 MiB).
    pub fn reader<R: Read + Send + 'static>(reader: R) -> Self {
        Self::new("<reader>".into(), Input::Stream(Box::new(reader)))
    }

    /// Standard input, as a stream.
    pub fn stdin() -> Self {
        Self::new("stdin".into(), Input::Stdin)
    }

    /// An `http://` or `https://` URL: a file or an internet radio stream.
    pub fn url(url: impl Into<String>) -> Self {
        let url = url.into();
        Self::new(http::display_url(&url), Input::Url(url))
    }

    /// A command-line argument: `-` is stdin, `http(s)://...` a URL, anything else a path.
    pub fn from_arg(arg: &str) -> Self {
        let lower = arg.get(..8).unwrap_or(arg).to_ascii_lowercase();
        if arg == "-" {
            Self::stdin()
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            Self::url(arg)
        } else {
            Self::path(arg)
        }
    }

    /// Treats the bytes as headerless PCM of this layout instead of probing them.
    #[must_use]
    pub fn raw(mut self, format: RawFormat) -> Self {
        self.raw = Some(format);
        self
    }

    /// Replaces the name used in messages (e.g. the original file name of a buffer).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The input as named in messages: the path, `stdin`, the URL (without credentials) or
    /// `<buffer>`/`<reader>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn new(name: String, input: Input) -> Self {
        Self {
            name,
            input,
            raw: None,
        }
    }

    /// Opens the input and returns a source of interleaved i16 PCM in `target`'s rate and
    /// channel count (mono or stereo), with the tags found in the headers.
    ///
    /// Blocks on I/O (files, pipes, network); run it off any real-time thread.
    pub fn open(self, target: PcmFormat) -> Result<Box<dyn PcmSource>, AudioError> {
        let name = self.name;
        let (bytes, extras) = open_bytes(&name, self.input)?;
        if let Some(format) = self.raw {
            return open_raw_bytes(name, bytes, format, target);
        }
        let (media, prefix) = prepare_media(&name, bytes)?;
        let decoded = open_container(
            ContainerInput {
                header_tags: wav_info_tags(&prefix),
                name,
                media,
                station: extras.station,
                titles: extras.titles,
            },
            target,
        )?;
        Ok(Box::new(decoded))
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.input {
            Input::Path(_) => "path",
            Input::Buffer(_) => "buffer",
            Input::Seekable(_) => "seekable reader",
            Input::Stream(_) => "reader",
            Input::Stdin => "stdin",
            Input::Url(_) => "url",
        };
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("kind", &kind)
            .field("raw", &self.raw)
            .finish()
    }
}

fn open_bytes(name: &str, input: Input) -> Result<(ByteStream, HttpExtras), AudioError> {
    let stream = match input {
        Input::Path(path) => {
            let file = std::fs::File::open(&path).map_err(|e| AudioError::io(name, e))?;
            let meta = file.metadata().map_err(|e| AudioError::io(name, e))?;
            if meta.is_dir() {
                return Err(AudioError::invalid(
                    name,
                    "is a directory, not an audio file",
                ));
            }
            if meta.is_file() {
                ByteStream::Seekable(Box::new(file))
            } else {
                ByteStream::Stream {
                    reader: Box::new(file),
                    len: None,
                }
            }
        }
        Input::Buffer(bytes) => ByteStream::Seekable(Box::new(Cursor::new(bytes))),
        Input::Seekable(reader) => ByteStream::Seekable(reader),
        Input::Stream(reader) => ByteStream::Stream { reader, len: None },
        Input::Stdin => ByteStream::Stream {
            reader: Box::new(io::stdin()),
            len: None,
        },
        Input::Url(url) => {
            let response = http::open(&url)?;
            let extras = HttpExtras {
                station: response.station,
                titles: response.titles,
            };
            let stream = ByteStream::Stream {
                reader: response.reader,
                len: response.content_length,
            };
            return Ok((stream, extras));
        }
    };
    Ok((stream, HttpExtras::default()))
}

/// Looks at the first bytes, rejects what we cannot play with a precise message, and wraps the
/// bytes for symphonia. Returns the media and the prefix it looked at.
fn prepare_media(
    name: &str,
    bytes: ByteStream,
) -> Result<(Box<dyn MediaSource>, Vec<u8>), AudioError> {
    let io_err = |e| AudioError::io(name, e);
    match bytes {
        ByteStream::Seekable(reader) => {
            let mut source = SeekableSource::new(reader).map_err(io_err)?;
            let prefix = read_prefix(&mut source, PREFIX_LEN).map_err(io_err)?;
            source.seek(SeekFrom::Start(0)).map_err(io_err)?;
            check_sniffed(name, sniff(&prefix))?;
            Ok((Box::new(source), prefix))
        }
        ByteStream::Stream { mut reader, len } => {
            let prefix = read_prefix(&mut reader, PREFIX_LEN).map_err(io_err)?;
            let sniffed = sniff(&prefix);
            let moov_last = matches!(
                sniffed,
                Sniffed::Mp4 {
                    moov_first: Some(false)
                }
            );
            check_sniffed(name, sniffed)?;
            let mut whole = Cursor::new(prefix.clone()).chain(reader);
            if moov_last {
                info!(input = %name, "MP4 index after the audio: reading the whole stream first");
                let all = read_all_capped(&mut whole, MAX_SPOOL_BYTES)
                    .map_err(io_err)?
                    .ok_or_else(|| {
                        AudioError::invalid(
                            name,
                            "MP4 with its index (moov) after the audio is too large to stream \
                             from a pipe; pass a file, or remux with `ffmpeg -movflags +faststart`",
                        )
                    })?;
                return Ok((Box::new(Cursor::new(all)), prefix));
            }
            Ok((Box::new(StreamSource::new(Box::new(whole), len)), prefix))
        }
    }
}

fn check_sniffed(name: &str, sniffed: Sniffed) -> Result<(), AudioError> {
    match sniffed {
        Sniffed::Empty => Err(AudioError::Empty {
            input: name.to_owned(),
        }),
        Sniffed::NotAudio(what) => Err(AudioError::invalid(
            name,
            format!("not audio: this is {what}"),
        )),
        Sniffed::Unsupported(format) => Err(AudioError::UnsupportedFormat {
            input: name.to_owned(),
            format: format.to_owned(),
        }),
        Sniffed::Mp4 { .. } | Sniffed::Other => Ok(()),
    }
}

fn open_raw_bytes(
    name: String,
    bytes: ByteStream,
    format: RawFormat,
    target: PcmFormat,
) -> Result<Box<dyn PcmSource>, AudioError> {
    let (mut reader, len): (Box<dyn Read + Send>, Option<u64>) = match bytes {
        ByteStream::Seekable(mut r) => {
            let start = r.stream_position().map_err(|e| AudioError::io(&name, e))?;
            let end = r
                .seek(SeekFrom::End(0))
                .map_err(|e| AudioError::io(&name, e))?;
            r.seek(SeekFrom::Start(start))
                .map_err(|e| AudioError::io(&name, e))?;
            (Box::new(r), Some(end.saturating_sub(start)))
        }
        ByteStream::Stream { reader, len } => (reader, len),
    };
    let first = read_prefix(&mut reader, 1).map_err(|e| AudioError::io(&name, e))?;
    if first.is_empty() {
        return Err(AudioError::Empty { input: name });
    }
    let reader = Box::new(Cursor::new(first).chain(reader));
    Ok(Box::new(open_raw(name, reader, len, format, target)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_choose_the_kind_of_input() {
        assert_eq!(Source::from_arg("-").name(), "stdin");
        assert_eq!(
            Source::from_arg("HTTPS://u:p@radio.example/live").name(),
            "HTTPS://radio.example/live"
        );
        assert_eq!(Source::from_arg("dir/song.mp3").name(), "dir/song.mp3");
        assert_eq!(Source::buffer(vec![1u8]).name(), "<buffer>");
        assert_eq!(
            Source::reader(std::io::empty())
                .with_name("upload.wav")
                .name(),
            "upload.wav"
        );
        assert!(format!("{:?}", Source::from_arg("-")).contains("stdin"));
    }

    #[test]
    fn missing_files_and_directories_are_named() {
        let Err(err) = Source::path("/nonexistent/x.mp3").open(PcmFormat::RAOP) else {
            panic!("opened a missing file");
        };
        assert!(matches!(err, AudioError::Io { .. }));
        assert!(err.to_string().starts_with("/nonexistent/x.mp3: "), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let Err(err) = Source::path(dir.path()).open(PcmFormat::RAOP) else {
            panic!("opened a directory");
        };
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
