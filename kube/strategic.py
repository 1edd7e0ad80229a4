"""Strategic merge patch (apimachinery's strategicpatch) over the built-in kinds' schemas.

Maps merge and `null` deletes, as in a merge patch; a list merges only where the kind's
schema says `x-kubernetes-patch-strategy: merge`: by `x-kubernetes-patch-merge-key`
(containers by name, container ports by containerPort), or as a set of primitives
(finalizers). Everywhere else a list is replaced. The directives kubectl sends are
honoured: `$patch: delete|replace` on a map or a list item, `$setElementOrder/<field>`,
`$deleteFromPrimitiveList/<field>` and `$retainKeys`. Schemas are the kubernetes-validate
files validation reads (kube.schemas)."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

from kube.schemas import schema_directory

Node = dict[str, Any] | None
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_API_VERSION = re.compile(r"([a-z0-9.\-]+/)?[a-z0-9]+")


@cache
def _definitions() -> dict[str, Any]:
    loaded = json.loads((schema_directory() / "_definitions.json").read_text())
    return loaded.get("$defs", {})  # type: ignore[no-any-return]


@cache
def kind_schema(api_version: str, kind: str) -> Node:
    """The schema of a built-in kind, or None (a custom resource: lists are replaced)."""
    if not _KIND.fullmatch(kind) or not _API_VERSION.fullmatch(api_version):
        return None
    group, _, version = api_version.rpartition("/")
    group_version = f"{group.split('.')[0]}-{version}" if group else version
    path = schema_directory() / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text())
    gvk = {"group": group, "version": version, "kind": kind}
    return schema if gvk in schema.get("x-kubernetes-group-version-kind", []) else None


def _resolve(node: Node) -> Node:
    seen = 0
    while node is not None and seen < 64:
        ref = node.get("$ref")
        if ref is None:
            for wrapper in ("allOf", "oneOf", "anyOf"):
                options = node.get(wrapper)
                if isinstance(options, list) and options and isinstance(options[0], dict):
                    node = options[0]
                    break
            else:
                return node
        else:
            node = _definitions().get(str(ref).rsplit("/", 1)[-1])
        seen += 1
    return node


def _child(node: Node, key: str) -> Node:
    resolved = _resolve(node)
    if resolved is None:
        return None
    found = (resolved.get("properties") or {}).get(key)
    if found is None and isinstance(resolved.get("additionalProperties"), dict):
        found = resolved["additionalProperties"]
    return found if isinstance(found, dict) else None


def _items(node: Node) -> Node:
    resolved = _resolve(node)
    items = resolved.get("items") if resolved is not None else None
    return items if isinstance(items, dict) else None


def apply(original: Any, patch: Any, node: Node) -> Any:
    """`original` patched by `patch`, with the list semantics of schema `node`."""
    if not isinstance(patch, dict):
        return _strip(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return None
    result = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
            continue
        sub = _child(node, key)
        if isinstance(value, list):
            order = patch.get(f"$setElementOrder/{key}")
            result[key] = _merge_list(result.get(key), value, sub, order)
        elif isinstance(value, dict):
            merged = apply(result.get(key), value, sub)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    for key, value in patch.items():
        field = key.removeprefix("$deleteFromPrimitiveList/")
        if field != key and isinstance(value, list) and isinstance(result.get(field), list):
            result[field] = [item for item in result[field] if item not in value]
        elif key.startswith("$setElementOrder/") and key.split("/", 1)[1] not in patch:
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = _ordered(result[field], value, _merge_key(_child(node, field)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain or k in patch}
    return result


def _merge_key(node: Node) -> str | None:
    if node is None:
        return None
    key = node.get("x-kubernetes-patch-merge-key")
    return key if isinstance(key, str) else None


def _merges(node: Node) -> bool:
    strategy = node.get("x-kubernetes-patch-strategy", "") if node is not None else ""
    return "merge" in str(strategy).split(",")


def _merge_list(original: Any, patch: list[Any], node: Node, order: Any) -> list[Any]:
    if not _merges(node) or not isinstance(original, list):
        return [item for item in (_strip(i) for i in patch) if item is not None]
    key = _merge_key(node)
    if key is None:  # a set of primitives
        merged = list(original) + [item for item in patch if item not in original]
    else:
        item_node = _items(node)
        merged = copy.deepcopy(original)
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                continue
            at = next((i for i, old in enumerate(merged) if _named(old, key, item[key])), None)
            if item.get("$patch") == "delete":
                merged = [
                    m for m in merged if not (isinstance(m, dict) and m.get(key) == item[key])
                ]
            elif at is not None:
                merged[at] = apply(merged[at], item, item_node)
            else:
                merged.append(_strip(item))
    return _ordered(merged, order, key) if isinstance(order, list) else merged


def _named(item: Any, key: str, value: Any) -> bool:
    return isinstance(item, dict) and item.get(key) == value


def _ordered(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Items named by `$setElementOrder` in its order, the others after, as they were."""

    def name(item: Any) -> Any:
        return item.get(key) if key is not None and isinstance(item, dict) else item

    wanted = [name(entry) for entry in order]
    rank = {json.dumps(n, sort_keys=True): i for i, n in enumerate(wanted)}
    return sorted(
        items, key=lambda item: rank.get(json.dumps(name(item), sort_keys=True), len(rank))
    )


def _strip(value: Any) -> Any:
    """A value without directives (what lands when nothing is there to merge with)."""
    if isinstance(value, dict):
        if value.get("$patch") == "delete":
            return None
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [item for item in (_strip(v) for v in value) if item is not None]
    return value
