"""Leaf certificates checked with cryptography's own X.509 path validation."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from pki.authority import CertificateAuthority, create_authority
from pki.identity import (
    ClientIdentity,
    UntrustedCertificate,
    client_identity,
    load_certificate,
    verify_client_certificate,
)
from pki.issue import (
    issue_client_certificate,
    issue_serving_certificate,
    service_hostnames,
)

HOSTS = ["localhost", "127.0.0.1", "::1", *service_hostnames("gitplane-api", "gitplane-system")]


def test_service_hostnames() -> None:
    assert service_hostnames("api", "sys") == [
        "api",
        "api.sys",
        "api.sys.svc",
        "api.sys.svc.cluster.local",
    ]
    assert service_hostnames("api", "sys", "example")[-1] == "api.sys.svc.example"


def test_serving_certificate_has_sans_and_server_auth(ca: CertificateAuthority) -> None:
    issued = issue_serving_certificate(ca, HOSTS)
    cert = issued.certificate
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "localhost",
        "gitplane-api",
        "gitplane-api.gitplane-system",
        "gitplane-api.gitplane-system.svc",
        "gitplane-api.gitplane-system.svc.cluster.local",
    ]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.subject.rfc4514_string() == "CN=localhost"


@pytest.mark.parametrize(
    "subject",
    [
        x509.DNSName("gitplane-api.gitplane-system.svc"),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ],
)
def test_serving_chain_verifies_for_each_name(
    ca: CertificateAuthority, subject: x509.verification.Subject
) -> None:
    leaf = issue_serving_certificate(ca, HOSTS).certificate
    verifier = PolicyBuilder().store(Store([ca.certificate])).build_server_verifier(subject)
    chain = verifier.verify(leaf, [])
    assert chain[-1] == ca.certificate


def test_serving_chain_fails_for_other_names_and_other_cas(
    ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    leaf = issue_serving_certificate(ca, HOSTS).certificate
    wrong_name = x509.DNSName("evil.example.com")
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store([ca.certificate])).build_server_verifier(wrong_name).verify(
            leaf, []
        )
    right_name = x509.DNSName("localhost")
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store([other_ca.certificate])).build_server_verifier(
            right_name
        ).verify(leaf, [])


def test_serving_certificate_needs_a_host(ca: CertificateAuthority) -> None:
    with pytest.raises(ValueError, match="at least one host"):
        issue_serving_certificate(ca, [])


def test_client_certificate_names_user_and_groups(ca: CertificateAuthority) -> None:
    issued = issue_client_certificate(ca, "alice", ["system:masters", "devs"])
    cert = issued.certificate
    assert client_identity(cert) == ClientIdentity("alice", ("system:masters", "devs"))
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_verify_client_certificate(
    ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    issued = issue_client_certificate(ca, "bob", ["team"])
    assert verify_client_certificate(issued.cert_pem, [ca.certificate]) == ClientIdentity(
        "bob", ("team",)
    )
    assert verify_client_certificate(issued.certificate, [other_ca.certificate, ca.certificate])
    with pytest.raises(UntrustedCertificate):
        verify_client_certificate(issued.certificate, [other_ca.certificate])


def test_a_serving_certificate_cannot_authenticate_a_client(ca: CertificateAuthority) -> None:
    serving = issue_serving_certificate(ca, ["localhost"])
    with pytest.raises(UntrustedCertificate, match="EKU"):
        verify_client_certificate(serving.certificate, [ca.certificate])


def test_expired_client_certificate_is_untrusted(ca: CertificateAuthority) -> None:
    issued = issue_client_certificate(ca, "carol", valid_for=timedelta(hours=1))
    later = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(UntrustedCertificate):
        verify_client_certificate(issued.certificate, [ca.certificate], now=later)


def test_leaf_never_outlives_its_ca() -> None:
    short = create_authority("short", valid_for=timedelta(days=1))
    leaf = issue_client_certificate(short, "x", valid_for=timedelta(days=365)).certificate
    assert leaf.not_valid_after_utc == short.certificate.not_valid_after_utc


def test_identity_from_der_and_pem(ca: CertificateAuthority) -> None:
    issued = issue_client_certificate(ca, "dave")
    der = issued.certificate.public_bytes(Encoding.DER)
    assert client_identity(der) == ClientIdentity("dave", ())
    assert client_identity(issued.cert_pem) == ClientIdentity("dave", ())
    assert load_certificate(der) == issued.certificate


def test_identity_requires_a_common_name(ca: CertificateAuthority) -> None:
    now = datetime.now(UTC)
    nameless = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "group")]))
        .issuer_name(ca.certificate.subject)
        .public_key(ca.key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(hours=1))
        .sign(ca.key, hashes.SHA256())
    )
    with pytest.raises(ValueError, match="no common name"):
        client_identity(nameless)


def test_client_certificate_needs_a_user(ca: CertificateAuthority) -> None:
    with pytest.raises(ValueError, match="user name"):
        issue_client_certificate(ca, "")


def test_rsa_leaves_may_encipher(ca: CertificateAuthority, tmp_path: Path) -> None:
    issued = issue_client_certificate(ca, "erin", key_type="rsa")
    assert isinstance(issued.key, rsa.RSAPrivateKey)
    usage = issued.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment
    issued.save(tmp_path / "c.crt", tmp_path / "c.key")
    assert (tmp_path / "c.key").stat().st_mode & 0o777 == 0o600
