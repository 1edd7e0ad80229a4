"""A certificate authority: create one, keep it in PEM files, load it back.

Keys are EC P-256 by default (small and fast) or RSA 2048. Private keys are written with mode
0600 and every file is replaced atomically, so a server re-reading its files on rotation never
sees half a certificate.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

CA_VALIDITY: Final = timedelta(days=3650)
CLOCK_SKEW: Final = timedelta(minutes=5)
"""Certificates start this far in the past so a peer with a slow clock accepts them."""


def generate_key(key_type: KeyType = "ec") -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def key_from_pem(data: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported private key type: {type(key).__name__}")
    return key


def cert_to_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def write_file(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` atomically with exactly `mode` (umask does not widen or narrow it)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_private_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write secret material (a key, a kubeconfig with a key) readable by the owner only."""
    write_file(path, data, 0o600)


def random_serial() -> int:
    # RFC 5280: positive, at most 20 octets; 159 random bits keeps the top bit clear.
    return secrets.randbits(159) | 1


@dataclass(frozen=True)
class CertificateAndKey:
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return cert_to_pem(self.certificate)

    @property
    def key_pem(self) -> bytes:
        return key_to_pem(self.key)

    def save(self, cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> None:
        # Key first: a reader that sees the new certificate must find its key.
        write_private_file(key_path, self.key_pem)
        write_file(cert_path, self.cert_pem)


@dataclass(frozen=True)
class CertificateAuthority(CertificateAndKey):
    @classmethod
    def load(
        cls, cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]
    ) -> CertificateAuthority:
        certificate = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        key = key_from_pem(Path(key_path).read_bytes())
        if certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise ValueError(f"{key_path} is not the key of {cert_path}")
        return cls(certificate, key)


def create_authority(
    common_name: str = "gitplane-ca",
    *,
    key_type: KeyType = "ec",
    valid_for: timedelta = CA_VALIDITY,
    now: datetime | None = None,
) -> CertificateAuthority:
    """A self-signed root that may sign leaf certificates only (path length 0)."""
    key = generate_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = (now or datetime.now(UTC)) - CLOCK_SKEW
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(start)
        .not_valid_after(start + CLOCK_SKEW + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate, key)
