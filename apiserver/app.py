"""Wiring only: strategies per resource, middlewares, routes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from apiserver import codec, metrics
from apiserver.auth import Authenticator, authentication_middleware
from apiserver.handlers import ResourceHandlers
from apiserver.resources import info
from apiserver.resources.base import Strategy
from apiserver.resources.changesets import ChangeSetStrategy
from apiserver.resources.history import OperationStrategy, RevisionStrategy
from apiserver.resources.manifests import ManifestStrategy
from apiserver.resources.sources import SourceStrategy
from apiserver.secrets.policy import ObjectTransformer, SecretPolicy, secret_safe
from apiserver.validation_hook import ObjectValidator
from kube import status
from store.aio import AsyncStore
from store.bookkeeping import bookkeeping_for

log = logging.getLogger(__name__)
STORE_KEY = web.AppKey("store", AsyncStore)


def build_strategies(
    store: AsyncStore,
    validator: ObjectValidator | None = None,
    *,
    bookmark_every: float = 15.0,
    transform: ObjectTransformer | None = None,
) -> dict[str, Strategy]:
    """The plain map from resource name to its storage, as the Kubernetes registry does it.

    `transform` defaults to the Secret policy without sealing: plain Secrets are refused."""
    validator = secret_safe(validator) if validator is not None else None
    transform = transform or SecretPolicy()
    return {
        info.MANIFESTS.plural: ManifestStrategy(
            store,
            info.MANIFESTS,
            cluster=False,
            validator=validator,
            bookmark_every=bookmark_every,
            transform=transform,
        ),
        info.CLUSTER_MANIFESTS.plural: ManifestStrategy(
            store,
            info.CLUSTER_MANIFESTS,
            cluster=True,
            validator=validator,
            bookmark_every=bookmark_every,
            transform=transform,
        ),
        info.REVISIONS.plural: RevisionStrategy(
            store, info.REVISIONS, bookmark_every=bookmark_every
        ),
        info.REVERTS.plural: OperationStrategy(store, info.REVERTS),
        info.ROLLBACKS.plural: OperationStrategy(store, info.ROLLBACKS),
        info.CHANGESETS.plural: ChangeSetStrategy(store, info.CHANGESETS, validator, transform),
        info.SOURCES.plural: SourceStrategy(store, info.SOURCES),
    }


def make_app(
    store: AsyncStore,
    *,
    authenticate: Authenticator,
    validator: ObjectValidator | None = None,
    extra_routes: list[web.RouteDef] | None = None,
    bookmark_every: float = 15.0,
    transform: ObjectTransformer | None = None,
    authorize: Middleware | None = None,
) -> web.Application:
    """`authorize`: a middleware run after authentication (cluster mode: SubjectAccessReview)."""
    if store.bookkeeping is None:
        store.keep_bookkeeping(bookkeeping_for(store.store))
    handlers = ResourceHandlers(
        build_strategies(store, validator, bookmark_every=bookmark_every, transform=transform)
    )
    middlewares: list[Middleware] = [
        status_middleware(handlers.allowed_methods),
        authentication_middleware(authenticate),
    ]
    if authorize is not None:
        middlewares.append(authorize)
    app = web.Application(middlewares=middlewares, client_max_size=codec.MAX_BODY_BYTES + 1024)
    app[STORE_KEY] = store
    app.add_routes([web.get(path, _ok) for path in ("/healthz", "/livez")])
    app.add_routes(metrics.routes(store))
    app.add_routes(extra_routes or [])
    app.add_routes(handlers.routes())

    async def start_store(_: web.Application) -> None:
        await store.start()

    async def stop_store(_: web.Application) -> None:
        await store.close()

    async def end_watches(_: web.Application) -> None:
        await handlers.close_watches()

    app.on_startup.append(start_store)
    app.on_shutdown.append(end_watches)
    app.on_cleanup.append(stop_store)
    return app


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


AllowedMethods = Callable[[web.Request], "tuple[str, ...] | None"]


def status_middleware(allowed_methods: AllowedMethods = lambda _: None) -> Middleware:
    """Every failure leaves as a Kubernetes Status; a bug is a 500, logged, never a traceback.

    Every 405 leaves here too, so here it gets its Allow header: the raiser's, else the
    methods of the resource path matched (`allowed_methods`), else the route's."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except status.ApiError as exc:
            return _error_response(request, exc, allowed_methods)
        except web.HTTPNotFound:
            missing = status.NotFound(status.GroupResource("", ""), "")
            body = {
                **missing.status(),
                "message": "the server could not find the requested resource",
            }
            return codec.respond(request, body, code=404)
        except web.HTTPMethodNotAllowed as exc:
            error = status.MethodNotAllowed.for_route(sorted(exc.allowed_methods))
            return _error_response(request, error, allowed_methods)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise  # a redirect
            return codec.respond(request, _generic_error(exc), code=exc.status)
        except Exception as exc:
            log.exception("internal error serving %s %s", request.method, request.path)
            failed = status.InternalError(
                f"an internal error occurred ({type(exc).__name__}); see the server log"
            )
            return codec.respond(request, failed.status(), code=500)

    return middleware


def _error_response(
    request: web.Request, error: status.ApiError, allowed_methods: AllowedMethods
) -> web.Response:
    headers = error.headers()
    if error.code == 405 and "Allow" not in headers:
        allowed = allowed_methods(request) or ()
        headers["Allow"] = ", ".join(m for m in allowed if m != request.method)
    response = codec.respond(request, error.status(), code=error.code)
    response.headers.update(headers)
    return response


def _generic_error(exc: web.HTTPException) -> status.JSONObject:
    """An aiohttp HTTPException as a Status: NewGenericServerResponse's reasons for the
    codes it names, BadRequest or InternalError for the others."""
    text = exc.text or exc.reason
    error: status.ApiError
    if exc.status == 413:
        error = status.RequestEntityTooLarge(text)
    elif exc.status >= 500:
        error = status.InternalError(text)
    else:
        error = status.BadRequest(text)
    return {**error.status(), "code": exc.status}
