//! Key derivation and the two ciphers of legacy pairing: AES-128-GCM with a 16-byte IV
//! (pair-setup step 3) and AES-128-CTR (pair-verify).

use aes_gcm::aead::consts::U16;
use aes_gcm::aes::Aes128;
use aes_gcm::{AeadInOut, AesGcm, KeyInit};
use ctr::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use sha2::{Digest, Sha512};

use super::apple_srp::SessionKey;

/// AES-128-GCM with the 16-byte nonce Apple uses (J0 then comes from GHASH, not `IV|1`).
type Aes128Gcm16 = AesGcm<Aes128, U16>;
type Aes128Ctr = ctr::Ctr128BE<Aes128>;

pub(crate) type Key = [u8; 16];
pub(crate) type Iv = [u8; 16];

/// First 16 bytes of SHA-512(label | secret).
fn derive(label: &[u8], secret: &[u8]) -> [u8; 16] {
    let digest = Sha512::new()
        .chain_update(label)
        .chain_update(secret)
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Pair-setup AES key and raw IV from the SRP session key.
pub(crate) fn setup_key_iv(session_key: &SessionKey) -> (Key, Iv) {
    (
        derive(b"Pair-Setup-AES-Key", session_key),
        derive(b"Pair-Setup-AES-IV", session_key),
    )
}

/// Pair-verify AES-CTR key and IV from the X25519 shared secret.
pub(crate) fn verify_key_iv(shared_secret: &[u8; 32]) -> (Key, Iv) {
    (
        derive(b"Pair-Verify-AES-Key", shared_secret),
        derive(b"Pair-Verify-AES-IV", shared_secret),
    )
}

/// The raw IV with its last byte increased by `step`: the client encrypts with +1 and the
/// device answers with +2. Only the last byte changes (pyatv does the same; it would fail
/// on 0xFF, we wrap).
pub(crate) fn bump_iv(iv: &Iv, step: u8) -> Iv {
    let mut bumped = *iv;
    bumped[15] = bumped[15].wrapping_add(step);
    bumped
}

/// Encrypts a 32-byte Ed25519 public key; returns (ciphertext, tag). No AAD.
pub(crate) fn gcm_seal(key: &Key, iv: &Iv, plaintext: &[u8; 32]) -> ([u8; 32], [u8; 16]) {
    let mut buffer = *plaintext;
    let tag = Aes128Gcm16::new(&(*key).into())
        .encrypt_inout_detached(&(*iv).into(), &[], buffer.as_mut_slice().into())
        .expect("AES-GCM accepts a 32-byte message");
    (buffer, tag.into())
}

/// Decrypts what [`gcm_seal`] produced; `None` if the tag does not verify.
pub(crate) fn gcm_open(
    key: &Key,
    iv: &Iv,
    ciphertext: &[u8; 32],
    tag: &[u8; 16],
) -> Option<[u8; 32]> {
    let mut buffer = *ciphertext;
    Aes128Gcm16::new(&(*key).into())
        .decrypt_inout_detached(
            &(*iv).into(),
            &[],
            buffer.as_mut_slice().into(),
            &(*tag).into(),
        )
        .ok()
        .map(|()| buffer)
}

/// XORs `data` with the AES-CTR keystream starting at byte `offset`. Pair-verify uses
/// offset 0 for the device's signature and 64 for the client's.
pub(crate) fn ctr_apply(key: &Key, iv: &Iv, offset: u64, data: &mut [u8]) {
    let mut cipher = Aes128Ctr::new(&(*key).into(), &(*iv).into());
    cipher.seek(offset);
    cipher.apply_keystream(data);
}

/// Offset of the device's signature in the pair-verify keystream.
pub(crate) const DEVICE_SIGNATURE_OFFSET: u64 = 0;
/// Offset of the client's signature: pyatv runs the cipher over the device's 64 bytes
/// first, so the client's signature uses keystream bytes 64..128.
pub(crate) const CLIENT_SIGNATURE_OFFSET: u64 = 64;
