"""Authentication for standalone mode: a client certificate from gitplane's own CA.

The TLS handshake already refused certificates from other CAs; here the verified
certificate becomes a user (CN) with groups (O), as kube-apiserver's x509 authenticator
does. Requests without one are 401, except the health probes.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from apiserver.context import UserInfo
from kube import status
from pki.identity import client_identity

Authenticator = Callable[[web.Request], Awaitable[UserInfo | None]]
USER = web.RequestKey("user", UserInfo)
# Probes, and the Git host's push events (their shared-secret signature is the credential).
UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/hooks/git"})


async def client_certificate_user(request: web.Request) -> UserInfo | None:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    identity = client_identity(der)
    groups = tuple(dict.fromkeys([*identity.groups, "system:authenticated"]))
    return UserInfo(identity.user, groups)


def authentication_middleware(
    authenticate: Authenticator,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path not in UNAUTHENTICATED_PATHS:
            user = await authenticate(request)
            if user is None:
                raise status.Unauthorized()
            request[USER] = user
        return await handler(request)

    return middleware


def serving_context(cert_file: str, key_file: str, client_ca_file: str | None) -> ssl.SSLContext:
    """TLS 1.2+ with an optional client certificate checked against `client_ca_file`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
