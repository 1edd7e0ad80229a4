"""Test certificates from gitplane's own pki package, made at test time (no key committed)."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from pki.authority import CertificateAuthority, create_authority
from pki.issue import issue_serving_certificate

# kube-apiserver dials <svc>.<ns>.svc; the tests dial 127.0.0.1.
HOSTS = ["gitplane-webhook.gitplane-system.svc", "127.0.0.1"]


def new_ca(name: str = "gitplane test CA") -> CertificateAuthority:
    return create_authority(name)


def issue(ca: CertificateAuthority, cert_file: Path, key_file: Path) -> x509.Certificate:
    """A serving certificate written to the two files, key first."""
    issued = issue_serving_certificate(ca, HOSTS)
    issued.save(cert_file, key_file)
    return issued.certificate


def client_context(ca: CertificateAuthority) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca.cert_pem.decode())
