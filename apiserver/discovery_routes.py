"""aiohttp routes serving the discovery and OpenAPI documents, each rendered once at start-up.

Every document carries an ETag; a matching If-None-Match gets 304, which is how client-go
and the aggregator revalidate. `/apis` and `/api` answer aggregated discovery (v2 or
v2beta1, with the exact Content-Type client-go checks) when the Accept asks for it, legacy
otherwise: legacy is always acceptable (the aggregator falls back to it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from functools import cached_property
from importlib import metadata
from typing import Final

from aiohttp import web

from apiserver import discovery, openapi, openapi_proto
from apiserver.etag import body_hash, etag, etag_matches
from apiserver.resources.info import GROUP, GROUP_VERSION, ResourceInfo
from kube.negotiation import (
    DISCOVERY_VERSIONS,
    JSON,
    aggregated_discovery_content_type,
    aggregated_discovery_version,
    parse_accept,
)
from kube.status import NotAcceptable


def _gitplane_version() -> str:
    try:
        return metadata.version("gitplane")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0.0.0"


GITPLANE_VERSION: Final = _gitplane_version()

_ONE_YEAR: Final = 365 * 24 * 3600


@dataclass(frozen=True)
class Document:
    """A rendered body with its ETag and Content-Type."""

    body: bytes
    content_type: str = JSON

    @cached_property
    def etag(self) -> str:  # computed once: bodies never change while serving
        return etag(self.body)

    def response(
        self, request: web.Request, cache_control: str = "no-cache, private"
    ) -> web.Response:
        tag = self.etag
        headers = {"ETag": tag, "Vary": "Accept", "Cache-Control": cache_control}
        if etag_matches(request.headers.get("If-None-Match"), tag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.body, headers={**headers, "Content-Type": self.content_type})


def _status_response(error: NotAcceptable) -> web.Response:
    body = json.dumps(error.status(), separators=(",", ":")).encode()
    return web.Response(body=body, status=error.code, headers={"Content-Type": JSON})


# --- discovery ------------------------------------------------------------------------------


def discovery_routes(
    infos: Sequence[ResourceInfo],
    *,
    aggregated: bool = True,
    version: discovery.JSONObject | None = None,
    core: bool = False,
) -> list[web.RouteDef]:
    """GET routes for `/api`, `/apis`, `/apis/<group>`, `/apis/<group>/<version>`, `/version`.

    `aggregated=False` serves legacy discovery only (as an older aggregated server would);
    `core`: `/api` lists v1 (standalone, apiserver.standalone serves its namespaces)."""
    legacy_root = Document(discovery.encode(discovery.api_group_list()))
    legacy_core = Document(discovery.encode(discovery.api_versions(core=core)))
    by_version = {
        v: (
            Document(
                discovery.encode(discovery.aggregated_discovery(infos, v)),
                aggregated_discovery_content_type(v),
            ),
            Document(
                discovery.encode(discovery.empty_aggregated_discovery(v)),
                aggregated_discovery_content_type(v),
            ),
        )
        for v in DISCOVERY_VERSIONS
    }
    group = Document(discovery.encode(discovery.api_group()))
    resources = Document(discovery.encode(discovery.api_resource_list(infos)))
    fixed_version = Document(discovery.encode(version)) if version is not None else None
    versions: dict[str, Document] = {}  # per client release (discovery.version_for_client)

    def aggregated_version(request: web.Request) -> str | None:
        return aggregated_discovery_version(request.headers.get("Accept")) if aggregated else None

    async def apis(request: web.Request) -> web.Response:
        chosen = aggregated_version(request)
        return (by_version[chosen][0] if chosen else legacy_root).response(request, "public")

    async def api(request: web.Request) -> web.Response:
        chosen = aggregated_version(request)
        return (by_version[chosen][1] if chosen else legacy_core).response(request, "public")

    async def api_group(request: web.Request) -> web.Response:
        return group.response(request)

    async def api_resources(request: web.Request) -> web.Response:
        return resources.response(request)

    async def server_version(request: web.Request) -> web.Response:
        if fixed_version is not None:
            return fixed_version.response(request)
        info = discovery.version_for_client(request.headers.get("User-Agent"), GITPLANE_VERSION)
        document = versions.get(info["gitVersion"])
        if document is None:
            document = versions.setdefault(info["gitVersion"], Document(discovery.encode(info)))
        return document.response(request)

    # kube-apiserver answers these with a trailing slash too (kr8s asks for `/version/`).
    served = {
        "/api": api,
        "/apis": apis,
        f"/apis/{GROUP}": api_group,
        f"/apis/{GROUP_VERSION}": api_resources,
        "/version": server_version,
    }
    return [web.get(p, h) for path, h in served.items() for p in (path, f"{path}/")]


# --- OpenAPI --------------------------------------------------------------------------------


def _negotiate(accept: str | None, offers: Sequence[tuple[str, Document]]) -> Document | None:
    """kube-openapi's choice: the first Accept clause (best first) that matches an offer, and
    for it the first matching offer (so `*/*`, or no Accept, is the first one); None: 406."""
    for clause in parse_accept(accept or "*/*"):
        for media_type, document in offers:
            kind, _, subtype = media_type.partition("/")
            if clause.type in (kind, "*") and clause.subtype in (subtype, "*"):
                return document
    return None


def _accepts_json(accept: str | None) -> bool:
    return _negotiate(accept, [(JSON, Document(b""))]) is not None


def openapi_routes(infos: Sequence[ResourceInfo]) -> list[web.RouteDef]:
    """GET routes for `/openapi/v2`, `/openapi/v3` and `/openapi/v3/apis/<group>/<version>`.

    v2 is JSON, or gnostic's protobuf `Document` when asked for (all client-go ever asks for:
    kubectl validates on the client side with it, and `explain --output plaintext-openapiv2`
    reads it); v3 is JSON only."""
    v2_document = openapi.openapi_v2(infos)
    v2 = Document(openapi.encode(v2_document))
    v2_proto = Document(openapi_proto.encode_document(v2_document), openapi_proto.CONTENT_TYPE)
    v2_offers = [(JSON, v2), *((t, v2_proto) for t in openapi_proto.ACCEPTED_MEDIA_TYPES)]
    v2_types = NotAcceptable.for_media_types([JSON, *openapi_proto.ACCEPTED_MEDIA_TYPES])
    v3 = Document(openapi.encode(openapi.openapi_v3(infos)))
    v3_hash = body_hash(v3.body)
    index = Document(openapi.encode(openapi.openapi_v3_index(v3_hash)))
    json_only = NotAcceptable.for_media_types([JSON])

    async def openapi_v2(request: web.Request) -> web.Response:
        chosen = _negotiate(request.headers.get("Accept"), v2_offers)
        if chosen is None:
            return _status_response(v2_types)
        return chosen.response(request)

    async def openapi_v3_index(request: web.Request) -> web.Response:
        if not _accepts_json(request.headers.get("Accept")):
            return _status_response(json_only)
        return index.response(request)

    async def openapi_v3_group_version(request: web.Request) -> web.StreamResponse:
        if not _accepts_json(request.headers.get("Accept")):
            return _status_response(json_only)
        asked = request.query.get("hash")
        if asked is None:
            return v3.response(request)
        if asked != v3_hash:
            # A stale pinned URL is sent to the current one, as kube-openapi does.
            location = f"/openapi/v3/{openapi.V3_GROUP_VERSION_PATH}?hash={v3_hash}"
            raise web.HTTPMovedPermanently(location)
        response = v3.response(request, "public, immutable")
        response.headers["Expires"] = _expires_in(_ONE_YEAR)
        return response

    return [
        web.get("/openapi/v2", openapi_v2),
        web.get("/openapi/v3", openapi_v3_index),
        web.get(f"/openapi/v3/{openapi.V3_GROUP_VERSION_PATH}", openapi_v3_group_version),
    ]


def _expires_in(seconds: int) -> str:
    return formatdate(time.time() + seconds, usegmt=True)
