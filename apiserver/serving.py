"""The API server as one aiohttp application: resources, discovery, OpenAPI."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from apiserver import hooks
from apiserver.app import make_app
from apiserver.auth import Authenticator
from apiserver.discovery_routes import discovery_routes, openapi_routes
from apiserver.resources import info
from apiserver.secrets.policy import ObjectTransformer
from apiserver.standalone import routes as standalone_routes
from apiserver.validation import object_validator
from apiserver.validation_hook import ObjectValidator
from store.aio import AsyncStore


def default_validator() -> ObjectValidator:
    """Built-in kinds checked against Kubernetes' own schemas (kubernetes-validate)."""
    return object_validator("Strict")


def make_api_app(
    store: AsyncStore,
    *,
    authenticate: Authenticator,
    validator: ObjectValidator | None = None,
    standalone: bool = True,
    bookmark_every: float = 15.0,
    hook_secret: bytes | None = None,
    transform: ObjectTransformer | None = None,
    authorize: Middleware | None = None,
) -> web.Application:
    """`standalone`: no kube-apiserver in front, so answer the few core lookups kubectl makes.
    `authorize`: a middleware run after authentication (cluster mode, see apiserver.cluster)."""
    routes = [*discovery_routes(info.ALL, core=standalone), *openapi_routes(info.ALL)]
    if standalone:
        routes.extend(standalone_routes(store))
    if hook_secret:
        routes.extend(hooks.routes(store, hook_secret))
    return make_app(
        store,
        authenticate=authenticate,
        validator=validator,
        extra_routes=routes,
        bookmark_every=bookmark_every,
        transform=transform,
        authorize=authorize,
    )
