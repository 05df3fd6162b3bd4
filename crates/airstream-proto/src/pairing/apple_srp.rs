//! SRP-6a as Apple TVs speak it for legacy pairing (airplay.md §2.3): SHA-1, the RFC 5054
//! 2048-bit group with g = 2, x = H(s | H(I ":" P)), u = H(PAD(A) | PAD(B)), and two
//! Apple/srptools changes: the 40-byte session key K = H(S | 0u32) | H(S | 1u32), and an
//! RFC 2945 M1 whose H(N) xor H(g) and H(I) parts drop leading zero bytes.
//!
//! Big-number work is the `srp` crate's; this module only wires its building blocks up.

use sha1::{Digest, Sha1};
use srp::bigint::BoxedUint;
use srp::groups::{G2048, Group};
use srp::utils::{compute_hash_n_xor_hash_g, compute_k, compute_m2, compute_u_padded};

use super::PairingError;

type SrpClient = srp::Client<G2048, Sha1>;
type SrpServer = srp::Server<G2048, Sha1>;

/// Length of N (and of PAD()) in bytes.
const MODULUS_LEN: usize = 256;

pub(crate) type SessionKey = [u8; 40];
pub(crate) type Proof = [u8; 20];

/// The client's view of one SRP exchange.
pub(crate) struct ClientSession {
    /// bytes(A), sent as `pk`.
    pub(crate) public: Vec<u8>,
    /// M1, sent as `proof`.
    pub(crate) proof: Proof,
    pub(crate) key: SessionKey,
}

impl ClientSession {
    /// Runs the client side of SRP with private exponent `a` (the credentials' seed)
    /// against the device's salt and public value B.
    pub(crate) fn new(
        step: &'static str,
        a: &[u8; 32],
        user: &str,
        pin: &str,
        salt: &[u8],
        device_public: &[u8],
    ) -> Result<Self, PairingError> {
        let b_pub = checked_public(device_public).ok_or_else(|| {
            PairingError::malformed(step, "device public value B is not in 1..N-1")
        })?;
        let public = client_public(a);
        let x = password_exponent(salt, user, pin);
        let u = scrambler(&public, &b_pub);
        let key = session_key(&client_premaster(&b_pub, &x, a, &u));
        let proof = client_proof(user, salt, &public, &b_pub, &key);
        Ok(ClientSession { public, proof, key })
    }

    /// M2 the device must answer with.
    pub(crate) fn expected_device_proof(&self) -> Proof {
        device_proof(&self.public, &self.proof, &self.key)
    }
}

/// Strips leading zero bytes (Python's minimal int-to-bytes, minus its 0 → `00` case).
pub(crate) fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// Minimal big-endian bytes of `value`, as `bytes()` in airplay.md (0 → one zero byte).
fn minimal_bytes(value: &BoxedUint) -> Vec<u8> {
    let bytes = value.to_be_bytes_trimmed_vartime();
    if bytes.is_empty() {
        vec![0]
    } else {
        bytes.into()
    }
}

fn uint(bytes: &[u8]) -> BoxedUint {
    BoxedUint::from_be_slice_vartime(bytes)
}

/// A peer's public value in minimal form if 0 < value < N; anything else is either an
/// attack (0 forces the session key) or garbage the modular code cannot take.
pub(crate) fn checked_public(value: &[u8]) -> Option<Vec<u8>> {
    let value = trim_leading_zeros(value);
    let modulus = modulus();
    let below_modulus =
        value.len() < MODULUS_LEN || (value.len() == MODULUS_LEN && value < modulus.as_slice());
    (!value.is_empty() && below_modulus).then(|| value.to_vec())
}

pub(crate) fn modulus() -> Vec<u8> {
    G2048::generator()
        .params()
        .modulus()
        .to_be_bytes()
        .into_vec()
}

/// k = H(N | PAD(g)).
pub(crate) fn multiplier() -> BoxedUint {
    compute_k::<Sha1>(&G2048::generator())
}

/// A = g^a mod N, minimal bytes.
pub(crate) fn client_public(a: &[u8; 32]) -> Vec<u8> {
    SrpClient::new().compute_public_ephemeral(a)
}

/// x = H(s | H(I ":" P)).
pub(crate) fn password_exponent(salt: &[u8], user: &str, pin: &str) -> BoxedUint {
    let identity = SrpClient::compute_identity_hash(user.as_bytes(), pin.as_bytes());
    SrpClient::compute_x(&identity, salt)
}

/// u = H(PAD(A) | PAD(B)); both must already be checked to be below N.
pub(crate) fn scrambler(a_pub: &[u8], b_pub: &[u8]) -> BoxedUint {
    compute_u_padded::<Sha1>(&G2048::generator(), a_pub, b_pub)
}

/// S = (B - k g^x)^(a + u x) mod N, minimal bytes.
pub(crate) fn client_premaster(
    b_pub: &[u8],
    x: &BoxedUint,
    a: &[u8; 32],
    u: &BoxedUint,
) -> Vec<u8> {
    minimal_bytes(&SrpClient::new().compute_premaster_secret(
        &uint(b_pub),
        &multiplier(),
        x,
        &uint(a),
        u,
    ))
}

/// K = H(bytes(S) | 00000000) | H(bytes(S) | 00000001): Apple's 40-byte session key.
pub(crate) fn session_key(premaster: &[u8]) -> SessionKey {
    let mut key = [0u8; 40];
    for (counter, half) in [0u32, 1].into_iter().zip(key.chunks_exact_mut(20)) {
        let digest = Sha1::new()
            .chain_update(premaster)
            .chain_update(counter.to_be_bytes())
            .finalize();
        half.copy_from_slice(&digest);
    }
    key
}

/// M1 = H(bytes(H(N) xor H(g)) | bytes(H(I)) | s | A | B | K), with srptools' minimal
/// encodings of the two hash values.
pub(crate) fn client_proof(
    user: &str,
    salt: &[u8],
    a_pub: &[u8],
    b_pub: &[u8],
    key: &SessionKey,
) -> Proof {
    let group_hash = compute_hash_n_xor_hash_g::<Sha1>(&G2048::generator());
    let user_hash = Sha1::digest(user.as_bytes());
    Sha1::new()
        .chain_update(trim_leading_zeros(&group_hash))
        .chain_update(trim_leading_zeros(&user_hash))
        .chain_update(salt)
        .chain_update(a_pub)
        .chain_update(b_pub)
        .chain_update(key)
        .finalize()
        .into()
}

/// M2 = H(A | M1 | K).
pub(crate) fn device_proof(a_pub: &[u8], client_proof: &Proof, key: &SessionKey) -> Proof {
    compute_m2::<Sha1>(a_pub, &(*client_proof).into(), key).into()
}

/// v = g^x mod N.
pub(crate) fn verifier(x: &BoxedUint) -> BoxedUint {
    SrpClient::new().compute_g_x(x)
}

/// B = k v + g^b mod N, minimal bytes.
pub(crate) fn device_public(b: &[u8; 32], verifier: &BoxedUint) -> Vec<u8> {
    minimal_bytes(&SrpServer::new().compute_b_pub(&uint(b), &multiplier(), verifier))
}

/// S = (A v^u)^b mod N, minimal bytes.
pub(crate) fn device_premaster(
    a_pub: &[u8],
    verifier: &BoxedUint,
    u: &BoxedUint,
    b: &[u8; 32],
) -> Vec<u8> {
    minimal_bytes(&SrpServer::new().compute_premaster_secret(&uint(a_pub), verifier, u, &uint(b)))
}

/// Minimal bytes of a big number, for known-answer tests.
#[cfg(test)]
pub(crate) fn to_bytes(value: &BoxedUint) -> Vec<u8> {
    minimal_bytes(value)
}
