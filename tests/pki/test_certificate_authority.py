from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pki.authority import CertificateAuthority, create_authority, write_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ec_authority_is_a_constrained_self_signed_root(ca: CertificateAuthority) -> None:
    cert = ca.certificate
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    assert isinstance(ca.key.curve, ec.SECP256R1)
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=gitplane-test-ca"
    cert.verify_directly_issued_by(cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)


def test_rsa_authority_and_validity() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    authority = create_authority("r", key_type="rsa", valid_for=timedelta(days=10), now=now)
    assert isinstance(authority.key, rsa.RSAPrivateKey)
    assert authority.key.key_size == 2048
    cert = authority.certificate
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    assert cert.not_valid_after_utc == now + timedelta(days=10)
    assert 0 < cert.serial_number < 2**159


def test_save_and_load_round_trip_with_private_key_mode(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    old_umask = os.umask(0)  # the key must be 0600 even when the umask allows more
    try:
        ca.save(tmp_path / "ca.crt", tmp_path / "sub" / "ca.key")
    finally:
        os.umask(old_umask)
    assert _mode(tmp_path / "sub" / "ca.key") == 0o600
    assert _mode(tmp_path / "ca.crt") == 0o644
    assert (tmp_path / "ca.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert (tmp_path / "sub" / "ca.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = CertificateAuthority.load(tmp_path / "ca.crt", tmp_path / "sub" / "ca.key")
    assert loaded.certificate == ca.certificate
    assert loaded.key_pem == ca.key_pem


def test_load_rejects_a_key_that_does_not_match(
    ca: CertificateAuthority, other_ca: CertificateAuthority, tmp_path: Path
) -> None:
    ca.save(tmp_path / "ca.crt", tmp_path / "ca.key")
    other_ca.save(tmp_path / "other.crt", tmp_path / "other.key")
    with pytest.raises(ValueError, match="is not the key of"):
        CertificateAuthority.load(tmp_path / "ca.crt", tmp_path / "other.key")


def test_rewriting_replaces_atomically_and_tightens_mode(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(0o666)
    write_file(target, b"new", 0o600)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # no temporary left behind
