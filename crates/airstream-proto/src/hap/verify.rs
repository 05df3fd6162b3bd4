//! Client side of HAP pair-verify (airplay2.md §3): M1–M4 prove both sides hold the keys
//! of a past pair-setup; the X25519 result then keys the encrypted channel.

use std::fmt;

use ed25519_dalek::Signer;

use super::crypto::{self, Key};
use super::tlv::{ERROR_AUTHENTICATION, Tlv8, TlvType};
use super::{HapCredentials, HapError, SessionKeys};

const M2: &str = "pair-verify M2";
const M4: &str = "pair-verify M4";

pub(crate) const VERIFY_ENCRYPT_SALT: &str = "Pair-Verify-Encrypt-Salt";
pub(crate) const VERIFY_ENCRYPT_INFO: &str = "Pair-Verify-Encrypt-Info";
pub(crate) const M2_NONCE: &[u8; 8] = b"PV-Msg02";
pub(crate) const M3_NONCE: &[u8; 8] = b"PV-Msg03";

/// M1 of pair-verify.
pub struct PairVerify {
    credentials: HapCredentials,
    ephemeral: [u8; 32],
}

impl PairVerify {
    /// `ephemeral` is a fresh X25519 secret (32 random bytes).
    pub fn new(credentials: &HapCredentials, ephemeral: [u8; 32]) -> Self {
        PairVerify {
            credentials: credentials.clone(),
            ephemeral,
        }
    }

    /// `{State 1, PublicKey (our X25519 ephemeral)}`.
    pub fn request_body(&self) -> Vec<u8> {
        Tlv8::new()
            .with(TlvType::State, [1])
            .with(TlvType::PublicKey, crypto::x25519_public(&self.ephemeral))
            .encode()
    }

    /// Takes M2, checks the device is the one paired (identifier and signature), and
    /// prepares M3.
    pub fn handle_response(self, body: &[u8]) -> Result<PairVerifyFinish, HapError> {
        let reply = Tlv8::decode(M2, body)?;
        refused_means_rejected(reply.expect_state(M2, 2))?;
        let device_ephemeral: [u8; 32] = reply.require_array(M2, TlvType::PublicKey)?;
        let sealed = reply.require(M2, TlvType::EncryptedData)?;
        let shared = crypto::x25519_shared(&self.ephemeral, &device_ephemeral)
            .ok_or(HapError::LowOrderKey { step: M2 })?;
        let key = crypto::hkdf(&shared, VERIFY_ENCRYPT_SALT, VERIFY_ENCRYPT_INFO);
        let inner = crypto::open(&key, &crypto::nonce(*M2_NONCE), &[], sealed)
            .ok_or(HapError::DecryptionFailed { step: M2 })?;
        let inner = Tlv8::decode(M2, &inner)?;
        let device_id = inner.require(M2, TlvType::Identifier)?;
        let signature = inner.require(M2, TlvType::Signature)?;
        if device_id != self.credentials.device_id() {
            return Err(HapError::DeviceIdentityMismatch);
        }
        let our_ephemeral = crypto::x25519_public(&self.ephemeral);
        let signed = [&device_ephemeral[..], device_id, &our_ephemeral].concat();
        if !crypto::signature_verifies(self.credentials.device_public_key(), &signed, signature) {
            return Err(HapError::DeviceSignatureMismatch { step: M2 });
        }

        let client = self.credentials.client();
        let signed = [&our_ephemeral[..], client.id(), &device_ephemeral].concat();
        let signature = client.signing_key().sign(&signed).to_bytes();
        let inner = Tlv8::new()
            .with(TlvType::Identifier, client.id())
            .with(TlvType::Signature, signature)
            .encode();
        let encrypted = crypto::seal(&key, &crypto::nonce(*M3_NONCE), &[], &inner);
        Ok(PairVerifyFinish {
            shared,
            body: Tlv8::new()
                .with(TlvType::State, [3])
                .with(TlvType::EncryptedData, encrypted)
                .encode(),
        })
    }
}

/// M3 of pair-verify: our signature, encrypted.
pub struct PairVerifyFinish {
    shared: [u8; 32],
    body: Vec<u8>,
}

impl PairVerifyFinish {
    /// `{State 3, EncryptedData}`.
    pub fn request_body(&self) -> Vec<u8> {
        self.body.clone()
    }

    /// Takes M4 `{State 4}`; an authentication error means the device does not know us.
    pub fn handle_response(self, body: &[u8]) -> Result<SessionKeys, HapError> {
        let reply = Tlv8::decode(M4, body)?;
        refused_means_rejected(reply.expect_state(M4, 4))?;
        Ok(SessionKeys::client(&self.shared))
    }
}

fn refused_means_rejected(result: Result<(), HapError>) -> Result<(), HapError> {
    match result {
        Err(HapError::DeviceRefused {
            code: ERROR_AUTHENTICATION,
            ..
        }) => Err(HapError::CredentialsRejected),
        other => other,
    }
}

/// The pair-verify encryption key, for the device side.
pub(crate) fn verify_key(shared: &[u8; 32]) -> Key {
    crypto::hkdf(shared, VERIFY_ENCRYPT_SALT, VERIFY_ENCRYPT_INFO)
}

impl fmt::Debug for PairVerify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairVerify")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PairVerifyFinish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairVerifyFinish").finish_non_exhaustive()
    }
}
