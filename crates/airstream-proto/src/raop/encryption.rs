//! How RAOP audio payloads are protected: the one encryption name the route, the session and
//! the CLI share.

use super::crypto::RsaPublicKey;
use serde::{Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// How audio payloads are protected (raop.md §4.3).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Encryption {
    /// In the clear (receivers whose TXT `et` lists 0).
    #[default]
    None,
    /// AES-128-CBC with the key RSA-wrapped for Apple's AirPort key (`et=1`).
    AirPortRsa,
    /// The same with another RSA public key (test receivers, custom builds).
    Rsa(Arc<RsaPublicKey>),
}

impl Encryption {
    /// The name JSON and logs use: `none`, `rsa`, `rsa-custom-key`.
    pub fn name(&self) -> &'static str {
        match self {
            Encryption::None => "none",
            Encryption::AirPortRsa => "rsa",
            Encryption::Rsa(_) => "rsa-custom-key",
        }
    }
}

/// A public key is not secret, but hundreds of hex digits help nobody reading a log.
impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encryption::None => "None",
            Encryption::AirPortRsa => "AirPortRsa",
            Encryption::Rsa(_) => "Rsa(custom key)",
        })
    }
}

/// In words, for people: "no encryption", "AES encryption (RSA-wrapped key)".
impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encryption::None => "no encryption",
            Encryption::AirPortRsa => "AES encryption (RSA-wrapped key)",
            Encryption::Rsa(_) => "AES encryption (key wrapped with a custom RSA key)",
        })
    }
}

impl Serialize for Encryption {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}
