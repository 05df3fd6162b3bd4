//! The HAP exchanges over RTSP (airplay2.md §2–3): full PIN pair-setup, transient
//! pair-setup and pair-verify, each ending (except full setup) in an encrypted connection.

use airstream_proto::hap::{
    self, ClientIdentity, HapCredentials, HapError, PairSetup, PairVerify, TransientPairSetup,
};
use airstream_proto::rtsp::{Request, Response, Version};

use super::HapConnection;
use crate::airplay::AirPlayDevice;
use crate::error::{Error, Result};
use crate::pairing::WRONG_PIN_STATUSES;

/// What iOS sends; devices do not check it.
const USER_AGENT: &str = "AirPlay/320.20";
/// `POST` with no body: asks a device with a screen to show its PIN.
const PAIR_PIN_START_PATH: &str = "/pair-pin-start";

/// A full HAP pairing with `device`: asks it to show a PIN (devices without a screen, such as
/// shairport-sync, have no `/pair-pin-start` and a fixed PIN), calls `ask_pin`, runs M1–M6
/// checking the device's SRP proof and signature, then pair-verify on a new connection to
/// prove the credentials work. Returns the credentials to store.
///
/// Errors: [`Error::BadPin`] for a wrong PIN; [`Error::HapPairing`] when the device's proof
/// or signature is wrong or a reply is garbled; [`Error::InvalidInput`] for a PIN that is
/// not 1 to 8 digits; network errors as usual.
pub async fn pair<F, Fut>(device: &AirPlayDevice, ask_pin: F) -> Result<HapCredentials>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let client = ClientIdentity::random(&mut rand::rng());
    tracing::info!(device = %device.label(), ?client, "HAP pairing");
    let mut conn = HapConnection::connect(device.address).await?;
    let credentials = pair_setup(&mut conn, device, client, ask_pin).await;
    conn.shutdown().await;
    let credentials = credentials?;

    let verified = verified_session(device, &credentials).await;
    let conn = verified.map_err(Error::right_after_pairing)?;
    conn.shutdown().await;
    tracing::info!(device = %device.label(), ?credentials, "HAP paired and verified");
    Ok(credentials)
}

async fn pair_setup<F, Fut>(
    conn: &mut HapConnection,
    device: &AirPlayDevice,
    client: ClientIdentity,
    ask_pin: F,
) -> Result<HapCredentials>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let label = device.label();
    let shown = conn
        .request(post(PAIR_PIN_START_PATH, hap::HKP_PAIRING, Vec::new()))
        .await?;
    if !shown.is_success() {
        // No screen: the PIN is fixed (3939 on shairport-sync unless configured).
        tracing::debug!(status = shown.status, "no /pair-pin-start on this device");
    }
    let pin = ask_pin().await?;
    let m1 = PairSetup::new(client, pin.trim()).map_err(|_| {
        Error::InvalidInput("the PIN must be 1 to 8 digits, as the device shows it".into())
    })?;
    drop(pin);
    let failed = |source| hap_error(&label, device, source);

    let m2 = setup_step(conn, &label, 1, hap::HKP_PAIRING, m1.request_body()).await?;
    let m3 = m1.handle_response(&m2.body).map_err(failed)?;
    let m4 = conn
        .request(post(
            hap::PAIR_SETUP_PATH,
            hap::HKP_PAIRING,
            m3.request_body(),
        ))
        .await?;
    if WRONG_PIN_STATUSES.contains(&m4.status) {
        return Err(Error::BadPin);
    }
    expect_success(&m4, &label, "pair-setup M3")?;
    let m5 = m3.handle_response(&m4.body).map_err(failed)?;
    let m6 = setup_step(conn, &label, 5, hap::HKP_PAIRING, m5.request_body()).await?;
    m5.handle_response(&m6.body).map_err(failed)
}

/// Transient pair-setup (PIN 3939, nothing stored) on a new connection, which is encrypted
/// when this returns.
pub async fn transient_session(device: &AirPlayDevice) -> Result<HapConnection> {
    let label = device.label();
    let mut conn = HapConnection::connect(device.address).await?;
    let mut srp_private = [0u8; 32];
    rand::fill(&mut srp_private);
    let m1 = TransientPairSetup::new(srp_private);
    let failed = |source| hap_error(&label, device, source);
    let m2 = setup_step(&mut conn, &label, 1, hap::HKP_TRANSIENT, m1.request_body()).await?;
    let m3 = m1.handle_response(&m2.body).map_err(failed)?;
    let m4 = setup_step(&mut conn, &label, 3, hap::HKP_TRANSIENT, m3.request_body()).await?;
    let keys = m3.handle_response(&m4.body).map_err(failed)?;
    conn.enable_encryption(keys);
    tracing::debug!(device = %label, "transient pairing done; channel encrypted");
    Ok(conn)
}

/// Pair-verify with stored `credentials` on a new connection, which is encrypted when this
/// returns. [`Error::CredentialsRejected`] when the device does not know them (any more).
pub async fn verified_session(
    device: &AirPlayDevice,
    credentials: &HapCredentials,
) -> Result<HapConnection> {
    let label = device.label();
    let mut conn = HapConnection::connect(device.address).await?;
    let mut ephemeral = [0u8; 32];
    rand::fill(&mut ephemeral);
    let m1 = PairVerify::new(credentials, ephemeral);
    let failed = |source| verify_error(&label, device, source);
    let m2 = verify_step(&mut conn, device, 1, m1.request_body()).await?;
    let m3 = m1.handle_response(&m2.body).map_err(failed)?;
    let m4 = verify_step(&mut conn, device, 3, m3.request_body()).await?;
    let keys = m3.handle_response(&m4.body).map_err(failed)?;
    conn.enable_encryption(keys);
    tracing::debug!(device = %label, ?credentials, "pair-verify done; channel encrypted");
    Ok(conn)
}

fn post(path: &str, hkp: &str, body: Vec<u8>) -> Request {
    let request = Request::new("POST", path, Version::Rtsp10)
        .with_header("User-Agent", USER_AGENT)
        .with_header("X-Apple-HKP", hkp);
    if body.is_empty() {
        request
    } else {
        request.with_body(hap::CONTENT_TYPE, body)
    }
}

async fn setup_step(
    conn: &mut HapConnection,
    label: &str,
    state: u8,
    hkp: &str,
    body: Vec<u8>,
) -> Result<Response> {
    let reply = conn.request(post(hap::PAIR_SETUP_PATH, hkp, body)).await?;
    expect_success(&reply, label, &format!("pair-setup M{state}"))?;
    Ok(reply)
}

/// A 4xx to pair-verify is the device refusing these credentials.
async fn verify_step(
    conn: &mut HapConnection,
    device: &AirPlayDevice,
    state: u8,
    body: Vec<u8>,
) -> Result<Response> {
    let reply = conn
        .request(post(hap::PAIR_VERIFY_PATH, hap::HKP_PAIRING, body))
        .await?;
    if (400..500).contains(&reply.status) {
        return Err(rejected(
            device,
            &format!(
                "pair-verify M{state} answered {} {}",
                reply.status, reply.reason
            ),
        ));
    }
    expect_success(&reply, &device.label(), &format!("pair-verify M{state}"))?;
    Ok(reply)
}

fn expect_success(reply: &Response, label: &str, step: &str) -> Result<()> {
    if reply.is_success() {
        return Ok(());
    }
    Err(Error::Protocol {
        device: label.to_string(),
        request: format!("POST ({step})"),
        status: reply.status,
        reason: reply.reason.clone(),
    })
}

fn rejected(device: &AirPlayDevice, why: &str) -> Error {
    Error::CredentialsRejected {
        device: device.label(),
        reason: format!("AirPlay 2: {why}"),
        command: device.pair_command(),
    }
}

/// In pair-verify, a device that no longer proves the identity it had when we paired (another
/// id, or a signature its stored key does not verify) was reset or replaced: the credentials
/// are useless with it, and the fix is to pair again. The session is refused either way.
fn verify_error(label: &str, device: &AirPlayDevice, source: HapError) -> Error {
    match source {
        HapError::DeviceIdentityMismatch | HapError::DeviceSignatureMismatch { .. } => rejected(
            device,
            "it does not prove the identity it had when paired: it was reset, or another \
             device answers at this address",
        ),
        source => hap_error(label, device, source),
    }
}

/// Wrong PIN and refused credentials get their own kinds; the rest is a protocol fault.
fn hap_error(label: &str, device: &AirPlayDevice, source: HapError) -> Error {
    match source {
        HapError::BadPin => Error::BadPin,
        HapError::CredentialsRejected => rejected(device, "the device refused pair-verify"),
        source => Error::HapPairing {
            device: label.to_string(),
            source,
        },
    }
}
