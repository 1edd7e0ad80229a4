"""What kube-apiserver would answer beside us, for `gitplane up` where there is none.

kubectl looks a namespace up after a 404 to word its error; with no cluster, every
valid namespace name is answered as an active Namespace (desired state may declare
objects in namespaces that no cluster has yet). Controllers list and watch the core
`namespaces` before they watch anything (kopf waits for the resource in discovery): a
read-only view of the namespaces Git knows is served, those holding objects and those
declared as Namespace objects.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from apiserver import codec
from kube import status
from kube.meta import dns1123_label_errors
from kube.watch import EventType, encode_event, parse_list_options
from store.aio import AsyncStore

CORE_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": [
        {
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": False,
            "kind": "Namespace",
            "verbs": ["get", "list", "watch"],
            "shortNames": ["ns"],
        }
    ],
}


def _namespace(name: str, resource_version: str = "") -> dict[str, object]:
    metadata: dict[str, object] = {"name": name}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


async def namespace(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if dns1123_label_errors(name):
        raise status.NotFound(status.GroupResource("", "namespaces"), name)
    return codec.respond(request, _namespace(name))


def known_namespaces(store: AsyncStore) -> list[str]:
    """The namespaces Git knows: those holding objects, and declared Namespace objects."""
    snapshot = store.head.snapshot
    found = set(snapshot.namespaces())
    found.update(
        entry.key.name
        for entry in snapshot.entries("")
        if entry.key.kind == "Namespace" and not entry.key.group
    )
    return sorted(found)


def namespace_routes(store: AsyncStore) -> list[web.RouteDef]:
    async def core(request: web.Request) -> web.Response:
        return codec.respond(request, CORE_RESOURCES)

    async def namespaces(request: web.Request) -> web.StreamResponse:
        options = parse_list_options(request.query)
        if options.watch:
            return await _watch(request, store, options.timeout_seconds)
        rv = store.head.resource_version
        body = {
            "apiVersion": "v1",
            "kind": "NamespaceList",
            "metadata": {"resourceVersion": rv},
            "items": [_namespace(n, rv) for n in known_namespaces(store)],
        }
        return codec.respond(request, body)

    return [
        web.get("/api/v1", core),
        web.get("/api/v1/", core),
        web.get("/api/v1/namespaces", namespaces),
    ]


async def _watch(
    request: web.Request, store: AsyncStore, seconds: int | None
) -> web.StreamResponse:
    """Every known namespace as ADDED, then ADDED and DELETED as the set changes."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    shown: set[str] = set()
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(seconds or None):
            while True:
                rv = store.head.resource_version
                now = set(known_namespaces(store))
                for name in sorted(now - shown):
                    await response.write(encode_event(EventType.ADDED, _namespace(name, rv)))
                for name in sorted(shown - now):
                    await response.write(encode_event(EventType.DELETED, _namespace(name, rv)))
                shown = now
                await store.wait_for_change(rv, within=30)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


def routes(store: AsyncStore | None = None) -> list[web.RouteDef]:
    found = [web.get("/api/v1/namespaces/{name}", namespace)]
    return [*namespace_routes(store), *found] if store is not None else found
