"""OpenAPI documents generated from ResourceInfos: swagger 2.0 for `/openapi/v2`, and for
`/openapi/v3` the index plus the OpenAPI 3.0 document of gitplane.io/v1alpha1.

What clients read from them (checklist B15, C20, C25, C26):
- `kubectl explain` finds a kind's schema by `x-kubernetes-group-version-kind` on
  `components.schemas` entries and walks `properties`;
- `kubectl apply` uses strategic merge only if a PATCH operation's request body lists
  `application/strategic-merge-patch+json`: it is not listed, so apply sends merge patches;
- kubectl sends `fieldValidation` only if the PATCH operation of the kind lists it.
Operation ids, tags and path shapes follow kube-apiserver's for a custom resource.
Documents are plain dicts; `encode` gives canonical bytes (sorted keys, as Go prints maps),
so the content hash, `?hash=` and ETag change only when the API does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from apiserver.openapi_meta import (
    API_RESOURCE_LIST,
    API_VERSION_DESCRIPTION,
    DELETE_OPTIONS,
    DELETE_PARAMETERS,
    KIND_DESCRIPTION,
    LIST_META,
    LIST_META_DESCRIPTION,
    LIST_PARAMETERS,
    NAMESPACE_PARAMETER,
    OBJECT_META,
    OBJECT_META_DESCRIPTION,
    PATCH,
    PATCH_PARAMETERS,
    PRETTY,
    STATUS,
    V2_REFS,
    V3_REFS,
    WATCH_EVENT,
    WRITE_PARAMETERS,
    Parameter,
    Refs,
    meta_definitions,
    path_parameter,
)
from apiserver.resources.info import GROUP, GROUP_VERSION, VERSION, ResourceInfo, Subresource

JSONObject = dict[str, Any]

V3_GROUP_VERSION_PATH: Final = f"apis/{GROUP}/{VERSION}"
"""The key of this API in the `/openapi/v3` index (no leading slash, as upstream)."""

PATCH_CONTENT_TYPES: Final = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
)
"""No strategic merge: that is what makes kubectl apply fall back to merge patch."""
RESPONSE_TYPES: Final = ("application/json", "application/yaml")
WATCH_RESPONSE_TYPES: Final = (*RESPONSE_TYPES, "application/json;stream=watch")

_BASE: Final = f"/apis/{GROUP}/{VERSION}"


def _upper_first(word: str) -> str:
    # Go's strings.Title, which (unlike str.title) does not restart after a digit: V1alpha1.
    return word[:1].upper() + word[1:]


_GROUP_CAMEL: Final = "".join(_upper_first(part) for part in GROUP.split("."))
_TAG: Final = f"{_GROUP_CAMEL[:1].lower()}{_GROUP_CAMEL[1:]}_{VERSION}"  # gitplaneIo_v1alpha1
_GV_CAMEL: Final = _GROUP_CAMEL + _upper_first(VERSION)  # GitplaneIoV1alpha1


def definition_name(kind: str) -> str:
    """`io.gitplane.v1alpha1.Manifest`: reversed group, version, kind (as for a CRD)."""
    return ".".join([*reversed(GROUP.split(".")), VERSION, kind])


# --- operations, independent of the OpenAPI version -------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str  # get, post, put, patch, delete
    action: str  # x-kubernetes-action
    operation_id: str
    description: str
    kind: str  # x-kubernetes-group-version-kind of the operation
    parameters: tuple[Parameter, ...] = ()
    body: str = ""  # definition of the request body; "" for none
    body_types: tuple[str, ...] = ("*/*",)
    response: str = ""  # definition of the 2xx responses
    codes: tuple[str, ...] = ("200",)
    watch: bool = False


@dataclass(frozen=True)
class PathItem:
    path: str
    parameters: tuple[Parameter, ...]
    operations: tuple[Operation, ...]


def _op(method: str, action: str, verb: str, subject: str, description: str, kind: str,
        **fields: Any) -> Operation:  # fmt: skip
    """An operation whose id reads as upstream's: `patchGitplaneIoV1alpha1NamespacedManifest`."""
    return Operation(method, action, f"{verb}{_GV_CAMEL}{subject}", description, kind, **fields)


def _list_operation(info: ResourceInfo, subject: str) -> Operation:
    return _op("get", "list", "list", subject, f"list or watch objects of kind {info.kind}",
               info.kind, parameters=LIST_PARAMETERS, response=definition_name(info.list_kind),
               watch=True)  # fmt: skip


def _collection_operations(info: ResourceInfo, scope: str) -> list[Operation]:
    kind, subject, own = info.kind, f"{scope}{info.kind}", definition_name(info.kind)
    without_watch = tuple(p for p in LIST_PARAMETERS if p.name != "watch")
    by_verb = {
        "list": _list_operation(info, subject),
        "create": _op("post", "post", "create", subject, f"create a {kind}", kind,
                      parameters=WRITE_PARAMETERS, body=own, response=own,
                      codes=("200", "201", "202")),
        "deletecollection": _op("delete", "deletecollection", "delete", f"Collection{subject}",
                                f"delete collection of {kind}", kind,
                                parameters=(*DELETE_PARAMETERS, *without_watch),
                                body=DELETE_OPTIONS, response=STATUS),
    }  # fmt: skip
    return [op for verb, op in by_verb.items() if verb in info.verbs]


def _item_operations(
    info: ResourceInfo, scope: str, verbs: Sequence[str], sub: Subresource | None = None
) -> list[Operation]:
    """read/replace/patch/delete of one object, or of its subresource `sub`."""
    kind = (sub.kind if sub else "") or info.kind
    suffix = _upper_first(sub.name) if sub else ""
    subject, own = f"{scope}{info.kind}{suffix}", definition_name(kind)
    what = f"{sub.name} of the specified {info.kind}" if sub else f"the specified {kind}"
    by_verb = {
        "get": _op("get", "get", "read", subject, f"read {what}", kind, response=own),
        "update": _op("put", "put", "replace", subject, f"replace {what}", kind,
                      parameters=WRITE_PARAMETERS, body=own, response=own, codes=("200", "201")),
        "patch": _op("patch", "patch", "patch", subject, f"partially update {what}", kind,
                     parameters=PATCH_PARAMETERS, body=PATCH, body_types=PATCH_CONTENT_TYPES,
                     response=own, codes=("200", "201")),
        "delete": _op("delete", "delete", "delete", subject, f"delete {what}", kind,
                      parameters=DELETE_PARAMETERS, body=DELETE_OPTIONS, response=STATUS,
                      codes=("200", "202")),
    }  # fmt: skip
    if sub:
        del by_verb["delete"]  # subresources are never deleted on their own
    return [op for verb, op in by_verb.items() if verb in verbs]


def _watch_operation(info: ResourceInfo, subject: str, *, one: bool) -> Operation:
    what = "changes to an object" if one else "individual changes to a list"
    description = (
        f"watch {what} of kind {info.kind}. deprecated: use the 'watch' parameter with a list "
        "operation instead"
    )
    action = "watch" if one else "watchlist"
    return _op("get", action, "watch", subject, description, info.kind, response=WATCH_EVENT,
               watch=True)  # fmt: skip


def path_items(info: ResourceInfo) -> list[PathItem]:
    """Every path of one resource with its operations, as kube-apiserver lays them out."""
    namespaced = info.namespaced
    scope = "Namespaced" if namespaced else ""
    scoped = f"/namespaces/{{namespace}}/{info.plural}" if namespaced else f"/{info.plural}"
    in_scope = (NAMESPACE_PARAMETER,) if namespaced else ()
    name = path_parameter("name", f"name of the {info.kind}")
    collection, item = f"{_BASE}{scoped}", f"{_BASE}{scoped}/{{name}}"
    items = [
        PathItem(collection, (*in_scope, PRETTY), tuple(_collection_operations(info, scope))),
        PathItem(item, (name, *in_scope, PRETTY), tuple(_item_operations(info, scope, info.verbs))),
    ]
    for sub in info.subresources:
        operations = _item_operations(info, scope, sub.verbs, sub)
        items.append(PathItem(f"{item}/{sub.name}", (name, *in_scope, PRETTY), tuple(operations)))
    if namespaced and "list" in info.verbs:
        all_namespaces = _list_operation(info, f"{info.kind}ForAllNamespaces")
        items.append(PathItem(f"{_BASE}/{info.plural}", (PRETTY,), (all_namespaces,)))
    if "watch" in info.verbs:
        subject = f"{scope}{info.kind}"
        items += [
            PathItem(f"{_BASE}/watch{scoped}", (*LIST_PARAMETERS, *in_scope, PRETTY),
                     (_watch_operation(info, f"{subject}List", one=False),)),
            PathItem(f"{_BASE}/watch{scoped}/{{name}}", (*LIST_PARAMETERS, name, *in_scope, PRETTY),
                     (_watch_operation(info, subject, one=True),)),
        ]  # fmt: skip
        if namespaced:
            everywhere = _watch_operation(info, f"{info.kind}ListForAllNamespaces", one=False)
            items.append(
                PathItem(f"{_BASE}/watch/{info.plural}", (*LIST_PARAMETERS, PRETTY), (everywhere,))
            )
    return [item for item in items if item.operations]


def _resources_path() -> PathItem:
    listing = _op("get", "", "get", "APIResources", "get available resources", "",
                  response=API_RESOURCE_LIST)  # fmt: skip
    return PathItem(f"{_BASE}/", (), (listing,))


# --- schemas ----------------------------------------------------------------------------------


def _gvk(kind: str) -> JSONObject:
    return {"group": GROUP, "kind": kind, "version": VERSION}


def _described(schema: JSONObject, fallback: str) -> JSONObject:
    return schema if schema.get("description") else {**schema, "description": fallback}


def kind_schema(info: ResourceInfo, refs: Refs) -> JSONObject:
    """The full object schema: apiVersion, kind, metadata (ObjectMeta), spec, status."""
    properties: JSONObject = {
        "apiVersion": {"type": "string", "description": API_VERSION_DESCRIPTION},
        "kind": {"type": "string", "description": KIND_DESCRIPTION},
        "metadata": refs.described(OBJECT_META, OBJECT_META_DESCRIPTION, default={}),
    }
    if info.spec_schema:
        properties["spec"] = _described(info.spec_schema, f"Desired state of the {info.kind}.")
    if info.status_schema:
        properties["status"] = _described(
            info.status_schema, f"What the server recorded for the {info.kind}. Read-only."
        )
    schema: JSONObject = {
        "description": info.description,
        "type": "object",
        "properties": properties,
        "x-kubernetes-group-version-kind": [_gvk(info.kind)],
    }
    if info.spec_schema.get("required"):
        schema["required"] = ["spec"]
    return schema


def list_schema(info: ResourceInfo, refs: Refs) -> JSONObject:
    return {
        "description": f"{info.list_kind} is a list of {info.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": API_VERSION_DESCRIPTION},
            "items": {
                "type": "array",
                "description": f"List of {info.plural}.",
                "items": refs.to(definition_name(info.kind)),
            },
            "kind": {"type": "string", "description": KIND_DESCRIPTION},
            "metadata": refs.described(LIST_META, LIST_META_DESCRIPTION, default={}),
        },
        "x-kubernetes-group-version-kind": [_gvk(info.list_kind)],
    }


def definitions(infos: Iterable[ResourceInfo], refs: Refs) -> dict[str, JSONObject]:
    """Every schema a document needs, by name."""
    out = meta_definitions(refs, GROUP, VERSION)
    for info in infos:
        out[definition_name(info.kind)] = kind_schema(info, refs)
        if "list" in info.verbs:
            out[definition_name(info.list_kind)] = list_schema(info, refs)
    return out


# --- rendering --------------------------------------------------------------------------------


def _extensions(op: Operation) -> JSONObject:
    out: JSONObject = {}
    if op.action:
        out["x-kubernetes-action"] = op.action
    if op.kind:
        out["x-kubernetes-group-version-kind"] = _gvk(op.kind)
    return out


def _v2_operation(op: Operation) -> JSONObject:
    parameters = [p.v2() for p in op.parameters]
    if op.body:
        parameters.insert(
            0,
            {
                "name": "body",
                "in": "body",
                "required": op.method != "delete",
                "schema": V2_REFS.to(op.body),
            },
        )
    out: JSONObject = {
        "description": op.description,
        "operationId": op.operation_id,
        "tags": [_TAG],
        "produces": list(WATCH_RESPONSE_TYPES if op.watch else RESPONSE_TYPES),
        "schemes": ["https"],
        "responses": {
            **{
                code: {"description": _CODE_TEXT[code], "schema": V2_REFS.to(op.response)}
                for code in op.codes
            },
            "401": {"description": "Unauthorized"},
        },
        **_extensions(op),
    }
    if op.body:
        out["consumes"] = list(op.body_types)
    if parameters:
        out["parameters"] = parameters
    return out


def _v3_operation(op: Operation) -> JSONObject:
    media = WATCH_RESPONSE_TYPES if op.watch else RESPONSE_TYPES
    out: JSONObject = {
        "tags": [_TAG],
        "description": op.description,
        "operationId": op.operation_id,
        "responses": {
            **{
                code: {
                    "description": _CODE_TEXT[code],
                    "content": {t: {"schema": V3_REFS.to(op.response)} for t in media},
                }
                for code in op.codes
            },
            "401": {"description": "Unauthorized"},
        },
        **_extensions(op),
    }
    # kubectl looks for fieldValidation among the PATCH operation's own parameters (not the
    # path's), so they are listed inline on every operation, as upstream does.
    if op.parameters:
        out["parameters"] = [p.v3() for p in op.parameters]
    if op.body:
        out["requestBody"] = {
            "content": {t: {"schema": V3_REFS.to(op.body)} for t in op.body_types},
            "required": op.method != "delete",
        }
    return out


_CODE_TEXT: Final = {"200": "OK", "201": "Created", "202": "Accepted"}


def _all_path_items(infos: Sequence[ResourceInfo]) -> list[PathItem]:
    items = [_resources_path()]
    for info in infos:
        items.extend(path_items(info))
    return items


def openapi_v2(infos: Sequence[ResourceInfo], title: str = "gitplane") -> JSONObject:
    """The swagger 2.0 document served at `/openapi/v2`."""
    paths: JSONObject = {}
    for item in _all_path_items(infos):
        entry: JSONObject = {op.method: _v2_operation(op) for op in item.operations}
        if item.parameters:
            entry["parameters"] = [p.v2() for p in item.parameters]
        paths[item.path] = entry
    return {
        "swagger": "2.0",
        "info": {"title": title, "version": GROUP_VERSION},
        "paths": paths,
        "definitions": definitions(infos, V2_REFS),
    }


def openapi_v3(infos: Sequence[ResourceInfo], title: str = "gitplane") -> JSONObject:
    """The OpenAPI 3.0 document of gitplane.io/v1alpha1 (`/openapi/v3/apis/gitplane.io/...`)."""
    paths: JSONObject = {}
    for item in _all_path_items(infos):
        entry: JSONObject = {op.method: _v3_operation(op) for op in item.operations}
        if item.parameters:
            entry["parameters"] = [p.v3() for p in item.parameters]
        paths[item.path] = entry
    return {
        "openapi": "3.0.0",
        "info": {"title": title, "version": GROUP_VERSION},
        "paths": paths,
        "components": {"schemas": definitions(infos, V3_REFS)},
    }


def openapi_v3_index(document_hash: str) -> JSONObject:
    """`/openapi/v3`: where the group-version document is, pinned to its content hash."""
    url = f"/openapi/v3/{V3_GROUP_VERSION_PATH}?hash={document_hash}"
    return {"paths": {V3_GROUP_VERSION_PATH: {"serverRelativeURL": url}}}


def encode(document: JSONObject) -> bytes:
    """Canonical bytes: sorted keys (as Go encodes maps) so equal documents hash equal."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
