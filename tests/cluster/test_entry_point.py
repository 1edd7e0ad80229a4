"""`python -m apiserver` in both modes, as a process, reached over real TLS."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from pki.issue import issue_client_certificate, issue_serving_certificate
from store.repo import GitStore
from tests.cluster.conftest import FRONT_PROXY_CN, GV, Pki
from tests.cluster.kube_double import KubeDouble

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def server(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "apiserver",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)


async def get(url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None) -> int:
    connector = aiohttp.TCPConnector(ssl=context, force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, headers=headers) as response,
    ):
        return response.status


async def wait_healthy(
    url: str, context: ssl.SSLContext, process: asyncio.subprocess.Process
) -> None:
    for _ in range(200):
        if process.returncode is not None:
            assert process.stderr is not None
            raise AssertionError((await process.stderr.read()).decode())
        with contextlib.suppress(aiohttp.ClientError, OSError):
            if await get(f"{url}/healthz", context) == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not come up")


def tls_files(pki: Pki, directory: Path) -> tuple[str, str]:
    serving = issue_serving_certificate(pki.serving_ca, ["127.0.0.1"])
    serving.save(directory / "tls.crt", directory / "tls.key")
    return str(directory / "tls.crt"), str(directory / "tls.key")


def client_context(pki: Pki, directory: Path, cert: object | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=pki.serving_ca.cert_pem.decode())
    if cert is not None:
        cert.save(directory / "client.crt", directory / "client.key")  # type: ignore[attr-defined]
        context.load_cert_chain(directory / "client.crt", directory / "client.key")
    return context


async def test_cluster_mode_process(tmp_path: Path, pki: Pki, kube: KubeDouble) -> None:
    runner, kube_url = await kube.serve(tmp_path)
    kubeconfig = kube.kubeconfig(kube_url, tmp_path / "kubeconfig")
    GitStore.init(tmp_path / "repo")
    cert_file, key_file = tls_files(pki, tmp_path)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    try:
        async with server(
            "--cluster",
            f"--kubeconfig={kubeconfig}",
            f"--repo={tmp_path / 'repo'}",
            f"--cert-file={cert_file}",
            f"--key-file={key_file}",
            "--bind=127.0.0.1",
            f"--port={port}",
        ) as process:
            await wait_healthy(url, client_context(pki, tmp_path, None), process)
            proxy = client_context(pki, tmp_path, pki.front_proxy)
            status = await get(f"{url}{GV}/namespaces/a/manifests", proxy, {"X-Remote-User": "al"})
            anonymous = await get(f"{url}{GV}/namespaces/a/manifests", proxy)
            assert (status, anonymous) == (200, 401)
            assert [spec["user"] for spec in kube.reviews] == ["al"]
    finally:
        kube.close_watches()
        await runner.cleanup()


async def test_standalone_mode_process(tmp_path: Path, pki: Pki) -> None:
    GitStore.init(tmp_path / "repo")
    cert_file, key_file = tls_files(pki, tmp_path)
    (tmp_path / "client-ca.crt").write_bytes(pki.client_ca.cert_pem)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    async with server(
        "--standalone",
        f"--client-ca-file={tmp_path / 'client-ca.crt'}",
        f"--repo={tmp_path / 'repo'}",
        f"--cert-file={cert_file}",
        f"--key-file={key_file}",
        "--bind=127.0.0.1",
        f"--port={port}",
    ) as process:
        await wait_healthy(url, client_context(pki, tmp_path, None), process)
        admin = issue_client_certificate(pki.client_ca, "admin", ("system:masters",))
        with_cert = await get(
            f"{url}{GV}/namespaces/a/manifests", client_context(pki, tmp_path, admin)
        )
        proxy_headers = await get(
            f"{url}{GV}/namespaces/a/manifests",
            client_context(pki, tmp_path, None),
            {"X-Remote-User": FRONT_PROXY_CN},
        )
        assert (with_cert, proxy_headers) == (200, 401)


@pytest.mark.parametrize(
    "args",
    [
        ["--repo=r", "--cert-file=c", "--key-file=k"],  # no mode
        ["--cluster", "--standalone", "--repo=r", "--cert-file=c", "--key-file=k"],
        ["--standalone", "--repo=r", "--cert-file=c", "--key-file=k"],  # no client CA
        [
            "--standalone",
            "--client-ca-file=x",
            "--kubeconfig=k",
            "--repo=r",
            "--cert-file=c",
            "--key-file=k",
        ],
    ],
)
def test_arguments_that_cannot_work_are_refused(args: list[str]) -> None:
    from apiserver.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
