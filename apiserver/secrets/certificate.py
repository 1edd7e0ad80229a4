"""The sealed-secrets controller's certificate: from a PEM file or from the controller.

The controller serves its current certificate at `/v1/cert.pem`; from outside the
cluster it is reached through the Kubernetes API's service proxy, as `kubeseal
--fetch-cert` does. The controller renews its key every 30 days by default, so a fetched
certificate is fetched again after `refresh_every` seconds, and a file is read again
when it changes. Expired and non-RSA certificates are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "kube-system"
DEFAULT_SERVICE = "sealed-secrets-controller"
DEFAULT_PORT = 8080
CERT_PATH = "v1/cert.pem"


class CertificateError(Exception):
    """No usable sealing certificate; the message says why and what to do."""


@dataclass(frozen=True)
class SealingCertificate:
    public_key: rsa.RSAPublicKey
    not_after: dt.datetime
    fingerprint: str  # SHA-256 of the DER certificate, hex
    source: str  # where it came from, for messages

    def check_current(self, now: dt.datetime | None = None) -> None:
        moment = now or dt.datetime.now(dt.UTC)
        if moment >= self.not_after:
            raise CertificateError(
                f"the sealing certificate from {self.source} expired on"
                f" {self.not_after:%Y-%m-%d %H:%M:%S} UTC; fetch the controller's current one"
                " (kubeseal --fetch-cert) and give it to the API server"
            )


def parse_certificate(
    pem: bytes, source: str, now: dt.datetime | None = None
) -> SealingCertificate:
    """A PEM certificate with an RSA key that is valid now, or CertificateError."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CertificateError(f"{source} is not a PEM certificate: {exc}") from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateError(
            f"the certificate from {source} has an {_key_type(key)} key, not RSA;"
            " sealed-secrets seals with RSA keys only"
        )
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    found = SealingCertificate(key, cert.not_valid_after_utc, fingerprint, source)
    found.check_current(now)
    moment = now or dt.datetime.now(dt.UTC)
    if moment < cert.not_valid_before_utc:
        raise CertificateError(
            f"the sealing certificate from {source} is not valid before"
            f" {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
        )
    return found


def _key_type(key: object) -> str:
    for kind, name in (
        (ec.EllipticCurvePublicKey, "EC"),
        (ed25519.Ed25519PublicKey, "Ed25519"),
        (ed448.Ed448PublicKey, "Ed448"),
        (dsa.DSAPublicKey, "DSA"),
    ):
        if isinstance(key, kind):
            return name
    return type(key).__name__


class CertificateSource(Protocol):
    def current(self) -> SealingCertificate:
        """The certificate to seal with now (no I/O wait); CertificateError when none."""
        ...


class FileCertificate:
    """A PEM file (`--sealing-cert PATH`), read again whenever it changes on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._certificate: SealingCertificate | None = None
        self.current()  # refuse a bad file at startup, not at the first Secret

    def current(self) -> SealingCertificate:
        try:
            info = os.stat(self.path)
        except OSError as exc:
            raise CertificateError(
                f"cannot read the sealing certificate {self.path}: {exc}"
            ) from None
        stamp = (info.st_mtime_ns, info.st_size)
        if self._certificate is None or stamp != self._stamp:
            certificate = parse_certificate(self.path.read_bytes(), str(self.path))
            if (
                self._certificate is not None
                and certificate.fingerprint != self._certificate.fingerprint
            ):
                log.info("sealing certificate %s changed: %s", self.path, certificate.fingerprint)
            self._certificate, self._stamp = certificate, stamp
        self._certificate.check_current()
        return self._certificate


class ControllerCertificate:
    """Fetched from the controller through the API service proxy, with kubernetes-asyncio.

    `configuration` is a kubernetes_asyncio Configuration (see `cluster_configuration`).
    `current()` serves the cached certificate and starts a refresh in the background once
    it is older than `refresh_every`; call `await refresh()` once before serving.
    """

    def __init__(
        self,
        configuration: Any,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        service: str = DEFAULT_SERVICE,
        port: int = DEFAULT_PORT,
        refresh_every: float = 300.0,
    ) -> None:
        self.configuration = configuration
        self.namespace = namespace
        self.service = service
        self.port = port
        self.refresh_every = refresh_every
        self._certificate: SealingCertificate | None = None
        self._fetched_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._last_error = ""

    @property
    def source(self) -> str:
        return (
            f"/api/v1/namespaces/{self.namespace}/services/"
            f"http:{self.service}:{self.port}/proxy/{CERT_PATH}"
        )

    async def fetch(self) -> SealingCertificate:
        from kubernetes_asyncio import client  # noqa: PLC0415 - only where a cluster is used

        async with client.ApiClient(self.configuration) as api:
            try:
                pem = await client.CoreV1Api(api).connect_get_namespaced_service_proxy_with_path(
                    f"http:{self.service}:{self.port}", self.namespace, CERT_PATH
                )
            except client.ApiException as exc:
                raise CertificateError(
                    f"cannot fetch the sealing certificate from {self.source}:"
                    f" {exc.status} {exc.reason}"
                ) from None
            except (TimeoutError, OSError) as exc:
                raise CertificateError(
                    f"cannot reach the Kubernetes API for the sealing certificate: {exc}"
                ) from None
        text = pem if isinstance(pem, str) else str(pem)
        return parse_certificate(text.encode(), self.source)

    async def refresh(self) -> SealingCertificate:
        """Fetch now; the new certificate replaces the cached one (CertificateError kept)."""
        try:
            certificate = await self.fetch()
        except CertificateError as exc:
            self._last_error = str(exc)
            raise
        if (
            self._certificate is not None
            and certificate.fingerprint != self._certificate.fingerprint
        ):
            log.info(
                "the sealed-secrets controller rotated its certificate: %s", certificate.fingerprint
            )
        self._certificate = certificate
        self._fetched_at = asyncio.get_running_loop().time()
        self._last_error = ""
        return certificate

    def current(self) -> SealingCertificate:
        self._refresh_if_stale()
        if self._certificate is None:
            why = f": {self._last_error}" if self._last_error else " yet"
            raise CertificateError(f"no sealing certificate fetched from the controller{why}")
        self._certificate.check_current()
        return self._certificate

    def _refresh_if_stale(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        stale = self._certificate is None or loop.time() - self._fetched_at >= self.refresh_every
        if stale and (self._task is None or self._task.done()):
            self._task = loop.create_task(self._background_refresh())

    async def _background_refresh(self) -> None:
        try:
            await self.refresh()
        except CertificateError as exc:
            log.warning("%s; sealing goes on with the certificate it has", exc)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def cluster_configuration(kubeconfig: str | None = None) -> Any:
    """A kubernetes_asyncio Configuration: in-cluster when running in a pod, else kubeconfig."""
    from kubernetes_asyncio import config  # noqa: PLC0415 - only where a cluster is used
    from kubernetes_asyncio.client import Configuration  # noqa: PLC0415

    configuration = Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return configuration
