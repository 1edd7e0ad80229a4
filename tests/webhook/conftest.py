"""A real HTTPS webhook on 127.0.0.1 with a CA and serving certificates made per run."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from webhook_pki import client_context, issue, new_ca
from webhook_reviews import desired_state

from kube.serving import LimitedAppRunner
from pki.authority import CertificateAuthority
from pki.tls import ReloadingServerTLS
from webhook.config import WebhookConfig
from webhook.desired import DesiredState
from webhook.server import make_app

NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@dataclass
class RunningWebhook:
    url: str
    session: aiohttp.ClientSession
    app: web.Application
    port: int
    context: ssl.SSLContext

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.session.post(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        ) as resp:
            text = await resp.text()
            if resp.content_type == "application/json":
                return resp.status, json.loads(text)
            return resp.status, text

    async def get(self, path: str) -> tuple[int, str, str]:
        async with self.session.get(self.url + path) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return new_ca()


@pytest.fixture
def tls_files(tmp_path: Path, ca: CertificateAuthority) -> tuple[Path, Path]:
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    issue(ca, cert_file, key_file)
    return cert_file, key_file


@pytest.fixture
async def serve(
    tls_files: tuple[Path, Path], ca: CertificateAuthority
) -> AsyncIterator[Callable[..., Any]]:
    """Start a webhook over HTTPS; returns a RunningWebhook. Stopped at teardown."""
    cleanups: list[Callable[[], Any]] = []

    async def start(
        desired: DesiredState | None = None,
        config: WebhookConfig | None = None,
        ready: Callable[[], bool] = lambda: True,
        tls: ReloadingServerTLS | None = None,
    ) -> RunningWebhook:
        app = make_app(
            desired if desired is not None else desired_state(),
            config or WebhookConfig.with_additions(strict_namespaces=["locked"]),
            ready=ready,
            clock=lambda: NOW,
        )
        tls = tls or ReloadingServerTLS(str(tls_files[0]), str(tls_files[1]))
        runner = LimitedAppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock, ssl_context=tls.context)
        await site.start()
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_context(ca)))
        cleanups.append(session.close)
        cleanups.append(runner.cleanup)
        port = sock.getsockname()[1]
        return RunningWebhook(f"https://127.0.0.1:{port}", session, app, port, client_context(ca))

    yield start
    for cleanup in cleanups:
        await cleanup()


@pytest.fixture
async def webhook(serve: Callable[..., Any]) -> RunningWebhook:
    """The default webhook: desired_state() and strict namespace `locked`."""
    running: RunningWebhook = await serve()
    return running
