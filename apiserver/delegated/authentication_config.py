"""kube-system/extension-apiserver-authentication: whom kube-apiserver tells us to trust.

kube-apiserver keeps this ConfigMap current (its clusterauthenticationtrust controller):
`client-ca-file` and `requestheader-client-ca-file` are PEM bundles; the
`requestheader-*` keys are JSON arrays of strings. `parse_config_map` turns its data into
one immutable `AuthenticationConfig`; `AuthenticationConfigSource` keeps the current value
with kubernetes-asyncio: list, then watch from the list's resourceVersion, watch again when
the server ends the watch, list again on 410 Expired, and retry with backoff on any other
error. A ConfigMap that cannot be parsed, or that disappears, leaves the last good value in
place (kube-apiserver recreates it within a minute); until the first list succeeds there is
no value and nothing but bearer tokens can authenticate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes_asyncio import client as kube_client
from kubernetes_asyncio import watch as kube_watch
from kubernetes_asyncio.client.exceptions import ApiException

log = logging.getLogger("gitplane.apiserver.delegated")

NAMESPACE: Final = "kube-system"
NAME: Final = "extension-apiserver-authentication"
CLIENT_CA: Final = "client-ca-file"
REQUESTHEADER_CA: Final = "requestheader-client-ca-file"
USERNAME_HEADERS: Final = "requestheader-username-headers"
UID_HEADERS: Final = "requestheader-uid-headers"  # newer clusters only (RemoteRequestHeaderUID)
GROUP_HEADERS: Final = "requestheader-group-headers"
EXTRA_PREFIXES: Final = "requestheader-extra-headers-prefix"
ALLOWED_NAMES: Final = "requestheader-allowed-names"


class ConfigMapError(ValueError):
    """The ConfigMap's data is not what kube-apiserver writes."""


@dataclass(frozen=True)
class AuthenticationConfig:
    client_cas: tuple[x509.Certificate, ...] = ()
    requestheader_cas: tuple[x509.Certificate, ...] = ()
    username_headers: tuple[str, ...] = ()
    uid_headers: tuple[str, ...] = ()
    group_headers: tuple[str, ...] = ()
    extra_header_prefixes: tuple[str, ...] = ()
    allowed_names: tuple[str, ...] = ()  # empty: any common name
    resource_version: str = ""

    def trusted_pem(self) -> bytes:
        """Every CA in one PEM bundle, for the TLS layer to request and check client certs."""
        seen: dict[bytes, None] = {}
        for certificate in (*self.client_cas, *self.requestheader_cas):
            seen.setdefault(certificate.public_bytes(serialization.Encoding.PEM))
        return b"".join(seen)


NO_TRUST: Final = AuthenticationConfig()


def parse_config_map(
    data: Mapping[str, str] | None, resource_version: str = ""
) -> AuthenticationConfig:
    """The configuration a ConfigMap's `data` describes; ConfigMapError when malformed."""
    values = dict(data or {})
    return AuthenticationConfig(
        client_cas=_certificates(values, CLIENT_CA),
        requestheader_cas=_certificates(values, REQUESTHEADER_CA),
        username_headers=_strings(values, USERNAME_HEADERS),
        uid_headers=_strings(values, UID_HEADERS),
        group_headers=_strings(values, GROUP_HEADERS),
        extra_header_prefixes=_strings(values, EXTRA_PREFIXES),
        allowed_names=_strings(values, ALLOWED_NAMES),
        resource_version=resource_version,
    )


def _certificates(values: Mapping[str, str], key: str) -> tuple[x509.Certificate, ...]:
    text = values.get(key, "")
    if not text.strip():
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(text.encode()))
    except ValueError as exc:
        raise ConfigMapError(f"{key}: not a PEM certificate bundle ({exc})") from None


def _strings(values: Mapping[str, str], key: str) -> tuple[str, ...]:
    text = values.get(key, "")
    if not text.strip():
        return ()
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigMapError(f"{key}: not a JSON array ({exc.msg})") from None
    if not isinstance(decoded, list) or not all(isinstance(item, str) for item in decoded):
        raise ConfigMapError(f"{key}: expected a JSON array of strings")
    return tuple(decoded)


class AuthenticationConfigSource:
    """The current AuthenticationConfig, kept equal to the ConfigMap by a background task."""

    def __init__(
        self,
        api_client: Callable[[], Any],
        *,
        namespace: str = NAMESPACE,
        name: str = NAME,
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        watch_timeout: int = 300,
    ) -> None:
        self._api_client = api_client
        self.namespace, self.name = namespace, name
        self._retry_delay, self._max_retry_delay = retry_delay, max_retry_delay
        self._watch_timeout = watch_timeout
        self._current: AuthenticationConfig | None = None
        self._loaded = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def current(self) -> AuthenticationConfig | None:
        """None until the ConfigMap has been read once."""
        return self._current

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="extension-apiserver-authentication")

    async def wait_loaded(self, within: float) -> bool:
        try:
            async with asyncio.timeout(within):
                await self._loaded.wait()
        except TimeoutError:
            return False
        return True

    async def wait_for(
        self, predicate: Callable[[AuthenticationConfig], bool], within: float
    ) -> bool:
        """Wait until the current value satisfies `predicate` (tests, start-up checks)."""
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(
                    lambda: self._current is not None and predicate(self._current)
                )
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- the list/watch loop --------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._retry_delay
        while True:
            try:
                version = await self._list()
                delay = self._retry_delay
                while True:  # each pass ends when the server closes the watch
                    started = time.monotonic()
                    version = await self._watch(version)
                    if time.monotonic() - started < 1.0:  # never a tight loop on the API
                        await asyncio.sleep(self._retry_delay)
            except ApiException as exc:
                if exc.status == 410:
                    log.info("%s/%s watch expired; listing again", self.namespace, self.name)
                    continue
                log.warning("reading %s/%s failed: %s", self.namespace, self.name, _brief(exc))
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                log.warning("reading %s/%s failed: %s", self.namespace, self.name, exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading %s/%s failed", self.namespace, self.name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry_delay)

    async def _list(self) -> str:
        core = kube_client.CoreV1Api(self._api_client())
        listed = await core.list_namespaced_config_map(
            self.namespace, field_selector=f"metadata.name={self.name}", _request_timeout=30
        )
        version = str(listed.metadata.resource_version or "")
        items = listed.items or []
        if items:
            await self._apply(items[0].data, version)
        else:
            log.warning(
                "%s/%s does not exist: only bearer tokens can authenticate",
                self.namespace,
                self.name,
            )
            await self._apply({}, version, missing=True)
        return version

    async def _watch(self, version: str) -> str:
        core = kube_client.CoreV1Api(self._api_client())
        watcher = kube_watch.Watch()
        stream = watcher.stream(
            core.list_namespaced_config_map,
            self.namespace,
            field_selector=f"metadata.name={self.name}",
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout,
            _request_timeout=self._watch_timeout + 30,
        )
        async with stream:
            async for event in stream:
                raw = event.get("raw_object") or {}
                metadata = raw.get("metadata") or {}
                version = str(metadata.get("resourceVersion") or version)
                kind = event.get("type")
                if kind in ("ADDED", "MODIFIED"):
                    await self._apply(raw.get("data"), version)
                elif kind == "DELETED":
                    log.warning(
                        "%s/%s was deleted; keeping the last configuration",
                        self.namespace,
                        self.name,
                    )
        return version

    async def _apply(
        self, data: Mapping[str, str] | None, version: str, *, missing: bool = False
    ) -> None:
        try:
            config = parse_config_map(data, version)
        except ConfigMapError as exc:
            log.error(
                "%s/%s is malformed, keeping the last configuration: %s",
                self.namespace,
                self.name,
                exc,
            )
            config = self._current or NO_TRUST
        if missing and self._current is not None:
            config = self._current  # gone for now: kube-apiserver will write it again
        async with self._changed:
            changed = self._current != config
            self._current = config
            self._changed.notify_all()
        self._loaded.set()
        if changed:
            log.info(
                "authentication configuration at resourceVersion %s: %d client CA(s), %d"
                " request-header CA(s), allowed names %s",
                version,
                len(config.client_cas),
                len(config.requestheader_cas),
                list(config.allowed_names) or "any",
            )


def _brief(exc: ApiException) -> str:
    return f"{exc.status} {exc.reason}"
