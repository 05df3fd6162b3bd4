//! Client side of legacy pair-verify (airplay.md §2.4): two `POST /pair-verify` requests
//! that prove we hold the credentials' key. No transport encryption follows.

use std::fmt;

use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};
use x25519_dalek::{PublicKey, StaticSecret};

use super::keys::{self, CLIENT_SIGNATURE_OFFSET, DEVICE_SIGNATURE_OFFSET};
use super::{Credentials, PairingError};

const REPLY: &str = "pair-verify step 1 reply";
/// Length of both pair-verify request bodies.
pub(crate) const REQUEST_LEN: usize = 68;
/// Length of the device's reply to the first request.
pub(crate) const REPLY_LEN: usize = 96;

/// One pair-verify exchange. The "ephemeral" X25519 key is the credentials' seed, as in
/// pyatv, so the first request is the same every time.
pub struct PairVerify {
    credentials: Credentials,
}

impl PairVerify {
    /// A pair-verify exchange that proves we hold `credentials`.
    pub fn new(credentials: &Credentials) -> Self {
        PairVerify {
            credentials: credentials.clone(),
        }
    }

    /// 68 bytes: `01 00 00 00` | our X25519 public key | our Ed25519 public key.
    pub fn request_body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(REQUEST_LEN);
        body.extend_from_slice(&[1, 0, 0, 0]);
        body.extend_from_slice(&x25519_public(self.credentials.seed()));
        body.extend_from_slice(&self.credentials.ed25519_public_key());
        body
    }

    /// Takes the device's 96-byte reply (its X25519 public key | its encrypted signature)
    /// and returns the second request body: `00 00 00 00` | our encrypted signature.
    ///
    /// With `device_ed25519_key` (from pair-setup or the TXT record's `pk`), the device's
    /// signature over (its key | our key) is checked too; without it, it is not (pyatv
    /// never checks it).
    pub fn handle_response(
        self,
        body: &[u8],
        device_ed25519_key: Option<&[u8; 32]>,
    ) -> Result<Vec<u8>, PairingError> {
        let reply: &[u8; REPLY_LEN] = body.try_into().map_err(|_| {
            PairingError::malformed(REPLY, format!("{} bytes, expected {REPLY_LEN}", body.len()))
        })?;
        let (device_public, encrypted_signature) = reply.split_at(32);
        let device_public: [u8; 32] = device_public.try_into().expect("split at 32");
        let client_public = x25519_public(self.credentials.seed());
        let shared = shared_secret(self.credentials.seed(), &device_public).ok_or_else(|| {
            PairingError::malformed(REPLY, "device X25519 key is a low-order point")
        })?;
        let (key, iv) = keys::verify_key_iv(&shared);

        if let Some(device_key) = device_ed25519_key {
            let mut device_signature = [0u8; 64];
            device_signature.copy_from_slice(encrypted_signature);
            keys::ctr_apply(&key, &iv, DEVICE_SIGNATURE_OFFSET, &mut device_signature);
            let signed = [device_public, client_public].concat();
            if !signature_verifies(device_key, &signed, &device_signature) {
                return Err(PairingError::DeviceSignatureMismatch);
            }
        }

        let signed = [client_public, device_public].concat();
        let mut signature = self.credentials.signing_key().sign(&signed).to_bytes();
        keys::ctr_apply(&key, &iv, CLIENT_SIGNATURE_OFFSET, &mut signature);
        let mut request = Vec::with_capacity(REQUEST_LEN);
        request.extend_from_slice(&[0, 0, 0, 0]);
        request.extend_from_slice(&signature);
        Ok(request)
    }
}

impl fmt::Debug for PairVerify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairVerify")
            .field("credentials", &self.credentials)
            .finish()
    }
}

pub(crate) fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// X25519(secret, peer); `None` for a low-order peer key, which would make the shared
/// secret (and so the AES key) predictable.
pub(crate) fn shared_secret(secret: &[u8; 32], peer_public: &[u8; 32]) -> Option<[u8; 32]> {
    let shared = StaticSecret::from(*secret).diffie_hellman(&PublicKey::from(*peer_public));
    shared.was_contributory().then(|| shared.to_bytes())
}

pub(crate) fn signature_verifies(
    public_key: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> bool {
    VerifyingKey::from_bytes(public_key).is_ok_and(|key| {
        key.verify(message, &Signature::from_bytes(signature))
            .is_ok()
    })
}
