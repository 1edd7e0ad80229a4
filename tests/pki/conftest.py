from __future__ import annotations

import pytest

from pki.authority import CertificateAuthority, create_authority


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return create_authority("gitplane-test-ca")


@pytest.fixture(scope="session")
def other_ca() -> CertificateAuthority:
    return create_authority("someone-else")
