//! Client side of HAP pair-setup (airplay2.md §2): M1–M6 for a full PIN pairing, M1–M4
//! for transient pairing (PIN 3939, nothing stored, the SRP key secures the session).

use std::fmt;

use ed25519_dalek::Signer;

use super::crypto::{self, Key};
use super::srp::{ClientSession, SessionKey};
use super::tlv::{ERROR_AUTHENTICATION, FLAG_TRANSIENT, Tlv8, TlvType};
use super::{ClientIdentity, HapCredentials, HapError, SessionKeys, credentials};

const M2: &str = "pair-setup M2";
const M4: &str = "pair-setup M4";
const M6: &str = "pair-setup M6";

/// The PIN of transient pairing.
pub const TRANSIENT_PIN: &str = "3939";

pub(crate) const SETUP_ENCRYPT_SALT: &str = "Pair-Setup-Encrypt-Salt";
pub(crate) const SETUP_ENCRYPT_INFO: &str = "Pair-Setup-Encrypt-Info";
pub(crate) const CONTROLLER_SIGN_SALT: &str = "Pair-Setup-Controller-Sign-Salt";
pub(crate) const CONTROLLER_SIGN_INFO: &str = "Pair-Setup-Controller-Sign-Info";
pub(crate) const ACCESSORY_SIGN_SALT: &str = "Pair-Setup-Accessory-Sign-Salt";
pub(crate) const ACCESSORY_SIGN_INFO: &str = "Pair-Setup-Accessory-Sign-Info";
pub(crate) const M5_NONCE: &[u8; 8] = b"PS-Msg05";
pub(crate) const M6_NONCE: &[u8; 8] = b"PS-Msg06";

/// M1 of a full pairing. Construct, send [`PairSetup::request_body`], feed the reply to
/// [`PairSetup::handle_response`].
pub struct PairSetup {
    client: ClientIdentity,
    pin: String,
}

impl PairSetup {
    /// `pin` is what the device shows (1 to 8 digits, zero-padded to 4). The identity's
    /// seed is also SRP's private exponent, as in pyatv.
    pub fn new(client: ClientIdentity, pin: &str) -> Result<Self, HapError> {
        Ok(PairSetup {
            client,
            pin: normalize_pin(pin)?,
        })
    }

    /// `{State 1, Method 0}`.
    pub fn request_body(&self) -> Vec<u8> {
        m1(false)
    }

    /// Takes M2 `{State 2, Salt, PublicKey B}` and runs SRP.
    pub fn handle_response(self, body: &[u8]) -> Result<PairSetupProof, HapError> {
        let srp = srp_from_m2(body, self.client.seed(), &self.pin)?;
        Ok(PairSetupProof {
            client: self.client,
            srp,
        })
    }
}

/// M3 of a full pairing: our SRP public value and proof.
pub struct PairSetupProof {
    client: ClientIdentity,
    srp: ClientSession,
}

impl PairSetupProof {
    /// `{State 3, PublicKey A, Proof M1}`.
    pub fn request_body(&self) -> Vec<u8> {
        m3(&self.srp)
    }

    /// Checks M4 `{State 4, Proof M2}`: a HAP authentication error here means a wrong PIN.
    pub fn handle_response(self, body: &[u8]) -> Result<PairSetupExchange, HapError> {
        check_m4(body, &self.srp)?;
        let key = crypto::hkdf(&self.srp.key, SETUP_ENCRYPT_SALT, SETUP_ENCRYPT_INFO);
        let signed_prefix = crypto::hkdf(&self.srp.key, CONTROLLER_SIGN_SALT, CONTROLLER_SIGN_INFO);
        let public_key = self.client.public_key();
        let signed = [&signed_prefix[..], self.client.id(), &public_key].concat();
        let signature = self.client.signing_key().sign(&signed).to_bytes();
        let inner = Tlv8::new()
            .with(TlvType::Identifier, self.client.id())
            .with(TlvType::PublicKey, public_key)
            .with(TlvType::Signature, signature)
            .encode();
        let encrypted = crypto::seal(&key, &crypto::nonce(*M5_NONCE), &[], &inner);
        Ok(PairSetupExchange {
            client: self.client,
            srp_key: self.srp.key,
            key,
            body: Tlv8::new()
                .with(TlvType::State, [5])
                .with(TlvType::EncryptedData, encrypted)
                .encode(),
        })
    }
}

/// M5 of a full pairing: our identity, encrypted; M6 returns the device's.
pub struct PairSetupExchange {
    client: ClientIdentity,
    srp_key: SessionKey,
    key: Key,
    body: Vec<u8>,
}

impl PairSetupExchange {
    /// `{State 5, EncryptedData}`.
    pub fn request_body(&self) -> Vec<u8> {
        self.body.clone()
    }

    /// Decrypts M6, checks the device's signature over its identifier and key, and
    /// returns the credentials to store.
    pub fn handle_response(self, body: &[u8]) -> Result<HapCredentials, HapError> {
        let reply = Tlv8::decode(M6, body)?;
        reply.expect_state(M6, 6)?;
        let sealed = reply.require(M6, TlvType::EncryptedData)?;
        let inner = crypto::open(&self.key, &crypto::nonce(*M6_NONCE), &[], sealed)
            .ok_or(HapError::DecryptionFailed { step: M6 })?;
        let inner = Tlv8::decode(M6, &inner)?;
        let device_id = inner.require(M6, TlvType::Identifier)?;
        if device_id.len() > credentials::MAX_IDENTIFIER_LEN {
            return Err(HapError::malformed(
                M6,
                "device identifier is over 64 bytes",
            ));
        }
        let device_key: [u8; 32] = inner.require_array(M6, TlvType::PublicKey)?;
        let signature = inner.require(M6, TlvType::Signature)?;
        let signed_prefix = crypto::hkdf(&self.srp_key, ACCESSORY_SIGN_SALT, ACCESSORY_SIGN_INFO);
        let signed = [&signed_prefix[..], device_id, &device_key].concat();
        if !crypto::signature_verifies(&device_key, &signed, signature) {
            return Err(HapError::DeviceSignatureMismatch { step: M6 });
        }
        Ok(HapCredentials::new(
            device_key,
            self.client,
            device_id.to_vec(),
        ))
    }
}

/// M1 of transient pairing. Ends after M4 with the session keys; nothing to store.
pub struct TransientPairSetup {
    srp_private: [u8; 32],
}

impl TransientPairSetup {
    /// `srp_private` is SRP's random exponent a (32 random bytes).
    pub fn new(srp_private: [u8; 32]) -> Self {
        TransientPairSetup { srp_private }
    }

    /// `{State 1, Method 0, Flags 0x10}`.
    pub fn request_body(&self) -> Vec<u8> {
        m1(true)
    }

    /// Takes M2 and runs SRP with PIN 3939.
    pub fn handle_response(self, body: &[u8]) -> Result<TransientPairSetupProof, HapError> {
        Ok(TransientPairSetupProof {
            srp: srp_from_m2(body, &self.srp_private, TRANSIENT_PIN)?,
        })
    }
}

/// M3 of transient pairing.
pub struct TransientPairSetupProof {
    srp: ClientSession,
}

impl TransientPairSetupProof {
    /// `{State 3, PublicKey A, Proof M1}`.
    pub fn request_body(&self) -> Vec<u8> {
        m3(&self.srp)
    }

    /// Checks M4; the SRP session key K becomes the shared secret of the channel.
    pub fn handle_response(self, body: &[u8]) -> Result<SessionKeys, HapError> {
        check_m4(body, &self.srp)?;
        Ok(SessionKeys::client(&self.srp.key))
    }
}

fn m1(transient: bool) -> Vec<u8> {
    let tlv = Tlv8::new()
        .with(TlvType::Method, [0])
        .with(TlvType::State, [1]);
    if transient {
        tlv.with(TlvType::Flags, [FLAG_TRANSIENT]).encode()
    } else {
        tlv.encode()
    }
}

fn srp_from_m2(body: &[u8], a: &[u8; 32], pin: &str) -> Result<ClientSession, HapError> {
    let reply = Tlv8::decode(M2, body)?;
    reply.expect_state(M2, 2)?;
    let salt = reply.require(M2, TlvType::Salt)?;
    if salt.len() > 64 {
        return Err(HapError::malformed(M2, "Salt is over 64 bytes"));
    }
    let device_public = reply.require(M2, TlvType::PublicKey)?;
    ClientSession::new(a, pin, salt, device_public)
        .ok_or_else(|| HapError::malformed(M2, "the device's SRP value B is not in 1..N-1"))
}

fn m3(srp: &ClientSession) -> Vec<u8> {
    Tlv8::new()
        .with(TlvType::State, [3])
        .with(TlvType::PublicKey, srp.public.clone())
        .with(TlvType::Proof, srp.proof)
        .encode()
}

fn check_m4(body: &[u8], srp: &ClientSession) -> Result<(), HapError> {
    let reply = Tlv8::decode(M4, body)?;
    match reply.expect_state(M4, 4) {
        Err(HapError::DeviceRefused {
            code: ERROR_AUTHENTICATION,
            ..
        }) => return Err(HapError::BadPin),
        other => other?,
    }
    let proof = reply.require(M4, TlvType::Proof)?;
    if proof != srp.expected_device_proof() {
        return Err(HapError::DeviceProofMismatch);
    }
    Ok(())
}

/// 1 to 8 ASCII digits, left-padded with zeros to 4 (pyatv: `str(pin).zfill(4)`).
pub(crate) fn normalize_pin(pin: &str) -> Result<String, HapError> {
    if pin.is_empty() || pin.len() > 8 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HapError::InvalidPin);
    }
    Ok(format!("{pin:0>4}"))
}

macro_rules! opaque_debug {
    ($($name:ident),*) => {$(
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}
opaque_debug!(
    PairSetup,
    PairSetupProof,
    PairSetupExchange,
    TransientPairSetup,
    TransientPairSetupProof
);
