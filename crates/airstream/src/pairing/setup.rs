//! Pair-setup (airplay.md §2.2): `POST /pair-pin-start`, then three `POST /pair-setup-pin`
//! exchanges on the same connection, then one pair-verify on a new connection.

use super::verify::{VerifyPeer, pair_verify};
use crate::airplay::AirPlayDevice;
use crate::connection::Connection;
use crate::error::{Error, Result};
use airstream_proto::capabilities::{Capabilities, PairingRequirement};
use airstream_proto::pairing::{
    Credentials, PAIR_PIN_START_PATH, PAIR_SETUP_CONTENT_TYPE, PAIR_SETUP_PATH, PAIRING_USER_AGENT,
    PairSetup, PairingError,
};
use airstream_proto::rtsp::{Request, Response, Version};

/// Statuses that answer our SRP proof when the PIN was wrong. Apple TVs answer with an
/// authentication error; which one is not documented, so all three count (the in-repo
/// fake Apple TV uses 470 Connection Authorization Required).
pub const WRONG_PIN_STATUSES: [u16; 3] = [401, 403, 470];

/// Pairs with `device`: asks it to show a PIN, calls `ask_pin` for it (only then, since the
/// TV shows the PIN only after being asked), runs pair-setup checking the device's proof
/// M2, and then pair-verify once on a new connection to prove the credentials work.
///
/// `credentials` are the identifier and key to pair with; `None` makes fresh random ones.
/// Returns the credentials the device now trusts; store them for later connections.
///
/// Errors: [`Error::BadPin`] for a wrong PIN; [`Error::Pairing`] when the device's proof is
/// wrong (it does not know the PIN: not the device it claims to be) or a reply is garbled;
/// [`Error::Unsupported`] when the device does not do PIN pairing or has it switched off;
/// [`Error::InvalidInput`] for a PIN that is not 1 to 8 digits; network errors as usual.
pub async fn pair<F, Fut>(
    device: &AirPlayDevice,
    ask_pin: F,
    credentials: Option<Credentials>,
) -> Result<Credentials>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String>>,
{
    refuse_if_pairing_is_off(device)?;
    let credentials = credentials.unwrap_or_else(|| Credentials::random(&mut rand::rng()));
    // `Display` of credentials is the identifier only.
    tracing::info!(device = %device.label(), %credentials, "pairing");

    let mut conn = Connection::connect(device.address).await?;
    let setup_key = pair_setup(&mut conn, device, &credentials, ask_pin).await;
    conn.shutdown().await;
    let setup_key = setup_key?;

    let advertised_key = device
        .capabilities
        .as_ref()
        .and_then(|c| c.public_key)
        .map(|pk| pk.0);
    if let (Some(advertised), Some(from_setup)) = (advertised_key, setup_key)
        && advertised != from_setup
    {
        tracing::warn!(
            "{}: the key the device sent while pairing differs from the one it advertises \
             (TXT pk); using the one from pairing",
            device.label()
        );
    }
    // Every later playback verifies on a fresh connection, so prove exactly that now.
    let peer = VerifyPeer {
        label: device.label(),
        pair_command: device.pair_command(),
        device_key: setup_key.or(advertised_key),
    };
    let mut conn = Connection::connect(device.address).await?;
    let verified = pair_verify(&mut conn, &credentials, &peer).await;
    conn.shutdown().await;
    verified.map_err(Error::right_after_pairing)?;
    tracing::info!(device = %device.label(), %credentials, "paired and verified");
    Ok(credentials)
}

/// Devices that advertise that pairing is switched off (`acl=1`) or limited to their home
/// (`act=2`) would only refuse; say why up front.
fn refuse_if_pairing_is_off(device: &AirPlayDevice) -> Result<()> {
    let why = match device.capabilities.as_ref().map(Capabilities::pairing) {
        Some(PairingRequirement::Disabled) => {
            "its AirPlay access control switches pairing off (acl=1)"
        }
        Some(PairingRequirement::Unsupported) => "it only lets members of its home connect (act=2)",
        _ => return Ok(()),
    };
    Err(Error::Unsupported(format!(
        "{} cannot be paired: {why}",
        device.label()
    )))
}

/// Runs pin-start and the three pair-setup steps; returns the device's Ed25519 key when
/// its step-3 reply carries one.
async fn pair_setup<F, Fut>(
    conn: &mut Connection,
    device: &AirPlayDevice,
    credentials: &Credentials,
    ask_pin: F,
) -> Result<Option<[u8; 32]>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let label = device.label();
    let reply = conn.request(&pin_start_request()).await?;
    check_pin_start(&reply, &label)?;

    let pin = ask_pin().await?;
    let setup = PairSetup::new(credentials, pin.trim()).map_err(|_| {
        Error::InvalidInput("the PIN must be 1 to 8 digits, as the device shows it".into())
    })?;
    drop(pin);
    let pairing_error = |source: PairingError| Error::Pairing {
        device: label.clone(),
        source,
    };

    let reply = conn.request(&setup_request(setup.request_body())).await?;
    expect_success(&reply, 1, &label)?;
    let proof = setup.handle_response(&reply.body).map_err(pairing_error)?;

    let reply = conn.request(&setup_request(proof.request_body())).await?;
    if WRONG_PIN_STATUSES.contains(&reply.status) {
        tracing::debug!(status = reply.status, "the device refused our SRP proof");
        return Err(Error::BadPin);
    }
    expect_success(&reply, 2, &label)?;
    // Fails unless the device's M2 proves it derived the same key from the same PIN.
    let exchange = proof.handle_response(&reply.body).map_err(pairing_error)?;

    let reply = conn
        .request(&setup_request(exchange.request_body()))
        .await?;
    expect_success(&reply, 3, &label)?;
    // The device accepted our key, so pairing is done; its own key is a bonus.
    match exchange.handle_response(&reply.body) {
        Ok(key) => Ok(key),
        Err(e) => {
            tracing::warn!("{label}: ignoring the device's key from pair-setup step 3: {e}");
            Ok(None)
        }
    }
}

fn pin_start_request() -> Request {
    Request::new("POST", PAIR_PIN_START_PATH, Version::Http11)
        .with_header("User-Agent", PAIRING_USER_AGENT)
        .with_header("Connection", "keep-alive")
}

fn setup_request(body: Vec<u8>) -> Request {
    Request::new("POST", PAIR_SETUP_PATH, Version::Http11)
        .with_header("User-Agent", PAIRING_USER_AGENT)
        .with_header("Connection", "keep-alive")
        .with_body(PAIR_SETUP_CONTENT_TYPE, body)
}

fn check_pin_start(reply: &Response, label: &str) -> Result<()> {
    match reply.status {
        200..=299 => Ok(()),
        404 | 501 => Err(Error::Unsupported(format!(
            "{label} does not do legacy PIN pairing (POST {PAIR_PIN_START_PATH} answered {} {})",
            reply.status, reply.reason
        ))),
        status => Err(Error::Protocol {
            device: label.to_string(),
            request: format!(
                "POST {PAIR_PIN_START_PATH} (the device refused to show a PIN; is an AirPlay \
                 password set, or access restricted?)"
            ),
            status,
            reason: reply.reason.clone(),
        }),
    }
}

fn expect_success(reply: &Response, step: u8, label: &str) -> Result<()> {
    if reply.is_success() {
        return Ok(());
    }
    Err(Error::Protocol {
        device: label.to_string(),
        request: format!("POST {PAIR_SETUP_PATH} (pair-setup step {step})"),
        status: reply.status,
        reason: reply.reason.clone(),
    })
}
