//! The AirPlay 2 (tvOS 14+) preamble of `play_url` (airplay.md §1.7): an encrypted session
//! (pair-verify with HAP credentials, or transient pairing), `SETUP` with the event channel,
//! `RECORD`; then `/play` with its AirPlay 2 body, the `setProperty` calls and `/rate`.
//! The `/playback-info` polling that follows is AirPlay 1's, on this connection, with a
//! `/feedback` every [`FEEDBACK_INTERVAL`] to keep the session alive.

use std::time::Duration;

use airstream_proto::bplist;
use airstream_proto::hap::HapCredentials;
use airstream_proto::rtsp::{Request, Version};
use plist::{Dictionary, Value};
use tokio::net::TcpStream;

use super::HapConnection;
use crate::airplay::AirPlayDevice;
use crate::error::{Error, Result};

/// How often the session is kept alive with `POST /feedback` (what pyatv does).
pub(crate) const FEEDBACK_INTERVAL: Duration = Duration::from_secs(2);
const BPLIST: &str = "application/x-apple-binary-plist";
const PLAY_USER_AGENT: &str = "AirPlay/550.10";

/// An AirPlay 2 session ready for `/play`: the encrypted control connection, and the event
/// connection the device asked for (held open for the session's life).
pub(crate) struct Airplay2Session {
    pub(crate) conn: HapConnection,
    pub(crate) _events: TcpStream,
    base_uri: String,
}

/// Opens the session: pair-verify with `credentials`, else transient pairing where the
/// device allows it, else [`Error::PairingRequired`] (before any connection).
pub(crate) async fn open(
    device: &AirPlayDevice,
    credentials: Option<&HapCredentials>,
    transient_allowed: bool,
    request_timeout: Duration,
) -> Result<Airplay2Session> {
    let mut conn = match (credentials, transient_allowed) {
        (Some(credentials), _) => super::verified_session(device, credentials).await?,
        (None, true) => super::transient_session(device).await?,
        (None, false) => {
            return Err(Error::PairingRequired {
                device: device.label(),
                command: device.pair_command(),
            });
        }
    };
    conn.set_request_timeout(request_timeout);
    let base_uri = format!("rtsp://{}/{}", conn.local().ip(), rand::random::<u32>());
    let reply = conn.request(setup_request(&base_uri)).await?;
    expect_success(device, "SETUP", reply.status, &reply.reason)?;
    let event_port = bplist::decode_dict(&reply.body)
        .ok()
        .and_then(|d| d.get("eventPort").and_then(Value::as_unsigned_integer))
        .and_then(|port| u16::try_from(port).ok())
        .filter(|port| *port != 0)
        .ok_or_else(|| Error::BadMessage {
            device: device.label(),
            detail: "the SETUP reply has no event port".into(),
        })?;
    let events = TcpStream::connect((device.address.ip(), event_port))
        .await
        .map_err(|e| Error::network(format!("event channel of {}", device.label()), e))?;
    let reply = conn
        .request(Request::new("RECORD", &base_uri, Version::Rtsp10))
        .await?;
    expect_success(device, "RECORD", reply.status, &reply.reason)?;
    Ok(Airplay2Session {
        conn,
        _events: events,
        base_uri,
    })
}

impl Airplay2Session {
    /// After `/play`: the `setProperty` calls pyatv makes, and `/rate` (without it playback
    /// starts paused).
    pub(crate) async fn start_playback(&mut self, device: &AirPlayDevice) -> Result<()> {
        let end_time = {
            let mut time = Dictionary::new();
            for key in ["epoch", "flags", "timescale", "value"] {
                time.insert(key.into(), Value::Integer(0u64.into()));
            }
            Value::Dictionary(time)
        };
        let requests = [
            set_property("isInterestedInDateRange", Value::Boolean(true)),
            set_property("actionAtItemEnd", Value::Integer(0u64.into())),
            Request::new("POST", "/rate?value=1.000000", Version::Rtsp10),
            set_property("forwardEndTime", end_time.clone()),
            set_property("reverseEndTime", end_time),
        ];
        for request in requests {
            let what = format!("{} {}", request.method, request.uri);
            let reply = self.conn.request(request).await?;
            expect_success(device, &what, reply.status, &reply.reason)?;
        }
        Ok(())
    }

    /// `POST /feedback`: keeps the session alive.
    pub(crate) async fn feedback(&mut self, device: &AirPlayDevice) -> Result<()> {
        let reply = self
            .conn
            .request(Request::new("POST", "/feedback", Version::Rtsp10))
            .await?;
        expect_success(device, "POST /feedback", reply.status, &reply.reason)
    }

    /// The RTSP URI of the session (for logs).
    pub(crate) fn uri(&self) -> &str {
        &self.base_uri
    }
}

/// The first `SETUP`: who we are and that no audio timing is needed.
fn setup_request(uri: &str) -> Request {
    let mut mac: [u8; 6] = rand::random();
    mac[0] = (mac[0] | 0x02) & 0xFE; // locally administered, unicast
    let mac = mac.map(|b| format!("{b:02X}")).join(":");
    let session_uuid = crate::airplay::new_session_id().to_uppercase();
    let body = bplist::encode_dict([
        ("deviceID", Value::String(mac.clone())),
        ("groupContainsGroupLeader", Value::Boolean(false)),
        ("isMultiSelectAirPlay", Value::Boolean(true)),
        ("macAddress", Value::String(mac)),
        ("model", Value::String("iPhone14,3".into())),
        ("name", Value::String("airstream".into())),
        ("senderSupportsRelay", Value::Boolean(false)),
        ("sessionUUID", Value::String(session_uuid)),
        ("sourceVersion", Value::String("550.10".into())),
        ("statsCollectionEnabled", Value::Boolean(false)),
        ("timingProtocol", Value::String("None".into())),
    ]);
    Request::new("SETUP", uri, Version::Rtsp10).with_body(BPLIST, body)
}

fn set_property(name: &str, value: Value) -> Request {
    Request::new("PUT", &format!("/setProperty?{name}"), Version::Rtsp10)
        .with_body(BPLIST, bplist::encode_dict([("value", value)]))
}

/// `POST /play` as AirPlay 2 senders send it (airplay.md §1.7, step 4).
pub(crate) fn play_request(url: &str, start_position: Duration, session_id: &str) -> Request {
    let body = bplist::encode_dict([
        ("Content-Location", Value::String(url.into())),
        (
            "Start-Position-Seconds",
            Value::Real(start_position.as_secs_f64()),
        ),
        ("clientProcName", Value::String("airstream".into())),
        ("mediaType", Value::String("file".into())),
        ("mightSupportStorePastisKeyRequests", Value::Boolean(true)),
        ("playbackRestrictions", Value::Integer(0u64.into())),
        ("rate", Value::Real(1.0)),
        ("referenceRestrictions", Value::Integer(3u64.into())),
        ("streamType", Value::Integer(1u64.into())),
        ("uuid", Value::String(session_id.to_uppercase())),
        ("volume", Value::Real(1.0)),
    ]);
    Request::new("POST", "/play", Version::Http11)
        .with_header("User-Agent", PLAY_USER_AGENT)
        .with_header("X-Apple-ProtocolVersion", "1")
        .with_header("X-Apple-Session-ID", session_id)
        .with_header("X-Apple-Stream-ID", "1")
        .with_body(BPLIST, body)
}

fn expect_success(device: &AirPlayDevice, request: &str, status: u16, reason: &str) -> Result<()> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    Err(Error::Protocol {
        device: device.label(),
        request: request.to_string(),
        status,
        reason: reason.to_string(),
    })
}
