"""The API server counts plaintext Secrets pushed from outside in /metrics, never values."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp

from pki.issue import issue_client_certificate
from tests.apiserver.harness import Server


async def test_metrics_count_plaintext_secrets_from_outside(api: Server, tmp_path: Path) -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leaked\n  namespace: shop\nstringData:\n  password: hunter2\n"
    (api.repo / "shop").mkdir(exist_ok=True)
    (api.repo / "shop" / "leaked.yaml").write_text(secret)
    api.git("add", "-A")
    api.git("commit", "-qm", "someone pushed a plaintext Secret")
    api.store.refresh()
    issued = issue_client_certificate(api.pki.ca, "prometheus")
    issued.save(tmp_path / "p.crt", tmp_path / "p.key")
    context = ssl.create_default_context(cafile=str(api.pki.ca_file))
    context.load_cert_chain(str(tmp_path / "p.crt"), str(tmp_path / "p.key"))
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{api.port}/metrics", ssl=context) as response,
    ):
        text = await response.text()
    assert "gitplane_plaintext_secrets 1.0" in text
    assert "hunter2" not in text
