"""Issue 17.6: request bodies are read whole, up to kube-apiserver's 3 MiB, over real TLS:
sent at once or slowly, with a Content-Length or chunked; past the limit they are 413, and
one that stops arriving is a 504. The same reader serves `/hooks/git` (and the webhook)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kube.serving import ServingLimits
from tests.apiserver.harness import Server, start_server
from tests.rawhttp import exchange, pieces, request_bytes

LIMIT = 3 * 1024 * 1024
COLLECTION = "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests"


def manifest(name: str, blob: str) -> dict[str, Any]:
    """A custom resource (no schema to fit) carrying `blob` in its spec."""
    return {
        "apiVersion": "gitplane.io/v1alpha1",
        "kind": "Manifest",
        "metadata": {"name": f"widget.{name}", "namespace": "shop"},
        "spec": {
            "object": {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"blob": blob},
            }
        },
    }


def body_of(name: str, size: int) -> bytes:
    """A Manifest body of exactly `size` bytes."""
    bare = json.dumps(manifest(name, "")).encode()
    return json.dumps(manifest(name, "x" * (size - len(bare)))).encode()


def stored_blob(api: Server, name: str) -> str:
    text = api.git("show", f"HEAD:shop/widget-{name}.yaml")
    blob: str = yaml.safe_load(text)["spec"]["blob"]
    return blob


OBJECT_LIMIT = 1_572_864  # etcd's: the largest object a cluster stores


def object_size(message: str) -> int:
    """The object's size as JSON, from the 413's message."""
    found = re.search(r"the object is (\d+) bytes", message)
    assert found, message
    return int(found[1])


async def test_kubectl_creates_an_object_as_large_as_a_cluster_stores(api: Server) -> None:
    body = body_of("big", OBJECT_LIMIT - 1024)
    result = await api.kubectl("create", "-f", "-", stdin=body.decode())
    assert result.code == 0, result.err
    assert stored_blob(api, "big") == json.loads(body)["spec"]["object"]["spec"]["blob"]
    larger = body_of("larger", LIMIT - 1024)  # a body within 3 MiB, too large to store
    result = await api.kubectl("create", "-f", "-", stdin=larger.decode())
    assert result.code != 0
    assert "bytes as JSON" in result.err and object_size(result.err) > len(larger) - 100


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    "size", [140_000, 1_000_000, OBJECT_LIMIT, LIMIT], ids=["140KB", "1MB", "1.5MiB", "3MiB"]
)
async def test_bodies_are_read_whole_however_they_are_framed(
    api: Server, size: int, chunked: bool
) -> None:
    body = body_of("whole", size)
    async with aiohttp.ClientSession() as session:
        data: bytes | AsyncIterator[bytes] = body
        if chunked:

            async def stream() -> AsyncIterator[bytes]:
                for piece in pieces(body, 40):
                    yield piece

            data = stream()
        async with session.post(
            api.url + COLLECTION,
            data=data,
            headers={"Content-Type": "application/json"},
            ssl=api.client_context(),
        ) as response:
            if size > OBJECT_LIMIT:  # read whole: the object's whole size is named
                assert response.status == 413
                message = (await response.json())["message"]
                assert object_size(message) > len(body) - 100  # every byte of it arrived
                return
            assert response.status == 201, await response.text()
    assert len(stored_blob(api, "whole")) == len(json.loads(body)["spec"]["object"]["spec"]["blob"])


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_slow_sender_is_read_to_the_end(api: Server, chunked: bool) -> None:
    body = body_of("slow", 400_000)
    head, wire = request_bytes(
        "POST", COLLECTION, body, {"Content-Type": "application/json"}, chunked=chunked
    )
    response = await exchange(api.port, api.client_context(), [head, *pieces(wire, 12)], pause=0.05)
    assert response.status == 201, response.body[:300]
    assert len(stored_blob(api, "slow")) == len(json.loads(body)["spec"]["object"]["spec"]["blob"])


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_3_mib_is_413(api: Server, chunked: bool) -> None:
    body = body_of("huge", LIMIT + 1)
    head, wire = request_bytes(
        "POST", COLLECTION, body, {"Content-Type": "application/json"}, chunked=chunked
    )
    response = await exchange(api.port, api.client_context(), [head, wire])
    assert response.status == 413
    assert response.json()["reason"] == "RequestEntityTooLarge"
    assert response.json()["message"] == f"Request entity too large: limit is {LIMIT}"
    assert api.git("log", "--all", "--oneline") == ""  # nothing committed


async def test_a_body_that_stops_arriving_is_a_504(tmp_path: Path) -> None:
    api, runner = await start_server(tmp_path, limits=ServingLimits(body_timeout=0.5))
    try:
        body = body_of("stuck", 1000)
        head, wire = request_bytes("POST", COLLECTION, body, {"Content-Type": "application/json"})
        response = await exchange(api.port, api.client_context(), [head, wire[:100]], within=5)
        assert response.status == 504
        assert response.json()["reason"] == "Timeout"
        assert response.json()["message"] == (
            "Timeout: request did not complete within requested timeout - context deadline exceeded"
        )
    finally:
        await runner.cleanup()


SECRET = b"hook secret"


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[Server]:
    api, runner = await start_server(tmp_path, hook_secret=SECRET)
    try:
        yield api
    finally:
        await runner.cleanup()


async def test_a_large_push_event_sent_slowly_is_read_whole(hooked: Server) -> None:
    event = json.dumps({"ref": "refs/heads/main", "commits": ["c" * 300_000]}).encode()
    signature = "sha256=" + hmac.new(SECRET, event, hashlib.sha256).hexdigest()
    for chunked in (False, True):
        head, wire = request_bytes(
            "POST", "/hooks/git", event, {"X-Hub-Signature-256": signature}, chunked=chunked
        )
        response = await exchange(
            hooked.port, hooked.client_context(""), [head, *pieces(wire, 8)], pause=0.05
        )
        assert response.status == 200, response.body  # the whole body, so the signature holds


async def test_a_push_event_over_its_limit_is_413_even_chunked(hooked: Server) -> None:
    event = b"x" * (1024 * 1024 + 1)
    head, wire = request_bytes("POST", "/hooks/git", event, chunked=True)
    response = await exchange(hooked.port, hooked.client_context(""), [head, wire])
    assert response.status == 413
    assert response.json()["reason"] == "RequestEntityTooLarge"


async def test_readers_of_a_slow_body_do_not_hold_up_others(api: Server) -> None:
    body = body_of("patient", 200_000)
    head, wire = request_bytes("POST", COLLECTION, body, {"Content-Type": "application/json"})
    slow = asyncio.create_task(
        exchange(api.port, api.client_context(), [head, *pieces(wire, 10)], pause=0.2)
    )
    listed = await api.ok("get", "manifests", "-n", "shop", "-o", "name")  # meanwhile
    assert listed.code == 0
    assert not slow.done()
    assert (await slow).status == 201
