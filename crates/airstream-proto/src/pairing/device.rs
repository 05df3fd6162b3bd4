//! Device side of legacy pairing, for test peers such as the in-repo fake Apple TV.
//! Deterministic: every secret (SRP b, salt, keys) is passed in.

use std::fmt;
use std::mem;

use ed25519_dalek::{Signer, SigningKey};
use rand::CryptoRng;
use srp::bigint::BoxedUint;

use super::apple_srp::{self, SessionKey};
use super::keys::{self, CLIENT_SIGNATURE_OFFSET, DEVICE_SIGNATURE_OFFSET, Iv, Key};
use super::setup::normalize_pin;
use super::verify::{self, REPLY_LEN, REQUEST_LEN};
use super::{PairingError, fields};
use crate::bplist;

const SETUP_REQUEST: &str = "pair-setup request";
const SETUP_START: &str = "pair-setup step 1 request";
const SETUP_PROOF: &str = "pair-setup step 2 request";
const SETUP_KEY: &str = "pair-setup step 3 request";
const VERIFY_REQUEST: &str = "pair-verify request";
const VERIFY_SIGNATURE: &str = "pair-verify step 2 request";

/// A device's long-term identity: its Ed25519 key (advertised as `pk` in its TXT record).
#[derive(Clone)]
pub struct DeviceIdentity {
    ed25519_seed: [u8; 32],
}

impl DeviceIdentity {
    /// A device with this Ed25519 seed as its long-term key.
    pub fn new(ed25519_seed: [u8; 32]) -> Self {
        DeviceIdentity { ed25519_seed }
    }

    /// A device with a fresh random long-term key.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut ed25519_seed = [0u8; 32];
        rng.fill_bytes(&mut ed25519_seed);
        DeviceIdentity { ed25519_seed }
    }

    /// The public key the device advertises as `pk`.
    pub fn ed25519_public_key(&self) -> [u8; 32] {
        self.signing_key().verifying_key().to_bytes()
    }

    fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.ed25519_seed)
    }
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field(
                "ed25519_public_key",
                &hex::encode(self.ed25519_public_key()),
            )
            .finish_non_exhaustive()
    }
}

/// A client that completed pair-setup: the device trusts this key in pair-verify from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedClient {
    /// The SRP user name the client sent (16 upper-case hex digits for airstream/pyatv).
    pub identifier: String,
    /// The client's Ed25519 public key, checked in pair-verify.
    pub ed25519_public_key: [u8; 32],
}

/// One pair-setup session (one connection) on the device.
pub struct PairSetupServer {
    identity: DeviceIdentity,
    pin: String,
    salt: [u8; 16],
    srp_private: [u8; 32],
    state: SetupState,
    paired: Option<PairedClient>,
}

/// What the next request must be.
enum SetupState {
    Start,
    Proof {
        user: String,
        verifier: BoxedUint,
        public: Vec<u8>,
    },
    KeyExchange {
        user: String,
        key: Key,
        raw_iv: Iv,
    },
}

impl PairSetupServer {
    /// A device showing `pin`, with SRP `salt` and private exponent `srp_private`.
    pub fn new(
        identity: &DeviceIdentity,
        pin: &str,
        salt: [u8; 16],
        srp_private: [u8; 32],
    ) -> Result<Self, PairingError> {
        Ok(PairSetupServer {
            identity: identity.clone(),
            pin: normalize_pin(pin)?,
            salt,
            srp_private,
            state: SetupState::Start,
            paired: None,
        })
    }

    /// Answers one `/pair-setup-pin` body. A step-1 body restarts the exchange; any error
    /// also resets it, so a client that got the PIN wrong must start over.
    pub fn handle_request(&mut self, body: &[u8]) -> Result<Vec<u8>, PairingError> {
        let request = fields::decode(SETUP_REQUEST, body)?;
        let state = mem::replace(&mut self.state, SetupState::Start);
        if request.contains_key("method") {
            return self.start(&request);
        }
        match state {
            SetupState::Start => Err(PairingError::UnexpectedMessage {
                step: SETUP_REQUEST,
                expected: SETUP_START,
            }),
            SetupState::Proof {
                user,
                verifier,
                public,
            } => self.check_proof(&request, user, &verifier, &public),
            SetupState::KeyExchange { user, key, raw_iv } => {
                self.exchange_keys(&request, user, &key, &raw_iv)
            }
        }
    }

    /// The client that completed pair-setup in this session, if any.
    pub fn paired_client(&self) -> Option<&PairedClient> {
        self.paired.as_ref()
    }

    fn start(&mut self, request: &plist::Dictionary) -> Result<Vec<u8>, PairingError> {
        let method = fields::string(SETUP_START, request, "method")?;
        if method != "pin" {
            return Err(PairingError::malformed(
                SETUP_START,
                format!("unsupported method `{method}`"),
            ));
        }
        let user = fields::string(SETUP_START, request, "user")?.to_owned();
        let x = apple_srp::password_exponent(&self.salt, &user, &self.pin);
        let verifier = apple_srp::verifier(&x);
        let public = apple_srp::device_public(&self.srp_private, &verifier);
        let reply = bplist::encode_dict([
            ("pk", fields::data_value(&public)),
            ("salt", fields::data_value(&self.salt)),
        ]);
        self.state = SetupState::Proof {
            user,
            verifier,
            public,
        };
        Ok(reply)
    }

    fn check_proof(
        &mut self,
        request: &plist::Dictionary,
        user: String,
        verifier: &BoxedUint,
        device_public: &[u8],
    ) -> Result<Vec<u8>, PairingError> {
        let client_public = apple_srp::checked_public(fields::data(SETUP_PROOF, request, "pk")?)
            .ok_or_else(|| {
                PairingError::malformed(SETUP_PROOF, "client public value A is not in 1..N-1")
            })?;
        let client_proof = fields::data(SETUP_PROOF, request, "proof")?;
        let u = apple_srp::scrambler(&client_public, device_public);
        let premaster =
            apple_srp::device_premaster(&client_public, verifier, &u, &self.srp_private);
        let key: SessionKey = apple_srp::session_key(&premaster);
        let expected =
            apple_srp::client_proof(&user, &self.salt, &client_public, device_public, &key);
        if client_proof != expected {
            return Err(PairingError::BadPin);
        }
        let device_proof = apple_srp::device_proof(&client_public, &expected, &key);
        let (aes_key, raw_iv) = keys::setup_key_iv(&key);
        self.state = SetupState::KeyExchange {
            user,
            key: aes_key,
            raw_iv,
        };
        Ok(bplist::encode_dict([(
            "proof",
            fields::data_value(&device_proof),
        )]))
    }

    fn exchange_keys(
        &mut self,
        request: &plist::Dictionary,
        user: String,
        key: &Key,
        raw_iv: &Iv,
    ) -> Result<Vec<u8>, PairingError> {
        let encrypted_key = fields::data_array::<32>(SETUP_KEY, request, "epk")?;
        let tag = fields::data_array::<16>(SETUP_KEY, request, "authTag")?;
        let client_key = keys::gcm_open(key, &keys::bump_iv(raw_iv, 1), &encrypted_key, &tag)
            .ok_or(PairingError::DecryptionFailed { step: SETUP_KEY })?;
        let (encrypted_device_key, device_tag) = keys::gcm_seal(
            key,
            &keys::bump_iv(raw_iv, 2),
            &self.identity.ed25519_public_key(),
        );
        self.paired = Some(PairedClient {
            identifier: user,
            ed25519_public_key: client_key,
        });
        Ok(bplist::encode_dict([
            ("epk", fields::data_value(&encrypted_device_key)),
            ("authTag", fields::data_value(&device_tag)),
        ]))
    }
}

impl fmt::Debug for PairSetupServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairSetupServer")
            .field("identity", &self.identity)
            .field("paired", &self.paired)
            .finish_non_exhaustive()
    }
}

/// One pair-verify session (one connection) on the device.
pub struct PairVerifyServer {
    identity: DeviceIdentity,
    x25519_secret: [u8; 32],
    trusted_clients: Vec<[u8; 32]>,
    state: VerifyState,
}

enum VerifyState {
    AwaitingStart,
    AwaitingSignature {
        client_ed25519: [u8; 32],
        client_x25519: [u8; 32],
        key: Key,
        iv: Iv,
    },
    Verified {
        client_ed25519: [u8; 32],
    },
}

impl PairVerifyServer {
    /// `x25519_secret` is this session's key-agreement secret; `trusted_clients` are the
    /// Ed25519 keys of clients that completed pair-setup with this device.
    pub fn new(
        identity: &DeviceIdentity,
        x25519_secret: [u8; 32],
        trusted_clients: impl IntoIterator<Item = [u8; 32]>,
    ) -> Self {
        PairVerifyServer {
            identity: identity.clone(),
            x25519_secret,
            trusted_clients: trusted_clients.into_iter().collect(),
            state: VerifyState::AwaitingStart,
        }
    }

    /// Answers one `/pair-verify` body: the 96-byte reply to step 1, an empty reply to a
    /// step 2 whose signature verifies. Any error resets the exchange.
    pub fn handle_request(&mut self, body: &[u8]) -> Result<Vec<u8>, PairingError> {
        let body: &[u8; REQUEST_LEN] = body.try_into().map_err(|_| {
            PairingError::malformed(
                VERIFY_REQUEST,
                format!("{} bytes, expected {REQUEST_LEN}", body.len()),
            )
        })?;
        let (flag, rest) = body.split_at(4);
        let state = mem::replace(&mut self.state, VerifyState::AwaitingStart);
        match (flag, state) {
            ([1, 0, 0, 0], _) => self.start(rest),
            (
                [0, 0, 0, 0],
                VerifyState::AwaitingSignature {
                    client_ed25519,
                    client_x25519,
                    key,
                    iv,
                },
            ) => self.check_signature(rest, client_ed25519, &client_x25519, &key, &iv),
            ([0, 0, 0, 0], _) => Err(PairingError::UnexpectedMessage {
                step: VERIFY_SIGNATURE,
                expected: "pair-verify step 1 request",
            }),
            _ => Err(PairingError::malformed(
                VERIFY_REQUEST,
                format!("unknown flag bytes {}", hex::encode(flag)),
            )),
        }
    }

    /// Whether the last exchange proved the client holds a trusted key.
    pub fn is_verified(&self) -> bool {
        matches!(self.state, VerifyState::Verified { .. })
    }

    /// The Ed25519 key of the client that verified, if one did.
    pub fn verified_client(&self) -> Option<[u8; 32]> {
        match self.state {
            VerifyState::Verified { client_ed25519 } => Some(client_ed25519),
            _ => None,
        }
    }

    fn start(&mut self, keys_part: &[u8]) -> Result<Vec<u8>, PairingError> {
        let (client_x25519, client_ed25519) = keys_part.split_at(32);
        let client_x25519: [u8; 32] = client_x25519.try_into().expect("64 bytes split at 32");
        let client_ed25519: [u8; 32] = client_ed25519.try_into().expect("64 bytes split at 32");
        if !self.trusted_clients.contains(&client_ed25519) {
            return Err(PairingError::UnknownClient {
                ed25519_public_key: hex::encode(client_ed25519),
            });
        }
        let shared =
            verify::shared_secret(&self.x25519_secret, &client_x25519).ok_or_else(|| {
                PairingError::malformed(VERIFY_REQUEST, "client X25519 key is a low-order point")
            })?;
        let (key, iv) = keys::verify_key_iv(&shared);
        let device_x25519 = verify::x25519_public(&self.x25519_secret);
        let signed = [device_x25519, client_x25519].concat();
        let mut signature = self.identity.signing_key().sign(&signed).to_bytes();
        keys::ctr_apply(&key, &iv, DEVICE_SIGNATURE_OFFSET, &mut signature);
        let mut reply = Vec::with_capacity(REPLY_LEN);
        reply.extend_from_slice(&device_x25519);
        reply.extend_from_slice(&signature);
        self.state = VerifyState::AwaitingSignature {
            client_ed25519,
            client_x25519,
            key,
            iv,
        };
        Ok(reply)
    }

    fn check_signature(
        &mut self,
        encrypted_signature: &[u8],
        client_ed25519: [u8; 32],
        client_x25519: &[u8; 32],
        key: &Key,
        iv: &Iv,
    ) -> Result<Vec<u8>, PairingError> {
        let mut signature: [u8; 64] = encrypted_signature
            .try_into()
            .expect("68-byte body minus 4 flag bytes");
        keys::ctr_apply(key, iv, CLIENT_SIGNATURE_OFFSET, &mut signature);
        let device_x25519 = verify::x25519_public(&self.x25519_secret);
        let signed = [*client_x25519, device_x25519].concat();
        if !verify::signature_verifies(&client_ed25519, &signed, &signature) {
            return Err(PairingError::ClientSignatureMismatch);
        }
        self.state = VerifyState::Verified { client_ed25519 };
        Ok(Vec::new())
    }
}

impl fmt::Debug for PairVerifyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairVerifyServer")
            .field("identity", &self.identity)
            .field("verified", &self.is_verified())
            .finish_non_exhaustive()
    }
}
