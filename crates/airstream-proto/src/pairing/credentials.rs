//! Legacy pairing credentials: an 8-byte identifier (the SRP user name) and a 32-byte seed
//! that is at once the Ed25519 seed, the SRP private exponent and the X25519 secret.

use std::fmt;
use std::str::FromStr;

use rand::CryptoRng;
use sha1::{Digest, Sha1};

/// Credentials of a paired sender, written `ID:KEY` (16 + 64 hex digits, identifier
/// upper-case as it goes on the wire, key upper-case too, like pyatv's documented example).
///
/// `Debug` and `Display` show only the identifier; [`Credentials::to_secret_string`] is the
/// one way to get the full string (to print once after pairing, or to store).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    identifier: [u8; 8],
    seed: [u8; 32],
}

impl Credentials {
    /// Credentials from a stored identifier and Ed25519 seed.
    pub fn new(identifier: [u8; 8], seed: [u8; 32]) -> Self {
        Credentials { identifier, seed }
    }

    /// Fresh random credentials.
    ///
    /// Identifiers whose SRP user-name hash starts with a zero byte are skipped: pyatv's SRP
    /// library drops that byte when computing M1 (we reproduce that), an Apple TV may not,
    /// so such an identifier could fail to pair 1 time in 256.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut identifier = [0u8; 8];
        loop {
            rng.fill_bytes(&mut identifier);
            if Sha1::digest(hex_upper(&identifier).as_bytes())[0] != 0 {
                break;
            }
        }
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Credentials { identifier, seed }
    }

    /// The 8-byte client identifier the device paired us under.
    pub fn identifier(&self) -> [u8; 8] {
        self.identifier
    }

    /// The identifier as 16 upper-case hex digits: the SRP user name on the wire.
    pub fn identifier_hex(&self) -> String {
        hex_upper(&self.identifier)
    }

    /// The Ed25519 public key the device learns during pair-setup.
    pub fn ed25519_public_key(&self) -> [u8; 32] {
        self.signing_key().verifying_key().to_bytes()
    }

    /// The full `ID:KEY` string, secret included. Print it only when the user asked for it.
    pub fn to_secret_string(&self) -> String {
        format!("{}:{}", self.identifier_hex(), hex_upper(&self.seed))
    }

    pub(crate) fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    pub(crate) fn signing_key(&self) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&self.seed)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("identifier", &self.identifier_hex())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Shows the identifier only, so credentials can go into log lines.
impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.identifier_hex())
    }
}

/// Accepts `ID:KEY` and pyatv's legacy 4-field form `:KEY::ID` (what pyatv prints after
/// pairing), case-insensitively, ignoring surrounding whitespace.
impl FromStr for Credentials {
    type Err = CredentialsParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fields: Vec<&str> = input.trim().split(':').collect();
        let (identifier, key) = match fields.as_slice() {
            // pyatv's HapCredentials string is ltpk:ltsk:atv_id:client_id; legacy credentials
            // have no ltpk and no atv_id.
            [identifier, key] | ["", key, "", identifier] => (*identifier, *key),
            [_, _, _, _] => return Err(CredentialsParseError::HapCredentials),
            _ => {
                return Err(CredentialsParseError::WrongShape {
                    fields: fields.len(),
                });
            }
        };
        let mut parsed = Credentials::new([0; 8], [0; 32]);
        hex::decode_to_slice(identifier, &mut parsed.identifier)
            .map_err(|_| CredentialsParseError::BadIdentifier)?;
        hex::decode_to_slice(key, &mut parsed.seed).map_err(|_| CredentialsParseError::BadKey)?;
        Ok(parsed)
    }
}

/// Why a credentials string was rejected. Never echoes the input (it holds the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsParseError {
    /// Not `ID:KEY` nor pyatv's `:KEY::ID`.
    #[error(
        "credentials must be ID:KEY (16 and 64 hex digits) or pyatv's :KEY::ID form, \
         got {fields} colon-separated field(s)"
    )]
    WrongShape {
        /// How many `:`-separated fields the string has.
        fields: usize,
    },
    /// The identifier is not 16 hex digits.
    #[error("credentials identifier (before the ':') must be 16 hex digits")]
    BadIdentifier,
    /// The key is not 64 hex digits.
    #[error("credentials key (after the ':') must be 64 hex digits")]
    BadKey,
    /// The string is the four-part HAP form, which legacy pairing cannot use.
    #[error("these are AirPlay 2 (HAP) credentials; legacy pairing needs ID:KEY credentials")]
    HapCredentials,
}

fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}
