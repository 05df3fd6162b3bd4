//! The two SETUP requests of an AirPlay 2 session (shared/protocol/airplay2.md §4), as
//! binary plist bodies: the session SETUP (timing protocol, who we are) and the stream
//! SETUP (a realtime ALAC stream, its key and our control port).

use std::net::IpAddr;

use plist::{Dictionary, Value};

use crate::bplist::{self, DecodeError};

/// Stream type 96: realtime audio.
pub const STREAM_TYPE_REALTIME: u64 = 96;
/// Compression type 2: ALAC (compressed or escape-coded uncompressed frames alike).
pub const COMPRESSION_ALAC: u64 = 2;
/// audioFormat bit for ALAC 44 100 Hz, 16 bit, stereo.
pub const AUDIO_FORMAT_ALAC_44100_16_2: u64 = 0x40000;
/// Frames per packet (`spf`).
pub const FRAMES_PER_PACKET: u64 = 352;
/// Sample rate (`sr`).
pub const SAMPLE_RATE: u64 = 44_100;
/// Ten seconds: no receiver buffers more, and more would make pause and volume unusable.
pub const MAX_LATENCY_FRAMES: u32 = 10 * 44_100;

/// Why a SETUP body is unusable: ours before sending, or the receiver's reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    #[error("SETUP reply body: {0}")]
    Body(#[from] DecodeError),
    #[error("SETUP reply lacks {0}")]
    Missing(&'static str),
    #[error("SETUP reply field {0} has the wrong type")]
    WrongType(&'static str),
    #[error("SETUP {field} {value} is not a usable port (1-65535)")]
    BadPort { field: &'static str, value: i128 },
    #[error(
        "latency {min}..{max} frames is not a sane range (0 < min <= max <= {MAX_LATENCY_FRAMES})"
    )]
    BadLatency { min: u32, max: u32 },
    #[error("SETUP reply describes {0} streams, we asked for one")]
    StreamCount(usize),
    #[error("SETUP reply stream type {got}, we asked for {expected}")]
    WrongStreamType { expected: u64, got: u64 },
    #[error("SETUP reply audioBufferSize {0} bytes is beyond any receiver's buffer")]
    BadBufferSize(u64),
}

/// Which clock the receiver follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    /// We are the PTP master; `addresses` are ours as the receiver reaches us.
    Ptp { addresses: Vec<IpAddr>, id: String },
    /// AirPlay 1 style NTP: the receiver asks our timing port.
    Ntp { timing_port: u16 },
}

impl Timing {
    /// The `timingProtocol` value.
    pub fn protocol(&self) -> &'static str {
        match self {
            Self::Ptp { .. } => "PTP",
            Self::Ntp { .. } => "NTP",
        }
    }
}

/// The first SETUP: who we are and how timing works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetup {
    /// Our MAC-like device id, `AA:BB:CC:DD:EE:FF`.
    pub device_id: String,
    pub session_uuid: String,
    pub group_uuid: String,
    pub group_contains_group_leader: bool,
    pub model: String,
    pub name: String,
    pub timing: Timing,
}

/// A dictionary written with sorted keys (plistlib's layout, as [`bplist::encode_dict`]).
pub(crate) fn sorted_dict<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    let mut entries: Vec<_> = entries.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut dict = Dictionary::new();
    for (key, value) in entries {
        dict.insert(key.to_owned(), value);
    }
    Value::Dictionary(dict)
}

fn port_ok(field: &'static str, port: u16) -> Result<u16, SetupError> {
    if port == 0 {
        Err(SetupError::BadPort { field, value: 0 })
    } else {
        Ok(port)
    }
}

impl SessionSetup {
    /// The bplist body; a zero NTP timing port is refused.
    pub fn encode(&self) -> Result<Vec<u8>, SetupError> {
        let mut entries = vec![
            ("deviceID", Value::from(self.device_id.as_str())),
            ("sessionUUID", Value::from(self.session_uuid.as_str())),
            ("groupUUID", Value::from(self.group_uuid.as_str())),
            (
                "groupContainsGroupLeader",
                Value::Boolean(self.group_contains_group_leader),
            ),
            ("isMultiSelectAirPlay", Value::Boolean(true)),
            ("macAddress", Value::from(self.device_id.as_str())),
            ("model", Value::from(self.model.as_str())),
            ("name", Value::from(self.name.as_str())),
            ("timingProtocol", Value::from(self.timing.protocol())),
        ];
        match &self.timing {
            Timing::Ptp { addresses, id } => entries.push((
                "timingPeerInfo",
                sorted_dict([
                    (
                        "Addresses",
                        Value::Array(
                            addresses
                                .iter()
                                .map(|a| Value::String(a.to_string()))
                                .collect(),
                        ),
                    ),
                    ("ID", Value::from(id.as_str())),
                ]),
            )),
            Timing::Ntp { timing_port } => entries.push((
                "timingPort",
                Value::from(u64::from(port_ok("timingPort", *timing_port)?)),
            )),
        }
        Ok(bplist::encode_dict(entries))
    }
}

/// The second SETUP: one realtime ALAC stream (type 96, 44 100 Hz stereo, 352 frames a
/// packet), its ChaCha20-Poly1305 key and where the receiver sends retransmit requests.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamSetup {
    /// The stream key; never in `Debug`.
    pub shk: [u8; 32],
    /// Our control port (retransmit requests arrive there).
    pub control_port: u16,
    pub latency_min: u32,
    pub latency_max: u32,
    pub stream_connection_id: u64,
}

impl std::fmt::Debug for StreamSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSetup")
            .field("shk", &"..")
            .field("control_port", &self.control_port)
            .field("latency_min", &self.latency_min)
            .field("latency_max", &self.latency_max)
            .field("stream_connection_id", &self.stream_connection_id)
            .finish()
    }
}

impl StreamSetup {
    /// The bplist body `{streams: [..]}`; a zero control port or an insane latency range is refused.
    pub fn encode(&self) -> Result<Vec<u8>, SetupError> {
        port_ok("controlPort", self.control_port)?;
        if self.latency_min == 0
            || self.latency_min > self.latency_max
            || self.latency_max > MAX_LATENCY_FRAMES
        {
            return Err(SetupError::BadLatency {
                min: self.latency_min,
                max: self.latency_max,
            });
        }
        let stream = sorted_dict([
            ("audioFormat", Value::from(AUDIO_FORMAT_ALAC_44100_16_2)),
            ("audioMode", Value::from("default")),
            ("controlPort", Value::from(u64::from(self.control_port))),
            ("ct", Value::from(COMPRESSION_ALAC)),
            ("isMedia", Value::Boolean(true)),
            ("latencyMax", Value::from(u64::from(self.latency_max))),
            ("latencyMin", Value::from(u64::from(self.latency_min))),
            ("shk", Value::Data(self.shk.to_vec())),
            ("spf", Value::from(FRAMES_PER_PACKET)),
            ("sr", Value::from(SAMPLE_RATE)),
            ("streamConnectionID", Value::from(self.stream_connection_id)),
            ("supportsDynamicStreamID", Value::Boolean(false)),
            ("type", Value::from(STREAM_TYPE_REALTIME)),
        ]);
        Ok(bplist::encode_dict([(
            "streams",
            Value::Array(vec![stream]),
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(timing: Timing) -> SessionSetup {
        SessionSetup {
            device_id: "0A:00:00:00:00:01".into(),
            session_uuid: "5E55-1011".into(),
            group_uuid: "6A0C-2022".into(),
            group_contains_group_leader: false,
            model: "airstream".into(),
            name: "airstream".into(),
            timing,
        }
    }

    #[test]
    fn session_setup_for_ptp_names_our_addresses() {
        let body = session(Timing::Ptp {
            addresses: vec!["10.77.9.1".parse().unwrap_or(IpAddr::from([0; 4]))],
            id: "10.77.9.1".into(),
        })
        .encode()
        .expect("valid");
        assert!(body.starts_with(b"bplist00"));
        let dict = bplist::decode_dict(&body).expect("decodes");
        assert_eq!(dict["timingProtocol"].as_string(), Some("PTP"));
        let peer = dict["timingPeerInfo"].as_dictionary().expect("dict");
        assert_eq!(peer["Addresses"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            peer["Addresses"].as_array().and_then(|a| a[0].as_string()),
            Some("10.77.9.1")
        );
        assert_eq!(peer["ID"].as_string(), Some("10.77.9.1"));
        assert_eq!(dict["deviceID"].as_string(), Some("0A:00:00:00:00:01"));
        assert_eq!(dict["groupContainsGroupLeader"].as_boolean(), Some(false));
        assert!(!dict.contains_key("timingPort"));
        // Keys are written sorted, so the body is stable byte for byte.
        let keys: Vec<_> = dict.keys().cloned().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn session_setup_for_ntp_names_our_timing_port() {
        let dict = bplist::decode_dict(
            &session(Timing::Ntp { timing_port: 6002 })
                .encode()
                .expect("valid"),
        )
        .expect("decodes");
        assert_eq!(dict["timingProtocol"].as_string(), Some("NTP"));
        assert_eq!(dict["timingPort"].as_unsigned_integer(), Some(6002));
        assert!(matches!(
            session(Timing::Ntp { timing_port: 0 }).encode(),
            Err(SetupError::BadPort {
                field: "timingPort",
                value: 0
            })
        ));
    }

    fn stream() -> StreamSetup {
        StreamSetup {
            shk: [7; 32],
            control_port: 6001,
            latency_min: 11_025,
            latency_max: 88_200,
            stream_connection_id: 0x1234,
        }
    }

    #[test]
    fn stream_setup_is_realtime_alac() {
        let dict = bplist::decode_dict(&stream().encode().expect("valid")).expect("decodes");
        let streams = dict["streams"].as_array().expect("array");
        assert_eq!(streams.len(), 1);
        let s = streams[0].as_dictionary().expect("dict");
        let int = |k: &str| s[k].as_unsigned_integer();
        assert_eq!(int("type"), Some(96));
        assert_eq!(int("ct"), Some(2));
        assert_eq!(int("audioFormat"), Some(0x40000));
        assert_eq!(int("spf"), Some(352));
        assert_eq!(int("sr"), Some(44_100));
        assert_eq!(int("controlPort"), Some(6001));
        assert_eq!(int("latencyMin"), Some(11_025));
        assert_eq!(int("latencyMax"), Some(88_200));
        assert_eq!(int("streamConnectionID"), Some(0x1234));
        assert_eq!(s["shk"].as_data(), Some(&[7u8; 32][..]));
    }

    #[test]
    fn stream_setup_refuses_bad_values_and_hides_the_key() {
        for (min, max) in [(0, 100), (200, 100), (100, MAX_LATENCY_FRAMES + 1)] {
            let bad = StreamSetup {
                latency_min: min,
                latency_max: max,
                ..stream()
            };
            assert!(
                matches!(bad.encode(), Err(SetupError::BadLatency { .. })),
                "{min}..{max}"
            );
        }
        let no_port = StreamSetup {
            control_port: 0,
            ..stream()
        };
        assert!(matches!(no_port.encode(), Err(SetupError::BadPort { .. })));
        assert!(!format!("{:?}", stream()).contains("[7, 7"));
        assert!(format!("{:?}", stream()).contains("shk: \"..\""));
    }
}
