"""What kube-apiserver would answer beside us, for `gitplane up` where there is none.

kubectl looks a namespace up after a 404 to word its error; with no cluster, every
valid namespace name is answered as an active Namespace (desired state may declare
objects in namespaces that no cluster has yet).
"""

from __future__ import annotations

from aiohttp import web

from apiserver import codec
from kube import status
from kube.meta import dns1123_label_errors


async def namespace(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if dns1123_label_errors(name):
        raise status.NotFound(status.GroupResource("", "namespaces"), name)
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name},
        "status": {"phase": "Active"},
    }
    return codec.respond(request, body)


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/namespaces/{name}", namespace)]
