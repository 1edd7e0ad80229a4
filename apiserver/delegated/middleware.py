"""The cluster-mode request filter that runs after authentication.

kube-apiserver's handler chain, for the part an aggregated server does itself:
authentication (apiserver.auth's middleware, given the DelegatedAuthenticator: 401), then
authorization (SubjectAccessReview: 403 with kube-apiserver's wording), then the namespace
teardown rule. The health probes skip all of it, as upstream's always-allow paths.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from apiserver.auth import UNAUTHENTICATED_PATHS, USER
from apiserver.delegated.authorize import SubjectAccessReviewer, forbidden, request_attributes
from apiserver.delegated.namespace_teardown import NamespaceTeardown
from kube import status


def authorization_middleware(
    authorizer: SubjectAccessReviewer, teardown: NamespaceTeardown | None = None
) -> Middleware:
    teardown = teardown or NamespaceTeardown()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNAUTHENTICATED_PATHS:
            return await handler(request)
        user = request.get(USER)
        if user is None:  # authentication runs first; never authorize nobody
            raise status.Unauthorized()
        attributes = request_attributes(request.method, request.path, request.query)
        decision = await authorizer.authorize(user, attributes)
        if not decision.allowed:
            raise forbidden(user, attributes, decision.reason)
        return await teardown.handle(request, user, attributes, handler)

    return middleware
