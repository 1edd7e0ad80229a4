"""Issue 17.9: every body that cannot be decoded is a 400 Status, never a 500 and never a
traceback in the log: nesting past 200 levels (JSON, YAML flow and block, YAML aliases),
numbers no 64-bit float holds, YAML values JSON cannot hold. A patch cannot build what a
body may not be. Objects as deep as real ones (and deeper) still work on every path."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest

from tests.apiserver.harness import Server

COLLECTION = "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests"
JSON = "application/json"
YAML = "application/yaml"


def nested(levels: int) -> Any:
    """Arrays and objects alternating, `levels` deep."""
    value: Any = "leaf"
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


def nested_text(levels: int) -> str:
    """nested(levels) as JSON text, written without recursing (json.dumps cannot)."""
    opening = ['{"k":' if level % 2 else "[" for level in range(levels)]
    closing = ["}" if level % 2 else "]" for level in range(levels)]
    return "".join(reversed(opening)) + '"leaf"' + "".join(closing)


def with_spec(name: str, spec_text: str) -> str:
    """A Manifest whose object's spec is `spec_text`, as JSON text."""
    return json.dumps(manifest(name, "SPEC")).replace('"SPEC"', spec_text)


def manifest(name: str, spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gitplane.io/v1alpha1",
        "kind": "Manifest",
        "metadata": {"name": f"widget.{name}", "namespace": "shop"},
        "spec": {
            "object": {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": spec,
            }
        },
    }


WRAPPER = 4  # levels of the Manifest around its object's spec


def yaml_manifest(name: str, spec_text: str) -> str:
    return (
        "apiVersion: gitplane.io/v1alpha1\nkind: Manifest\n"
        f"metadata: {{name: widget.{name}, namespace: shop}}\n"
        "spec:\n  object:\n    apiVersion: example.com/v1\n    kind: Widget\n"
        f"    metadata: {{name: {name}, namespace: shop}}\n    spec: {spec_text}\n"
    )


def flow(levels: int) -> str:
    return "[" * levels + "]" * levels


BAD_BODIES = {
    "json 1000 deep": (JSON, with_spec("a", nested_text(1000))),
    "json 100000 deep": (JSON, '{"a":' * 100_000 + "1" + "}" * 100_000),
    "json 250 deep": (JSON, with_spec("b", nested_text(250))),
    "json int of 5000 digits": (JSON, with_spec("c", "1" * 5000)),
    "json int past float64": (JSON, with_spec("d", "9" * 309)),
    "yaml flow 999 deep": (YAML, yaml_manifest("e", flow(999))),
    "yaml block 900 deep": (YAML, yaml_manifest("f", "\n" + " " * 6 + "- " * 900 + "x")),
    "yaml aliases nest deeper than the text": (
        YAML,
        yaml_manifest("g", "{a: &a " + flow(150) + ", b: " + "[" * 100 + "*a" + "]" * 100 + "}"),
    ),
    "yaml hex int of 4000 digits": (YAML, yaml_manifest("h", "{n: 0x" + "f" * 4000 + "}")),
    "yaml int of 5000 digits": (YAML, yaml_manifest("i", "{n: " + "1" * 5000 + "}")),
    "yaml set": (YAML, yaml_manifest("j", "{s: !!set {x: null}}")),
    "yaml binary": (YAML, yaml_manifest("k", "{b: !!binary aGVsbG8=}")),
}


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    caplog.set_level(logging.DEBUG)
    return caplog.records


def assert_no_traceback(records: list[logging.LogRecord]) -> None:
    failed = [r for r in records if r.exc_info or r.levelno >= logging.ERROR]
    assert not failed, [r.getMessage() for r in failed]


async def send(
    api: Server, method: str, path: str, body: str, content_type: str
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            api.url + path,
            data=body.encode(),
            headers={"Content-Type": content_type},
            ssl=api.client_context(),
        ) as response,
    ):
        return response.status, json.loads(await response.text())


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_bodies_that_cannot_be_decoded_are_400(
    api: Server, case: str, log_records: list[logging.LogRecord]
) -> None:
    content_type, body = BAD_BODIES[case]
    code, answer = await send(api, "POST", COLLECTION, body, content_type)
    assert (code, answer["kind"], answer["reason"]) == (400, "Status", "BadRequest"), answer
    context = (
        "couldn't get version/kind; json parse error: "
        if content_type == JSON
        else ("error converting YAML to JSON: ")
    )
    assert answer["message"].startswith(context), answer["message"]
    if "deep" in case:
        assert answer["message"].endswith("exceeded max depth of 200")
    if "int" in case:
        assert "value out of range" in answer["message"]
    assert_no_traceback(log_records)
    assert api.git("log", "--all", "--oneline") == ""


async def test_a_json_patch_cannot_nest_an_object_deeper_than_a_body_may(
    api: Server, log_records: list[logging.LogRecord]
) -> None:
    deep = nested(190)
    code, _ = await send(api, "POST", COLLECTION, json.dumps(manifest("p", {"d": deep})), JSON)
    assert code == 201
    pointer = "/spec/object/spec/d" + "/k/0" * 90  # 180 levels down an existing path
    patch = [{"op": "add", "path": pointer + "/more", "value": nested(150)}]
    code, answer = await send(
        api, "PATCH", f"{COLLECTION}/widget.p", json.dumps(patch), "application/json-patch+json"
    )
    assert (code, answer["reason"]) == (422, "Invalid"), answer
    assert answer["details"]["causes"][0]["field"] == "patch"
    assert "exceeded max depth of 200" in answer["message"]
    assert_no_traceback(log_records)
    assert len(api.git("log", "--oneline").splitlines()) == 1


@pytest.mark.parametrize("content_type", [JSON, YAML])
async def test_objects_as_deep_as_a_body_may_be_work_everywhere(
    api: Server, content_type: str, log_records: list[logging.LogRecord]
) -> None:
    spec = {"d": nested(200 - WRAPPER)}  # the body exactly 200 levels deep
    body = json.dumps(manifest("deep", spec))  # JSON is YAML too
    code, answer = await send(api, "POST", COLLECTION, body, content_type)
    assert code == 201, answer
    assert answer["spec"]["object"]["spec"] == spec
    got = await api.ok("get", "manifest", "widget.deep", "-n", "shop", "-o", "yaml")
    assert "leaf" in got.out
    merge = {"spec": {"object": {"spec": {"e": nested(150)}}}}
    code, answer = await send(
        api, "PATCH", f"{COLLECTION}/widget.deep", json.dumps(merge), "application/merge-patch+json"
    )
    assert code == 200, answer
    await api.ok("get", "revisions", "-n", "shop", "-o", "yaml")
    assert_no_traceback(log_records)
