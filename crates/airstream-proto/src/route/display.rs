//! Routes in words, for people (`airstream info`, `-v` logs): "compressed ALAC, no
//! encryption, password", not `AudioRoute { codec: AlacCompressed, … }`.

use super::{AudioProtocol, AudioRoute, PlayUrlRoute, TimingProtocol};
use std::fmt;

/// `RAOP, compressed ALAC, no encryption, password, metadata: text and artwork`, or
/// `AirPlay 2 (PTP), compressed ALAC, transient pairing, metadata: text`.
impl fmt::Display for AudioRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.protocol {
            AudioProtocol::AirPlay1 => write!(f, "RAOP, {}, {}", self.codec, self.encryption)?,
            AudioProtocol::AirPlay2 {
                timing,
                pairing_required,
                transient_pairing,
            } => {
                write!(f, "AirPlay 2 ({timing}), {}", self.codec)?;
                if pairing_required {
                    f.write_str(", HAP pair-verify")?;
                } else if transient_pairing {
                    f.write_str(", transient pairing")?;
                }
            }
        }
        if self.auth.password {
            f.write_str(", password")?;
        }
        if self.auth.legacy_pairing {
            f.write_str(", pair-verify")?;
        }
        if self.auth_setup {
            f.write_str(", auth-setup")?;
        }
        if self.metadata.is_empty() {
            f.write_str(", no metadata")
        } else {
            let kinds: Vec<String> = self.metadata.iter().map(ToString::to_string).collect();
            let text = match kinds.split_last() {
                Some((last, [])) => last.clone(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => String::new(),
            };
            write!(f, ", metadata: {text}")
        }
    }
}

/// `AirPlay 1 (HTTP), pair-verify` or `AirPlay 2 (HAP), transient pairing`.
impl fmt::Display for PlayUrlRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlayUrlRoute::AirPlay1 {
                pair_verify,
                password,
            } => {
                f.write_str("AirPlay 1 (HTTP)")?;
                if *pair_verify {
                    f.write_str(", pair-verify")?;
                }
                if *password {
                    f.write_str(", password")?;
                }
                Ok(())
            }
            PlayUrlRoute::AirPlay2 { transient_pairing } => {
                f.write_str("AirPlay 2 (HAP)")?;
                if *transient_pairing {
                    f.write_str(", transient pairing")?;
                }
                Ok(())
            }
        }
    }
}

/// `PTP` or `NTP`.
impl fmt::Display for TimingProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimingProtocol::Ptp => "PTP",
            TimingProtocol::Ntp => "NTP",
        })
    }
}

/// `AirPlay 1` or `AirPlay 2`: the column `scan` shows.
impl fmt::Display for AudioProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AudioProtocol::AirPlay1 => "AirPlay 1",
            AudioProtocol::AirPlay2 { .. } => "AirPlay 2",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::RaopAuth;
    use super::*;
    use crate::capabilities::{AudioFormat, MetadataKind};

    #[test]
    fn routes_read_as_words() {
        let mut route = AudioRoute {
            protocol: AudioProtocol::AirPlay1,
            codec: crate::format::Codec::Alac,
            encryption: crate::raop::Encryption::None,
            auth: RaopAuth {
                password: true,
                legacy_pairing: false,
            },
            auth_setup: false,
            metadata: vec![MetadataKind::Text, MetadataKind::Artwork],
            format: AudioFormat::default(),
            quirks: Vec::new(),
            airplay2_supported: false,
        };
        assert_eq!(
            route.to_string(),
            "RAOP, compressed ALAC, no encryption, password, metadata: text and artwork"
        );
        route.protocol = AudioProtocol::AirPlay2 {
            timing: TimingProtocol::Ntp,
            pairing_required: false,
            transient_pairing: true,
        };
        route.metadata = Vec::new();
        route.auth = RaopAuth::default();
        assert_eq!(
            route.to_string(),
            "AirPlay 2 (NTP), compressed ALAC, transient pairing, no metadata"
        );
        assert_eq!(route.protocol.to_string(), "AirPlay 2");
        let play = PlayUrlRoute::AirPlay1 {
            pair_verify: true,
            password: false,
        };
        assert_eq!(play.to_string(), "AirPlay 1 (HTTP), pair-verify");
        let play = PlayUrlRoute::AirPlay2 {
            transient_pairing: true,
        };
        assert_eq!(play.to_string(), "AirPlay 2 (HAP), transient pairing");
    }
}
