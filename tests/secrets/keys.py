"""Certificates made in the test, and a decryption written from the format spec alone.

`unseal_value` is deliberately independent of apiserver.secrets.sealing: it follows
sealed-secrets' pkg/crypto/crypto.go (HybridDecrypt) as documented, and it takes the
label from the SealedSecret's own metadata, as the controller's Unseal does.
"""

from __future__ import annotations

import base64
import datetime as dt
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    private_key: rsa.RSAPrivateKey
    cert_pem: bytes

    def write(self, path: Path) -> Path:
        path.write_bytes(self.cert_pem)
        return path


def self_signed(
    key: Any,
    *,
    days: int = 3650,
    not_before: dt.datetime | None = None,
    common_name: str = "sealed-secret",
) -> bytes:
    """A self-signed certificate like the one the sealed-secrets controller makes."""
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signing = hashes.SHA256()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, signing)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def new_rsa(bits: int = 4096, **kwargs: Any) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return KeyPair(key, self_signed(key, **kwargs))


def ec_certificate() -> bytes:
    return self_signed(ec.generate_private_key(ec.SECP256R1()))


def private_pem(pair: KeyPair) -> bytes:
    return pair.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def controller_label(sealed: dict[str, Any]) -> bytes:
    """sealed-secrets' labelFor(SealedSecret metadata): scope from its own annotations."""
    meta = sealed["metadata"]
    annotations = meta.get("annotations") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta["name"])
    if annotations.get("sealedsecrets.bitnami.com/cluster-wide") == "true":
        return b""
    if annotations.get("sealedsecrets.bitnami.com/namespace-wide") == "true":
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def unseal_value(private_key: rsa.RSAPrivateKey, value_b64: str, label: bytes) -> bytes:
    raw = base64.b64decode(value_b64, validate=True)
    (rsa_len,) = struct.unpack(">H", raw[:2])
    session_key = private_key.decrypt(
        raw[2 : 2 + rsa_len],
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()),
            algorithm=hashes.SHA256(),
            label=label or None,
        ),
    )
    assert len(session_key) == 32
    return bytes(AESGCM(session_key).decrypt(b"\0" * 12, raw[2 + rsa_len :], None))


def unseal(private_key: rsa.RSAPrivateKey, sealed: dict[str, Any]) -> dict[str, bytes]:
    """Every value of a SealedSecret, as the controller would decrypt it where it stands."""
    label = controller_label(sealed)
    return {
        key: unseal_value(private_key, value, label)
        for key, value in sealed["spec"]["encryptedData"].items()
    }
