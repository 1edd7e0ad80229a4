"""Cluster mode: the API server behind kube-apiserver's aggregation layer.

kube-apiserver proxies `/apis/gitplane.io/v1alpha1/...` to us with the front-proxy client
certificate and the caller's identity in headers; we trust those headers only from that
certificate, accept client certificates and bearer tokens too, and ask kube-apiserver
(SubjectAccessReview) whether each request is allowed — see apiserver.delegated. The
server's own service account needs `system:auth-delegator` (TokenReview,
SubjectAccessReview) and `extension-apiserver-authentication-reader` in kube-system.

Nothing reaches kube-apiserver before the application starts: the client is made (in-cluster
service account, or a kubeconfig) and the authentication ConfigMap read on start-up, which
fails if the ConfigMap cannot be read within `startup_timeout`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from kubernetes_asyncio import client as kube_client
from kubernetes_asyncio import config as kube_config

from apiserver.delegated.authenticate import DelegatedAuthenticator, TokenReviewer
from apiserver.delegated.authentication_config import (
    AuthenticationConfig,
    AuthenticationConfigSource,
)
from apiserver.delegated.authorize import SubjectAccessReviewer
from apiserver.delegated.middleware import authorization_middleware
from apiserver.delegated.namespace_teardown import NamespaceTeardown
from apiserver.secrets.policy import ObjectTransformer
from apiserver.serving import default_validator, make_api_app
from apiserver.validation_hook import ObjectValidator
from store.aio import AsyncStore

log = logging.getLogger("gitplane.apiserver.cluster")


@dataclass(frozen=True)
class ClusterConfig:
    kubeconfig: str | None = None
    """None: the pod's service account (in-cluster configuration)."""
    validator: ObjectValidator | None = None
    """None: built-in kinds checked against Kubernetes' schemas (default_validator)."""
    token_cache_ttl: float = 10.0
    allow_cache_ttl: float = 10.0
    deny_cache_ttl: float = 10.0
    startup_timeout: float = 30.0
    bookmark_every: float = 15.0


class DelegatedAuth:
    """The parts that talk to kube-apiserver, sharing one kubernetes-asyncio client."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self._client: Any = None
        self.source = AuthenticationConfigSource(self.api_client)
        self.tokens = TokenReviewer(
            self.api_client,
            success_ttl=config.token_cache_ttl,
            failure_ttl=config.token_cache_ttl,
        )
        self.authenticator = DelegatedAuthenticator(lambda: self.source.current, self.tokens)
        self.authorizer = SubjectAccessReviewer(
            self.api_client, allow_ttl=config.allow_cache_ttl, deny_ttl=config.deny_cache_ttl
        )
        self._bundle_of: AuthenticationConfig | None = None
        self._bundle = b""

    def api_client(self) -> Any:
        if self._client is None:
            raise RuntimeError("the Kubernetes API client is made when the application starts")
        return self._client

    def client_ca_bundle(self) -> bytes:
        """Both CA bundles of the ConfigMap, for the TLS layer (see pki.tls)."""
        current = self.source.current
        if current is not self._bundle_of:
            self._bundle_of, self._bundle = current, current.trusted_pem() if current else b""
        return self._bundle

    async def start(self, _: web.Application) -> None:
        self._client = await kube_api_client(self.config.kubeconfig)
        self.source.start()
        if not await self.source.wait_loaded(self.config.startup_timeout):
            await self.close(_)
            raise RuntimeError(
                f"could not read {self.source.namespace}/{self.source.name} within"
                f" {self.config.startup_timeout:g}s: is the service account bound to"
                " extension-apiserver-authentication-reader?"
            )

    async def close(self, _: web.Application) -> None:
        await self.source.close()
        if self._client is not None:
            await self._client.close()
            self._client = None


DELEGATED_AUTH = web.AppKey("delegated_auth", DelegatedAuth)


async def kube_api_client(kubeconfig: str | None) -> Any:
    """A kubernetes-asyncio ApiClient from a kubeconfig, or from the pod's service account
    (whose token file is re-read as the kubelet rotates it)."""
    configuration = kube_client.Configuration()
    if kubeconfig:
        await kube_config.load_kube_config(
            config_file=kubeconfig, client_configuration=configuration
        )
    else:
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return kube_client.ApiClient(configuration)


def make_cluster_app(
    store: AsyncStore,
    config: ClusterConfig,
    *,
    transform: ObjectTransformer | None = None,
    hook_secret: bytes | None = None,
) -> web.Application:
    """The API server for the aggregation layer; serve it with a TLS context that asks for
    client certificates from app[DELEGATED_AUTH].client_ca_bundle (pki.tls)."""
    auth = DelegatedAuth(config)
    app = make_api_app(
        store,
        authenticate=auth.authenticator,
        authorize=authorization_middleware(auth.authorizer, NamespaceTeardown()),
        validator=config.validator or default_validator(),
        standalone=False,
        bookmark_every=config.bookmark_every,
        transform=transform,
        hook_secret=hook_secret,
    )
    app[DELEGATED_AUTH] = auth
    app.on_startup.append(auth.start)
    app.on_cleanup.append(auth.close)
    return app
