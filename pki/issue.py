"""Leaf certificates signed by a CertificateAuthority: serving (server-auth) and client
(client-auth, CN = user, O = groups, as Kubernetes' x509 authenticator reads them)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from pki.authority import (
    CLOCK_SKEW,
    CertificateAndKey,
    CertificateAuthority,
    KeyType,
    generate_key,
    random_serial,
)

LEAF_VALIDITY: Final = timedelta(days=365)


@dataclass(frozen=True)
class IssuedCertificate(CertificateAndKey):
    """A leaf certificate with its key."""


def service_hostnames(
    service: str, namespace: str, cluster_domain: str = "cluster.local"
) -> list[str]:
    """The names a Service is reached by; kube-apiserver dials `<svc>.<ns>.svc`."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.{cluster_domain}",
    ]


def subject_alternative_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    """IP literals become IP SANs, everything else a DNS SAN."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def issue_serving_certificate(
    ca: CertificateAuthority,
    hosts: Sequence[str],
    *,
    common_name: str | None = None,
    key_type: KeyType = "ec",
    valid_for: timedelta = LEAF_VALIDITY,
    now: datetime | None = None,
) -> IssuedCertificate:
    """A TLS server certificate for `hosts` (DNS names and IP addresses)."""
    if not hosts:
        raise ValueError("a serving certificate needs at least one host")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or hosts[0])])
    san = x509.SubjectAlternativeName(subject_alternative_names(hosts))
    return _issue(ca, subject, ExtendedKeyUsageOID.SERVER_AUTH, key_type, valid_for, now, san)


def issue_client_certificate(
    ca: CertificateAuthority,
    user: str,
    groups: Sequence[str] = (),
    *,
    key_type: KeyType = "ec",
    valid_for: timedelta = LEAF_VALIDITY,
    now: datetime | None = None,
) -> IssuedCertificate:
    """A TLS client certificate naming `user` (CN) and `groups` (one O each)."""
    if not user:
        raise ValueError("a client certificate needs a user name")
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    subject = x509.Name(attributes)
    return _issue(ca, subject, ExtendedKeyUsageOID.CLIENT_AUTH, key_type, valid_for, now, None)


def _issue(
    ca: CertificateAuthority,
    subject: x509.Name,
    usage: ObjectIdentifier,
    key_type: KeyType,
    valid_for: timedelta,
    now: datetime | None,
    san: x509.SubjectAlternativeName | None,
) -> IssuedCertificate:
    key = generate_key(key_type)
    start = (now or datetime.now(UTC)) - CLOCK_SKEW
    # RSA key exchange in old TLS needs keyEncipherment; EC keys only sign.
    encipher = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(start)
        .not_valid_after(min(start + CLOCK_SKEW + valid_for, ca.certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=encipher,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return IssuedCertificate(builder.sign(ca.key, hashes.SHA256()), key)
