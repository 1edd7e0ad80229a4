"""Who a client certificate names: user = CN, groups = every O (Kubernetes' x509 rule).

`client_identity` reads a certificate the TLS layer has already verified (e.g. the DER from
ssl's getpeercert(binary_form=True)); `verify_client_certificate` also checks the chain and
the client-auth usage itself, for callers that verify outside the handshake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)


class UntrustedCertificate(ValueError):
    """The certificate does not chain to a trusted CA for client authentication."""


@dataclass(frozen=True)
class ClientIdentity:
    user: str
    groups: tuple[str, ...] = ()


def load_certificate(data: x509.Certificate | bytes) -> x509.Certificate:
    """A certificate from an object, PEM bytes or DER bytes."""
    if isinstance(data, x509.Certificate):
        return data
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def client_identity(certificate: x509.Certificate | bytes) -> ClientIdentity:
    """The user and groups an already-verified client certificate names.

    Raises ValueError when there is no CN: upstream does not authenticate such a cert."""
    subject = load_certificate(certificate).subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    user = str(names[0].value) if names else ""
    if not user:
        raise ValueError("client certificate has no common name")
    groups = tuple(
        str(attribute.value)
        for attribute in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )
    return ClientIdentity(user, groups)


def verify_client_certificate(
    certificate: x509.Certificate | bytes,
    trusted: Sequence[x509.Certificate],
    *,
    intermediates: Sequence[x509.Certificate] = (),
    now: datetime | None = None,
) -> ClientIdentity:
    """Check the chain to `trusted` with the client-auth usage, then read the identity."""
    leaf = load_certificate(certificate)
    # Client certificates carry no subjectAltName (the identity is in the subject), which
    # the WebPKI defaults would otherwise require.
    leaf_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
    )
    builder = (
        PolicyBuilder()
        .store(Store(list(trusted)))
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=leaf_policy)
    )
    if now is not None:
        builder = builder.time(now)
    try:
        builder.build_client_verifier().verify(leaf, list(intermediates))
    except VerificationError as error:
        raise UntrustedCertificate(str(error)) from None
    return client_identity(leaf)
