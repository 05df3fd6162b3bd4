//! The primitives of HAP, wired from RustCrypto: HKDF-SHA512 key derivation,
//! ChaCha20-Poly1305 with the message-label nonces of pairing, Ed25519 and X25519.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha512;
use x25519_dalek::{PublicKey, StaticSecret};

/// A 32-byte symmetric key.
pub(crate) type Key = [u8; 32];

/// HKDF-SHA512(secret, salt, info), 32 bytes.
pub(crate) fn hkdf(secret: &[u8], salt: &str, info: &str) -> Key {
    let mut out = [0u8; 32];
    Hkdf::<Sha512>::new(Some(salt.as_bytes()), secret)
        .expand(info.as_bytes(), &mut out)
        .expect("32 bytes is a valid HKDF-SHA512 output length");
    out
}

/// The 12-byte nonce: 4 zero bytes, then 8 bytes (a label such as `PS-Msg05`, or a
/// little-endian counter).
pub(crate) fn nonce(tail: [u8; 8]) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&tail);
    nonce
}

/// ChaCha20-Poly1305 encryption: ciphertext | 16-byte tag.
pub(crate) fn seal(key: &Key, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("ChaCha20-Poly1305 encrypts any message we build")
}

/// ChaCha20-Poly1305 decryption; `None` if the tag does not verify.
pub(crate) fn open(key: &Key, nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    ChaCha20Poly1305::new(key.into())
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .ok()
}

pub(crate) fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// X25519(secret, peer); `None` for a low-order peer key.
pub(crate) fn x25519_shared(secret: &[u8; 32], peer_public: &[u8; 32]) -> Option<[u8; 32]> {
    let shared = StaticSecret::from(*secret).diffie_hellman(&PublicKey::from(*peer_public));
    shared.was_contributory().then(|| shared.to_bytes())
}

pub(crate) fn signature_verifies(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(public_key), Ok(signature)) = (
        <[u8; 32]>::try_from(public_key),
        <[u8; 64]>::try_from(signature),
    ) else {
        return false;
    };
    VerifyingKey::from_bytes(&public_key).is_ok_and(|key| {
        key.verify(message, &Signature::from_bytes(&signature))
            .is_ok()
    })
}
