"""`POST /hooks/git`: a push event from GitHub, GitLab or Gitea makes the server fetch now.

The caller is the Git host, not a Kubernetes user: the shared secret is the credential
(HMAC-SHA256 signature for GitHub and Gitea, the token header for GitLab), compared in
constant time. Without a configured secret the route does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from aiohttp import web

from apiserver import codec
from kube import bodies, status
from store.aio import AsyncStore
from store.errors import Unavailable

MAX_EVENT_BYTES = 1024 * 1024
PATH = "/hooks/git"


def signed_by(secret: bytes, headers: Mapping[str, str], body: bytes) -> bool:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    github = headers.get("X-Hub-Signature-256", "")
    if github.startswith("sha256="):
        return hmac.compare_digest(github.removeprefix("sha256="), digest)
    gitea = headers.get("X-Gitea-Signature", "")
    if gitea:
        return hmac.compare_digest(gitea, digest)
    gitlab = headers.get("X-Gitlab-Token", "")
    return bool(gitlab) and hmac.compare_digest(gitlab.encode(), secret)


def routes(store: AsyncStore, secret: bytes) -> list[web.RouteDef]:
    async def push_event(request: web.Request) -> web.Response:
        body = await bodies.read_body(request, MAX_EVENT_BYTES)
        if not signed_by(secret, request.headers, body):
            raise status.Unauthorized("the push event is not signed with the configured secret")
        try:
            state = await store.sync()
        except Unavailable as exc:
            raise status.ServiceUnavailable(exc.message, retry_after_seconds=5) from None
        body_out = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "message": f"fetched; branch at {state.commit_id or 'nothing yet'}",
            "code": 200,
        }
        return codec.respond(request, body_out)

    return [web.post(PATH, push_event)]
