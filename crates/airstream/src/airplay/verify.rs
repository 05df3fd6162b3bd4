//! Legacy pair-verify on the playback connection (airplay.md §2.4): two `POST /pair-verify`
//! requests proving we hold paired credentials. Nothing is encrypted afterwards; the
//! connection is simply trusted for `/play`.

use super::device::AirPlayDevice;
use crate::connection::Connection;
use crate::error::{Error, Result};
use airstream_proto::pairing::{
    Credentials, PAIR_VERIFY_CONTENT_TYPE, PAIR_VERIFY_PATH, PAIRING_USER_AGENT, PairVerify,
};
use airstream_proto::rtsp::{Request, Response, Version};

pub(crate) async fn pair_verify(
    conn: &mut Connection,
    device: &AirPlayDevice,
    credentials: &Credentials,
) -> Result<()> {
    let verify = PairVerify::new(credentials);
    let reply = conn.request(&verify_request(verify.request_body())).await?;
    check(&reply, 1, device, credentials)?;
    // With the key it advertises (TXT `pk`, from discovery) the device's signature is checked
    // too, so an impostor cannot take the playback; a bare address gives no key (pyatv never
    // checks it).
    let device_key = device
        .capabilities
        .as_ref()
        .and_then(|c| c.public_key)
        .map(|pk| pk.0);
    let second = verify
        .handle_response(&reply.body, device_key.as_ref())
        .map_err(|e| Error::BadMessage {
            peer: device.label(),
            detail: e.to_string(),
        })?;
    let reply = conn.request(&verify_request(second)).await?;
    check(&reply, 2, device, credentials)?;
    tracing::debug!(%credentials, "pair-verify succeeded");
    Ok(())
}

fn verify_request(body: Vec<u8>) -> Request {
    Request::new("POST", PAIR_VERIFY_PATH, Version::Http11)
        .with_header("User-Agent", PAIRING_USER_AGENT)
        .with_header("Connection", "keep-alive")
        .with_body(PAIR_VERIFY_CONTENT_TYPE, body)
}

fn check(
    reply: &Response,
    step: u8,
    device: &AirPlayDevice,
    credentials: &Credentials,
) -> Result<()> {
    if reply.is_success() {
        return Ok(());
    }
    Err(Error::CredentialsRejected(format!(
        "{} rejected credentials {credentials} (pair-verify step {step} answered {} {}); \
         pair again: `{}`",
        device.label(),
        reply.status,
        reply.reason,
        device.pair_command()
    )))
}
