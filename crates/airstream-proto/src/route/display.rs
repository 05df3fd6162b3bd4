//! Routes in words, for people (`airstream info`, `-v` logs): "compressed ALAC, no
//! encryption, password", not `AudioRoute { codec: AlacCompressed, … }`.

use super::{AudioRoute, PlayUrlRoute};
use std::fmt;

/// `RAOP, compressed ALAC, no encryption, password, metadata: text and artwork`.
impl fmt::Display for AudioRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RAOP, {}, {}", self.codec, self.encryption)?;
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

#[cfg(test)]
mod tests {
    use super::super::RaopAuth;
    use super::*;
    use crate::capabilities::{AudioFormat, MetadataKind};

    #[test]
    fn routes_read_as_words() {
        let route = AudioRoute {
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
