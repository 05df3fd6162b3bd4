//! The one-file server on loopback, driven by a raw HTTP client that sends exactly the bytes
//! a test wants (traversal attempts and odd methods included).

// Helpers unwrap too: a failed setup is a test failure.
#![allow(clippy::unwrap_used)]

use airstream::ErrorKind;
use airstream::airplay::fileserver::FileServer;
use airstream_testkit::http::{KeepAliveClient, RawResponse, exchange_raw};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const DEVICE: &str = "127.0.0.1:7000";

/// Deterministic "media": an MP4 `ftyp` box, then pseudo-random bytes.
fn media_bytes(len: usize) -> Vec<u8> {
    let mut bytes = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    let mut x: u32 = 0x1234_5678;
    while bytes.len() < len {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        bytes.push((x >> 24) as u8);
    }
    bytes.truncate(len);
    bytes
}

struct Served {
    _dir: tempfile::TempDir,
    server: FileServer,
    addr: SocketAddr,
    path: String,
    bytes: Vec<u8>,
}

async fn serve(name: &str, bytes: Vec<u8>) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join(name);
    std::fs::write(&file, &bytes).unwrap();
    // A sibling the server must never hand out.
    std::fs::write(dir.path().join("secret.txt"), b"do not serve").unwrap();
    let server = FileServer::start(&file, DEVICE.parse().unwrap())
        .await
        .unwrap();
    let (addr, path) = split_url(server.url());
    Served {
        _dir: dir,
        server,
        addr,
        path,
        bytes,
    }
}

fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let slash = rest.find('/').unwrap();
    (rest[..slash].parse().unwrap(), rest[slash..].to_string())
}

async fn send(addr: SocketAddr, method: &str, path: &str, extra: &str) -> RawResponse {
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    exchange_raw(addr, request.as_bytes()).await.unwrap()
}

#[tokio::test]
async fn serves_the_whole_file_with_sniffed_type_and_length() {
    let s = serve("clip.bin", media_bytes(100_000)).await;
    assert!(
        s.server.url().starts_with("http://127.0.0.1:"),
        "{}",
        s.server.url()
    );
    let r = send(s.addr, "GET", &s.path, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, s.bytes);
    assert_eq!(r.header("Content-Length"), Some("100000"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    // Sniffed from the ftyp box, not from the `.bin` name.
    assert_eq!(r.header("Content-Type"), Some("video/mp4"));
    assert_eq!(r.header("Content-Range"), None);
}

#[tokio::test]
async fn head_sends_headers_without_a_body() {
    let s = serve("clip.mp4", media_bytes(5000)).await;
    let r = send(s.addr, "HEAD", &s.path, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("5000"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(r.header("Content-Type"), Some("video/mp4"));
    assert!(r.body.is_empty(), "{} body bytes", r.body.len());
}

#[tokio::test]
async fn single_ranges_get_206_with_content_range() {
    let s = serve("clip.mp4", media_bytes(5000)).await;
    for (range, start, end) in [
        ("bytes=100-199", 100, 199),
        ("bytes=4000-", 4000, 4999),
        ("bytes=-500", 4500, 4999),
        ("bytes=4990-99999", 4990, 4999),
        ("bytes=0-0", 0, 0),
    ] {
        let r = send(s.addr, "GET", &s.path, &format!("Range: {range}\r\n")).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("Content-Range").map(str::to_string),
            Some(format!("bytes {start}-{end}/5000")),
            "{range}"
        );
        assert_eq!(
            r.header("Content-Length").map(str::to_string),
            Some((end - start + 1).to_string())
        );
        assert_eq!(r.body, s.bytes[start..=end], "{range}");
    }
    let r = send(s.addr, "HEAD", &s.path, "Range: bytes=10-19\r\n").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn bad_or_unsatisfiable_ranges_get_416() {
    let s = serve("clip.mp4", media_bytes(5000)).await;
    for range in [
        "bytes=5000-",
        "bytes=200-100",
        "bytes=-0",
        "bytes=abc",
        "bytes=0-1,5-6",
        "items=0-1",
    ] {
        let r = send(s.addr, "GET", &s.path, &format!("Range: {range}\r\n")).await;
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("Content-Range"), Some("bytes */5000"), "{range}");
        assert!(r.body.is_empty(), "{range}");
    }
}

#[tokio::test]
async fn a_player_can_fetch_ranges_on_one_keep_alive_connection() {
    let s = serve("clip.mp4", media_bytes(70_000)).await;
    let mut client = KeepAliveClient::connect(s.addr).await.unwrap();
    let mut assembled = Vec::new();
    for range in ["bytes=0-32767", "bytes=32768-65535", "bytes=65536-"] {
        let r = client.get(&s.path, Some(range)).await.unwrap();
        assert_eq!(r.status, 206, "{range}");
        assembled.extend_from_slice(&r.body);
    }
    assert_eq!(assembled, s.bytes);
}

#[tokio::test]
async fn file_names_are_percent_encoded_and_still_served() {
    let s = serve("my clip (é).mp4", media_bytes(1000)).await;
    assert!(
        s.path.ends_with("/my%20clip%20%28%C3%A9%29.mp4"),
        "{}",
        s.path
    );
    let r = send(s.addr, "GET", &s.path, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, s.bytes);
}

#[tokio::test]
async fn everything_but_the_one_path_is_404() {
    let s = serve("clip.mp4", media_bytes(1000)).await;
    let token = s.path.split('/').nth(1).unwrap().to_string();
    assert_eq!(token.len(), 32, "128-bit random token");
    for path in [
        "/".to_string(),
        "/clip.mp4".to_string(),
        "/secret.txt".to_string(),
        format!("/{token}"),
        format!("/{token}/"),
        format!("/{token}/secret.txt"),
        format!("/{token}/../secret.txt"),
        format!("/{token}/..%2fsecret.txt"),
        format!("/{token}/%2e%2e/secret.txt"),
        format!("/{token}/%2e%2e%2fsecret.txt"),
        format!("/{token}%2fclip.mp4"),
        format!("/{token}/clip.mp4/.."),
        format!("/{token}/clip.mp4/../secret.txt"),
        format!("/{token}/./clip.mp4"),
        format!("//{token}/clip.mp4"),
        format!("/{}/clip.mp4", "0".repeat(32)),
    ] {
        let r = send(s.addr, "GET", &path, "").await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.body.is_empty(), "{path}");
    }
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"] {
        let r = send(s.addr, method, &s.path, "Content-Length: 0\r\n").await;
        assert_eq!(r.status, 404, "{method}");
        assert!(r.body.is_empty(), "{method}");
    }
    // The real path still works afterwards.
    assert_eq!(send(s.addr, "GET", &s.path, "").await.status, 200);
}

async fn refuses_connections(addr: SocketAddr) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_err()
}

#[tokio::test]
async fn shutdown_frees_the_port_and_closes_open_connections() {
    let s = serve("clip.mp4", media_bytes(1000)).await;
    let mut client = KeepAliveClient::connect(s.addr).await.unwrap();
    assert_eq!(client.get(&s.path, None).await.unwrap().status, 200);
    s.server.shutdown().await;
    assert!(
        refuses_connections(s.addr).await,
        "port {} still accepts",
        s.addr
    );
    assert!(
        client.get(&s.path, None).await.is_err(),
        "the keep-alive connection was left open"
    );
}

#[tokio::test]
async fn dropping_the_server_frees_the_port() {
    let s = serve("clip.mp4", media_bytes(1000)).await;
    let addr = s.addr;
    drop(s.server);
    // Dropping only signals the server task; give it a bounded while to let go.
    let mut freed = false;
    for _ in 0..200 {
        if refuses_connections(addr).await {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        freed,
        "port {addr} still accepts after the server was dropped"
    );
}

#[tokio::test]
async fn unreadable_paths_are_input_errors() {
    let err = FileServer::start(Path::new("/no/such/file.mp4"), DEVICE.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Input);
    assert!(err.to_string().contains("/no/such/file.mp4"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = FileServer::start(dir.path(), DEVICE.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Input);
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[tokio::test]
async fn an_empty_file_is_served_as_empty() {
    let s = serve("empty.mp4", Vec::new()).await;
    let r = send(s.addr, "GET", &s.path, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("0"));
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    let r = send(s.addr, "GET", &s.path, "Range: bytes=0-\r\n").await;
    assert_eq!(r.status, 416);
}

/// Peak RSS of this process since the last reset (`5` in clear_refs), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    peak_rss()
}

/// Opens a connection and sends a request head that never ends (a stalled GET).
async fn stalled_get(addr: SocketAddr, path: &str) -> Option<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    tcp.write_all(request.as_bytes()).await.ok()?;
    Some(tcp)
}

fn get_range(s: &Served) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nRange: bytes=0-99\r\nConnection: close\r\n\r\n",
        s.path, s.addr
    )
    .into_bytes()
}

// The server accepts while the test connects, as it would against a real attacker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stalled_gets_hold_only_a_few_connections() {
    let s = serve("movie.mp4", media_bytes(1024 * 1024)).await;
    let baseline = reset_peak();
    let mut stalled = Vec::new();
    for _ in 0..1000 {
        if let Some(tcp) = stalled_get(s.addr, &s.path).await {
            stalled.push(tcp);
        }
    }
    // The server is full: a complete request on one more connection is closed unanswered
    // (the first MAX_CONNECTIONS stalled ones hold every slot; the others were closed).
    let refused = exchange_raw(s.addr, &get_range(&s)).await;
    let grown = peak_rss().saturating_sub(baseline);
    eprintln!(
        "{} stalled GETs: peak RSS grew by {:.1} MiB",
        stalled.len(),
        grown as f64 / 1_048_576.0
    );
    assert!(refused.is_err(), "served beyond the connection cap");
    drop(stalled);
    // Still serving once they are gone (a connection refused while the stalled ones are
    // still counted is closed at once: ask again).
    let response = loop {
        if let Ok(response) = exchange_raw(s.addr, &get_range(&s)).await {
            break response;
        }
    };
    assert_eq!(response.status, 206);
    assert_eq!(response.body, s.bytes[..100]);
    // MAX_CONNECTIONS connections' buffers plus the allocator's slack.
    assert!(grown < 48 * 1024 * 1024, "{grown}");
}

#[tokio::test(start_paused = true)]
async fn a_request_head_that_never_ends_is_dropped_after_the_header_timeout() {
    use airstream::airplay::fileserver::HEADER_READ_TIMEOUT;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = serve("clip.bin", media_bytes(1000)).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut rest = Vec::new();
    // The server answers 408 or just closes; either way the read ends.
    let _ = tcp.read_to_end(&mut rest).await;
    let waited = started.elapsed();
    eprintln!("request head cut short: closed after {waited:?}");
    assert!(
        waited >= HEADER_READ_TIMEOUT && waited < HEADER_READ_TIMEOUT + Duration::from_secs(1),
        "{waited:?}"
    );
}
