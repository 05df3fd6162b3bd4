//! `http://` and `https://` inputs: files and internet radio. Redirects are followed; with
//! ICY (Shoutcast/Icecast) metadata the interleaved title blocks are stripped from the audio
//! and handed over as `StreamTitle` strings.

use crate::{AudioError, Metadata};
use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);
/// A stream that delivers nothing for this long is considered dead (radio servers send
/// continuously; a stalled one is not coming back).
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// `StreamTitle` values in arrival order, shared between the reader inside the decoder and the
/// source that turns them into metadata updates.
#[derive(Clone, Default)]
pub(crate) struct IcyTitles(Arc<Mutex<Vec<String>>>);

impl IcyTitles {
    fn push(&self, title: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(title);
    }

    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

pub(crate) struct HttpStream {
    pub(crate) reader: Box<dyn Read + Send>,
    pub(crate) content_length: Option<u64>,
    /// `icy-name`: the station.
    pub(crate) station: Option<String>,
    pub(crate) titles: Option<IcyTitles>,
}

/// The URL as shown in messages: without `user:password@`.
pub(crate) fn display_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    host.starts_with("127.")
        || host.starts_with("[::1]")
        || host == "localhost"
        || host.starts_with("localhost:")
}

pub(crate) fn open(url: &str) -> Result<HttpStream, AudioError> {
    let input = display_url(url);
    let fail = |detail: String| AudioError::Http {
        input: input.clone(),
        detail,
    };
    let mut config = ureq::Agent::config_builder()
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_send_request(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .timeout_per_read(Some(STALL_TIMEOUT))
        .max_redirects(10)
        .user_agent(concat!("airstream/", env!("CARGO_PKG_VERSION")))
        // Compressed bodies would hide the audio bytes; servers rarely compress audio anyway.
        .accept_encoding("identity");
    if is_loopback(url) {
        config = config.proxy(None);
    }
    let agent: ureq::Agent = config.build().into();
    let response = agent
        .get(url)
        .header("Icy-MetaData", "1")
        .call()
        .map_err(|e| fail(describe(&e)))?;

    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
    };
    let metaint = header("icy-metaint").and_then(|v| v.parse::<usize>().ok());
    let station = header("icy-name").filter(|s| !s.is_empty());
    let content_length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    let body = response.into_body().into_reader();
    let (reader, titles): (Box<dyn Read + Send>, _) = match metaint {
        Some(metaint) if metaint > 0 => {
            let titles = IcyTitles::default();
            (
                Box::new(IcyReader::new(body, metaint, titles.clone())),
                Some(titles),
            )
        }
        _ => (Box::new(body), None),
    };
    Ok(HttpStream {
        reader,
        // With ICY blocks interleaved the length would count metadata too.
        content_length: if titles.is_some() {
            None
        } else {
            content_length
        },
        station,
        titles,
    })
}

fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::StatusCode(code) => {
            let reason = ureq::http::StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            format!("HTTP {code} {reason}").trim_end().to_owned()
        }
        ureq::Error::Timeout(what) => format!("timed out ({what})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::TooManyRedirects => "too many redirects".into(),
        other => format!("request failed: {other}"),
    }
}

/// Strips ICY metadata blocks: after every `metaint` audio bytes comes one length byte `n`
/// and `16 * n` bytes of `StreamTitle='...';StreamUrl='...';` text.
pub(crate) struct IcyReader<R> {
    inner: R,
    metaint: usize,
    audio_left: usize,
    titles: IcyTitles,
    last_title: Option<String>,
}

impl<R: Read> IcyReader<R> {
    pub(crate) fn new(inner: R, metaint: usize, titles: IcyTitles) -> Self {
        Self {
            inner,
            metaint,
            audio_left: metaint,
            titles,
            last_title: None,
        }
    }

    /// Reads one metadata block; `false` at a clean end of stream.
    fn read_block(&mut self) -> io::Result<bool> {
        let mut len = [0u8; 1];
        if self.inner.read(&mut len)? == 0 {
            return Ok(false);
        }
        let mut block = vec![0u8; usize::from(len[0]) * 16];
        match self.inner.read_exact(&mut block) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        if let Some(title) = stream_title(&block)
            && self.last_title.as_ref() != Some(&title)
        {
            self.last_title = Some(title.clone());
            self.titles.push(title);
        }
        self.audio_left = self.metaint;
        Ok(true)
    }
}

impl<R: Read> Read for IcyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.audio_left == 0 && !self.read_block()? {
            return Ok(0);
        }
        let want = buf.len().min(self.audio_left);
        let n = self.inner.read(&mut buf[..want])?;
        self.audio_left -= n;
        Ok(n)
    }
}

/// The `StreamTitle` value of an ICY block. Titles may contain quotes, so the value ends at
/// the last `';` (or the last quote).
fn stream_title(block: &[u8]) -> Option<String> {
    let text = match std::str::from_utf8(block) {
        Ok(t) => t.to_owned(),
        // Many stations send Latin-1.
        Err(_) => block.iter().map(|&b| char::from(b)).collect(),
    };
    let text = text.trim_end_matches('\0');
    let start = text.find("StreamTitle='")? + "StreamTitle='".len();
    let rest = &text[start..];
    let end = rest
        .find("';StreamUrl=")
        .or_else(|| rest.rfind("';"))
        .or_else(|| rest.rfind('\''))
        .unwrap_or(rest.len());
    let title = rest[..end].trim();
    (!title.is_empty()).then(|| title.to_owned())
}

/// A `StreamTitle` as metadata: "Artist - Title" is the usual convention; the station name
/// goes into the album field, where receivers show it under the title.
pub(crate) fn title_metadata(title: &str, station: Option<&str>) -> Metadata {
    let (artist, title) = match title.split_once(" - ") {
        Some((a, t)) if !a.trim().is_empty() && !t.trim().is_empty() => {
            (Some(a.trim().to_owned()), t.trim().to_owned())
        }
        _ => (None, title.to_owned()),
    };
    Metadata {
        title: Some(title),
        artist,
        album: station.map(str::to_owned),
        ..Metadata::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icy_stream(metaint: usize, audio: &[u8], titles: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, chunk) in audio.chunks(metaint).enumerate() {
            out.extend_from_slice(chunk);
            if chunk.len() == metaint {
                let text = titles
                    .get(i)
                    .map(|t| format!("StreamTitle='{t}';StreamUrl='';"))
                    .unwrap_or_default();
                let blocks = text.len().div_ceil(16);
                out.push(blocks as u8);
                let mut padded = text.into_bytes();
                padded.resize(blocks * 16, 0);
                out.extend_from_slice(&padded);
            }
        }
        out
    }

    #[test]
    fn strips_metadata_blocks_and_collects_titles() {
        let audio: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let stream = icy_stream(
            100,
            &audio,
            &["A - B", "A - B", "", "Rock'n'Roll - It's Live"],
        );
        let titles = IcyTitles::default();
        let mut r = IcyReader::new(std::io::Cursor::new(stream), 100, titles.clone());
        let mut got = Vec::new();
        let mut buf = [0u8; 37]; // odd size: reads straddle block boundaries
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, audio);
        // Repeats are dropped, empty titles ignored, quotes inside titles kept.
        assert_eq!(titles.take(), ["A - B", "Rock'n'Roll - It's Live"]);
    }

    #[test]
    fn titles_split_into_artist_and_title() {
        let m = title_metadata("Daft Punk - Around the World", Some("Radio X"));
        assert_eq!(m.artist.as_deref(), Some("Daft Punk"));
        assert_eq!(m.title.as_deref(), Some("Around the World"));
        assert_eq!(m.album.as_deref(), Some("Radio X"));
        let m = title_metadata("News at nine", None);
        assert_eq!((m.artist, m.title.as_deref()), (None, Some("News at nine")));
    }

    #[test]
    fn latin1_titles_are_decoded() {
        assert_eq!(
            stream_title(b"StreamTitle='Caf\xe9';\0\0").as_deref(),
            Some("Caf\u{e9}")
        );
    }

    #[test]
    fn credentials_never_appear_in_names() {
        assert_eq!(
            display_url("https://user:secret@example.com/a@b"),
            "https://example.com/a@b"
        );
        assert_eq!(display_url("http://example.com/x"), "http://example.com/x");
        assert!(is_loopback("http://127.0.0.1:8000/x"));
        assert!(is_loopback("http://u:p@localhost:80/"));
        assert!(!is_loopback("http://example.com/127.0.0.1"));
    }
}
