"""JSON Patches that set or remove gitplane.io/ annotations on the reviewed object."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jsonpatch

BREAK_GLASS = "gitplane.io/break-glass"
BREAK_GLASS_BY = "gitplane.io/break-glass-by"
BREAK_GLASS_AT = "gitplane.io/break-glass-at"
DRIFT = "gitplane.io/drift"


def annotations_of(obj: dict[str, Any] | None) -> dict[str, Any]:
    if not obj:
        return {}
    found = (obj.get("metadata") or {}).get("annotations")
    return found if isinstance(found, dict) else {}


def annotation_patch(
    obj: dict[str, Any], set_: Mapping[str, str], remove: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Operations turning obj's annotations into the wanted ones; [] if nothing changes.

    Only metadata.annotations is diffed, so the object is never copied whole and
    the patch cannot touch anything else.
    """
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "annotations" in metadata:
        before: dict[str, Any] = {"metadata": {"annotations": metadata["annotations"]}}
    else:
        before = {"metadata": {}} if isinstance(metadata, dict) else {}
    wanted = dict(annotations_of(obj))
    wanted.update(set_)
    for key in remove:
        wanted.pop(key, None)
    after = {"metadata": {"annotations": wanted}}
    if wanted == annotations_of(obj) and isinstance(metadata, dict):
        return []
    ops: list[dict[str, Any]] = jsonpatch.make_patch(before, after).patch
    return ops
