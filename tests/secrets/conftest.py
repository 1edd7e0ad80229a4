from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.apiserver.harness import Server, start_server
from tests.secrets.keys import KeyPair, new_rsa


@pytest.fixture(scope="session")
def controller_key() -> KeyPair:
    """The sealed-secrets controller's key pair: RSA-4096, as the controller makes it."""
    return new_rsa(4096)


@pytest.fixture(scope="session")
def rotated_key() -> KeyPair:
    """The key the controller renews to (smaller: only rotation is tested with it)."""
    return new_rsa(2048)


@pytest.fixture
async def sealing_api(tmp_path: Path, controller_key: KeyPair) -> AsyncIterator[Server]:
    cert = controller_key.write(tmp_path / "sealing.pem")
    server, runner = await start_server(tmp_path / "server", sealing_cert=cert)
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
async def plain_api(tmp_path: Path) -> AsyncIterator[Server]:
    server, runner = await start_server(tmp_path)
    try:
        yield server
    finally:
        await runner.cleanup()
