//! What a device given only by address is: `GET /info` over RTSP, which AirPlay 2 receivers
//! answer with a binary plist of the same facts their TXT records carry (`features`,
//! `statusFlags`, `pk`, `model`). The device id is left out: a device given by address is
//! stored and named by that address.

use std::net::SocketAddr;

use airstream_proto::bplist;
use airstream_proto::capabilities::{Capabilities, TxtRecord};
use airstream_proto::rtsp::{Request, Version};
use plist::Value;

use super::HapConnection;
use crate::error::Result;

/// The device's capabilities from `GET /info`, or `None` when it does not answer with a
/// plist that has `features` (AirPlay 1 devices, which are then treated as before).
/// Only a failure to connect is an error.
pub async fn probe_capabilities(address: SocketAddr) -> Result<Option<Capabilities>> {
    let mut conn = HapConnection::connect(address).await?;
    let reply = conn
        .request(Request::new("GET", "/info", Version::Rtsp10))
        .await;
    conn.shutdown().await;
    let body = match reply {
        Ok(reply) if reply.is_success() => reply.body,
        Ok(reply) => {
            tracing::debug!(status = reply.status, "{address}: no /info");
            return Ok(None);
        }
        Err(e) => {
            tracing::debug!("{address}: GET /info failed: {e}");
            return Ok(None);
        }
    };
    let Ok(info) = bplist::decode_dict(&body) else {
        tracing::debug!("{address}: /info is not a plist");
        return Ok(None);
    };
    let Some(features) = info.get("features").and_then(integer) else {
        return Ok(None);
    };
    let mut txt = TxtRecord::new();
    let mut push = |key: &str, value: String| txt.push(key, Some(value.as_bytes()));
    push(
        "features",
        format!("0x{:X},0x{:X}", features & 0xFFFF_FFFF, features >> 32),
    );
    if let Some(flags) = info.get("statusFlags").and_then(integer) {
        push("flags", format!("0x{flags:X}"));
    }
    if let Some(pk) = info.get("pk").and_then(Value::as_data) {
        push("pk", hex::encode(pk));
    }
    if let Some(model) = info.get("model").and_then(Value::as_string) {
        push("model", model.to_string());
    }
    Ok(Some(Capabilities::from_txt(None, Some(&txt))))
}

fn integer(value: &Value) -> Option<u64> {
    let integer = value.as_unsigned_integer();
    integer.or_else(|| value.as_signed_integer().map(|v| v as u64))
}
