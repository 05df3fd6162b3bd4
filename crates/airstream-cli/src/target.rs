//! Resolving where to send: `HOST:PORT` (a name or an address).

use anyhow::Context;
use std::net::SocketAddr;

pub(crate) async fn resolve_address(address: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = address.parse() {
        return Ok(addr);
    }
    let mut found = tokio::net::lookup_host(address)
        .await
        .with_context(|| format!("cannot resolve {address:?} (expected HOST:PORT)"))?;
    found.next().ok_or_else(|| {
        anyhow::Error::new(airstream::Error::NotFound(format!(
            "{address} resolves to no address"
        )))
    })
}
