//! The fake's tvOS 14+ mode (airplay.md §1.7, airplay2.md §1–4): HAP pair-setup (a PIN it
//! "shows", or transient with 3939) and pair-verify from `airstream_proto::hap`'s device
//! side, the encrypted channel after either, and an AirPlay session (`SETUP` with an event
//! port, `RECORD`) without which `/play` is refused, as modern tvOS does.

use std::fmt;
use std::sync::Arc;

use airstream_proto::hap::{
    DeviceIdentity, DeviceStep, FLAG_TRANSIENT, FrameDecoder, FrameEncoder, PairSetupServer,
    PairVerifyServer, PairedController, SessionKeys, TRANSIENT_PIN, Tlv8, TlvType,
};
use airstream_proto::rtsp::Request;
use plist::{Dictionary, Value};
use tokio::net::TcpListener;

use super::{Shared, plist_response, status};

/// tvOS 14+ behaviour of the fake.
#[derive(Clone)]
pub struct Tvos14 {
    pub identity: DeviceIdentity,
    /// The PIN `/pair-pin-start` shows; `None` shows a fresh random 4-digit PIN each time.
    pub pin: Option<String>,
    /// Controllers paired before the fake started; those that pair with it are added.
    pub trusted: Vec<PairedController>,
}

impl Tvos14 {
    /// A device with this identity, no paired controllers, and random PINs.
    pub fn new(identity: DeviceIdentity) -> Self {
        Tvos14 {
            identity,
            pin: None,
            trusted: Vec::new(),
        }
    }
}

impl fmt::Debug for Tvos14 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tvos14")
            .field("identity", &self.identity)
            .field("pin", &self.pin.as_ref().map(|_| "<redacted>"))
            .field("trusted", &self.trusted.len())
            .finish()
    }
}

/// Per-connection HAP and session state.
#[derive(Default)]
pub(super) struct Tvos14Connection {
    setup: Option<PairSetupServer>,
    verify: Option<PairVerifyServer>,
    /// Encoder and decoder once pair-verify or transient setup finished.
    pub(super) cipher: Option<(FrameEncoder, FrameDecoder)>,
    /// Keys that take effect after the reply that finished the exchange.
    pub(super) pending: Option<SessionKeys>,
    session_setup: bool,
    pub(super) recording: bool,
}

impl Tvos14Connection {
    pub(super) fn encrypted(&self) -> bool {
        self.cipher.is_some()
    }
}

/// Accepts event-channel connections and holds them open until the fake stops.
pub(super) async fn event_listener() -> std::io::Result<(u16, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    Ok((port, task))
}

/// `/pair-pin-start`: "shows" a PIN; a pair-setup under way on this connection starts over.
pub(super) fn pair_pin_start(
    shared: &Shared,
    mode: &Tvos14,
    conn: &mut Tvos14Connection,
) -> super::Response {
    let pin = mode
        .pin
        .clone()
        .unwrap_or_else(|| format!("{:04}", rand::random_range(0..10_000u32)));
    shared.state().shown_pin = Some(pin);
    conn.setup = None;
    status(200)
}

/// `/pair-setup` (HAP TLV8). A refusal (wrong PIN) is a 200 with a TLV8 error, as on a
/// real device; a malformed body is a 400.
pub(super) fn pair_setup(
    shared: &Shared,
    mode: &Tvos14,
    conn: &mut Tvos14Connection,
    request: &Request,
) -> super::Response {
    let Ok(tlv) = Tlv8::decode("pair-setup", &request.body) else {
        return status(400);
    };
    if tlv.get(TlvType::State) == Some(&[1][..]) {
        let transient = tlv.get(TlvType::Flags) == Some(&[FLAG_TRANSIENT][..]);
        let pin = if transient {
            Some(TRANSIENT_PIN.to_string())
        } else {
            shared.state().shown_pin.clone()
        };
        let Some(pin) = pin else {
            tracing::debug!("fake Apple TV: HAP pair-setup without a PIN on screen");
            return status(403);
        };
        match PairSetupServer::new(&mode.identity, &pin, rand::random(), rand::random()) {
            Ok(server) => conn.setup = Some(server),
            Err(_) => return status(500),
        }
    }
    let Some(setup) = conn.setup.as_mut() else {
        return status(400);
    };
    match setup.handle_request(&request.body) {
        Ok((body, step)) => {
            match step {
                DeviceStep::Paired(controller) => {
                    let mut state = shared.state();
                    if !state.hap_paired.contains(&controller) {
                        state.hap_paired.push(controller);
                    }
                }
                DeviceStep::Encrypted(keys) => conn.pending = Some(keys),
                DeviceStep::Refused(error) => {
                    tracing::debug!("fake Apple TV refused HAP pair-setup: {error}");
                }
                DeviceStep::Continue => {}
            }
            status(200).with_body("application/octet-stream", body)
        }
        Err(e) => {
            tracing::debug!("fake Apple TV: bad HAP pair-setup request: {e}");
            status(400)
        }
    }
}

/// `/pair-verify` (HAP TLV8) against the trusted controllers and every one paired so far.
pub(super) fn pair_verify(
    shared: &Shared,
    mode: &Tvos14,
    conn: &mut Tvos14Connection,
    request: &Request,
) -> super::Response {
    let Ok(tlv) = Tlv8::decode("pair-verify", &request.body) else {
        return status(400);
    };
    if tlv.get(TlvType::State) == Some(&[1][..]) {
        let mut controllers = mode.trusted.clone();
        controllers.extend(shared.state().hap_paired.iter().cloned());
        conn.verify = Some(PairVerifyServer::new(
            &mode.identity,
            rand::random(),
            controllers,
        ));
    }
    let Some(verify) = conn.verify.as_mut() else {
        return status(400);
    };
    match verify.handle_request(&request.body) {
        Ok((body, step)) => {
            match step {
                DeviceStep::Encrypted(keys) => conn.pending = Some(keys),
                DeviceStep::Refused(error) => {
                    tracing::debug!("fake Apple TV refused HAP pair-verify: {error}");
                }
                DeviceStep::Continue | DeviceStep::Paired(_) => {}
            }
            status(200).with_body("application/octet-stream", body)
        }
        Err(e) => {
            tracing::debug!("fake Apple TV: bad HAP pair-verify request: {e}");
            status(400)
        }
    }
}

/// The first `SETUP` (bplist): answers the event port; only on the encrypted channel.
pub(super) fn setup(
    shared: &Arc<Shared>,
    conn: &mut Tvos14Connection,
    request: &Request,
) -> super::Response {
    if !conn.encrypted() {
        return status(shared.config.unauthorized_status);
    }
    let body = Value::from_reader(std::io::Cursor::new(&request.body[..]))
        .ok()
        .and_then(Value::into_dictionary);
    if body.is_none_or(|d| !d.contains_key("sessionUUID")) {
        return status(400);
    }
    conn.session_setup = true;
    let mut reply = Dictionary::new();
    reply.insert(
        "eventPort".into(),
        Value::Integer(u64::from(shared.event_port).into()),
    );
    reply.insert("timingPort".into(), Value::Integer(0u64.into()));
    plist_response(&reply, true)
}

/// `GET /info`: what a tvOS 14 Apple TV 4K says about itself (AirPlay 2 feature bits 38
/// and 48, status flag 0x8: it wants a PIN).
pub(super) fn info(mode: &Tvos14) -> super::Response {
    let mut dict = Dictionary::new();
    dict.insert(
        "features".into(),
        Value::Integer(0xBC15_7FDE_4A7F_DFD5_u64.into()),
    );
    dict.insert("statusFlags".into(), Value::Integer(0x8u64.into()));
    dict.insert("model".into(), Value::String("AppleTV6,2".into()));
    dict.insert(
        "deviceID".into(),
        Value::String(String::from_utf8_lossy(mode.identity.id()).into_owned()),
    );
    dict.insert(
        "pk".into(),
        Value::Data(mode.identity.public_key().to_vec()),
    );
    plist_response(&dict, true)
}

/// `RECORD`: starts the session `/play` needs.
pub(super) fn record(shared: &Shared, conn: &mut Tvos14Connection) -> super::Response {
    if !conn.session_setup {
        return status(shared.config.unauthorized_status);
    }
    conn.recording = true;
    status(200)
}

/// `/feedback`, `/setProperty?…`, `/rate?…`: accepted inside the encrypted channel.
pub(super) fn session_request(shared: &Shared, conn: &Tvos14Connection) -> super::Response {
    if conn.encrypted() {
        status(200)
    } else {
        status(shared.config.unauthorized_status)
    }
}
