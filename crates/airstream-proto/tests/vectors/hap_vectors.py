#!/usr/bin/env python3
"""Known-answer vectors for airstream's HAP code, produced by pyatv 0.18.0's own HAP code.

The client side of every step runs through pyatv (`pyatv/auth/hap_srp.py`, `hap_tlv8.py`,
`hap_session.py`, the message layouts of `protocols/airplay/auth/hap.py` and
`hap_transient.py`). pyatv has no AirPlay device side, so the device's replies are computed
here with the libraries pyatv itself uses (srptools for SRP, `cryptography` for HKDF,
ChaCha20-Poly1305, Ed25519 and X25519). srptools must be 1.x: pyatv 0.18.0 allows
srptools 2, whose changed constructor it cannot call. All randomness is fixed: `os.urandom` (which pyatv
and `uuid.uuid4` draw from) is replaced by a deterministic stream.

Usage:
    python3 -m venv /tmp/pyatv && /tmp/pyatv/bin/pip install pyatv==0.18.0 srptools==1.0.1
    /tmp/pyatv/bin/python hap_vectors.py > hap_vectors.json
"""

import binascii
import hashlib
import json
import os
import sys

import pyatv

# --- deterministic randomness (before pyatv draws any) --------------------------------------
_stream = {"counter": 0}
_draws = []


def _urandom(n):
    out = b""
    while len(out) < n:
        out += hashlib.sha256(b"airstream-hap-vectors/%d" % _stream["counter"]).digest()
        _stream["counter"] += 1
    out = out[:n]
    _draws.append(out)
    return out


os.urandom = _urandom

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import (  # noqa: E402
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402
from srptools import SRPContext, SRPServerSession, constants  # noqa: E402

from pyatv.auth.hap_session import HAPSession  # noqa: E402
from pyatv.auth.hap_srp import SRPAuthHandler, hkdf_expand  # noqa: E402
from pyatv.auth.hap_tlv8 import TlvValue, read_tlv, write_tlv  # noqa: E402
from pyatv.protocols.airplay.auth.hap_transient import TRANSIENT_PIN  # noqa: E402

assert pyatv.const.__version__ == "0.18.0", pyatv.const.__version__

PIN = 1234
SALT = bytes(range(0xA0, 0xB0))  # the device's 16-byte SRP salt
SRP_B = bytes(range(0x40, 0x60))  # the device's SRP private exponent b
DEVICE_ID = b"AA:BB:CC:DD:EE:FF"
DEVICE_LTSK = bytes(range(0x10, 0x30))  # the device's Ed25519 seed
DEVICE_EPHEMERAL = bytes(range(0x60, 0x80))  # the device's X25519 secret in pair-verify


def raw(public_key):
    return public_key.public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )


def nonce(label):
    return b"\x00" * 4 + label


def srp_device(pin):
    """srptools' server session for `pin`, with fixed salt and b."""
    context = SRPContext(
        "Pair-Setup",
        str(pin),
        prime=constants.PRIME_3072,
        generator=constants.PRIME_3072_GEN,
        hash_func=hashlib.sha512,
    )
    salt = int.from_bytes(SALT, "big")
    verifier = context.get_common_password_verifier(context.get_common_password_hash(salt))
    return SRPServerSession(context, "%x" % verifier, private=SRP_B.hex())


def device_m2(server):
    b_pub = binascii.unhexlify(server.public)
    return write_tlv({TlvValue.SeqNo: b"\x02", TlvValue.Salt: SALT, TlvValue.PublicKey: b_pub})


def device_m4(server, m3):
    request = read_tlv(m3)
    server.process(request[TlvValue.PublicKey].hex(), SALT.hex())
    assert server.verify_proof(request[TlvValue.Proof].hex().encode()), "client proof"
    return write_tlv({TlvValue.SeqNo: b"\x04", TlvValue.Proof: binascii.unhexlify(server.key_proof_hash)})


def hexed(**values):
    return {k: v.hex() if isinstance(v, bytes) else v for k, v in values.items()}


def full_setup():
    client = SRPAuthHandler()
    client.initialize()
    seed = client._auth_private
    m1 = write_tlv({TlvValue.Method: b"\x00", TlvValue.SeqNo: b"\x01"})
    server = srp_device(PIN)
    m2 = device_m2(server)
    reply = read_tlv(m2)
    client.step1(PIN)
    a_pub, proof = client.step2(reply[TlvValue.PublicKey], reply[TlvValue.Salt])
    m3 = write_tlv({TlvValue.SeqNo: b"\x03", TlvValue.PublicKey: a_pub, TlvValue.Proof: proof})
    m4 = device_m4(server, m3)
    m5 = write_tlv({TlvValue.SeqNo: b"\x05", TlvValue.EncryptedData: client.step3()})

    # the device: check M5 the way a HAP accessory does, answer M6
    session_key = binascii.unhexlify(server.key)
    encrypt_key = hkdf_expand("Pair-Setup-Encrypt-Salt", "Pair-Setup-Encrypt-Info", session_key)
    chacha = ChaCha20Poly1305(encrypt_key)
    inner = read_tlv(chacha.decrypt(nonce(b"PS-Msg05"), read_tlv(m5)[TlvValue.EncryptedData], None))
    controller_x = hkdf_expand(
        "Pair-Setup-Controller-Sign-Salt", "Pair-Setup-Controller-Sign-Info", session_key
    )
    client_ltpk = inner[TlvValue.PublicKey]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(client_ltpk).verify(
        inner[TlvValue.Signature], controller_x + inner[TlvValue.Identifier] + client_ltpk
    )
    device_key = Ed25519PrivateKey.from_private_bytes(DEVICE_LTSK)
    device_ltpk = raw(device_key.public_key())
    accessory_x = hkdf_expand(
        "Pair-Setup-Accessory-Sign-Salt", "Pair-Setup-Accessory-Sign-Info", session_key
    )
    signature = device_key.sign(accessory_x + DEVICE_ID + device_ltpk)
    m6_inner = write_tlv(
        {TlvValue.Identifier: DEVICE_ID, TlvValue.PublicKey: device_ltpk, TlvValue.Signature: signature}
    )
    m6 = write_tlv(
        {
            TlvValue.SeqNo: b"\x06",
            TlvValue.EncryptedData: chacha.encrypt(nonce(b"PS-Msg06"), m6_inner, None),
        }
    )
    credentials = client.step4(read_tlv(m6)[TlvValue.EncryptedData])
    vectors = hexed(
        pin=str(PIN),
        client_ltsk=seed,
        client_ltpk=client_ltpk,
        client_id=client.pairing_id,
        salt=SALT,
        srp_b=SRP_B,
        device_id=DEVICE_ID,
        device_ltsk=DEVICE_LTSK,
        device_ltpk=device_ltpk,
        srp_a_pub=a_pub,
        srp_b_pub=binascii.unhexlify(server.public),
        srp_session_key=session_key,
        srp_client_proof=proof,
        srp_device_proof=binascii.unhexlify(server.key_proof_hash),
        setup_encrypt_key=encrypt_key,
        m1=m1,
        m2=m2,
        m3=m3,
        m4=m4,
        m5=m5,
        m6=m6,
    )
    vectors["credentials"] = str(credentials)
    return credentials, vectors


def verify(credentials):
    client = SRPAuthHandler()
    client.initialize()
    ephemeral = client._verify_private.private_bytes(
        encoding=serialization.Encoding.Raw,
        format=serialization.PrivateFormat.Raw,
        encryption_algorithm=serialization.NoEncryption(),
    )
    m1 = write_tlv({TlvValue.SeqNo: b"\x01", TlvValue.PublicKey: client._public_bytes})

    device_secret = X25519PrivateKey.from_private_bytes(DEVICE_EPHEMERAL)
    device_public = raw(device_secret.public_key())
    shared = device_secret.exchange(X25519PublicKey.from_public_bytes(client._public_bytes))
    verify_key = hkdf_expand("Pair-Verify-Encrypt-Salt", "Pair-Verify-Encrypt-Info", shared)
    device_key = Ed25519PrivateKey.from_private_bytes(DEVICE_LTSK)
    signature = device_key.sign(device_public + DEVICE_ID + client._public_bytes)
    inner = write_tlv({TlvValue.Identifier: DEVICE_ID, TlvValue.Signature: signature})
    encrypted = ChaCha20Poly1305(verify_key).encrypt(nonce(b"PV-Msg02"), inner, None)
    m2 = write_tlv(
        {TlvValue.SeqNo: b"\x02", TlvValue.PublicKey: device_public, TlvValue.EncryptedData: encrypted}
    )
    m3 = write_tlv(
        {
            TlvValue.SeqNo: b"\x03",
            TlvValue.EncryptedData: client.verify1(credentials, device_public, encrypted),
        }
    )
    m4 = write_tlv({TlvValue.SeqNo: b"\x04"})
    write_key, read_key = client.verify2(
        "Control-Salt", "Control-Write-Encryption-Key", "Control-Read-Encryption-Key"
    )
    vectors = hexed(
        client_ephemeral=ephemeral,
        device_ephemeral=DEVICE_EPHEMERAL,
        shared_secret=shared,
        verify_encrypt_key=verify_key,
        m1=m1,
        m2=m2,
        m3=m3,
        m4=m4,
        write_key=write_key,
        read_key=read_key,
    )
    return write_key, read_key, vectors


def transient():
    client = SRPAuthHandler()
    client.initialize()
    m1 = write_tlv({TlvValue.Method: b"\x00", TlvValue.SeqNo: b"\x01", TlvValue.Flags: b"\x10"})
    server = srp_device(TRANSIENT_PIN)
    m2 = device_m2(server)
    reply = read_tlv(m2)
    client.step1(TRANSIENT_PIN)
    a_pub, proof = client.step2(reply[TlvValue.PublicKey], reply[TlvValue.Salt])
    m3 = write_tlv({TlvValue.SeqNo: b"\x03", TlvValue.PublicKey: a_pub, TlvValue.Proof: proof})
    m4 = device_m4(server, m3)
    shared = binascii.unhexlify(client.shared_key)
    write_key = hkdf_expand("Control-Salt", "Control-Write-Encryption-Key", shared)
    read_key = hkdf_expand("Control-Salt", "Control-Read-Encryption-Key", shared)
    return hexed(
        srp_private=client._auth_private,
        salt=SALT,
        srp_b=SRP_B,
        m1=m1,
        m2=m2,
        m3=m3,
        m4=m4,
        shared_secret=shared,
        write_key=write_key,
        read_key=read_key,
    )


def frames(write_key, read_key):
    """An RTSP request of more than one frame out, a reply back, through pyatv's HAPSession."""
    request = (
        b"GET_PARAMETER rtsp://10.0.0.1/1 RTSP/1.0\r\nCSeq: 5\r\n"
        b"Content-Type: text/parameters\r\nContent-Length: 8\r\n\r\nvolume\r\n"
    )
    request = request + b"X" * (2100 - len(request))
    reply = b"RTSP/1.0 200 OK\r\nCSeq: 5\r\nContent-Length: 18\r\n\r\nvolume: -15.000000"
    client = HAPSession()
    client.enable(write_key, read_key)
    device = HAPSession()
    device.enable(read_key, write_key)
    request_wire = client.encrypt(request)
    assert device.decrypt(request_wire) == request
    second_request_wire = client.encrypt(b"OPTIONS * RTSP/1.0\r\nCSeq: 6\r\n\r\n")
    reply_wire = device.encrypt(reply)
    assert client.decrypt(reply_wire) == reply
    return hexed(
        request=request,
        request_wire=request_wire,
        second_request_wire=second_request_wire,
        reply=reply,
        reply_wire=reply_wire,
    )


def main():
    credentials, setup = full_setup()
    write_key, read_key, verify_vectors = verify(credentials)
    vectors = {
        "generator": "hap_vectors.py with pyatv " + pyatv.const.__version__,
        "pair_setup": setup,
        "pair_verify": verify_vectors,
        "transient": transient(),
        "frames": frames(write_key, read_key),
    }
    json.dump(vectors, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
