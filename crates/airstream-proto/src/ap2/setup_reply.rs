//! The receiver's answers to the two SETUPs, checked before anything uses them: a port of 0
//! or beyond 65535, a missing field, a stream we did not ask for or an absurd buffer size is a
//! typed error, never a socket aimed somewhere odd.

use plist::{Dictionary, Value};

use super::setup::{SetupError, Timing};
use crate::bplist;

/// Buffered streams announce their buffer; anything beyond this is not a real receiver.
pub const MAX_AUDIO_BUFFER_SIZE: u64 = 64 * 1024 * 1024;

/// Reply to the session SETUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetupReply {
    /// The receiver's event channel (TCP).
    pub event_port: u16,
    /// The receiver's NTP timing port; `None` under PTP (it sends 0 there).
    pub timing_port: Option<u16>,
}

/// Reply to the stream SETUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSetupReply {
    pub stream_type: u64,
    /// Where audio packets go (UDP).
    pub data_port: u16,
    /// Where anchors and retransmits go (UDP).
    pub control_port: u16,
    /// Buffered streams only.
    pub audio_buffer_size: Option<u64>,
}

fn integer(dict: &Dictionary, key: &'static str) -> Result<Option<i128>, SetupError> {
    match dict.get(key) {
        None => Ok(None),
        Some(Value::Integer(i)) => Ok(i
            .as_signed()
            .map(i128::from)
            .or_else(|| i.as_unsigned().map(i128::from))),
        Some(_) => Err(SetupError::WrongType(key)),
    }
}

fn port(dict: &Dictionary, key: &'static str) -> Result<u16, SetupError> {
    let value = integer(dict, key)?.ok_or(SetupError::Missing(key))?;
    match u16::try_from(value) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(SetupError::BadPort { field: key, value }),
    }
}

impl SessionSetupReply {
    /// Parses the reply to a session SETUP sent with `timing`.
    pub fn parse(body: &[u8], timing: &Timing) -> Result<Self, SetupError> {
        let dict = bplist::decode_dict(body)?;
        let event_port = port(&dict, "eventPort")?;
        let timing_port = match timing {
            Timing::Ptp { .. } => None,
            Timing::Ntp { .. } => Some(port(&dict, "timingPort")?),
        };
        Ok(Self {
            event_port,
            timing_port,
        })
    }
}

impl StreamSetupReply {
    /// Parses the reply to a stream SETUP that asked for one stream of `expected_type`.
    pub fn parse(body: &[u8], expected_type: u64) -> Result<Self, SetupError> {
        let dict = bplist::decode_dict(body)?;
        let streams = match dict.get("streams") {
            Some(Value::Array(streams)) => streams,
            Some(_) => return Err(SetupError::WrongType("streams")),
            None => return Err(SetupError::Missing("streams")),
        };
        let [stream] = streams.as_slice() else {
            return Err(SetupError::StreamCount(streams.len()));
        };
        let stream = stream
            .as_dictionary()
            .ok_or(SetupError::WrongType("streams[0]"))?;
        let stream_type = integer(stream, "type")?.ok_or(SetupError::Missing("type"))?;
        if stream_type != i128::from(expected_type) {
            return Err(SetupError::WrongStreamType {
                expected: expected_type,
                got: u64::try_from(stream_type).unwrap_or(u64::MAX),
            });
        }
        let audio_buffer_size = match integer(stream, "audioBufferSize")? {
            None => None,
            Some(size) => match u64::try_from(size) {
                Ok(size) if size <= MAX_AUDIO_BUFFER_SIZE => Some(size),
                _ => {
                    return Err(SetupError::BadBufferSize(
                        u64::try_from(size).unwrap_or(u64::MAX),
                    ));
                }
            },
        };
        Ok(Self {
            stream_type: expected_type,
            data_port: port(stream, "dataPort")?,
            control_port: port(stream, "controlPort")?,
            audio_buffer_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ap2::setup::sorted_dict;
    use std::net::IpAddr;

    fn ptp() -> Timing {
        Timing::Ptp {
            addresses: vec![IpAddr::from([10, 77, 9, 1])],
            id: "10.77.9.1".into(),
        }
    }

    fn body(entries: Vec<(&str, Value)>) -> Vec<u8> {
        bplist::encode_dict(entries)
    }

    #[test]
    fn session_reply_as_shairport_sync_sends_it() {
        let reply = body(vec![
            ("eventPort", Value::from(40_001u64)),
            ("timingPort", Value::from(0u64)),
        ]);
        assert_eq!(
            SessionSetupReply::parse(&reply, &ptp()).expect("valid"),
            SessionSetupReply {
                event_port: 40_001,
                timing_port: None
            }
        );
        // Under NTP the same 0 is a bad port.
        assert!(matches!(
            SessionSetupReply::parse(&reply, &Timing::Ntp { timing_port: 6002 }),
            Err(SetupError::BadPort {
                field: "timingPort",
                value: 0
            })
        ));
    }

    #[test]
    fn an_ntp_session_reply_needs_a_sane_timing_port() {
        let ntp = Timing::Ntp { timing_port: 7002 };
        let reply = body(vec![
            ("eventPort", Value::from(7003u64)),
            ("timingPort", Value::from(6002u64)),
        ]);
        assert_eq!(
            SessionSetupReply::parse(&reply, &ntp).unwrap(),
            SessionSetupReply {
                event_port: 7003,
                timing_port: Some(6002),
            }
        );
        for value in [
            Value::from(0u64),
            Value::from(65_536u64),
            Value::from(-7i64),
        ] {
            let reply = body(vec![
                ("eventPort", Value::from(7003u64)),
                ("timingPort", value),
            ]);
            assert!(matches!(
                SessionSetupReply::parse(&reply, &ntp),
                Err(SetupError::BadPort {
                    field: "timingPort",
                    ..
                })
            ));
        }
        let without = body(vec![("eventPort", Value::from(7003u64))]);
        assert!(matches!(
            SessionSetupReply::parse(&without, &ntp),
            Err(SetupError::Missing("timingPort"))
        ));
    }

    #[test]
    fn session_reply_with_absurd_or_missing_ports_is_refused() {
        for (value, field) in [
            (Value::from(0u64), "eventPort"),
            (Value::from(65_536u64), "eventPort"),
            (Value::from(-1i64), "eventPort"),
        ] {
            let reply = body(vec![("eventPort", value)]);
            assert!(
                matches!(SessionSetupReply::parse(&reply, &ptp()), Err(SetupError::BadPort { field: f, .. }) if f == field)
            );
        }
        assert!(matches!(
            SessionSetupReply::parse(&body(vec![]), &ptp()),
            Err(SetupError::Missing("eventPort"))
        ));
        assert!(matches!(
            SessionSetupReply::parse(&body(vec![("eventPort", Value::from("7000"))]), &ptp()),
            Err(SetupError::WrongType("eventPort"))
        ));
        assert!(matches!(
            SessionSetupReply::parse(b"not a plist", &ptp()),
            Err(SetupError::Body(_))
        ));
    }

    fn stream_reply(stream: Vec<(&str, Value)>) -> Vec<u8> {
        body(vec![("streams", Value::Array(vec![sorted_dict(stream)]))])
    }

    #[test]
    fn stream_reply_as_shairport_sync_sends_it() {
        let reply = stream_reply(vec![
            ("type", Value::from(96u64)),
            ("dataPort", Value::from(6003u64)),
            ("controlPort", Value::from(6004u64)),
        ]);
        assert_eq!(
            StreamSetupReply::parse(&reply, 96).expect("valid"),
            StreamSetupReply {
                stream_type: 96,
                data_port: 6003,
                control_port: 6004,
                audio_buffer_size: None
            }
        );
    }

    #[test]
    fn stream_reply_that_does_not_fit_the_request_is_refused() {
        let ok = |extra: Vec<(&'static str, Value)>| {
            let mut s = vec![
                ("type", Value::from(96u64)),
                ("dataPort", Value::from(6003u64)),
                ("controlPort", Value::from(6004u64)),
            ];
            for (k, v) in extra {
                s.retain(|(key, _)| *key != k);
                s.push((k, v));
            }
            StreamSetupReply::parse(&stream_reply(s), 96)
        };
        assert!(matches!(
            ok(vec![("dataPort", Value::from(0u64))]),
            Err(SetupError::BadPort {
                field: "dataPort",
                value: 0
            })
        ));
        assert!(matches!(
            ok(vec![("controlPort", Value::from(70_000u64))]),
            Err(SetupError::BadPort {
                field: "controlPort",
                value: 70_000
            })
        ));
        assert!(matches!(
            ok(vec![("type", Value::from(103u64))]),
            Err(SetupError::WrongStreamType {
                expected: 96,
                got: 103
            })
        ));
        assert!(matches!(
            ok(vec![("audioBufferSize", Value::from(u64::MAX))]),
            Err(SetupError::BadBufferSize(_))
        ));
        assert_eq!(
            ok(vec![("audioBufferSize", Value::from(8_388_608u64))])
                .expect("valid")
                .audio_buffer_size,
            Some(8_388_608)
        );
        let two = body(vec![(
            "streams",
            Value::Array(vec![sorted_dict([]), sorted_dict([])]),
        )]);
        assert!(matches!(
            StreamSetupReply::parse(&two, 96),
            Err(SetupError::StreamCount(2))
        ));
        assert!(matches!(
            StreamSetupReply::parse(&body(vec![]), 96),
            Err(SetupError::Missing("streams"))
        ));
    }
}
