from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.apiserver.harness import Server, start_server


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Server]:
    server, runner = await start_server(tmp_path)
    try:
        yield server
    finally:
        await runner.cleanup()
