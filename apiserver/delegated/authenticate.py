"""Who is asking, in cluster mode: the union kube-apiserver's delegated authentication builds.

Tried in upstream's order, the first that names a user wins:

1. Front proxy (requestheader). The identity headers are believed only when the TLS
   client certificate verifies against `requestheader-client-ca-file` with the client-auth
   usage and its CN is in `requestheader-allowed-names` (empty: any). User = first non-empty
   value of the username headers; groups = every value of every group header, never split
   on commas; extra = each header under an extra prefix, key lowercased and %-unescaped.
2. Client certificate against `client-ca-file`: CN is the user, each O a group.
3. `Authorization: Bearer <token>`: a TokenReview (authentication.k8s.io/v1), the answer
   cached briefly per token digest.

Everything else is unauthenticated (401). Identity headers on a connection without a
verified proxy certificate are ignored, never trusted. Every user gets the group
`system:authenticated`.

Verification happens twice: OpenSSL checks the chain during the handshake (the serving
context trusts both CA bundles, see pki.tls) and here the certificate is checked
again with `cryptography` against the one bundle that matters for each rule. Python 3.11's
ssl module only hands out the peer's leaf certificate, so a client certificate must be
issued directly by a CA in the bundle; an intermediate CA is not supported there (kubeadm,
kind and the managed clusters issue the front-proxy client certificate straight from the
front-proxy CA). On Python 3.13+ the chain the peer sent is used, intermediates included.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509
from kubernetes_asyncio import client as kube_client

from apiserver.context import UserInfo
from apiserver.delegated.authentication_config import NO_TRUST, AuthenticationConfig
from apiserver.delegated.cache import ExpiringCache
from pki.identity import UntrustedCertificate, load_certificate, verify_client_certificate

log = logging.getLogger("gitplane.apiserver.delegated")

AUTHENTICATED = "system:authenticated"
Headers = Mapping[str, str]


def peer_certificates(request: web.Request) -> tuple[x509.Certificate, ...]:
    """The client's certificates, leaf first; empty without TLS or without a certificate."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return ()
    unverified_chain = getattr(ssl_object, "get_unverified_chain", None)  # Python 3.13+
    ders: list[bytes]
    if unverified_chain is not None:
        ders = [bytes(der) for der in unverified_chain() or []]
    else:
        leaf = ssl_object.getpeercert(binary_form=True)
        ders = [leaf] if leaf else []
    try:
        return tuple(load_certificate(der) for der in ders)
    except ValueError:
        return ()


def _verified_identity(
    chain: tuple[x509.Certificate, ...], trusted: tuple[x509.Certificate, ...]
) -> tuple[str, tuple[str, ...]] | None:
    if not chain or not trusted:
        return None
    try:
        identity = verify_client_certificate(chain[0], trusted, intermediates=chain[1:])
    except (UntrustedCertificate, ValueError):
        return None
    return identity.user, identity.groups


def front_proxy_user(
    config: AuthenticationConfig, chain: tuple[x509.Certificate, ...], headers: Any
) -> UserInfo | None:
    """The user the front proxy names, if this connection is the front proxy."""
    if not config.username_headers:
        return None
    proxy = _verified_identity(chain, config.requestheader_cas)
    if proxy is None:
        return None
    common_name = proxy[0]
    if config.allowed_names and common_name not in config.allowed_names:
        log.debug("request-header client certificate CN %r is not an allowed name", common_name)
        return None
    username = _first_value(headers, config.username_headers)
    if not username:
        return None
    return UserInfo(
        username,
        with_authenticated(_all_values(headers, config.group_headers)),
        _first_value(headers, config.uid_headers),
        extra_from_headers(headers, config.extra_header_prefixes),
    )


def client_certificate_user(
    config: AuthenticationConfig, chain: tuple[x509.Certificate, ...]
) -> UserInfo | None:
    identity = _verified_identity(chain, config.client_cas)
    if identity is None:
        return None
    user, groups = identity
    return UserInfo(user, with_authenticated(groups))


def with_authenticated(groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*groups, AUTHENTICATED]))


def _first_value(headers: Any, names: Iterable[str]) -> str:
    # http.Header.Get: the first value of the first header that has a non-empty one.
    for name in names:
        values = headers.getall(name, [])
        if values and values[0]:
            return str(values[0])
    return ""


def _all_values(headers: Any, names: Iterable[str]) -> list[str]:
    return [value for name in names for value in headers.getall(name, []) if value]


def extra_from_headers(headers: Any, prefixes: Iterable[str]) -> dict[str, tuple[str, ...]]:
    extra: dict[str, list[str]] = {}
    for prefix in prefixes:
        lowered = prefix.lower()
        for name, value in headers.items():
            if name.lower().startswith(lowered):
                key = unescape_extra_key(name[len(prefix) :].lower())
                extra.setdefault(key, []).append(value)
    return {key: tuple(values) for key, values in extra.items()}


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def unescape_extra_key(key: str) -> str:
    """url.PathUnescape, keeping the key as sent when it is not valid %-encoding."""
    if _BAD_ESCAPE.search(key):
        return key
    return unquote(key, errors="surrogateescape")


def bearer_token(authorization: str | None) -> str:
    """The token of `Authorization: Bearer <token>` (scheme case-insensitive), or ""."""
    if not authorization:
        return ""
    parts = authorization.split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer":
        return ""
    return parts[1]


class TokenReviewer:
    """TokenReview with a short cache, keyed by the token's digest (tokens are not kept)."""

    def __init__(
        self,
        api_client: Callable[[], Any],
        *,
        success_ttl: float = 10.0,
        failure_ttl: float = 10.0,
        max_entries: int = 4096,
        audiences: tuple[str, ...] = (),
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api_client = api_client
        self._success_ttl, self._failure_ttl = success_ttl, failure_ttl
        self._audiences, self._timeout = audiences, timeout
        self._cache: ExpiringCache[bytes, tuple[UserInfo | None]] = ExpiringCache(
            max_entries, clock=clock
        )

    async def review(self, token: str) -> UserInfo | None:
        key = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(key)
        if cached is not None:
            return cached[0]
        spec = kube_client.V1TokenReviewSpec(token=token, audiences=list(self._audiences) or None)
        api = kube_client.AuthenticationV1Api(self._api_client())
        try:
            review = await api.create_token_review(
                kube_client.V1TokenReview(
                    api_version="authentication.k8s.io/v1", kind="TokenReview", spec=spec
                ),
                _request_timeout=self._timeout,
            )
        except Exception as exc:  # an unreachable API is "not authenticated", never a 500
            log.warning("TokenReview failed: %s", getattr(exc, "reason", None) or exc)
            return None
        user = _reviewed_user(review.status)
        self._cache.put(key, (user,), self._success_ttl if user else self._failure_ttl)
        return user


def _reviewed_user(status: Any) -> UserInfo | None:
    if status is None or not status.authenticated or status.user is None:
        if status is not None and status.error:
            log.info("TokenReview did not authenticate: %s", status.error)
        return None
    user = status.user
    if not user.username:
        return None
    extra = {str(k): tuple(str(v) for v in (vs or [])) for k, vs in (user.extra or {}).items()}
    return UserInfo(user.username, with_authenticated(user.groups or []), user.uid or "", extra)


class DelegatedAuthenticator:
    """An apiserver.auth.Authenticator: front proxy, then client certificate, then token."""

    def __init__(
        self, config: Callable[[], AuthenticationConfig | None], tokens: TokenReviewer
    ) -> None:
        self._config = config
        self._tokens = tokens

    async def __call__(self, request: web.Request) -> UserInfo | None:
        config = self._config() or NO_TRUST
        chain = peer_certificates(request)
        if chain:
            user = front_proxy_user(config, chain, request.headers) or client_certificate_user(
                config, chain
            )
            if user is not None:
                return user
        token = bearer_token(request.headers.get("Authorization"))
        if token:
            return await self._tokens.review(token)
        return None
