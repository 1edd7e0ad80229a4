"""A test double of the few kube-apiserver endpoints cluster mode calls, over real HTTPS.

Bodies have the shapes kube-apiserver sends (lists without per-item kind, watch events as
newline-delimited JSON, Status errors, `status.user` of an unauthenticated TokenReview as
`{}`); requests must carry the service account's bearer token, as in a pod. Every call is
counted so tests can tell what a cache saved.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from pki.authority import CertificateAuthority, create_authority
from pki.issue import issue_serving_certificate

CONFIG_MAP = "extension-apiserver-authentication"
CONFIG_MAPS = "/api/v1/namespaces/kube-system/configmaps"
CREATED = "2025-01-01T00:00:00Z"

Policy = Callable[[dict[str, Any]], tuple[bool, str]]


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def allow_all(spec: dict[str, Any]) -> tuple[bool, str]:
    return True, ""


@dataclass
class KubeDouble:
    service_account_token: str = "gitplane-service-account-token"
    config_map_data: dict[str, str] | None = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy: Policy = allow_all
    sar_failure: int | None = None  # answer SubjectAccessReviews with this HTTP code
    calls: Counter[str] = field(default_factory=Counter)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    token_reviews: list[dict[str, Any]] = field(default_factory=list)
    ca: CertificateAuthority = field(default_factory=lambda: create_authority("kubernetes"))
    _versions: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    _watches: set[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.resource_version = str(next(self._versions))
        self.compacted = 0  # watches from a version at or below this get 410 Expired

    # ---- what tests do -------------------------------------------------------------------

    def update_config_map(self, data: dict[str, str]) -> str:
        """Change the ConfigMap as kube-apiserver's controller would; watchers see MODIFIED."""
        event = "MODIFIED" if self.config_map_data is not None else "ADDED"
        self.config_map_data = dict(data)
        self.resource_version = str(next(self._versions))
        self._broadcast({"type": event, "object": self._config_map(with_kind=True)})
        return self.resource_version

    def expire_watches(self) -> None:
        """Compact history: open watches get ERROR 410, and so does a watch from before."""
        self.compacted = int(self.resource_version)
        self.resource_version = str(next(self._versions))
        self._broadcast(
            {
                "type": "ERROR",
                "object": status_body(
                    410, "Expired", f"too old resource version: {self.compacted} (unknown)"
                ),
            }
        )

    def open_watches(self) -> int:
        return len(self._watches)

    # ---- the server ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
        app.add_routes(
            [
                web.get(CONFIG_MAPS, self._config_maps),
                web.get(f"{CONFIG_MAPS}/{{name}}", self._get_config_map),
                web.post("/apis/authentication.k8s.io/v1/tokenreviews", self._token_review),
                web.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", self._access_review),
            ]
        )
        return app

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.service_account_token}":
            return web.json_response(status_body(401, "Unauthorized", "Unauthorized"), status=401)
        response: web.StreamResponse = await handler(request)
        return response

    def _config_map(self, *, with_kind: bool) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "metadata": {
                "name": CONFIG_MAP,
                "namespace": "kube-system",
                "uid": "6c6f1f5e-0000-4000-8000-000000000001",
                "resourceVersion": self.resource_version,
                "creationTimestamp": CREATED,
            },
            "data": dict(self.config_map_data or {}),
        }
        return {"kind": "ConfigMap", "apiVersion": "v1", **obj} if with_kind else obj

    async def _get_config_map(self, request: web.Request) -> web.Response:
        self.calls["configmaps.get"] += 1
        if request.match_info["name"] != CONFIG_MAP or self.config_map_data is None:
            return web.json_response(
                status_body(
                    404, "NotFound", f'configmaps "{request.match_info["name"]}" not found'
                ),
                status=404,
            )
        return web.json_response(self._config_map(with_kind=True))

    async def _config_maps(self, request: web.Request) -> web.StreamResponse:
        selector = request.query.get("fieldSelector", "")
        if selector != f"metadata.name={CONFIG_MAP}":
            return web.json_response(
                status_body(400, "BadRequest", f"unexpected fieldSelector {selector!r}"),
                status=400,
            )
        if request.query.get("watch", "false").lower() not in ("false", "0"):
            return await self._watch(request)
        self.calls["configmaps.list"] += 1
        items = [self._config_map(with_kind=False)] if self.config_map_data is not None else []
        return web.json_response(
            {
                "kind": "ConfigMapList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": self.resource_version},
                "items": items,
            }
        )

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        self.calls["configmaps.watch"] += 1
        since = int(request.query.get("resourceVersion") or 0)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        if since and since <= self.compacted:
            await queue.put(
                {
                    "type": "ERROR",
                    "object": status_body(
                        410, "Expired", f"too old resource version: {since} ({self.compacted})"
                    ),
                }
            )
        elif since < int(self.resource_version) and self.config_map_data is not None:
            await queue.put({"type": "MODIFIED", "object": self._config_map(with_kind=True)})
        self._watches.add(queue)
        timeout = float(request.query.get("timeoutSeconds") or 300)
        try:
            async with asyncio.timeout(timeout):
                while (event := await queue.get()) is not None:
                    await response.write(json.dumps(event).encode() + b"\n")
                    if event["type"] == "ERROR":
                        break
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self._watches.discard(queue)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    def _broadcast(self, event: dict[str, Any]) -> None:
        for queue in list(self._watches):
            queue.put_nowait(event)

    def close_watches(self) -> None:
        for queue in list(self._watches):
            queue.put_nowait(None)

    async def _token_review(self, request: web.Request) -> web.Response:
        self.calls["tokenreviews"] += 1
        body = await request.json()
        if body.get("kind") != "TokenReview" or body.get("apiVersion") != (
            "authentication.k8s.io/v1"
        ):
            return web.json_response(
                status_body(400, "BadRequest", "not a TokenReview"), status=400
            )
        spec = body.get("spec") or {}
        self.token_reviews.append(spec)
        user = self.tokens.get(spec.get("token", ""))
        result: dict[str, Any]
        if user is None:
            result = {"user": {}, "error": "[invalid bearer token, token lookup failed]"}
        else:
            result = {
                "authenticated": True,
                "user": user,
                "audiences": ["https://kubernetes.default.svc.cluster.local"],
            }
        return web.json_response(
            {
                "kind": "TokenReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": result,
            },
            status=201,
        )

    async def _access_review(self, request: web.Request) -> web.Response:
        self.calls["subjectaccessreviews"] += 1
        if self.sar_failure is not None:
            return web.json_response(
                status_body(self.sar_failure, "InternalError", "etcd is on fire"),
                status=self.sar_failure,
            )
        body = await request.json()
        spec = body.get("spec") or {}
        kinds = [k for k in ("resourceAttributes", "nonResourceAttributes") if k in spec]
        if (
            body.get("kind") != "SubjectAccessReview"
            or body.get("apiVersion") != "authorization.k8s.io/v1"
            or len(kinds) != 1
            or not (spec.get("user") or spec.get("groups"))
        ):
            message = "spec: Invalid value: one of resourceAttributes, nonResourceAttributes"
            return web.json_response(status_body(422, "Invalid", message), status=422)
        self.reviews.append(spec)
        allowed, reason = self.policy(spec)
        result: dict[str, Any] = {"allowed": allowed}
        if reason:
            result["reason"] = reason
        return web.json_response(
            {
                "kind": "SubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": result,
            },
            status=201,
        )

    # ---- serving -----------------------------------------------------------------------------

    async def serve(self, directory: Path) -> tuple[web.AppRunner, str]:
        serving = issue_serving_certificate(self.ca, ["127.0.0.1"])
        serving.save(directory / "kube.crt", directory / "kube.key")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "kube.crt", directory / "kube.key")
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return runner, f"https://127.0.0.1:{port}"

    def kubeconfig(self, server: str, path: Path) -> Path:
        """What the server would use instead of its pod's service account."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "double",
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(self.ca.cert_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "gitplane", "user": {"token": self.service_account_token}}],
            "contexts": [{"name": "double", "context": {"cluster": "double", "user": "gitplane"}}],
            "current-context": "double",
        }
        path.write_text(yaml.safe_dump(config))
        return path
