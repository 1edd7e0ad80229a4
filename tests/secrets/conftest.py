from __future__ import annotations

import pytest

from tests.secrets.keys import KeyPair, new_rsa


@pytest.fixture(scope="session")
def controller_key() -> KeyPair:
    """The sealed-secrets controller's key pair: RSA-4096, as the controller makes it."""
    return new_rsa(4096)


@pytest.fixture(scope="session")
def rotated_key() -> KeyPair:
    """The key the controller renews to (smaller: only rotation is tested with it)."""
    return new_rsa(2048)
