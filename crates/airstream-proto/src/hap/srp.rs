//! SRP-6a as HAP speaks it (airplay2.md §2): the RFC 5054 3072-bit group (g = 5), SHA-512,
//! user `Pair-Setup`, x = H(s | H(I ":" P)), u = H(PAD(A) | PAD(B)), K = H(S),
//! M1 = H(H(N) xor H(g) | H(I) | s | A | B | K) with g not padded, M2 = H(A | M1 | K).
//!
//! Big-number work is the `srp` crate's; this module only wires its building blocks up.

use sha2::{Digest, Sha512};
use srp::bigint::BoxedUint;
use srp::groups::{G3072, Group};
use srp::utils::{compute_hash_n_xor_hash_g, compute_k, compute_m2, compute_u_padded};

type SrpClient = srp::Client<G3072, Sha512>;
type SrpServer = srp::Server<G3072, Sha512>;

/// The SRP user name of HAP pair-setup.
pub(crate) const USER: &str = "Pair-Setup";
/// Length of N (and of PAD()) in bytes.
const MODULUS_LEN: usize = 384;

/// K = SHA-512(S): 64 bytes.
pub(crate) type SessionKey = [u8; 64];
/// M1 and M2: 64 bytes.
pub(crate) type Proof = [u8; 64];

/// The client's view of one SRP exchange.
pub(crate) struct ClientSession {
    /// bytes(A), sent in M3.
    pub(crate) public: Vec<u8>,
    /// M1, sent in M3.
    pub(crate) proof: Proof,
    pub(crate) key: SessionKey,
}

impl ClientSession {
    /// Runs the client side with private exponent `a` against the device's salt and B.
    /// `None` if B is not in 1..N-1 (0 would force the session key).
    pub(crate) fn new(a: &[u8; 32], pin: &str, salt: &[u8], device_public: &[u8]) -> Option<Self> {
        let b_pub = checked_public(device_public)?;
        let client = SrpClient::new();
        let public = client.compute_public_ephemeral(a);
        let x = password_exponent(salt, pin);
        let u = scrambler(&public, &b_pub);
        let premaster =
            client.compute_premaster_secret(&uint(&b_pub), &multiplier(), &x, &uint(a), &u);
        let key = session_key(&premaster);
        let proof = client_proof(salt, &public, &b_pub, &key);
        Some(ClientSession { public, proof, key })
    }

    /// M2 the device must answer with.
    pub(crate) fn expected_device_proof(&self) -> Proof {
        device_proof(&self.public, &self.proof, &self.key)
    }
}

fn uint(bytes: &[u8]) -> BoxedUint {
    BoxedUint::from_be_slice_vartime(bytes)
}

/// Minimal big-endian bytes (0 → one zero byte, as Python's srptools writes it).
fn minimal_bytes(value: &BoxedUint) -> Vec<u8> {
    let bytes = value.to_be_bytes_trimmed_vartime();
    if bytes.is_empty() {
        vec![0]
    } else {
        bytes.into()
    }
}

/// A peer's public value in minimal form if 0 < value < N.
pub(crate) fn checked_public(value: &[u8]) -> Option<Vec<u8>> {
    let first = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    let value = &value[first..];
    let modulus = G3072::generator()
        .params()
        .modulus()
        .to_be_bytes()
        .into_vec();
    let below_modulus =
        value.len() < MODULUS_LEN || (value.len() == MODULUS_LEN && value < modulus.as_slice());
    (!value.is_empty() && below_modulus).then(|| value.to_vec())
}

/// k = H(N | PAD(g)).
fn multiplier() -> BoxedUint {
    compute_k::<Sha512>(&G3072::generator())
}

/// x = H(s | H("Pair-Setup:" PIN)).
pub(crate) fn password_exponent(salt: &[u8], pin: &str) -> BoxedUint {
    let identity = SrpClient::compute_identity_hash(USER.as_bytes(), pin.as_bytes());
    SrpClient::compute_x(&identity, salt)
}

/// u = H(PAD(A) | PAD(B)).
fn scrambler(a_pub: &[u8], b_pub: &[u8]) -> BoxedUint {
    compute_u_padded::<Sha512>(&G3072::generator(), a_pub, b_pub)
}

/// K = H(bytes(S)).
fn session_key(premaster: &BoxedUint) -> SessionKey {
    Sha512::digest(minimal_bytes(premaster)).into()
}

/// M1 = H(H(N) xor H(g) | H(I) | s | A | B | K).
pub(crate) fn client_proof(salt: &[u8], a_pub: &[u8], b_pub: &[u8], key: &SessionKey) -> Proof {
    Sha512::new()
        .chain_update(compute_hash_n_xor_hash_g::<Sha512>(&G3072::generator()))
        .chain_update(Sha512::digest(USER.as_bytes()))
        .chain_update(salt)
        .chain_update(a_pub)
        .chain_update(b_pub)
        .chain_update(key)
        .finalize()
        .into()
}

/// M2 = H(A | M1 | K).
pub(crate) fn device_proof(a_pub: &[u8], client_proof: &Proof, key: &SessionKey) -> Proof {
    compute_m2::<Sha512>(a_pub, &(*client_proof).into(), key).into()
}

/// The device's side: verifier, B, and (once A arrives) K.
pub(crate) struct DeviceSession {
    verifier: BoxedUint,
    b: [u8; 32],
    /// bytes(B), sent in M2.
    pub(crate) public: Vec<u8>,
}

impl DeviceSession {
    pub(crate) fn new(pin: &str, salt: &[u8], b: [u8; 32]) -> Self {
        let verifier = SrpClient::new().compute_g_x(&password_exponent(salt, pin));
        let public =
            minimal_bytes(&SrpServer::new().compute_b_pub(&uint(&b), &multiplier(), &verifier));
        DeviceSession {
            verifier,
            b,
            public,
        }
    }

    /// K for the client's A; `None` if A is not in 1..N-1.
    pub(crate) fn session_key(&self, a_pub: &[u8]) -> Option<(Vec<u8>, SessionKey)> {
        let a_pub = checked_public(a_pub)?;
        let u = scrambler(&a_pub, &self.public);
        let premaster = SrpServer::new().compute_premaster_secret(
            &uint(&a_pub),
            &self.verifier,
            &u,
            &uint(&self.b),
        );
        Some((a_pub, session_key(&premaster)))
    }
}
