"""The real API server in cluster mode (real store, real TLS) in front of the kube double."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from apiserver.cluster import DELEGATED_AUTH, ClusterConfig, DelegatedAuth, make_cluster_app
from pki.authority import CertificateAuthority, create_authority
from pki.issue import IssuedCertificate, issue_client_certificate, issue_serving_certificate
from pki.tls import ReloadingServerTLS
from store.aio import AsyncStore
from store.repo import GitStore
from tests.cluster.kube_double import KubeDouble

FRONT_PROXY_CN = "front-proxy-client"
GV = "/apis/gitplane.io/v1alpha1"


@dataclass(frozen=True)
class Pki:
    serving_ca: CertificateAuthority
    client_ca: CertificateAuthority
    front_proxy_ca: CertificateAuthority
    front_proxy: IssuedCertificate


@pytest.fixture(scope="session")
def pki() -> Pki:
    front_proxy_ca = create_authority("front-proxy-ca")
    return Pki(
        serving_ca=create_authority("gitplane-serving-ca"),
        client_ca=create_authority("kubernetes-client-ca"),
        front_proxy_ca=front_proxy_ca,
        front_proxy=issue_client_certificate(front_proxy_ca, FRONT_PROXY_CN),
    )


def authentication_data(
    pki: Pki,
    *,
    front_proxy_ca: CertificateAuthority | None = None,
    allowed_names: list[str] | None = None,
) -> dict[str, str]:
    """The ConfigMap's data as kube-apiserver writes it (kubeadm's flags)."""
    return {
        "client-ca-file": pki.client_ca.cert_pem.decode(),
        "requestheader-client-ca-file": (front_proxy_ca or pki.front_proxy_ca).cert_pem.decode(),
        "requestheader-allowed-names": json.dumps(
            [FRONT_PROXY_CN] if allowed_names is None else allowed_names
        ),
        "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
        "requestheader-username-headers": json.dumps(["X-Remote-User"]),
    }


@dataclass
class Response:
    status: int
    body: Any
    headers: Any


@dataclass
class Cluster:
    directory: Path
    pki: Pki
    kube: KubeDouble
    store: GitStore
    app: web.Application
    url: str
    _files: dict[int, tuple[Path, Path]] = field(default_factory=dict)

    @property
    def auth(self) -> DelegatedAuth:
        return self.app[DELEGATED_AUTH]

    def client_context(self, cert: IssuedCertificate | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.pki.serving_ca.cert_pem.decode())
        if cert is not None:
            files = self._files.get(id(cert))
            if files is None:
                files = (
                    self.directory / f"client-{len(self._files)}.crt",
                    self.directory / f"client-{len(self._files)}.key",
                )
                cert.save(*files)
                self._files[id(cert)] = files
            context.load_cert_chain(*files)
        return context

    async def call(
        self,
        method: str,
        path: str,
        *,
        cert: IssuedCertificate | None = None,
        headers: list[tuple[str, str]] | None = None,
        token: str | None = None,
        body: Any = None,
        accept: str | None = None,
    ) -> Response:
        """One request on a fresh connection (so each one is a new TLS handshake)."""
        sent: CIMultiDict[str] = CIMultiDict(headers or [])
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if accept:
            sent["Accept"] = accept
        if body is not None:
            sent["Content-Type"] = "application/json"
        connector = aiohttp.TCPConnector(ssl=self.client_context(cert), force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.request(
                method,
                self.url + path,
                headers=sent,
                data=json.dumps(body) if body is not None else None,
            ) as response,
        ):
            text = await response.text()
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = text
            return Response(response.status, decoded, response.headers)

    async def as_proxy(
        self,
        method: str,
        path: str,
        user: str,
        groups: tuple[str, ...] = ("system:authenticated",),
        *,
        extra: dict[str, list[str]] | None = None,
        cert: IssuedCertificate | None = None,
        body: Any = None,
        accept: str | None = None,
    ) -> Response:
        """A request as kube-apiserver proxies it for `user`."""
        headers = [("X-Remote-User", user), *(("X-Remote-Group", g) for g in groups)]
        for key, values in (extra or {}).items():
            headers.extend((f"X-Remote-Extra-{key}", value) for value in values)
        return await self.call(
            method,
            path,
            cert=cert or self.pki.front_proxy,
            headers=headers,
            body=body,
            accept=accept,
        )

    def client(self, user: str, groups: tuple[str, ...] = ()) -> IssuedCertificate:
        return issue_client_certificate(self.pki.client_ca, user, groups)

    async def outcome(self, *args: Any, **kwargs: Any) -> int | str:
        """The status code, or "refused" when the TLS handshake turned the client away."""
        try:
            return (await self.call(*args, **kwargs)).status
        except (aiohttp.ClientConnectionError, ssl.SSLError):
            return "refused"

    def users_reviewed(self) -> list[str]:
        return [spec.get("user", "") for spec in self.kube.reviews]


def manifest(namespace: str, name: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "gitplane.io/v1alpha1",
        "kind": "Manifest",
        "metadata": {"namespace": namespace},
        "spec": {
            "object": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace},
                "data": data or {"key": "value"},
            }
        },
    }


async def start_cluster(
    directory: Path, pki: Pki, kube: KubeDouble, config: ClusterConfig | None = None
) -> tuple[Cluster, list[web.AppRunner]]:
    kube_runner, kube_url = await kube.serve(directory)
    kubeconfig = kube.kubeconfig(kube_url, directory / "kubeconfig")
    store = GitStore.init(directory / "repo")
    config = replace(config or ClusterConfig(startup_timeout=10), kubeconfig=str(kubeconfig))
    app = make_cluster_app(AsyncStore(store, poll_interval=0.1), config)
    serving = issue_serving_certificate(pki.serving_ca, ["127.0.0.1"])
    serving.save(directory / "tls.crt", directory / "tls.key")
    tls = ReloadingServerTLS(
        str(directory / "tls.crt"),
        str(directory / "tls.key"),
        client_cas=app[DELEGATED_AUTH].client_ca_bundle,
        check_interval=0,
    )
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    cluster = Cluster(directory, pki, kube, store, app, f"https://127.0.0.1:{port}")
    return cluster, [runner, kube_runner]


@pytest.fixture
def kube(pki: Pki) -> KubeDouble:
    return KubeDouble(config_map_data=authentication_data(pki))


@pytest.fixture
async def cluster(tmp_path: Path, pki: Pki, kube: KubeDouble) -> AsyncIterator[Cluster]:
    started, runners = await start_cluster(tmp_path, pki, kube)
    try:
        yield started
    finally:
        kube.close_watches()
        for runner in runners:
            await runner.cleanup()
