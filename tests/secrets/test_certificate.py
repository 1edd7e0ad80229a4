"""The sealing certificate: from a file, or from the controller through the API service proxy."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from kubernetes_asyncio.client import Configuration

from apiserver.secrets.certificate import (
    CertificateError,
    ControllerCertificate,
    FileCertificate,
    parse_certificate,
)
from apiserver.secrets.options import add_sealing_arguments, secret_policy
from tests.secrets.keys import KeyPair, ec_certificate, new_rsa, self_signed

PROXY = (
    "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:8080/proxy/v1/cert.pem"
)


def test_an_expired_certificate_is_refused(controller_key: KeyPair) -> None:
    long_ago = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    expired = self_signed(controller_key.private_key, days=30, not_before=long_ago)
    with pytest.raises(CertificateError, match="expired on 2015-01-31"):
        parse_certificate(expired, "cert.pem")


def test_a_non_rsa_certificate_is_refused() -> None:
    with pytest.raises(
        CertificateError, match="has an EC key, not RSA; sealed-secrets seals with RSA keys only"
    ):
        parse_certificate(ec_certificate(), "cert.pem")


def test_not_a_certificate_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cert.pem"
    path.write_text("hello")
    with pytest.raises(CertificateError, match="is not a PEM certificate"):
        FileCertificate(path)
    with pytest.raises(CertificateError, match="cannot read the sealing certificate"):
        FileCertificate(tmp_path / "missing.pem")


def test_a_file_is_read_again_when_it_changes(
    controller_key: KeyPair, rotated_key: KeyPair, tmp_path: Path
) -> None:
    path = controller_key.write(tmp_path / "cert.pem")
    source = FileCertificate(path)
    first = source.current()
    assert source.current() is first  # unchanged file: not parsed again
    rotated_key.write(path)
    os.utime(path, ns=(1, 1))  # a new mtime even on coarse clocks
    assert source.current().fingerprint != first.fingerprint
    assert source.current().public_key.public_numbers() == (
        rotated_key.private_key.public_key().public_numbers()
    )


@dataclass
class FakeCluster:
    """kube-apiserver's service proxy in front of a sealed-secrets controller."""

    cert: bytes
    requests: list[str] = field(default_factory=list)
    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        if request.path != PROXY:
            return web.Response(status=404)
        if self.status != 200:
            return web.Response(status=self.status, text="no endpoints available")
        return web.Response(body=self.cert, content_type="text/plain")


@pytest.fixture
async def cluster(controller_key: KeyPair) -> AsyncIterator[tuple[FakeCluster, Configuration]]:
    fake = FakeCluster(controller_key.cert_pem)
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    configuration = Configuration(host=f"http://127.0.0.1:{port}")
    try:
        yield fake, configuration
    finally:
        await runner.cleanup()


async def test_fetched_through_the_service_proxy_and_refreshed_when_rotated(
    cluster: tuple[FakeCluster, Configuration], controller_key: KeyPair, rotated_key: KeyPair
) -> None:
    fake, configuration = cluster
    source = ControllerCertificate(configuration, refresh_every=0.05)
    with pytest.raises(CertificateError, match="no sealing certificate fetched"):
        source.current()  # not fetched yet (and a fetch starts)
    first = await source.refresh()
    assert fake.requests[-1] == PROXY
    assert source.current().fingerprint == first.fingerprint
    fake.cert = rotated_key.cert_pem
    await asyncio.sleep(0.1)
    source.current()  # stale: serves the cached one, refreshes in the background
    for _ in range(100):
        await asyncio.sleep(0.02)
        if source.current().fingerprint != first.fingerprint:
            break
    assert source.current().public_key.public_numbers() == (
        rotated_key.private_key.public_key().public_numbers()
    )
    fake.status = 503
    with pytest.raises(CertificateError, match="503"):
        await source.refresh()
    assert source.current().fingerprint != first.fingerprint  # keeps the last good one
    await source.close()


async def test_a_fetched_expired_or_ec_certificate_is_refused(
    cluster: tuple[FakeCluster, Configuration], controller_key: KeyPair
) -> None:
    fake, configuration = cluster
    source = ControllerCertificate(configuration)
    fake.cert = ec_certificate()
    with pytest.raises(CertificateError, match="RSA keys only"):
        await source.refresh()
    fake.cert = self_signed(
        controller_key.private_key, days=1, not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    with pytest.raises(CertificateError, match="expired"):
        await source.refresh()
    await source.close()


async def test_options_make_the_policy(controller_key: KeyPair, tmp_path: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_sealing_arguments(parser)
    none = await secret_policy(parser.parse_args([]))
    assert none.certificates is None
    path = controller_key.write(tmp_path / "cert.pem")
    policy = await secret_policy(parser.parse_args(["--sealing-cert", str(path)]))
    assert isinstance(policy.certificates, FileCertificate)
    both = parser.parse_args(["--sealing-cert", str(path), "--sealing-controller"])
    assert both.sealing_controller == "kube-system/sealed-secrets-controller:8080"
    with pytest.raises(CertificateError, match="not both"):
        await secret_policy(both)
    expired = tmp_path / "old.pem"
    expired.write_bytes(
        new_rsa(1024, days=1, not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)).cert_pem
    )
    with pytest.raises(CertificateError, match="expired"):
        await secret_policy(parser.parse_args(["--sealing-cert", str(expired)]))
