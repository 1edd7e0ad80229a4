"""`/openapi/v2` as gnostic protobuf: the wire format, a full decode back to the JSON document
with an independent decoder (field numbers transcribed from gnostic's OpenAPIv2.proto), the
negotiation, and the real kubectl validating create-only kinds on the client side with it."""

from __future__ import annotations

import json
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient

from apiserver import openapi, openapi_proto
from apiserver.discovery_routes import discovery_routes, openapi_routes
from apiserver.resources.info import ALL, GROUP_VERSION
from tests.apiserver.test_discovery_openapi import (  # noqa: F401 (fixtures)
    StartServer,
    discovery_ca,
    https_server,
    needs_kubectl,
)

PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"  # what client-go sends
PROTOBUF_NEW = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


# --- an independent decoder -------------------------------------------------------------------


def _varint(data: bytes, at: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def wire_fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, int | 8 bytes | bytes) for each field, in order."""
    out: list[tuple[int, int, Any]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
            assert at <= len(data), "length runs past the end"
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, wire, value))
    assert at == len(data)
    return out


# Each message: field number -> (JSON key, kind). Kinds: s (string), S (repeated string),
# b (bool), i (int64), d (double), any, anys, ext (vendor extensions), a message name (one),
# *Name (repeated), map:Name (a map message of Named<Name>), or a oneof name below.
SIMPLE: dict[str, str] = {  # non-body parameters, headers, items: the same order everywhere
    "type": "s", "format": "s", "items": "PrimitivesItems", "collectionFormat": "s",
    "default": "any", "maximum": "d", "exclusiveMaximum": "b", "minimum": "d",
    "exclusiveMinimum": "b", "maxLength": "i", "minLength": "i", "pattern": "s",
    "maxItems": "i", "minItems": "i", "uniqueItems": "b", "enum": "anys", "multipleOf": "d",
}  # fmt: skip


def simple(first: int) -> dict[int, tuple[str, str]]:
    return {first + i: item for i, item in enumerate(SIMPLE.items())}


HEAD = {1: ("required", "b"), 2: ("in", "s"), 3: ("description", "s"), 4: ("name", "s")}
SCHEMA: dict[str, dict[int, tuple[str, str]]] = {
    "Document": {1: ("swagger", "s"), 2: ("info", "Info"), 5: ("schemes", "S"),
                 6: ("consumes", "S"), 7: ("produces", "S"), 8: ("paths", "Paths"),
                 9: ("definitions", "map:Schema"), 16: ("", "ext")},
    "Info": {1: ("title", "s"), 2: ("version", "s"), 3: ("description", "s"), 7: ("", "ext")},
    "PathItem": {1: ("$ref", "s"), 2: ("get", "Operation"), 3: ("put", "Operation"),
                 4: ("post", "Operation"), 5: ("delete", "Operation"),
                 8: ("patch", "Operation"), 9: ("parameters", "*ParametersItem"),
                 10: ("", "ext")},
    "Operation": {1: ("tags", "S"), 2: ("summary", "s"), 3: ("description", "s"),
                  5: ("operationId", "s"), 6: ("produces", "S"), 7: ("consumes", "S"),
                  8: ("parameters", "*ParametersItem"), 9: ("responses", "Responses"),
                  10: ("schemes", "S"), 11: ("deprecated", "b"), 13: ("", "ext")},
    "BodyParameter": {1: ("description", "s"), 2: ("name", "s"), 3: ("in", "s"),
                      4: ("required", "b"), 5: ("schema", "Schema"), 6: ("", "ext")},
    "QueryParameterSubSchema": {**HEAD, 5: ("allowEmptyValue", "b"), **simple(6),
                                23: ("", "ext")},
    "PathParameterSubSchema": {**HEAD, **simple(5), 22: ("", "ext")},
    "HeaderParameterSubSchema": {**HEAD, **simple(5), 22: ("", "ext")},
    "PrimitivesItems": {**simple(1), 18: ("", "ext")},
    "Response": {1: ("description", "s"), 2: ("schema", "SchemaItem"), 5: ("", "ext")},
    "JsonReference": {1: ("$ref", "s"), 2: ("description", "s")},
    "Schema": {1: ("$ref", "s"), 2: ("format", "s"), 3: ("title", "s"), 4: ("description", "s"),
               5: ("default", "any"), 6: ("multipleOf", "d"), 7: ("maximum", "d"),
               8: ("exclusiveMaximum", "b"), 9: ("minimum", "d"), 10: ("exclusiveMinimum", "b"),
               11: ("maxLength", "i"), 12: ("minLength", "i"), 13: ("pattern", "s"),
               14: ("maxItems", "i"), 15: ("minItems", "i"), 16: ("uniqueItems", "b"),
               17: ("maxProperties", "i"), 18: ("minProperties", "i"), 19: ("required", "S"),
               20: ("enum", "anys"), 21: ("additionalProperties", "AdditionalPropertiesItem"),
               22: ("type", "TypeItem"), 23: ("items", "ItemsItem"), 24: ("allOf", "*Schema"),
               25: ("properties", "map:Schema"), 26: ("discriminator", "s"),
               27: ("readOnly", "b"), 30: ("example", "any"), 31: ("", "ext")},
}  # fmt: skip
ONEOF: dict[str, dict[int, str]] = {  # oneof wrappers: the JSON value is the member's own
    "ParametersItem": {1: "Parameter", 2: "JsonReference"},
    "Parameter": {1: "BodyParameter", 2: "NonBodyParameter"},
    "NonBodyParameter": {1: "HeaderParameterSubSchema", 3: "QueryParameterSubSchema",
                         4: "PathParameterSubSchema"},
    "ResponseValue": {1: "Response", 2: "JsonReference"},
    "SchemaItem": {1: "Schema"},
}  # fmt: skip


def decode(name: str, data: bytes) -> Any:
    """The JSON value of message `name`; fails on any field or wire type not in the tables."""
    if name in ONEOF:
        ((number, wire, payload),) = wire_fields(data)
        assert wire == 2 and number in ONEOF[name], (name, number)
        return decode(ONEOF[name][number], payload)
    if name == "TypeItem":
        types = [_utf8(2, wire, v) for _, wire, v in _only(data, 1)]
        return types[0] if len(types) == 1 else types
    if name == "ItemsItem":
        (item,) = [decode("Schema", v) for _, _, v in _only(data, 1)]
        return item
    if name == "AdditionalPropertiesItem":
        ((number, wire, payload),) = wire_fields(data)
        return decode("Schema", payload) if number == 1 else bool(payload)
    if name == "Paths":
        return {**_extensions(data, 1), **_named(data, 2, "PathItem")}
    if name == "Responses":
        return {**_named(data, 1, "ResponseValue"), **_extensions(data, 2)}
    out: dict[str, Any] = {}
    last = 0
    for number, wire, value in wire_fields(data):
        assert number >= last, f"{name}: fields out of order"
        last = number
        assert number in SCHEMA[name], f"{name} has no field {number}"
        key, kind = SCHEMA[name][number]
        if kind == "ext":
            ((item_name, item),) = _extensions_of([(number, wire, value)]).items()
            out[item_name] = item
        elif kind == "S":
            out.setdefault(key, []).append(_utf8(2, wire, value))
        elif kind.startswith("*"):
            assert wire == 2
            out.setdefault(key, []).append(decode(kind[1:], value))
        elif kind == "anys":
            out.setdefault(key, []).append(_any(wire, value))
        else:
            assert key not in out, f"{name}.{key} repeated"
            out[key] = _single(kind, wire, value)
    return out


def _single(kind: str, wire: int, value: Any) -> Any:
    if kind == "s":
        return _utf8(2, wire, value)
    if kind == "b":
        assert wire == 0 and value == 1  # false is never written
        return True
    if kind == "i":
        assert wire == 0
        return value
    if kind == "d":
        assert wire == 1
        number = struct.unpack("<d", value)[0]
        return int(number) if number.is_integer() else number
    if kind == "any":
        return _any(wire, value)
    assert wire == 2
    if kind.startswith("map:"):
        return _named(value, 1, kind[4:])
    return decode(kind, value)


def _utf8(expected_wire: int, wire: int, value: Any) -> str:
    assert wire == expected_wire
    text: str = value.decode()
    return text


def _only(data: bytes, number: int) -> list[tuple[int, int, Any]]:
    fields = wire_fields(data)
    assert all(n == number and w == 2 for n, w, _ in fields), fields
    return fields


def _any(wire: int, value: Any) -> Any:
    assert wire == 2
    ((number, inner_wire, text),) = wire_fields(value)  # Any{yaml = 2}; `value` (1) unused
    assert (number, inner_wire) == (2, 2)
    return yaml.safe_load(text.decode())


def _pair(data: bytes) -> tuple[str, bytes]:
    fields = {n: v for n, _, v in wire_fields(data)}
    assert set(fields) <= {1, 2}
    return fields.get(1, b"").decode(), fields[2]


def _named(data: bytes, number: int, value_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, wire, payload in wire_fields(data):
        if n != number:
            continue
        assert wire == 2
        name, value = _pair(payload)
        out[name] = decode(value_name, value)
    return out


def _extensions_of(fields: list[tuple[int, int, Any]]) -> dict[str, Any]:
    out = {}
    for _, wire, payload in fields:
        assert wire == 2
        name, value = _pair(payload)
        assert name.startswith("x-")
        out[name] = _any(2, value)
    return out


def _extensions(data: bytes, number: int) -> dict[str, Any]:
    return _extensions_of([f for f in wire_fields(data) if f[0] == number])


def proto3(value: Any, key: str = "") -> Any:
    """What survives proto3: a false or "" scalar field is not written (a oneof member, and
    anything inside an Any, is)."""
    if key in ("default", "example", "enum") or key.startswith("x-"):
        return value
    if isinstance(value, list):
        return [proto3(item) for item in value]
    if isinstance(value, dict):
        return {
            k: proto3(v, k)
            for k, v in value.items()
            if k in ("additionalProperties", "default", "example") or (v is not False and v != "")
        }
    return value


def _v2_json() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(openapi.encode(openapi.openapi_v2(ALL)))
    return document


# --- the encoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"),
     (-1, b"\xff" * 9 + b"\x01")],
)  # fmt: skip
def test_varints(n: int, encoded: bytes) -> None:
    assert openapi_proto.varint(n) == encoded
    if n >= 0:
        assert _varint(encoded, 0) == (n, len(encoded))


def test_a_small_document_byte_for_byte() -> None:
    document = {
        "swagger": "2.0",
        "info": {"title": "t", "version": ""},
        "paths": {},
        "definitions": {
            "K": {
                "type": "object",
                "additionalProperties": False,
                "x-kubernetes-preserve-unknown-fields": True,
            }
        },
    }
    schema = (
        b"\xaa\x01\x02\x10\x00"  # 21 additionalProperties: {boolean(2): false}, written
        b"\xb2\x01\x08\n\x06object"  # 22 type: TypeItem{value(1): "object"}
        # 31 vendor_extension: NamedAny{name(1), value(2): Any{yaml(2): "true\n"}}
        b"\xfa\x01\x2f\n\x24x-kubernetes-preserve-unknown-fields\x12\x07\x12\x05true\n"
    )
    named_schema = b"\n\x01K\x12" + bytes([len(schema)]) + schema
    expected = (
        b"\n\x032.0"  # 1 swagger
        b"\x12\x03\n\x01t"  # 2 info{title(1)}; version "" left out
        b"B\x00"  # 8 paths: present, empty
        b"J" + bytes([len(named_schema) + 2]) + b"\n" + bytes([len(named_schema)]) + named_schema
    )  # 9 definitions{additional_properties(1): NamedSchema}
    assert openapi_proto.encode_document(document) == expected


def test_the_served_document_decodes_back_to_the_json_one() -> None:
    """The whole v2 document, through an independent decoder: nothing lost or misplaced."""
    document = _v2_json()
    assert decode("Document", openapi_proto.encode_document(document)) == proto3(document)


def test_what_kubectl_reads_is_where_gnostic_puts_it() -> None:
    encoded = openapi_proto.encode_document(_v2_json())
    decoded = decode("Document", encoded)
    revert = decoded["definitions"]["io.gitplane.v1alpha1.Revert"]
    assert revert["x-kubernetes-group-version-kind"] == [
        {"group": "gitplane.io", "kind": "Revert", "version": "v1alpha1"}
    ]
    assert revert["required"] == ["spec"]
    assert revert["properties"]["spec"]["properties"]["revision"]["type"] == "string"
    put = decoded["definitions"]["io.gitplane.v1alpha1.ChangeSet"]["properties"]["spec"]
    assert put["properties"]["put"]["items"]["x-kubernetes-preserve-unknown-fields"] is True
    assert put["properties"]["put"]["items"]["x-kubernetes-embedded-resource"] is True
    patch = decoded["paths"]["/apis/gitplane.io/v1alpha1/namespaces/{namespace}/manifests/{name}"][
        "patch"
    ]
    assert patch["x-kubernetes-action"] == "patch"
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation"
    ).items()


def test_encoding_is_deterministic_and_order_independent() -> None:
    document = openapi.openapi_v2(ALL)
    reordered = json.loads(json.dumps(document, sort_keys=True))
    reordered["definitions"] = dict(reversed(reordered["definitions"].items()))
    assert openapi_proto.encode_document(document) == openapi_proto.encode_document(reordered)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["definitions"]["K"].update(nullable=True), "'nullable' is not a field"),
        (lambda d: d["definitions"]["K"].update(required="spec"), "expected a list"),
        (lambda d: d["definitions"]["K"].update(maxLength="5"), "expected an integer"),
        (lambda d: d["paths"].update(nope={}), "neither a path"),
        (lambda d: d["paths"].update({"/x": {"get": {"responses": {"2xx": {}}}}}), "status code"),
        (
            lambda d: d["paths"].update({"/x": {"parameters": [{"in": "cookie", "name": "c"}]}}),
            "body, header, formData, query or path",
        ),
        (lambda d: d["info"].update(contact={"x-ok": 1, "phone": "1"}), "not a field of Contact"),
    ],
)
def test_what_gnostic_would_reject_is_refused(
    mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    document: dict[str, Any] = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "v"},
        "paths": {},
        "definitions": {"K": {"type": "object"}},
    }
    mutate(document)
    with pytest.raises(ValueError, match=message):
        openapi_proto.encode_document(document)


def test_every_keyword_of_swagger_that_is_supported_round_trips() -> None:
    schema = {
        "description": "d", "title": "t", "format": "f", "default": {"a": [1, "x"]},
        "multipleOf": 0.5, "maximum": 10, "exclusiveMaximum": True, "minimum": -2.5,
        "maxLength": 9, "minLength": 1, "pattern": "^a", "maxItems": 3, "minItems": 1,
        "uniqueItems": True, "maxProperties": 4, "minProperties": 1, "required": ["a"],
        "enum": ["A", 1, None], "type": ["string", "null"], "readOnly": True,
        "example": "é", "allOf": [{"$ref": "#/definitions/K"}],
        "properties": {"a": {"type": "array", "items": {"type": "integer", "format": "int32"}}},
        "additionalProperties": {"type": "string"},
        "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-int-or-string": True,
    }  # fmt: skip
    document = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "v", "description": "x", "x-i": {"k": "v"}},
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": {
            "x-paths": 1,
            "/x/{name}": {
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "type": "string"},
                    {"name": "h", "in": "header", "type": "integer", "maximum": 5},
                    {"$ref": "#/parameters/p"},
                ],
                "get": {
                    "deprecated": True,
                    "summary": "s",
                    "parameters": [
                        {"name": "q", "in": "query", "type": "array", "allowEmptyValue": True,
                         "items": {"type": "string", "enum": ["a", "b"]},
                         "collectionFormat": "multi", "x-q": "y"},
                        {"name": "body", "in": "body", "schema": {"$ref": "#/definitions/K"}},
                    ],
                    "responses": {
                        "200": {"description": "OK", "schema": {"type": "string"}},
                        "default": {"$ref": "#/responses/r"},
                        "x-r": [1, 2],
                    },
                },
            },
        },
        "definitions": {"K": schema},
    }  # fmt: skip
    assert decode("Document", openapi_proto.encode_document(document)) == document


def test_vendor_extension_values_are_yaml() -> None:
    assert openapi_proto.to_yaml(True) == "true\n"
    assert openapi_proto.to_yaml("set") == "set\n"
    assert openapi_proto.to_yaml("true") == "'true'\n"
    assert openapi_proto.to_yaml([{"version": "v1", "group": ""}]) == (
        "- group: ''\n  version: v1\n"
    )
    long = "word " * 100
    assert yaml.safe_load(openapi_proto.to_yaml(long)) == long


# --- negotiation ------------------------------------------------------------------------------


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    app.add_routes([*discovery_routes(ALL), *openapi_routes(ALL)])
    result: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    return result


async def test_openapi_v2_is_protobuf_when_asked(
    client: TestClient[web.Request, web.Application],
) -> None:
    expected = openapi_proto.encode_document(openapi.openapi_v2(ALL))
    for accept in (PROTOBUF, PROTOBUF_NEW, f"{PROTOBUF}, application/json"):
        response = await client.get("/openapi/v2", headers={"Accept": accept})
        assert response.status == 200, accept
        assert response.headers["Content-Type"] == PROTOBUF_NEW  # as kube-openapi answers
        assert response.headers["Vary"] == "Accept"
        assert await response.read() == expected
        tag = response.headers["ETag"]
        again = await client.get("/openapi/v2", headers={"Accept": accept, "If-None-Match": tag})
        assert again.status == 304

    for accept in ("", "*/*", "application/json", f"application/json, {PROTOBUF}"):
        response = await client.get("/openapi/v2", headers={"Accept": accept} if accept else {})
        assert response.headers["Content-Type"] == "application/json", accept
        assert (await response.json())["swagger"] == "2.0"
    weighted = f"{PROTOBUF};q=0.5, application/json;q=0.9"
    response = await client.get("/openapi/v2", headers={"Accept": weighted})
    assert response.headers["Content-Type"] == "application/json"


async def test_openapi_v2_other_formats_are_not_acceptable(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.get(
        "/openapi/v2", headers={"Accept": "application/vnd.kubernetes.protobuf"}
    )
    assert response.status == 406
    status = await response.json()
    assert status["reason"] == "NotAcceptable"
    assert PROTOBUF in status["message"]
    # v3 stays JSON only.
    response = await client.get("/openapi/v3", headers={"Accept": PROTOBUF})
    assert response.status == 406


# --- the real kubectl -------------------------------------------------------------------------

REVERT_PATH = f"/apis/{GROUP_VERSION}/namespaces/default/reverts"
CHANGESET_PATH = f"/apis/{GROUP_VERSION}/namespaces/default/changesets"


class Recorder:
    """Discovery, OpenAPI and POSTs of create-only kinds, recording every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []  # method, path, Accept
        self.created: list[tuple[dict[str, str], Any]] = []

    def _recording(self, handler: Any) -> Any:
        async def recorded(request: web.Request) -> web.StreamResponse:
            self.requests.append((request.method, request.path, request.headers.get("Accept", "")))
            response: web.StreamResponse = await handler(request)
            return response

        return recorded

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.created.append((dict(request.query), body))
        stored = {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}}
        return web.json_response(stored, status=201)

    def routes(self) -> list[web.RouteDef]:
        served = [
            *discovery_routes(ALL),
            *openapi_routes(ALL),
            web.post(REVERT_PATH, self.create),
            web.post(CHANGESET_PATH, self.create),
        ]
        return [web.route(r.method, r.path, self._recording(r.handler)) for r in served]

    @property
    def asked_for_v2_protobuf(self) -> bool:
        return ("GET", "/openapi/v2", PROTOBUF) in self.requests


Kubectl = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
async def served(https_server: StartServer) -> tuple[Recorder, Kubectl]:  # noqa: F811
    recorder = Recorder()
    _, kubectl = await https_server(recorder.routes())
    return recorder, kubectl


def _write(tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / f"{document['kind'].lower()}.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def _object(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": kind,
        "metadata": {"name": "it", "namespace": "default"},
        "spec": spec,
    }


def _validation_error(path: str, detail: str) -> str:
    """How kubectl reports a client-side validation failure for a file."""
    return (
        f'error: error validating "{path}": error validating data: {detail}; if you choose to '
        "ignore these errors, turn validation off with --validate=false"
    )


@needs_kubectl
async def test_kubectl_create_of_create_only_kinds_validates_on_the_client(
    served: tuple[Recorder, Kubectl], tmp_path: Path
) -> None:
    """No PATCH in v3 for Revert/ChangeSet, so kubectl validates them itself with the v2
    protobuf document (it used to fail: "failed to download openapi")."""
    recorder, kubectl = served
    code, out, err = await kubectl(
        "create", "-f", _write(tmp_path, _object("Revert", {"revision": "abc1234"}))
    )
    assert code == 0, err
    assert out.strip() == "revert.gitplane.io/it created"
    assert recorder.asked_for_v2_protobuf, recorder.requests
    ((query, body),) = recorder.created
    assert query["fieldValidation"] == "Strict"
    assert body["spec"] == {"revision": "abc1234"}

    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
                 "data": {"a": "b"}}  # fmt: skip
    changeset = _object("ChangeSet", {"message": "m", "put": [configmap], "delete": ["x.y"]})
    code, out, err = await kubectl("create", "-f", _write(tmp_path, changeset))
    assert code == 0, err
    assert out.strip() == "changeset.gitplane.io/it created"
    assert recorder.created[-1][1]["spec"]["put"] == [configmap]  # embedded objects kept whole


@needs_kubectl
@pytest.mark.parametrize(
    ("kind", "spec", "detail"),
    [
        ("Revert", {"revision": "abc1234", "bogus": 1},
         'ValidationError(Revert.spec): unknown field "bogus" in io.gitplane.v1alpha1.Revert.spec'),
        ("Rollback", {"message": "m"},
         'ValidationError(Rollback.spec): missing required field "revision" in '
         "io.gitplane.v1alpha1.Rollback.spec"),
        ("ChangeSet", {"put": "x"},
         "ValidationError(ChangeSet.spec.put): invalid type for "
         'io.gitplane.v1alpha1.ChangeSet.spec.put: got "string", expected "array"'),
    ],
    ids=["unknown-field", "missing-required", "wrong-type"],
)  # fmt: skip
async def test_kubectl_reports_an_invalid_document_without_sending_it(
    served: tuple[Recorder, Kubectl], tmp_path: Path, kind: str, spec: Any, detail: str
) -> None:
    recorder, kubectl = served
    path = _write(tmp_path, _object(kind, spec))
    code, out, err = await kubectl("create", "-f", path)
    assert (code, out) == (1, "")
    assert err.strip() == _validation_error(path, detail)
    assert recorder.created == []


@needs_kubectl
async def test_kubectl_lets_any_scalar_through_as_a_string(
    served: tuple[Recorder, Kubectl], tmp_path: Path
) -> None:
    """kube-openapi's validator accepts a number where a string is expected (upstream, on
    purpose), so `revision: 5` passes the client; the server's own validation must catch it."""
    recorder, kubectl = served
    code, _, err = await kubectl(
        "create", "-f", _write(tmp_path, _object("Revert", {"revision": 5}))
    )
    assert code == 0, err
    assert recorder.created[0][1]["spec"] == {"revision": 5}


@needs_kubectl
async def test_kubectl_explain_reads_the_v2_document(
    served: tuple[Recorder, Kubectl],
) -> None:
    _, kubectl = served
    code, out, err = await kubectl("explain", "--output", "plaintext-openapiv2", "manifests.spec")
    assert code == 0, err
    assert "KIND:     Manifest" in out
    assert "VERSION:  gitplane.io/v1alpha1" in out
    assert "Desired state declared in Git." in out
    assert "object\t<map[string]> -required-" in out

    code, out, err = await kubectl("explain", "--output", "plaintext-openapiv2", "reverts")
    assert code == 0, err
    assert "Undo one revision in this namespace only, as a new commit." in out
    assert "spec\t<Object> -required-" in out
    code, out, err = await kubectl(
        "explain", "--output", "plaintext-openapiv2", "revisions.spec.parents"
    )
    assert code == 0, err
    assert "FIELD:    parents <[]string>" in out
