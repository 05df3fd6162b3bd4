//! HAP credentials: what a full pair-setup leaves behind, and what pair-verify needs.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::SigningKey;
use rand::CryptoRng;

/// Longest identifier we accept (devices use a MAC-style id or a UUID string).
pub const MAX_IDENTIFIER_LEN: usize = 64;

/// Our side of a HAP pairing: the controller's Ed25519 seed and its pairing identifier.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    ltsk: [u8; 32],
    id: Vec<u8>,
}

impl ClientIdentity {
    /// `ltsk` is the Ed25519 seed (also SRP's private exponent, as in pyatv); `id` is
    /// the identifier the device will know us by.
    pub fn new(ltsk: [u8; 32], id: Vec<u8>) -> Self {
        ClientIdentity { ltsk, id }
    }

    /// A fresh seed and an upper-case UUID4 identifier (pyatv's `str(uuid4()).upper()`).
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut ltsk = [0u8; 32];
        rng.fill_bytes(&mut ltsk);
        let mut uuid = [0u8; 16];
        rng.fill_bytes(&mut uuid);
        let id = uuid::Builder::from_random_bytes(uuid).into_uuid();
        ClientIdentity {
            ltsk,
            id: id.hyphenated().to_string().to_uppercase().into_bytes(),
        }
    }

    /// The identifier the device knows us by.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    pub(crate) fn seed(&self) -> &[u8; 32] {
        &self.ltsk
    }

    pub(crate) fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.ltsk)
    }

    /// Our Ed25519 long-term public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key().verifying_key().to_bytes()
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("id", &String::from_utf8_lossy(&self.id))
            .finish_non_exhaustive()
    }
}

/// Stored HAP credentials, pyatv's `LTPK:LTSK:DEVICE_ID:CLIENT_ID` (hex): the device's
/// Ed25519 public key, our Ed25519 seed, the device's identifier and ours.
///
/// `Debug` shows only the identifiers; [`HapCredentials::to_secret_string`] is the one way
/// to get the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct HapCredentials {
    device_public_key: [u8; 32],
    client: ClientIdentity,
    device_id: Vec<u8>,
}

impl HapCredentials {
    /// Credentials from their parts (as pair-setup M6 yields them).
    pub fn new(device_public_key: [u8; 32], client: ClientIdentity, device_id: Vec<u8>) -> Self {
        HapCredentials {
            device_public_key,
            client,
            device_id,
        }
    }

    /// The device's Ed25519 long-term public key (LTPK).
    pub fn device_public_key(&self) -> &[u8; 32] {
        &self.device_public_key
    }

    /// The device's pairing identifier.
    pub fn device_id(&self) -> &[u8] {
        &self.device_id
    }

    /// Our side: Ed25519 seed and identifier.
    pub fn client(&self) -> &ClientIdentity {
        &self.client
    }

    /// `LTPK:LTSK:DEVICE_ID:CLIENT_ID` in lower-case hex, as pyatv writes it. Secret.
    pub fn to_secret_string(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            hex::encode(self.device_public_key),
            hex::encode(self.client.ltsk),
            hex::encode(&self.device_id),
            hex::encode(&self.client.id)
        )
    }
}

impl fmt::Debug for HapCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HapCredentials")
            .field("device_id", &String::from_utf8_lossy(&self.device_id))
            .field("client_id", &String::from_utf8_lossy(&self.client.id))
            .finish_non_exhaustive()
    }
}

/// Why a credentials string was refused. Never contains the string itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HapCredentialsParseError {
    /// Not four `:`-separated parts (the count found is given).
    #[error(
        "HAP credentials have {0} colon-separated parts, expected 4 (LTPK:LTSK:DEVICE_ID:CLIENT_ID)"
    )]
    WrongPartCount(usize),
    /// A part is not hex digits (the part's name is given).
    #[error("HAP credentials: the {0} part is not hexadecimal")]
    NotHex(&'static str),
    /// A part decodes to the wrong number of bytes.
    #[error("HAP credentials: the {part} part is {len} bytes, expected {expected}")]
    WrongLength {
        /// Which part (`LTPK`, `LTSK`, ...).
        part: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The length it must have.
        expected: &'static str,
    },
}

impl FromStr for HapCredentials {
    type Err = HapCredentialsParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.trim().split(':').collect();
        let [ltpk, ltsk, device_id, client_id] = parts.as_slice() else {
            return Err(HapCredentialsParseError::WrongPartCount(parts.len()));
        };
        let device_public_key = key_part("LTPK", ltpk)?;
        let ltsk = key_part("LTSK", ltsk)?;
        let device_id = id_part("DEVICE_ID", device_id)?;
        let client_id = id_part("CLIENT_ID", client_id)?;
        Ok(HapCredentials::new(
            device_public_key,
            ClientIdentity::new(ltsk, client_id),
            device_id,
        ))
    }
}

fn key_part(part: &'static str, text: &str) -> Result<[u8; 32], HapCredentialsParseError> {
    let bytes = hex::decode(text).map_err(|_| HapCredentialsParseError::NotHex(part))?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| HapCredentialsParseError::WrongLength {
            part,
            len,
            expected: "32",
        })
}

fn id_part(part: &'static str, text: &str) -> Result<Vec<u8>, HapCredentialsParseError> {
    let bytes = hex::decode(text).map_err(|_| HapCredentialsParseError::NotHex(part))?;
    if bytes.is_empty() || bytes.len() > MAX_IDENTIFIER_LEN {
        return Err(HapCredentialsParseError::WrongLength {
            part,
            len: bytes.len(),
            expected: "1 to 64",
        });
    }
    Ok(bytes)
}
