"""The generated kubeconfig drives the real kubectl against an HTTPS server that requires a
client certificate, and one signed by another CA gets nowhere."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import ssl
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from pki.authority import CertificateAuthority
from pki.identity import ClientIdentity, client_identity
from pki.issue import issue_client_certificate, issue_serving_certificate
from pki.kubeconfig import build_kubeconfig, write_kubeconfig

KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).with_name("kubectl"))
VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0-gitplane",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.26",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def test_kubeconfig_embeds_everything(ca: CertificateAuthority, tmp_path: Path) -> None:
    client = issue_client_certificate(ca, "admin", ["system:masters"])
    config = build_kubeconfig(
        "https://127.0.0.1:8443", ca.cert_pem, client.cert_pem, client.key_pem, namespace="apps"
    )
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = yaml.safe_load(path.read_text())
    assert loaded == config
    cluster = loaded["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:8443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == ca.cert_pem
    user = loaded["users"][0]["user"]
    assert base64.b64decode(user["client-key-data"]) == client.key_pem
    assert loaded["current-context"] == "gitplane"
    assert loaded["contexts"][0]["context"] == {
        "cluster": "gitplane",
        "user": "gitplane-admin",
        "namespace": "apps",
    }


@pytest.fixture
async def version_server(
    ca: CertificateAuthority, tmp_path: Path
) -> AsyncIterator[tuple[str, list[ClientIdentity]]]:
    """An HTTPS server answering /version that records each caller's certificate identity."""
    callers: list[ClientIdentity] = []

    async def version(request: web.Request) -> web.Response:
        tls = request.transport.get_extra_info("ssl_object") if request.transport else None
        peer = tls.getpeercert(binary_form=True) if tls else None
        if peer is None:
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        callers.append(client_identity(peer))
        return web.json_response(VERSION)

    serving = issue_serving_certificate(ca, ["localhost", "127.0.0.1"])
    serving.save(tmp_path / "tls.crt", tmp_path / "tls.key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=ca.cert_pem.decode())

    app = web.Application()
    app.router.add_get("/version", version)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}", callers
    finally:
        await runner.cleanup()


async def _kubectl_version(
    kubeconfig: Path, home: Path, deadline: str = "10s"
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        KUBECTL,
        "version",
        "-o",
        "json",
        f"--kubeconfig={kubeconfig}",
        f"--request-timeout={deadline}",
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl binary not installed")
async def test_kubectl_reaches_the_server_with_the_generated_kubeconfig(
    ca: CertificateAuthority,
    version_server: tuple[str, list[ClientIdentity]],
    tmp_path: Path,
) -> None:
    url, callers = version_server
    client = issue_client_certificate(ca, "admin", ["system:masters"])
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, build_kubeconfig(url, ca.cert_pem, client.cert_pem, client.key_pem))
    code, out, err = await _kubectl_version(path, tmp_path)
    assert code == 0, err
    assert json.loads(out)["serverVersion"]["gitVersion"] == "v1.37.0-gitplane"
    assert ClientIdentity("admin", ("system:masters",)) in callers


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl binary not installed")
async def test_kubectl_with_a_certificate_from_another_ca_fails(
    ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    version_server: tuple[str, list[ClientIdentity]],
    tmp_path: Path,
) -> None:
    url, callers = version_server
    intruder = issue_client_certificate(other_ca, "mallory", ["system:masters"])
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, build_kubeconfig(url, ca.cert_pem, intruder.cert_pem, intruder.key_pem))
    # The server aborts the handshake; kubectl retries (EOF or reset) until its deadline.
    code, out, err = await _kubectl_version(path, tmp_path, deadline="3s")
    assert code != 0
    assert "serverVersion" not in out
    assert any(sign in err for sign in ("EOF", "reset by peer", "certificate", "tls:"))
    assert callers == []


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl binary not installed")
async def test_kubectl_refuses_a_server_it_does_not_trust(
    ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    version_server: tuple[str, list[ClientIdentity]],
    tmp_path: Path,
) -> None:
    url, callers = version_server
    client = issue_client_certificate(ca, "admin")
    path = tmp_path / "kubeconfig"
    write_kubeconfig(
        path, build_kubeconfig(url, other_ca.cert_pem, client.cert_pem, client.key_pem)
    )
    code, _, err = await _kubectl_version(path, tmp_path, deadline="3s")
    assert code != 0
    assert "x509" in err or "certificate" in err
    assert callers == []
