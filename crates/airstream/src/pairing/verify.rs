//! Legacy pair-verify on an open connection (airplay.md §2.4): two `POST /pair-verify`
//! requests proving we hold paired credentials. Nothing is encrypted afterwards; the
//! connection is simply trusted. Used before `/play` (AirPlay 1) and before `ANNOUNCE` (RAOP).

use crate::connection::Connection;
use crate::error::{Error, Result};
use airstream_proto::pairing::{
    Credentials, PAIR_VERIFY_CONTENT_TYPE, PAIR_VERIFY_PATH, PAIRING_USER_AGENT, PairVerify,
};
use airstream_proto::rtsp::{Request, Response, Version};

/// The device being verified, as messages name it.
#[derive(Debug, Clone)]
pub(crate) struct VerifyPeer {
    pub(crate) label: String,
    /// The exact command that pairs with it, carried by the error for the CLI's advice.
    pub(crate) pair_command: String,
    /// Its Ed25519 key (from pair-setup, or its TXT `pk`): with it, the device's signature
    /// is checked too, so an impostor cannot take the connection. pyatv never checks it.
    pub(crate) device_key: Option<[u8; 32]>,
}

pub(crate) async fn pair_verify(
    conn: &mut Connection,
    credentials: &Credentials,
    peer: &VerifyPeer,
) -> Result<()> {
    let verify = PairVerify::new(credentials);
    let reply = conn.request(&verify_request(verify.request_body())).await?;
    check(&reply, 1, peer, credentials)?;
    let second = verify
        .handle_response(&reply.body, peer.device_key.as_ref())
        .map_err(|source| Error::Pairing {
            device: peer.label.clone(),
            source,
        })?;
    let reply = conn.request(&verify_request(second)).await?;
    check(&reply, 2, peer, credentials)?;
    tracing::debug!(%credentials, device = %peer.label, "pair-verify succeeded");
    Ok(())
}

fn verify_request(body: Vec<u8>) -> Request {
    Request::new("POST", PAIR_VERIFY_PATH, Version::Http11)
        .with_header("User-Agent", PAIRING_USER_AGENT)
        .with_header("Connection", "keep-alive")
        .with_body(PAIR_VERIFY_CONTENT_TYPE, body)
}

/// A 4xx is the device refusing these credentials; anything else non-2xx is a device fault.
fn check(reply: &Response, step: u8, peer: &VerifyPeer, credentials: &Credentials) -> Result<()> {
    match reply.status {
        200..=299 => Ok(()),
        400..=499 => Err(Error::CredentialsRejected {
            device: peer.label.clone(),
            reason: format!(
                "{credentials}, pair-verify step {step} answered {} {}",
                reply.status, reply.reason
            ),
            command: peer.pair_command.clone(),
        }),
        status => Err(Error::Protocol {
            device: peer.label.clone(),
            request: format!("POST {PAIR_VERIFY_PATH} (pair-verify step {step})"),
            status,
            reason: reply.reason.clone(),
        }),
    }
}
