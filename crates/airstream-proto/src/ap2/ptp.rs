//! PTPv2 messages (IEEE 1588-2008 §13) as an AirPlay 2 sender needs them: it is a two-step
//! master and sends Announce, Sync and Follow_Up; anything a peer sends back (nqptp's own
//! Announce, Delay_Req, signalling) is parsed with bounds checks, or kept as a bare header.

use super::clock::{ClockIdentity, PtpTimestamp, TIMESTAMP_LEN};

/// The two PTP UDP ports (1588 Annex D). Event messages (Sync, Delay_Req) go on 319, the
/// others on 320; nqptp takes a packet only when its source port equals its destination port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PtpPort {
    Event,
    General,
}

impl PtpPort {
    /// The UDP port number, on both ends.
    pub fn number(self) -> u16 {
        match self {
            Self::Event => 319,
            Self::General => 320,
        }
    }
}

/// Bytes of the common header (1588 §13.3).
pub const HEADER_LEN: usize = 34;
/// Announce: header + 30 bytes (§13.5).
pub const ANNOUNCE_LEN: usize = HEADER_LEN + 30;
/// Sync, Delay_Req and Follow_Up without TLVs: header + one timestamp (§13.6–§13.8).
pub const TIMESTAMP_MESSAGE_LEN: usize = HEADER_LEN + TIMESTAMP_LEN;
/// The 802.1AS Follow_Up information TLV that Apple's two-step masters append (32 bytes).
const FOLLOW_UP_TLV: [u8; 32] = {
    let mut tlv = [0u8; 32];
    // tlvType ORGANIZATION_EXTENSION, lengthField 28, organizationId 00-80-C2 (IEEE 802.1),
    // organizationSubType 1; cumulativeScaledRateOffset, gmTimeBaseIndicator,
    // lastGmPhaseChange and scaledLastGmFreqChange all zero: our clock is its own grandmaster.
    tlv[1] = 0x03;
    tlv[3] = 28;
    tlv[4] = 0x00;
    tlv[5] = 0x80;
    tlv[6] = 0xC2;
    tlv[9] = 0x01;
    tlv
};
/// Follow_Up as we send it: with the 802.1AS TLV.
pub const FOLLOW_UP_LEN: usize = TIMESTAMP_MESSAGE_LEN + FOLLOW_UP_TLV.len();

const PTP_VERSION: u8 = 2;
/// transportSpecific 1: the 802.1AS (gPTP) profile AirPlay devices use.
const TRANSPORT_SPECIFIC: u8 = 1;
const TYPE_SYNC: u8 = 0x0;
const TYPE_DELAY_REQ: u8 = 0x1;
const TYPE_FOLLOW_UP: u8 = 0x8;
const TYPE_ANNOUNCE: u8 = 0xB;
/// flagField bits (§13.3.2.6): twoStepFlag in the first octet, ptpTimescale in the second.
pub const FLAG_TWO_STEP: u16 = 0x0200;
/// Times are PTP time (TAI-like, from the master's epoch), not an arbitrary timescale.
pub const FLAG_PTP_TIMESCALE: u16 = 0x0008;

/// Why bytes from a PTP port are not a message we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PtpError {
    #[error("PTP datagram of {len} bytes is shorter than the {need} its type needs")]
    TooShort { len: usize, need: usize },
    #[error("PTP version {0} is not 2")]
    UnsupportedVersion(u8),
    #[error("PTP messageLength {declared} does not fit the {received}-byte datagram")]
    LengthMismatch { declared: usize, received: usize },
    #[error("PTP timestamp has nanoseconds of 10^9 or more")]
    BadTimestamp,
}

/// The common header of every PTP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtpHeader {
    pub transport_specific: u8,
    /// The 4-bit messageType (1588 Table 19).
    pub message_type: u8,
    pub message_length: u16,
    pub domain: u8,
    pub flags: u16,
    /// correctionField, in nanoseconds × 2^16.
    pub correction: i64,
    pub source: ClockIdentity,
    pub source_port: u16,
    pub sequence_id: u16,
    pub control: u8,
    /// log2 of the interval between messages of this type, in seconds.
    pub log_interval: i8,
}

/// The body of an Announce (1588 §13.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce {
    pub origin: PtpTimestamp,
    pub current_utc_offset: i16,
    pub priority1: u8,
    pub clock_class: u8,
    pub clock_accuracy: u8,
    pub offset_scaled_log_variance: u16,
    pub priority2: u8,
    pub grandmaster: ClockIdentity,
    pub steps_removed: u16,
    pub time_source: u8,
}

/// A PTP message read from, or written to, port 319 or 320.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtpMessage {
    Announce {
        header: PtpHeader,
        announce: Announce,
    },
    /// Two-step: the origin timestamp is approximate; the Follow_Up carries the precise one.
    Sync {
        header: PtpHeader,
        origin: PtpTimestamp,
    },
    FollowUp {
        header: PtpHeader,
        precise_origin: PtpTimestamp,
    },
    DelayReq {
        header: PtpHeader,
        origin: PtpTimestamp,
    },
    /// Any other type (Pdelay, Delay_Resp, Signaling, Management): header only.
    Other { header: PtpHeader },
}

impl PtpHeader {
    /// A header from our master: domain 0, port number 1, the given type and length.
    pub(crate) fn ours(
        source: ClockIdentity,
        message_type: u8,
        message_length: usize,
        sequence_id: u16,
        flags: u16,
        log_interval: i8,
    ) -> Self {
        // controlField (1588 Table 23): 0 Sync, 1 Delay_Req, 2 Follow_Up, 5 everything else.
        let control = match message_type {
            TYPE_SYNC => 0,
            TYPE_DELAY_REQ => 1,
            TYPE_FOLLOW_UP => 2,
            _ => 5,
        };
        Self {
            transport_specific: TRANSPORT_SPECIFIC,
            message_type,
            message_length: message_length as u16,
            domain: 0,
            flags,
            correction: 0,
            source,
            source_port: 1,
            sequence_id,
            control,
            log_interval,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push((self.transport_specific << 4) | (self.message_type & 0x0F));
        out.push(PTP_VERSION);
        out.extend_from_slice(&self.message_length.to_be_bytes());
        out.push(self.domain);
        out.push(0);
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.correction.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.source.0);
        out.extend_from_slice(&self.source_port.to_be_bytes());
        out.extend_from_slice(&self.sequence_id.to_be_bytes());
        out.push(self.control);
        out.push(self.log_interval as u8);
    }

    fn decode(b: &[u8; HEADER_LEN]) -> Self {
        let source: [u8; 8] = array(&b[20..28]);
        Self {
            transport_specific: b[0] >> 4,
            message_type: b[0] & 0x0F,
            message_length: u16::from_be_bytes([b[2], b[3]]),
            domain: b[4],
            flags: u16::from_be_bytes([b[6], b[7]]),
            correction: i64::from_be_bytes(array(&b[8..16])),
            source: ClockIdentity(source),
            source_port: u16::from_be_bytes([b[28], b[29]]),
            sequence_id: u16::from_be_bytes([b[30], b[31]]),
            control: b[32],
            log_interval: b[33] as i8,
        }
    }
}

/// Copies a slice whose length the caller has checked into an array.
fn array<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&s[..N]);
    a
}

fn timestamp_at(b: &[u8], at: usize) -> Result<PtpTimestamp, PtpError> {
    PtpTimestamp::decode(array(&b[at..at + TIMESTAMP_LEN])).ok_or(PtpError::BadTimestamp)
}

impl PtpMessage {
    /// The common header, whatever the type.
    pub fn header(&self) -> &PtpHeader {
        match self {
            Self::Announce { header, .. }
            | Self::Sync { header, .. }
            | Self::FollowUp { header, .. }
            | Self::DelayReq { header, .. }
            | Self::Other { header } => header,
        }
    }

    /// Which port the message belongs on.
    pub fn port(&self) -> PtpPort {
        // Event messages are the ones with messageType below 8 (1588 §7.3.3).
        if self.header().message_type < 8 {
            PtpPort::Event
        } else {
            PtpPort::General
        }
    }

    /// Reads one datagram. Only the bytes messageLength covers are read; TLVs after the
    /// fixed body (Follow_Up, Announce path trace) are skipped.
    pub fn parse(datagram: &[u8]) -> Result<Self, PtpError> {
        let Some(fixed) = datagram.first_chunk::<HEADER_LEN>() else {
            return Err(PtpError::TooShort {
                len: datagram.len(),
                need: HEADER_LEN,
            });
        };
        let version = fixed[1] & 0x0F;
        if version != PTP_VERSION {
            return Err(PtpError::UnsupportedVersion(version));
        }
        let header = PtpHeader::decode(fixed);
        let declared = usize::from(header.message_length);
        if declared < HEADER_LEN || declared > datagram.len() {
            return Err(PtpError::LengthMismatch {
                declared,
                received: datagram.len(),
            });
        }
        let b = &datagram[..declared];
        let need = match header.message_type {
            TYPE_ANNOUNCE => ANNOUNCE_LEN,
            TYPE_SYNC | TYPE_DELAY_REQ | TYPE_FOLLOW_UP => TIMESTAMP_MESSAGE_LEN,
            _ => HEADER_LEN,
        };
        if b.len() < need {
            return Err(PtpError::TooShort { len: b.len(), need });
        }
        let body = HEADER_LEN;
        Ok(match header.message_type {
            TYPE_SYNC => Self::Sync {
                header,
                origin: timestamp_at(b, body)?,
            },
            TYPE_DELAY_REQ => Self::DelayReq {
                header,
                origin: timestamp_at(b, body)?,
            },
            TYPE_FOLLOW_UP => Self::FollowUp {
                header,
                precise_origin: timestamp_at(b, body)?,
            },
            TYPE_ANNOUNCE => Self::Announce {
                header,
                announce: Announce {
                    origin: timestamp_at(b, body)?,
                    current_utc_offset: i16::from_be_bytes([b[44], b[45]]),
                    priority1: b[47],
                    clock_class: b[48],
                    clock_accuracy: b[49],
                    offset_scaled_log_variance: u16::from_be_bytes([b[50], b[51]]),
                    priority2: b[52],
                    grandmaster: ClockIdentity(array(&b[53..61])),
                    steps_removed: u16::from_be_bytes([b[61], b[62]]),
                    time_source: b[63],
                },
            },
            _ => Self::Other { header },
        })
    }

    /// Writes the message; a Follow_Up gets the 802.1AS information TLV.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FOLLOW_UP_LEN.max(ANNOUNCE_LEN));
        self.header().encode(&mut out);
        match self {
            Self::Sync { origin, .. } | Self::DelayReq { origin, .. } => {
                out.extend_from_slice(&origin.encode());
            }
            Self::FollowUp { precise_origin, .. } => {
                out.extend_from_slice(&precise_origin.encode());
                out.extend_from_slice(&FOLLOW_UP_TLV);
            }
            Self::Announce { announce: a, .. } => {
                out.extend_from_slice(&a.origin.encode());
                out.extend_from_slice(&a.current_utc_offset.to_be_bytes());
                out.push(0);
                out.push(a.priority1);
                out.push(a.clock_class);
                out.push(a.clock_accuracy);
                out.extend_from_slice(&a.offset_scaled_log_variance.to_be_bytes());
                out.push(a.priority2);
                out.extend_from_slice(&a.grandmaster.0);
                out.extend_from_slice(&a.steps_removed.to_be_bytes());
                out.push(a.time_source);
            }
            Self::Other { .. } => {}
        }
        out
    }

    /// An Announce from our master, which is its own grandmaster.
    pub fn announce(source: ClockIdentity, sequence_id: u16) -> Self {
        Self::Announce {
            header: PtpHeader::ours(
                source,
                TYPE_ANNOUNCE,
                ANNOUNCE_LEN,
                sequence_id,
                FLAG_PTP_TIMESCALE,
                0, // 1 s
            ),
            announce: Announce {
                origin: PtpTimestamp::default(),
                current_utc_offset: 0,
                // 248 is the default priority and clock class of a clock that is not
                // locked to anything better (1588 Table 5): any real master wins over us.
                priority1: 248,
                clock_class: 248,
                clock_accuracy: 0xFE, // unknown
                offset_scaled_log_variance: 0xFFFF,
                priority2: 248,
                grandmaster: source,
                steps_removed: 0,
                time_source: 0xA0, // internal oscillator
            },
        }
    }

    /// A two-step Sync; `origin` is approximate (the Follow_Up carries the precise time).
    pub fn sync(source: ClockIdentity, sequence_id: u16, origin: PtpTimestamp) -> Self {
        Self::Sync {
            header: PtpHeader::ours(
                source,
                TYPE_SYNC,
                TIMESTAMP_MESSAGE_LEN,
                sequence_id,
                FLAG_TWO_STEP | FLAG_PTP_TIMESCALE,
                -3, // 1/8 s
            ),
            origin,
        }
    }

    /// The Follow_Up to the Sync with the same sequence id: when that Sync left.
    pub fn follow_up(source: ClockIdentity, sequence_id: u16, precise: PtpTimestamp) -> Self {
        Self::FollowUp {
            header: PtpHeader::ours(
                source,
                TYPE_FOLLOW_UP,
                FOLLOW_UP_LEN,
                sequence_id,
                FLAG_PTP_TIMESCALE,
                -3,
            ),
            precise_origin: precise,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: ClockIdentity = ClockIdentity([0x0A, 0x1B, 0x2C, 0xFF, 0xFE, 0x3D, 0x4E, 0x5F]);

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap_or_default()
    }

    #[test]
    fn announce_known_answer() {
        let bytes = PtpMessage::announce(ID, 0x0102).encode();
        assert_eq!(
            bytes,
            hex(
                "1b 02 0040 00 00 0008 0000000000000000 00000000 0a1b2cfffe3d4e5f 0001 0102 05 00
                 00000000000000000000 0000 00 f8 f8 fe ffff f8 0a1b2cfffe3d4e5f 0000 a0"
            )
        );
        assert_eq!(
            PtpMessage::parse(&bytes),
            Ok(PtpMessage::announce(ID, 0x0102))
        );
    }

    #[test]
    fn sync_and_follow_up_known_answer() {
        let t = PtpTimestamp::from_nanos(5_000_000_007);
        let sync = PtpMessage::sync(ID, 7, t).encode();
        assert_eq!(
            sync,
            hex(
                "10 02 002c 00 00 0208 0000000000000000 00000000 0a1b2cfffe3d4e5f 0001 0007 00 fd
                 000000000005 00000007"
            )
        );
        let follow_up = PtpMessage::follow_up(ID, 7, t).encode();
        assert_eq!(
            follow_up,
            hex(
                "18 02 004c 00 00 0008 0000000000000000 00000000 0a1b2cfffe3d4e5f 0001 0007 02 fd
                 000000000005 00000007
                 0003 001c 0080c2 000001 00000000 0000 000000000000000000000000 00000000"
            )
        );
        assert_eq!(PtpMessage::parse(&sync), Ok(PtpMessage::sync(ID, 7, t)));
        assert_eq!(
            PtpMessage::parse(&follow_up),
            Ok(PtpMessage::follow_up(ID, 7, t))
        );
        assert_eq!(PtpMessage::sync(ID, 7, t).port(), PtpPort::Event);
        assert_eq!(PtpMessage::follow_up(ID, 7, t).port(), PtpPort::General);
    }

    #[test]
    fn delay_req_and_unknown_types_are_read() {
        let mut req = PtpMessage::sync(ID, 9, PtpTimestamp::default()).encode();
        req[0] = 0x11;
        assert!(matches!(
            PtpMessage::parse(&req),
            Ok(PtpMessage::DelayReq { header, .. }) if header.sequence_id == 9
        ));
        // Signaling (0xC), header only.
        let mut signaling = req[..HEADER_LEN].to_vec();
        signaling[0] = 0x1C;
        signaling[2..4].copy_from_slice(&(HEADER_LEN as u16).to_be_bytes());
        assert!(matches!(
            PtpMessage::parse(&signaling),
            Ok(PtpMessage::Other { header }) if header.message_type == 0xC
        ));
    }

    #[test]
    fn bad_datagrams_are_typed_errors() {
        let good = PtpMessage::announce(ID, 1).encode();
        assert_eq!(
            PtpMessage::parse(&good[..10]),
            Err(PtpError::TooShort { len: 10, need: 34 })
        );
        let mut v1 = good.clone();
        v1[1] = 1;
        assert_eq!(PtpMessage::parse(&v1), Err(PtpError::UnsupportedVersion(1)));
        // Declared longer than what arrived.
        assert_eq!(
            PtpMessage::parse(&good[..50]),
            Err(PtpError::LengthMismatch {
                declared: 64,
                received: 50
            })
        );
        // Declared shorter than an Announce body.
        let mut short = good.clone();
        short[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert_eq!(
            PtpMessage::parse(&short),
            Err(PtpError::TooShort { len: 40, need: 64 })
        );
        let mut bad_ns = PtpMessage::sync(ID, 1, PtpTimestamp::default()).encode();
        bad_ns[40..44].copy_from_slice(&[0xFF; 4]);
        assert_eq!(PtpMessage::parse(&bad_ns), Err(PtpError::BadTimestamp));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = PtpMessage::parse(&bytes);
        }
    }
}
