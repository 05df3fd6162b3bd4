//! Device (accessory) side of HAP pair-setup and pair-verify, for fakes and tests.
//! Deterministic: every secret (SRP b, salt, keys, ephemerals) is passed in.
//!
//! A refused step (wrong PIN, bad signature, unknown controller) is answered with a TLV8
//! Error item as a real device does, and also reported by [`DeviceStep::refused`];
//! malformed or out-of-order requests are an `Err` (a fake answers those with HTTP 400).

use std::fmt;
use std::mem;

use ed25519_dalek::{Signer, SigningKey};

use super::crypto::{self, Key};
use super::setup::{
    ACCESSORY_SIGN_INFO, ACCESSORY_SIGN_SALT, CONTROLLER_SIGN_INFO, CONTROLLER_SIGN_SALT, M5_NONCE,
    M6_NONCE, SETUP_ENCRYPT_INFO, SETUP_ENCRYPT_SALT, TRANSIENT_PIN, normalize_pin,
};
use super::srp::{self, DeviceSession, SessionKey};
use super::tlv::{ERROR_AUTHENTICATION, FLAG_TRANSIENT, Tlv8, TlvType};
use super::verify::{M2_NONCE, M3_NONCE, verify_key};
use super::{HapError, SessionKeys};

const SETUP_M1: &str = "pair-setup M1";
const SETUP_M3: &str = "pair-setup M3";
const SETUP_M5: &str = "pair-setup M5";
const VERIFY_M1: &str = "pair-verify M1";
const VERIFY_M3: &str = "pair-verify M3";

/// A device's long-term identity: its pairing identifier and Ed25519 seed.
#[derive(Clone)]
pub struct DeviceIdentity {
    id: Vec<u8>,
    ltsk: [u8; 32],
}

impl DeviceIdentity {
    /// An identity from its pairing identifier and Ed25519 seed.
    pub fn new(id: Vec<u8>, ltsk: [u8; 32]) -> Self {
        DeviceIdentity { id, ltsk }
    }

    /// The pairing identifier (HAP's AccessoryPairingID).
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The Ed25519 long-term public key controllers store.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key().verifying_key().to_bytes()
    }

    fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.ltsk)
    }
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("id", &String::from_utf8_lossy(&self.id))
            .finish_non_exhaustive()
    }
}

/// A controller that completed a full pair-setup: trusted by pair-verify from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedController {
    /// The controller's pairing identifier (its SRP user name).
    pub id: Vec<u8>,
    /// The controller's Ed25519 long-term public key (LTPK).
    pub public_key: [u8; 32],
}

/// What one request did to the device's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStep {
    /// The exchange goes on.
    Continue,
    /// A full pair-setup finished: the controller is to be remembered.
    Paired(PairedController),
    /// Transient setup or pair-verify finished: the channel is encrypted from the next
    /// message on, with these keys.
    Encrypted(SessionKeys),
    /// The step was refused; the reply carries a HAP error.
    Refused(HapError),
}

impl DeviceStep {
    /// The refusal, if this step was one.
    pub fn refused(&self) -> Option<&HapError> {
        match self {
            DeviceStep::Refused(error) => Some(error),
            _ => None,
        }
    }
}

/// One pair-setup session on the device (full or transient, as M1 asks).
pub struct PairSetupServer {
    identity: DeviceIdentity,
    pin: String,
    salt: [u8; 16],
    srp_private: [u8; 32],
    state: SetupState,
}

enum SetupState {
    Start,
    Proof { srp: DeviceSession, transient: bool },
    Exchange { srp_key: SessionKey },
}

impl PairSetupServer {
    /// A device showing `pin` for full pairing (transient always uses 3939), with SRP
    /// `salt` and private exponent `srp_private`.
    pub fn new(
        identity: &DeviceIdentity,
        pin: &str,
        salt: [u8; 16],
        srp_private: [u8; 32],
    ) -> Result<Self, HapError> {
        Ok(PairSetupServer {
            identity: identity.clone(),
            pin: normalize_pin(pin)?,
            salt,
            srp_private,
            state: SetupState::Start,
        })
    }

    /// Answers one `/pair-setup` body. An M1 restarts the exchange; a refusal resets it.
    pub fn handle_request(&mut self, body: &[u8]) -> Result<(Vec<u8>, DeviceStep), HapError> {
        let request = Tlv8::decode(SETUP_M1, body)?;
        let state = request
            .require(SETUP_M1, TlvType::State)?
            .first()
            .copied()
            .unwrap_or(0);
        let previous = mem::replace(&mut self.state, SetupState::Start);
        match (state, previous) {
            (1, _) => Ok(self.start(&request)),
            (3, SetupState::Proof { srp, transient }) => {
                self.check_proof(&request, &srp, transient)
            }
            (5, SetupState::Exchange { srp_key }) => self.exchange(&request, &srp_key),
            _ => Err(HapError::UnexpectedMessage {
                step: SETUP_M1,
                expected: "the next pair-setup state",
            }),
        }
    }

    fn start(&mut self, request: &Tlv8) -> (Vec<u8>, DeviceStep) {
        let transient = request.get(TlvType::Flags) == Some(&[FLAG_TRANSIENT][..]);
        let pin = if transient { TRANSIENT_PIN } else { &self.pin };
        let srp = DeviceSession::new(pin, &self.salt, self.srp_private);
        let reply = Tlv8::new()
            .with(TlvType::State, [2])
            .with(TlvType::Salt, self.salt)
            .with(TlvType::PublicKey, srp.public.clone())
            .encode();
        self.state = SetupState::Proof { srp, transient };
        (reply, DeviceStep::Continue)
    }

    fn check_proof(
        &mut self,
        request: &Tlv8,
        srp: &DeviceSession,
        transient: bool,
    ) -> Result<(Vec<u8>, DeviceStep), HapError> {
        let a_pub = request.require(SETUP_M3, TlvType::PublicKey)?;
        let proof = request.require(SETUP_M3, TlvType::Proof)?;
        let (a_pub, key) = srp
            .session_key(a_pub)
            .ok_or_else(|| HapError::malformed(SETUP_M3, "client SRP value A is not in 1..N-1"))?;
        let expected = srp::client_proof(&self.salt, &a_pub, &srp.public, &key);
        if proof != expected {
            return Ok((refusal(4), DeviceStep::Refused(HapError::BadPin)));
        }
        let reply = Tlv8::new()
            .with(TlvType::State, [4])
            .with(TlvType::Proof, srp::device_proof(&a_pub, &expected, &key))
            .encode();
        if transient {
            return Ok((reply, DeviceStep::Encrypted(SessionKeys::device(&key))));
        }
        self.state = SetupState::Exchange { srp_key: key };
        Ok((reply, DeviceStep::Continue))
    }

    fn exchange(
        &mut self,
        request: &Tlv8,
        srp_key: &SessionKey,
    ) -> Result<(Vec<u8>, DeviceStep), HapError> {
        let key = crypto::hkdf(srp_key, SETUP_ENCRYPT_SALT, SETUP_ENCRYPT_INFO);
        let sealed = request.require(SETUP_M5, TlvType::EncryptedData)?;
        let Some(inner) = crypto::open(&key, &crypto::nonce(*M5_NONCE), &[], sealed) else {
            let error = HapError::DecryptionFailed { step: SETUP_M5 };
            return Ok((refusal(6), DeviceStep::Refused(error)));
        };
        let inner = Tlv8::decode(SETUP_M5, &inner)?;
        let id = inner.require(SETUP_M5, TlvType::Identifier)?;
        let public_key: [u8; 32] = inner.require_array(SETUP_M5, TlvType::PublicKey)?;
        let signature = inner.require(SETUP_M5, TlvType::Signature)?;
        let prefix = crypto::hkdf(srp_key, CONTROLLER_SIGN_SALT, CONTROLLER_SIGN_INFO);
        let signed = [&prefix[..], id, &public_key].concat();
        if !crypto::signature_verifies(&public_key, &signed, signature) {
            let error = HapError::ClientSignatureMismatch { step: SETUP_M5 };
            return Ok((refusal(6), DeviceStep::Refused(error)));
        }

        let prefix = crypto::hkdf(srp_key, ACCESSORY_SIGN_SALT, ACCESSORY_SIGN_INFO);
        let device_key = self.identity.public_key();
        let signed = [&prefix[..], &self.identity.id, &device_key].concat();
        let device_signature = self.identity.signing_key().sign(&signed).to_bytes();
        let reply_inner = Tlv8::new()
            .with(TlvType::Identifier, self.identity.id.clone())
            .with(TlvType::PublicKey, device_key)
            .with(TlvType::Signature, device_signature)
            .encode();
        let reply = Tlv8::new()
            .with(TlvType::State, [6])
            .with(
                TlvType::EncryptedData,
                crypto::seal(&key, &crypto::nonce(*M6_NONCE), &[], &reply_inner),
            )
            .encode();
        let controller = PairedController {
            id: id.to_vec(),
            public_key,
        };
        Ok((reply, DeviceStep::Paired(controller)))
    }
}

/// One pair-verify session on the device.
pub struct PairVerifyServer {
    identity: DeviceIdentity,
    ephemeral: [u8; 32],
    controllers: Vec<PairedController>,
    state: VerifyState,
}

enum VerifyState {
    Start,
    Finish {
        client_ephemeral: [u8; 32],
        shared: [u8; 32],
        key: Key,
    },
}

impl PairVerifyServer {
    /// `ephemeral` is the device's fresh X25519 secret; `controllers` those it trusts.
    pub fn new(
        identity: &DeviceIdentity,
        ephemeral: [u8; 32],
        controllers: Vec<PairedController>,
    ) -> Self {
        PairVerifyServer {
            identity: identity.clone(),
            ephemeral,
            controllers,
            state: VerifyState::Start,
        }
    }

    /// Answers one `/pair-verify` body.
    pub fn handle_request(&mut self, body: &[u8]) -> Result<(Vec<u8>, DeviceStep), HapError> {
        let request = Tlv8::decode(VERIFY_M1, body)?;
        let state = request
            .require(VERIFY_M1, TlvType::State)?
            .first()
            .copied()
            .unwrap_or(0);
        match (state, mem::replace(&mut self.state, VerifyState::Start)) {
            (1, _) => self.start(&request),
            (
                3,
                VerifyState::Finish {
                    client_ephemeral,
                    shared,
                    key,
                },
            ) => Ok(self.finish(&request, &client_ephemeral, &shared, &key)),
            _ => Err(HapError::UnexpectedMessage {
                step: VERIFY_M1,
                expected: "the next pair-verify state",
            }),
        }
    }

    fn start(&mut self, request: &Tlv8) -> Result<(Vec<u8>, DeviceStep), HapError> {
        let client_ephemeral: [u8; 32] = request.require_array(VERIFY_M1, TlvType::PublicKey)?;
        let shared = crypto::x25519_shared(&self.ephemeral, &client_ephemeral)
            .ok_or(HapError::LowOrderKey { step: VERIFY_M1 })?;
        let key = verify_key(&shared);
        let our_ephemeral = crypto::x25519_public(&self.ephemeral);
        let signed = [&our_ephemeral[..], &self.identity.id, &client_ephemeral].concat();
        let signature = self.identity.signing_key().sign(&signed).to_bytes();
        let inner = Tlv8::new()
            .with(TlvType::Identifier, self.identity.id.clone())
            .with(TlvType::Signature, signature)
            .encode();
        let reply = Tlv8::new()
            .with(TlvType::State, [2])
            .with(TlvType::PublicKey, our_ephemeral)
            .with(
                TlvType::EncryptedData,
                crypto::seal(&key, &crypto::nonce(*M2_NONCE), &[], &inner),
            )
            .encode();
        self.state = VerifyState::Finish {
            client_ephemeral,
            shared,
            key,
        };
        Ok((reply, DeviceStep::Continue))
    }

    fn finish(
        &self,
        request: &Tlv8,
        client_ephemeral: &[u8; 32],
        shared: &[u8; 32],
        key: &Key,
    ) -> (Vec<u8>, DeviceStep) {
        match self.check_client(request, client_ephemeral, key) {
            Ok(()) => (
                Tlv8::new().with(TlvType::State, [4]).encode(),
                DeviceStep::Encrypted(SessionKeys::device(shared)),
            ),
            Err(error) => (refusal(4), DeviceStep::Refused(error)),
        }
    }

    fn check_client(
        &self,
        request: &Tlv8,
        client_ephemeral: &[u8; 32],
        key: &Key,
    ) -> Result<(), HapError> {
        let sealed = request.require(VERIFY_M3, TlvType::EncryptedData)?;
        let inner = crypto::open(key, &crypto::nonce(*M3_NONCE), &[], sealed)
            .ok_or(HapError::DecryptionFailed { step: VERIFY_M3 })?;
        let inner = Tlv8::decode(VERIFY_M3, &inner)?;
        let id = inner.require(VERIFY_M3, TlvType::Identifier)?;
        let signature = inner.require(VERIFY_M3, TlvType::Signature)?;
        let controller = self
            .controllers
            .iter()
            .find(|c| c.id == id)
            .ok_or(HapError::UnknownController)?;
        let our_ephemeral = crypto::x25519_public(&self.ephemeral);
        let signed = [&client_ephemeral[..], id, &our_ephemeral].concat();
        if !crypto::signature_verifies(&controller.public_key, &signed, signature) {
            return Err(HapError::ClientSignatureMismatch { step: VERIFY_M3 });
        }
        Ok(())
    }
}

/// `{State n, Error Authentication}`.
fn refusal(state: u8) -> Vec<u8> {
    Tlv8::new()
        .with(TlvType::State, [state])
        .with(TlvType::Error, [ERROR_AUTHENTICATION])
        .encode()
}

impl fmt::Debug for PairSetupServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairSetupServer")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PairVerifyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairVerifyServer")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}
