"""Issue 17.10, the HTTP parts: the deprecated `/watch/...` paths OpenAPI lists are served;
every 405 says what is allowed; requests lines and headers get kube-apiserver's 1 MiB and a
Status past it (or for anything aiohttp cannot parse); connections that send nothing, or
half a request, are closed as kube-apiserver closes them; `/readyz?verbose` tells anyone
only check names and states."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kube.serving import ServingLimits
from tests.apiserver.harness import Server, start_server
from tests.apiserver.test_kubectl_manifests import CONFIGMAP
from tests.rawhttp import closed_within, exchange, request_bytes

BASE = "/apis/gitplane.io/v1alpha1"
CLUSTER_MANIFEST = """\
apiVersion: gitplane.io/v1alpha1
kind: ClusterManifest
metadata: {name: namespace.shop}
spec:
  object: {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
"""


async def get(
    api: Server, path: str, *, user: str = "gitplane-admin", method: str = "GET"
) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, api.url + path, ssl=api.client_context(user)) as response,
    ):
        return response.status, dict(response.headers), await response.text()


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


# ---- the deprecated watch paths --------------------------------------------------------


async def test_every_watch_path_openapi_lists_is_served(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    await api.ok("apply", "-f", "-", stdin=CLUSTER_MANIFEST)
    watch_paths: set[str] = set()
    for document in ("/openapi/v2", "/openapi/v3/apis/gitplane.io/v1alpha1"):
        _, _, text = await get(api, document)
        watch_paths |= {path for path in json.loads(text)["paths"] if "/watch/" in path}
    assert len(watch_paths) == 8  # manifests 3, clustermanifests 2, revisions 3
    names = {"manifests": "configmap.settings", "clustermanifests": "namespace.shop"}
    for template in watch_paths:
        plural = template.split("/watch/")[1].split("/")[-2 if "{name}" in template else -1]
        path = template.replace("{namespace}", "shop").replace("{name}", names.get(plural, "x"))
        result = await api.kubectl("get", "--raw", f"{path}?timeoutSeconds=1")
        assert result.code == 0, f"{path}: {result.err}"
        if plural in names:
            added = [e for e in events(result.out) if e["type"] == "ADDED"]
            assert [e["object"]["metadata"]["name"] for e in added] == [names[plural]], path


async def test_a_watch_of_one_object_sees_only_that_object(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("settings", "other"))
    path = f"{BASE}/watch/namespaces/shop/manifests/configmap.other?timeoutSeconds=1"
    result = await api.ok("get", "--raw", path)
    added = [e["object"]["metadata"]["name"] for e in events(result.out) if e["type"] == "ADDED"]
    assert added == ["configmap.other"]
    mismatch = await api.kubectl(
        "get", "--raw", path + "&fieldSelector=metadata.name%3Dconfigmap.settings"
    )
    assert "fieldSelector metadata.name doesn't match requested name" in mismatch.err


async def test_watch_paths_take_get_only(api: Server) -> None:
    code, headers, text = await get(api, f"{BASE}/watch/namespaces/shop/manifests", method="POST")
    assert (code, headers["Allow"], json.loads(text)["reason"]) == (405, "GET", "MethodNotAllowed")


# ---- 405 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", f"{BASE}/namespaces/shop/revisions", "GET"),
        ("POST", f"{BASE}/namespaces/shop/revisions", "GET"),
        ("PUT", f"{BASE}/namespaces/shop/manifests", "GET, POST"),
        ("POST", f"{BASE}/namespaces/shop/manifests/x", "GET, PUT, PATCH, DELETE"),
        ("GET", f"{BASE}/namespaces/shop/changesets", "POST"),
        ("POST", f"{BASE}/manifests", "GET"),
        ("POST", "/apis", "GET, HEAD"),
        ("DELETE", "/openapi/v2", "GET, HEAD"),
    ],
)
async def test_every_405_carries_allow(api: Server, method: str, path: str, allow: str) -> None:
    code, headers, text = await get(api, path, method=method)
    assert code == 405
    assert headers.get("Allow") == allow
    assert json.loads(text)["reason"] == "MethodNotAllowed"


# ---- request line and headers --------------------------------------------------------------


def selector_of(length: int) -> str:
    values = ",".join(f"v{i:06d}" for i in range(length // 8))
    return f"app in (web,{values})"


@pytest.mark.parametrize("length", [9_000, 120_000], ids=["9KB", "120KB"])
async def test_kubectl_sends_queries_far_over_8_kb(api: Server, length: int) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    listed = await api.kubectl(
        "get", "manifests", "-n", "shop", "-o", "name", "-l", selector_of(length)
    )
    assert listed.code == 0, listed.err[:300]
    assert listed.out.split() == ["manifest.gitplane.io/configmap.settings"]


async def test_a_query_of_almost_1_mib_is_served(api: Server) -> None:
    query = "labelSelector=" + selector_of(1000 * 1024).replace(" ", "+")  # past argv's limit
    head, _ = request_bytes("GET", f"{BASE}/namespaces/shop/manifests?{query}")
    answer = await exchange(api.port, api.client_context(), [head])
    assert answer.status == 200, answer.body[:300]
    assert answer.json()["kind"] == "ManifestList"


async def test_a_request_line_over_1_mib_is_a_431_status(api: Server) -> None:
    query = "labelSelector=" + "a" * (1024 * 1024 + 8192)
    head, _ = request_bytes("GET", f"{BASE}/namespaces/shop/manifests?{query}")
    answer = await exchange(api.port, api.client_context(), [head])
    assert answer.status == 431
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["kind"] == "Status"
    assert answer.json()["message"] == "Request header fields too large: limit is 1048576"


async def test_headers_over_1_mib_in_all_are_a_431_status(api: Server) -> None:
    headers = {f"X-Filler-{i}": "f" * 8000 for i in range(140)}  # each fine, 1.1 MB in all
    head, _ = request_bytes("GET", f"{BASE}/namespaces/shop/manifests", headers=headers)
    answer = await exchange(api.port, api.client_context(), [head])
    assert answer.status == 431
    assert answer.json()["reason"] == "RequestHeaderFieldsTooLarge"


async def test_many_headers_under_1_mib_are_fine(api: Server) -> None:
    groups = {f"X-Filler-{i}": "g" for i in range(500)}  # aiohttp alone allows 128
    head, _ = request_bytes("GET", f"{BASE}/namespaces/shop/manifests", headers=groups)
    answer = await exchange(api.port, api.client_context(), [head])
    assert answer.status == 200, answer.body


async def test_what_is_not_http_is_a_400_status_logged_without_a_traceback(
    api: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await exchange(api.port, api.client_context(), [b"GET /\x00 bad\r\n\r\n"])
    assert answer.status == 400
    assert answer.json()["reason"] == "BadRequest"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# ---- connection timeouts -----------------------------------------------------------------


@pytest.fixture
async def quick(tmp_path: Path) -> AsyncIterator[Server]:
    limits = ServingLimits(read_header_timeout=0.5, idle_timeout=2.0)
    api, runner = await start_server(tmp_path, limits=limits)
    try:
        yield api
    finally:
        await runner.cleanup()


async def test_a_connection_that_sends_nothing_is_closed(quick: Server) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", quick.port, ssl=quick.client_context()
    )
    try:
        assert await closed_within(reader, 5)
    finally:
        writer.close()


async def test_a_connection_that_sends_half_a_request_is_closed(quick: Server) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", quick.port, ssl=quick.client_context()
    )
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()
        assert await closed_within(reader, 5)
    finally:
        writer.close()


async def test_a_kept_alive_connection_waits_for_its_next_request_then_is_closed(
    quick: Server,
) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", quick.port, ssl=quick.client_context()
    )
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        for _ in range(2):  # idle past the header timeout, still served
            writer.write(request)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(b"ok"), 5)
            assert answer.startswith(b"HTTP/1.1 200")
            assert not await closed_within(reader, 1.0)
        assert await closed_within(reader, 5)  # the idle timeout
    finally:
        writer.close()


# ---- /readyz --------------------------------------------------------------------------------


async def test_readyz_tells_anyone_check_names_and_states_only(api: Server) -> None:
    await api.ok("apply", "-f", "-", stdin=CONFIGMAP)
    commit = api.git("rev-parse", "HEAD").strip()
    for user in ("", "gitplane-admin"):  # no client certificate, and the admin's
        code, _, text = await get(api, "/readyz?verbose", user=user)
        assert (code, text) == (200, "[+]store ok\nreadyz check passed\n")
        assert commit[:7] not in text
        assert (await get(api, "/readyz", user=user))[0::2] == (200, "ok")
