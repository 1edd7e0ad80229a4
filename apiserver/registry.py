"""The generic write path, the same for every kind, in Kubernetes' order of checks:
type and namespace of the body, name against the URL, then the kind's strategy.
Patches are applied here to the current object and become updates."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from apiserver.context import RequestContext
from apiserver.resources.base import JSONObject, Strategy
from apiserver.resources.info import GROUP, GROUP_VERSION
from kube import bodies, status, strategic
from kube.negotiation import PatchType


def check_body(strategy: Strategy, body: Any, namespace: str, name: str | None) -> JSONObject:
    """The submitted object, if it is this kind, in this namespace, with this name."""
    info = strategy.info
    if not isinstance(body, dict):
        raise status.BadRequest("the body of the request must be a JSON or YAML object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if api_version != GROUP_VERSION:
        raise status.BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API version"
            f" ({GROUP_VERSION})"
        )
    if kind != info.kind:
        raise status.BadRequest(
            f"the kind in the data ({kind}) does not match the expected kind ({info.kind})"
        )
    metadata = body.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise status.BadRequest("metadata must be an object")
    body_namespace = metadata.get("namespace")
    if info.namespaced and body_namespace not in (None, "", namespace):
        raise status.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    body_name = metadata.get("name")
    if name is not None and body_name not in (None, "", name):
        raise status.BadRequest(
            f"the name of the object ({body_name}) does not match the name on the URL ({name})"
        )
    return body


async def create(strategy: Strategy, ctx: RequestContext, namespace: str, body: Any) -> JSONObject:
    obj = check_body(strategy, body, namespace, None)
    return await strategy.create(ctx, namespace, obj)


async def update(
    strategy: Strategy, ctx: RequestContext, namespace: str, name: str, body: Any
) -> JSONObject:
    obj = check_body(strategy, body, namespace, name)
    expect_rv = obj["metadata"].get("resourceVersion") or None
    return await strategy.update(ctx, namespace, name, obj, expect_rv)


async def patch(
    strategy: Strategy, ctx: RequestContext, namespace: str, name: str, kind: PatchType, body: Any
) -> tuple[JSONObject, bool]:
    """The patched object, and whether it was created (server-side apply of a new object)."""
    if kind is PatchType.APPLY_YAML:
        return await _server_side_apply(strategy, ctx, namespace, name, body)
    current = await strategy.get(ctx, namespace, name)
    patched = _apply_patch(strategy, name, current, kind, body)
    _check_patched(strategy, name, patched)
    obj = check_body(strategy, patched, namespace, name)
    current_rv = current["metadata"].get("resourceVersion")
    asked_rv = obj["metadata"].get("resourceVersion")
    if asked_rv and asked_rv != current_rv:
        raise status.Conflict(status.GroupResource(GROUP, strategy.info.plural), name)
    return await strategy.update(ctx, namespace, name, obj, current_rv), False


async def _server_side_apply(
    strategy: Strategy, ctx: RequestContext, namespace: str, name: str, body: Any
) -> tuple[JSONObject, bool]:
    """Apply for one field manager: the applied configuration becomes the object's spec."""
    if not ctx.field_manager:
        raise status.BadRequest("fieldManager is required for apply requests")
    applied = check_body(strategy, copy.deepcopy(body), namespace, name)
    applied["metadata"]["name"] = name
    try:
        current = await strategy.get(ctx, namespace, name)
    except status.NotFound:
        return await strategy.create(ctx, namespace, applied), True
    merged = {**current, "spec": applied.get("spec", {})}
    merged["metadata"] = {**current["metadata"], **_annotations_only(applied["metadata"])}
    return await strategy.update(
        ctx, namespace, name, merged, current["metadata"].get("resourceVersion")
    ), False


def _annotations_only(metadata: JSONObject) -> JSONObject:
    return (
        {"annotations": metadata["annotations"]}
        if isinstance(metadata.get("annotations"), dict)
        else {}
    )


def _apply_patch(
    strategy: Strategy, name: str, current: JSONObject, kind: PatchType, body: Any
) -> Any:
    if kind is PatchType.MERGE_PATCH:
        if not isinstance(body, dict):
            raise status.BadRequest("a merge patch must be a JSON object")
        return merge_patch(current, body)
    if kind is PatchType.STRATEGIC_MERGE_PATCH:
        if not isinstance(body, dict):
            raise status.BadRequest("a strategic merge patch must be a JSON object")
        return strategic_manifest_patch(current, body)
    if kind is PatchType.JSON_PATCH:
        if not isinstance(body, list):
            raise status.BadRequest("a JSON patch must be a list of operations")
        try:
            return jsonpatch.apply_patch(current, body)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            gk = status.GroupKind(GROUP, strategy.info.kind)
            raise status.Invalid(
                gk, name, [status.FieldError.invalid("", status.OMITTED, str(exc))]
            ) from None
    raise status.UnsupportedMediaType.for_media_types(
        [PatchType.JSON_PATCH.value, PatchType.MERGE_PATCH.value, PatchType.APPLY_YAML.value]
    )


def _check_patched(strategy: Strategy, name: str, patched: Any) -> None:
    """A patch's result within the bounds a body has (kube.bodies): a JSON patch can put a
    value as deep as its body allows under a path as deep again. kube-apiserver decodes the
    patched JSON again and answers a failure as Invalid at `patch`."""
    try:
        bodies.check_value(patched)
    except ValueError as exc:
        gk = status.GroupKind(GROUP, strategy.info.kind)
        raise status.Invalid(
            gk, name, [status.FieldError.invalid("patch", status.OMITTED, str(exc))]
        ) from None


def strategic_manifest_patch(current: JSONObject, patch: JSONObject) -> Any:
    """A strategic merge patch of a Manifest: its own fields merge as a merge patch does,
    `spec.object` with the list semantics of the declared kind's schema (kube.strategic;
    a kind without a built-in schema gets merge-patch lists: replaced)."""
    spec = patch.get("spec")
    inner = spec.get("object") if isinstance(spec, dict) else None
    rest = patch
    if isinstance(inner, dict):
        rest = {**patch, "spec": {k: v for k, v in spec.items() if k != "object"}}  # type: ignore[union-attr]
    result = strategic.apply(current, rest, None)
    if isinstance(inner, dict):
        declared = (current.get("spec") or {}).get("object") or {}
        api_version = inner.get("apiVersion", declared.get("apiVersion"))
        kind = inner.get("kind", declared.get("kind"))
        node = (
            strategic.kind_schema(api_version, kind)
            if isinstance(api_version, str) and isinstance(kind, str)
            else None
        )
        result.setdefault("spec", {})["object"] = strategic.apply(declared, inner, node)
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: null deletes, objects merge, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


async def delete(
    strategy: Strategy, ctx: RequestContext, namespace: str, name: str, options: Any
) -> JSONObject:
    expect_rv = None
    if isinstance(options, dict):
        preconditions = options.get("preconditions") or {}
        if isinstance(preconditions, dict):
            expect_rv = preconditions.get("resourceVersion") or None
        if options.get("dryRun"):
            ctx.dry_run = True
    return await strategy.delete(ctx, namespace, name, expect_rv)
