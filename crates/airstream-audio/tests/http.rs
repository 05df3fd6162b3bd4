//! URL inputs against a tiny HTTP server on loopback: a file, a redirect, an ICY radio stream
//! with title changes, errors.

#![allow(clippy::unwrap_used)] // tests and benches may unwrap

mod common;

use airstream_audio::{AudioError, PcmFormat, Source};
use common::{Mode, decode_ok, fixture_bytes, reference_pcm, source};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const METAINT: usize = 4000;
const STATION: &str = "Loopback FM";

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let log = log.clone();
                std::thread::spawn(move || handle(stream, &log));
            }
        });
        Server { addr, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn request_for(&self, path: &str) -> String {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .find(|r| r.starts_with(&format!("GET {path} ")))
            .cloned()
            .unwrap_or_else(|| panic!("no request for {path}"))
    }
}

fn handle(stream: TcpStream, log: &Mutex<Vec<String>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        request.push_str(&line);
    }
    log.lock().unwrap().push(request.clone());
    let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
    let wants_icy = request.to_ascii_lowercase().contains("icy-metadata: 1");
    let (status, mut headers, body): (&str, Vec<String>, Vec<u8>) = match path.as_str() {
        "/music.mp3" => (
            "200 OK",
            vec!["Content-Type: audio/mpeg".into()],
            fixture_bytes("music.mp3"),
        ),
        "/music.flac" => (
            "200 OK",
            vec!["Content-Type: audio/flac".into()],
            fixture_bytes("music.flac"),
        ),
        "/moved" => (
            "302 Found",
            vec!["Location: /music.flac".into()],
            Vec::new(),
        ),
        "/radio" if wants_icy => (
            "200 OK",
            vec![
                "Content-Type: audio/mpeg".into(),
                format!("icy-metaint: {METAINT}"),
                format!("icy-name: {STATION}"),
            ],
            icy_stream(&fixture_bytes("music.mp3")),
        ),
        "/page" => (
            "200 OK",
            vec!["Content-Type: text/html".into()],
            b"<!DOCTYPE html><html><body>Hi</body></html>".to_vec(),
        ),
        _ => ("404 Not Found", vec![], b"not here".to_vec()),
    };
    // The radio stream has no length: it ends when the connection closes.
    if path != "/radio" {
        headers.push(format!("Content-Length: {}", body.len()));
    }
    headers.push("Connection: close".into());
    let mut out = stream;
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for h in headers {
        head.push_str(&h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&body);
}

/// Titles sent after each block of `METAINT` audio bytes (`None`: an empty metadata block).
const TITLES: [Option<&str>; 5] = [
    Some("Artist One - First Song"),
    Some("Artist One - First Song"),
    None,
    Some("Artist Two - Second Song"),
    None,
];

fn icy_stream(audio: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, chunk) in audio.chunks(METAINT).enumerate() {
        out.extend_from_slice(chunk);
        if chunk.len() < METAINT {
            break;
        }
        match TITLES.get(i).copied().flatten() {
            Some(title) => {
                let text = format!("StreamTitle='{title}';StreamUrl='http://example.invalid/';");
                let blocks = text.len().div_ceil(16);
                out.push(blocks as u8);
                let mut padded = text.into_bytes();
                padded.resize(blocks * 16, 0);
                out.extend_from_slice(&padded);
            }
            None => out.push(0),
        }
    }
    out
}

#[test]
fn a_file_over_http_decodes_like_the_file() {
    let server = Server::start();
    let url = server.url("/music.mp3");
    let pcm = Source::url(&url).open(PcmFormat::RAOP).unwrap();
    let duration = pcm.duration().unwrap();
    assert!((duration.as_secs_f64() - 1.5).abs() < 0.01, "{duration:?}");
    let over_http = common::decode_all(pcm);
    assert!(over_http.error.is_none());
    assert!(over_http.samples == decode_ok(source("music.mp3", Mode::Path)).samples);
    assert!(over_http.updates.is_empty());
}

#[test]
fn redirects_are_followed() {
    let server = Server::start();
    let d = decode_ok(Source::url(server.url("/moved")));
    assert!(
        d.samples == reference_pcm(),
        "FLAC over HTTP is not bit-exact"
    );
    server.request_for("/music.flac");
}

#[test]
fn icy_metadata_is_stripped_and_titles_become_updates() {
    let server = Server::start();
    let d = decode_ok(Source::url(server.url("/radio")));
    let request = server.request_for("/radio");
    // Header names are case-insensitive; ureq sends them in lower case.
    assert!(
        request.to_ascii_lowercase().contains("icy-metadata: 1"),
        "{request}"
    );
    // The interleaved blocks are gone: the audio is exactly the file's.
    assert!(d.samples == decode_ok(source("music.mp3", Mode::Path)).samples);
    let titles: Vec<(Option<&str>, Option<&str>, Option<&str>)> = d
        .updates
        .iter()
        .map(|m| (m.artist.as_deref(), m.title.as_deref(), m.album.as_deref()))
        .collect();
    assert_eq!(
        titles,
        [
            (Some("Artist One"), Some("First Song"), Some(STATION)),
            (Some("Artist Two"), Some("Second Song"), Some(STATION)),
        ]
    );
}

#[test]
fn not_found_is_an_http_error_naming_the_url() {
    let server = Server::start();
    let url = server.url("/missing.mp3");
    let Err(err) = Source::url(&url).open(PcmFormat::RAOP) else {
        panic!("opened a 404");
    };
    assert!(matches!(err, AudioError::Http { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("{url}: HTTP 404 Not Found"));
}

#[test]
fn an_unreachable_server_is_an_http_error() {
    // A port that was just free: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}/x.mp3");
    let Err(err) = Source::url(&url).open(PcmFormat::RAOP) else {
        panic!("opened a closed port");
    };
    assert!(matches!(err, AudioError::Http { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&url), "{err}");
}

#[test]
fn a_web_page_is_not_audio() {
    let server = Server::start();
    let Err(err) = Source::url(server.url("/page")).open(PcmFormat::RAOP) else {
        panic!("opened a web page");
    };
    assert!(
        err.to_string().ends_with("not audio: this is an HTML page"),
        "{err}"
    );
}

#[test]
fn credentials_in_the_url_are_not_shown() {
    let server = Server::start();
    let url = format!("http://user:secret@{}/missing", server.addr);
    let Err(err) = Source::url(&url).open(PcmFormat::RAOP) else {
        panic!("opened a 404");
    };
    assert!(!err.to_string().contains("secret"), "{err}");
    assert!(!format!("{err:?}").contains("secret"), "{err:?}");
}
