//! The fake Apple TV fetching the URL it was told to play, in ranges, as AVFoundation does:
//! a 2-byte probe, then chunks (`a-b`, the last one open-ended `a-`), then the tail again
//! with a suffix range (`-n`, where players look for an MP4's `moov` box).

use crate::http::KeepAliveClient;
use std::net::SocketAddr;

/// How the fake fetches the media it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPlan {
    /// Bytes per ranged request.
    pub chunk: usize,
}

impl Default for FetchPlan {
    fn default() -> Self {
        Self { chunk: 16 * 1024 }
    }
}

/// One request of the fetch and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchExchange {
    pub range: String,
    pub status: u16,
    pub content_range: Option<String>,
    pub content_type: Option<String>,
    pub accept_ranges: Option<String>,
    pub body_len: usize,
}

/// Everything the fake fetched. `error` says what went wrong, if anything did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchResult {
    pub url: String,
    /// The media as assembled from the ranged responses.
    pub body: Vec<u8>,
    /// The total length announced in `Content-Range`.
    pub total_len: Option<u64>,
    pub exchanges: Vec<FetchExchange>,
    pub error: Option<String>,
}

pub(crate) async fn fetch(url: &str, plan: FetchPlan) -> FetchResult {
    let mut result = FetchResult {
        url: url.to_string(),
        ..FetchResult::default()
    };
    if let Err(e) = fetch_into(url, plan, &mut result).await {
        result.error = Some(e);
    }
    result
}

async fn fetch_into(url: &str, plan: FetchPlan, result: &mut FetchResult) -> Result<(), String> {
    let (addr, path) = split_url(url)?;
    let mut client = KeepAliveClient::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;

    request(&mut client, &path, "bytes=0-1", result).await?;
    let total = announced_total(result)?;
    result.total_len = Some(total);
    let chunk = plan.chunk.max(1) as u64;
    let mut body = Vec::new();
    let mut start = 0;
    while start < total {
        let range = if start + chunk >= total {
            format!("bytes={start}-")
        } else {
            format!("bytes={start}-{}", start + chunk - 1)
        };
        let part = request(&mut client, &path, &range, result).await?;
        if part.is_empty() {
            return Err(format!("{range} returned no bytes"));
        }
        start += part.len() as u64;
        body.extend_from_slice(&part);
    }
    let tail_len = chunk.min(total);
    if tail_len > 0 {
        let tail = request(&mut client, &path, &format!("bytes=-{tail_len}"), result).await?;
        if tail[..] != body[body.len() - tail.len()..] {
            return Err("the suffix range does not match the end of the file".into());
        }
    }
    result.body = body;
    Ok(())
}

/// One ranged `GET`; the body of a `206`, or an error for anything else.
async fn request(
    client: &mut KeepAliveClient,
    path: &str,
    range: &str,
    result: &mut FetchResult,
) -> Result<Vec<u8>, String> {
    let response = client
        .get(path, Some(range))
        .await
        .map_err(|e| format!("GET {path} ({range}): {e}"))?;
    let header = |name: &str| response.headers.get(name).map(str::to_string);
    let content_range = header("Content-Range");
    result.exchanges.push(FetchExchange {
        range: range.to_string(),
        status: response.status,
        content_range: content_range.clone(),
        content_type: header("Content-Type"),
        accept_ranges: header("Accept-Ranges"),
        body_len: response.body.len(),
    });
    if response.status != 206 {
        return Err(format!("GET {path} ({range}) answered {}", response.status));
    }
    // The body must be exactly the span `Content-Range` claims.
    let span = content_range
        .as_deref()
        .and_then(parse_content_range)
        .ok_or_else(|| format!("{range}: bad Content-Range {content_range:?}"))?;
    if span.1 < span.0 || response.body.len() as u64 != span.1 - span.0 + 1 {
        return Err(format!(
            "{range}: Content-Range {content_range:?} but {} body bytes",
            response.body.len()
        ));
    }
    if let Some(start) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .and_then(|(start, _)| start.parse::<u64>().ok())
        && start != span.0
    {
        return Err(format!("{range}: answered from byte {} instead", span.0));
    }
    Ok(response.body.to_vec())
}

/// `bytes a-b/total` → (a, b).
fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let (span, _total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    Some((start.parse().ok()?, end.parse().ok()?))
}

/// The `total` of the last exchange's `Content-Range: bytes a-b/total`.
fn announced_total(result: &FetchResult) -> Result<u64, String> {
    let content_range = result
        .exchanges
        .last()
        .and_then(|e| e.content_range.as_deref())
        .ok_or("the probe's 206 has no Content-Range")?;
    content_range
        .rsplit_once('/')
        .and_then(|(_, total)| total.parse().ok())
        .ok_or_else(|| format!("bad Content-Range {content_range:?}"))
}

/// `http://HOST:PORT/path` → (address, path). Only literal IPs: the fake resolves nothing.
fn split_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("the fake Apple TV only fetches http:// URLs, not {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = authority
        .parse()
        .map_err(|_| format!("{url}: host is not IP:PORT"))?;
    let path = if path.is_empty() { "/" } else { path };
    Ok((addr, path.to_string()))
}
