//! The SDP body of RTSP ANNOUNCE. It must announce exactly what the RTP payload carries:
//! `AppleLossless` plus its `fmtp` line for ALAC, and `L16` with **no** `fmtp` line for PCM
//! (shairport-sync treats any `fmtp` line as ALAC, whatever the rtpmap says).

use crate::alac::FMTP_PARAMS;
use crate::format::Codec;
use std::net::IpAddr;

/// RSA-wrapped AES key and IV for et=1 streams, already base64-encoded without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpEncryption {
    /// The session AES key, RSA-OAEP-wrapped with the AirPort key (`a=rsaaeskey`).
    pub rsa_aes_key: String,
    /// The AES-CBC initialisation vector (`a=aesiv`).
    pub aes_iv: String,
}

/// What a sender announces: the fields of the ANNOUNCE SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Session number on the `o=` line.
    pub session_id: u32,
    /// Our address, on the `o=` line.
    pub sender: IpAddr,
    /// The receiver's address, on the `c=` line.
    pub receiver: IpAddr,
    /// What the audio packets carry; picks the rtpmap (and fmtp) lines.
    pub codec: Codec,
    /// Key and IV for AES-encrypted audio; `None` sends in the clear.
    pub encryption: Option<SdpEncryption>,
    /// Optional bounds a receiver clamps its latency to (frames).
    pub min_latency: Option<u32>,
    /// Upper bound for the receiver's latency, in frames (`a=max-latency`).
    pub max_latency: Option<u32>,
}

fn addr_type(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IP4" } else { "IP6" }
}

impl Announce {
    /// The SDP text, CRLF line endings, as iTunes writes it.
    pub fn to_sdp(&self) -> String {
        let mut lines = vec![
            "v=0".to_string(),
            format!(
                "o=iTunes {} 0 IN {} {}",
                self.session_id,
                addr_type(self.sender),
                self.sender
            ),
            "s=iTunes".to_string(),
            format!("c=IN {} {}", addr_type(self.receiver), self.receiver),
            "t=0 0".to_string(),
            "m=audio 0 RTP/AVP 96".to_string(),
        ];
        match self.codec {
            Codec::Alac | Codec::AlacRaw => {
                lines.push("a=rtpmap:96 AppleLossless".to_string());
                lines.push(format!("a=fmtp:96 {FMTP_PARAMS}"));
            }
            Codec::Pcm => lines.push("a=rtpmap:96 L16/44100/2".to_string()),
        }
        if let Some(enc) = &self.encryption {
            lines.push(format!("a=rsaaeskey:{}", enc.rsa_aes_key));
            lines.push(format!("a=aesiv:{}", enc.aes_iv));
        }
        if let Some(min) = self.min_latency {
            lines.push(format!("a=min-latency:{min}"));
        }
        if let Some(max) = self.max_latency {
            lines.push(format!("a=max-latency:{max}"));
        }
        let mut sdp = lines.join("\r\n");
        sdp.push_str("\r\n");
        sdp
    }
}

/// The receiver's reading of an ANNOUNCE body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncedStream {
    /// Codec and layout from the rtpmap/fmtp lines.
    pub format: AnnouncedFormat,
    /// Key and IV when the audio is AES-encrypted.
    pub encryption: Option<SdpEncryption>,
    /// `a=min-latency`, in frames.
    pub min_latency: Option<u32>,
    /// `a=max-latency`, in frames.
    pub max_latency: Option<u32>,
}

/// The audio format an ANNOUNCE declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnouncedFormat {
    /// AppleLossless with its fmtp fields (frames per packet, bit depth, channels, rate).
    Alac {
        /// Frames in each packet (fmtp field 1; 352 for RAOP).
        frames_per_packet: u32,
        /// Bits per sample (fmtp field 3).
        bit_depth: u32,
        /// Channels (fmtp field 7).
        channels: u32,
        /// Sample rate in Hz (fmtp field 11).
        sample_rate: u32,
        /// All eleven fmtp numbers, for building a decoder's magic cookie.
        fmtp: Vec<u32>,
    },
    /// Uncompressed 16-bit big-endian PCM (`L16/<rate>/<channels>`).
    L16 {
        /// Sample rate in Hz.
        sample_rate: u32,
        /// Channels.
        channels: u32,
    },
}

/// Why an ANNOUNCE body cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// No `a=rtpmap` line, so no codec is declared.
    #[error("SDP has no a=rtpmap line")]
    NoRtpmap,
    /// The rtpmap names neither `AppleLossless` nor `L16`.
    #[error("SDP rtpmap {0:?} names no codec we take")]
    UnknownCodec(String),
    /// The fmtp line does not hold eleven numbers.
    #[error("SDP fmtp line {0:?} is malformed")]
    BadFmtp(String),
    /// `AppleLossless` without the fmtp line a decoder needs.
    #[error("SDP announces AppleLossless without an fmtp line")]
    MissingFmtp,
}

/// Parses an ANNOUNCE body as a receiver. The rtpmap decides the codec; an fmtp line next
/// to L16 is ignored (unlike shairport-sync, which would switch to ALAC).
pub fn parse_announce(sdp: &str) -> Result<AnnouncedStream, SdpError> {
    let mut rtpmap = None;
    let mut fmtp = None;
    let mut key = None;
    let mut iv = None;
    let mut min_latency = None;
    let mut max_latency = None;
    for line in sdp.lines().map(str::trim) {
        let Some(attr) = line.strip_prefix("a=") else {
            continue;
        };
        let (name, value) = attr.split_once(':').unwrap_or((attr, ""));
        match name {
            "rtpmap" => rtpmap = Some(value.to_string()),
            "fmtp" => fmtp = Some(value.to_string()),
            "rsaaeskey" => key = Some(value.trim().to_string()),
            "aesiv" => iv = Some(value.trim().to_string()),
            "min-latency" => min_latency = value.trim().parse().ok(),
            "max-latency" => max_latency = value.trim().parse().ok(),
            _ => {}
        }
    }
    let rtpmap = rtpmap.ok_or(SdpError::NoRtpmap)?;
    // "96 AppleLossless" or "96 L16/44100/2"
    let encoding = rtpmap.split_whitespace().nth(1).unwrap_or_default();
    let format = if encoding.eq_ignore_ascii_case("AppleLossless") {
        let fmtp = fmtp.ok_or(SdpError::MissingFmtp)?;
        let numbers: Vec<u32> = fmtp
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| SdpError::BadFmtp(fmtp.clone()))?;
        if numbers.len() < 11 {
            return Err(SdpError::BadFmtp(fmtp));
        }
        AnnouncedFormat::Alac {
            frames_per_packet: numbers[0],
            bit_depth: numbers[2],
            channels: numbers[6],
            sample_rate: numbers[10],
            fmtp: numbers,
        }
    } else if let Some(rest) = encoding.strip_prefix("L16") {
        let mut parts = rest.trim_start_matches('/').split('/');
        let sample_rate = parts.next().and_then(|v| v.parse().ok()).unwrap_or(44_100);
        let channels = parts.next().and_then(|v| v.parse().ok()).unwrap_or(2);
        AnnouncedFormat::L16 {
            sample_rate,
            channels,
        }
    } else {
        return Err(SdpError::UnknownCodec(rtpmap));
    };
    let encryption = match (key, iv) {
        (Some(rsa_aes_key), Some(aes_iv)) => Some(SdpEncryption {
            rsa_aes_key,
            aes_iv,
        }),
        _ => None,
    };
    Ok(AnnouncedStream {
        format,
        encryption,
        min_latency,
        max_latency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce(codec: Codec) -> Announce {
        Announce {
            session_id: 3_735_928_559,
            sender: "127.0.0.1".parse().unwrap(),
            receiver: "127.0.0.2".parse().unwrap(),
            codec,
            encryption: None,
            min_latency: None,
            max_latency: None,
        }
    }

    #[test]
    fn alac_sdp_exact() {
        assert_eq!(
            announce(Codec::AlacRaw).to_sdp(),
            "v=0\r\no=iTunes 3735928559 0 IN IP4 127.0.0.1\r\ns=iTunes\r\nc=IN IP4 127.0.0.2\r\n\
             t=0 0\r\nm=audio 0 RTP/AVP 96\r\na=rtpmap:96 AppleLossless\r\n\
             a=fmtp:96 352 0 16 40 10 14 2 255 0 0 44100\r\n"
        );
        assert_eq!(
            announce(Codec::Alac).to_sdp(),
            announce(Codec::AlacRaw).to_sdp()
        );
    }

    #[test]
    fn pcm_sdp_has_no_fmtp_line() {
        let sdp = announce(Codec::Pcm).to_sdp();
        assert!(sdp.contains("a=rtpmap:96 L16/44100/2\r\n"));
        assert!(!sdp.contains("fmtp"), "{sdp}");
    }

    #[test]
    fn ipv6_and_encryption_and_latency() {
        let mut a = announce(Codec::AlacRaw);
        a.sender = "::1".parse().unwrap();
        a.receiver = "fe80::1".parse().unwrap();
        a.encryption = Some(SdpEncryption {
            rsa_aes_key: "KEY".into(),
            aes_iv: "IV".into(),
        });
        a.min_latency = Some(11025);
        let sdp = a.to_sdp();
        assert!(sdp.contains("o=iTunes 3735928559 0 IN IP6 ::1\r\n"));
        assert!(sdp.contains("c=IN IP6 fe80::1\r\n"));
        assert!(sdp.contains("a=rsaaeskey:KEY\r\na=aesiv:IV\r\na=min-latency:11025\r\n"));
        let parsed = parse_announce(&sdp).unwrap();
        assert_eq!(parsed.encryption, a.encryption);
        assert_eq!(parsed.min_latency, Some(11025));
    }

    #[test]
    fn receiver_reads_both_codecs() {
        let parsed = parse_announce(&announce(Codec::AlacRaw).to_sdp()).unwrap();
        match parsed.format {
            AnnouncedFormat::Alac {
                frames_per_packet,
                bit_depth,
                channels,
                sample_rate,
                ..
            } => assert_eq!(
                (frames_per_packet, bit_depth, channels, sample_rate),
                (352, 16, 2, 44100)
            ),
            other @ AnnouncedFormat::L16 { .. } => panic!("{other:?}"),
        }
        let parsed = parse_announce(&announce(Codec::Pcm).to_sdp()).unwrap();
        assert_eq!(
            parsed.format,
            AnnouncedFormat::L16 {
                sample_rate: 44100,
                channels: 2
            }
        );
    }

    #[test]
    fn bad_sdp_is_an_error() {
        assert_eq!(parse_announce("v=0\r\n"), Err(SdpError::NoRtpmap));
        assert!(matches!(
            parse_announce("a=rtpmap:96 mpeg4-generic/44100/2\r\n"),
            Err(SdpError::UnknownCodec(_))
        ));
        assert_eq!(
            parse_announce("a=rtpmap:96 AppleLossless\r\n"),
            Err(SdpError::MissingFmtp)
        );
        assert!(matches!(
            parse_announce("a=rtpmap:96 AppleLossless\r\na=fmtp:96 352 x\r\n"),
            Err(SdpError::BadFmtp(_))
        ));
    }
}
