//! Client side of pair-setup (airplay.md §2.2): three `POST /pair-setup-pin` exchanges.

use std::fmt;

use plist::Value;

use super::apple_srp::ClientSession;
use super::keys::{self, Iv, Key};
use super::{Credentials, PairingError, fields};
use crate::bplist;

const STEP1_REPLY: &str = "pair-setup step 1 reply";
const STEP2_REPLY: &str = "pair-setup step 2 reply";
const STEP3_REPLY: &str = "pair-setup step 3 reply";

/// Step 1: announce the user name; the device answers with its salt and SRP public value.
pub struct PairSetup {
    credentials: Credentials,
    pin: String,
}

impl PairSetup {
    /// `pin` is what the TV shows: 1 to 8 digits, zero-padded to 4 like pyatv does.
    pub fn new(credentials: &Credentials, pin: &str) -> Result<Self, PairingError> {
        Ok(PairSetup {
            credentials: credentials.clone(),
            pin: normalize_pin(pin)?,
        })
    }

    /// `{method: "pin", user: <identifier>}`.
    pub fn request_body(&self) -> Vec<u8> {
        bplist::encode_dict([
            ("method", Value::String("pin".into())),
            ("user", Value::String(self.credentials.identifier_hex())),
        ])
    }

    /// Takes the device's `{pk: B, salt}` reply and runs SRP.
    pub fn handle_response(self, body: &[u8]) -> Result<PairSetupProof, PairingError> {
        let reply = fields::decode(STEP1_REPLY, body)?;
        let device_public = fields::data(STEP1_REPLY, &reply, "pk")?;
        let salt = fields::data(STEP1_REPLY, &reply, "salt")?;
        let srp = ClientSession::new(
            STEP1_REPLY,
            self.credentials.seed(),
            &self.credentials.identifier_hex(),
            &self.pin,
            salt,
            device_public,
        )?;
        Ok(PairSetupProof {
            credentials: self.credentials,
            srp,
        })
    }
}

/// Step 2: send our public value and proof; the device proves it knows the PIN too.
pub struct PairSetupProof {
    credentials: Credentials,
    srp: ClientSession,
}

impl PairSetupProof {
    /// `{pk: A, proof: M1}`.
    pub fn request_body(&self) -> Vec<u8> {
        bplist::encode_dict([
            ("pk", fields::data_value(&self.srp.public)),
            ("proof", fields::data_value(&self.srp.proof)),
        ])
    }

    /// Checks the device's `{proof: M2}`; fails with
    /// [`PairingError::DeviceProofMismatch`] unless M2 = H(A | M1 | K).
    pub fn handle_response(self, body: &[u8]) -> Result<PairSetupKeyExchange, PairingError> {
        let reply = fields::decode(STEP2_REPLY, body)?;
        let device_proof = fields::data(STEP2_REPLY, &reply, "proof")?;
        if device_proof != self.srp.expected_device_proof() {
            return Err(PairingError::DeviceProofMismatch);
        }
        let (key, raw_iv) = keys::setup_key_iv(&self.srp.key);
        let (encrypted_key, tag) = keys::gcm_seal(
            &key,
            &keys::bump_iv(&raw_iv, 1),
            &self.credentials.ed25519_public_key(),
        );
        Ok(PairSetupKeyExchange {
            key,
            raw_iv,
            body: bplist::encode_dict([
                ("epk", fields::data_value(&encrypted_key)),
                ("authTag", fields::data_value(&tag)),
            ]),
        })
    }
}

/// Step 3: hand the device our Ed25519 public key, encrypted under the SRP session key.
/// Once the device accepts this request, pairing is complete.
pub struct PairSetupKeyExchange {
    key: Key,
    raw_iv: Iv,
    body: Vec<u8>,
}

impl PairSetupKeyExchange {
    /// `{epk, authTag}`: our Ed25519 public key, AES-GCM encrypted with IV + 1.
    pub fn request_body(&self) -> Vec<u8> {
        self.body.clone()
    }

    /// Decrypts the device's optional reply (its Ed25519 public key, encrypted with IV + 2).
    /// An empty body gives `None`. Pairing already succeeded when the device accepted the
    /// request, so a caller may treat an error here as a warning.
    pub fn handle_response(self, body: &[u8]) -> Result<Option<[u8; 32]>, PairingError> {
        if body.is_empty() {
            return Ok(None);
        }
        let reply = fields::decode(STEP3_REPLY, body)?;
        let encrypted_key = fields::data_array::<32>(STEP3_REPLY, &reply, "epk")?;
        let tag = fields::data_array::<16>(STEP3_REPLY, &reply, "authTag")?;
        keys::gcm_open(
            &self.key,
            &keys::bump_iv(&self.raw_iv, 2),
            &encrypted_key,
            &tag,
        )
        .map(Some)
        .ok_or(PairingError::DecryptionFailed { step: STEP3_REPLY })
    }
}

/// 1 to 8 ASCII digits, left-padded with zeros to 4 (pyatv: `str(pin).zfill(4)`).
pub(crate) fn normalize_pin(pin: &str) -> Result<String, PairingError> {
    if pin.is_empty() || pin.len() > 8 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PairingError::InvalidPin);
    }
    Ok(format!("{pin:0>4}"))
}

impl fmt::Debug for PairSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairSetup")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PairSetupProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairSetupProof")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PairSetupKeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairSetupKeyExchange")
            .finish_non_exhaustive()
    }
}
