"""Which part of a Manifest's metadata is the declared object's, and which is bookkeeping.

A Manifest's labels and annotations are those of the object it declares: changing them
changes the YAML in Git (a commit). Except what controllers and clients keep on an
object for themselves, which must persist without touching the declared YAML the
reconcilers apply (store.bookkeeping): finalizers, `status` beyond what gitplane derives,
managedFields, and the annotations named here. Annotations gitplane derives (path,
revision, redacted) are never written; the commit message is used, never stored.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from store.bookkeeping import Record
from store.secrets import may_hold_secret, secret_values

JSONObject = dict[str, Any]

PATH_ANNOTATION = "gitplane.io/path"
REVISION_ANNOTATION = "gitplane.io/revision"
REDACTED_ANNOTATION = "gitplane.io/redacted"
COMMIT_MESSAGE_ANNOTATION = "gitplane.io/commit-message"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

DERIVED_ANNOTATIONS = frozenset(
    {PATH_ANNOTATION, REVISION_ANNOTATION, REDACTED_ANNOTATION, COMMIT_MESSAGE_ANNOTATION}
)
# Kept as bookkeeping: client-side apply's record of what was applied, and the domains
# of controllers' own annotations (kopf keeps its handlers' progress and the last
# handled state there). A domain covers its subdomains (`my-op.kopf.zalando.org/x`).
BOOKKEEPING_ANNOTATIONS = frozenset({LAST_APPLIED})
BOOKKEEPING_DOMAINS = ("kopf.zalando.org",)
DERIVED_STATUS = frozenset({"path", "revision", "author", "committed", "source", "files"})


def is_bookkeeping_annotation(key: str) -> bool:
    if key in BOOKKEEPING_ANNOTATIONS:
        return True
    domain = key.split("/", 1)[0] if "/" in key else ""
    return any(domain == d or domain.endswith("." + d) for d in BOOKKEEPING_DOMAINS)


def declared_annotations(annotations: Any) -> dict[str, str]:
    """The annotations of a Manifest that are the declared object's."""
    if not isinstance(annotations, dict):
        return {}
    return {
        k: v
        for k, v in annotations.items()
        if k not in DERIVED_ANNOTATIONS and not is_bookkeeping_annotation(k)
    }


def bookkeeping_annotations(annotations: Any) -> dict[str, str]:
    if not isinstance(annotations, dict):
        return {}
    return {k: v for k, v in annotations.items() if is_bookkeeping_annotation(k)}


def with_manifest_metadata(
    declared: JSONObject, submitted: JSONObject, current: JSONObject | None
) -> JSONObject:
    """The declared object to write: `declared` (the submitted spec.object) with the
    labels and annotations the request set on the Manifest, when it changed them from
    `current` (the Manifest as served; None for a create)."""
    metadata = submitted.get("metadata") or {}
    old = (current or {}).get("metadata") or {}
    result = copy.deepcopy(declared)
    object_meta = result.setdefault("metadata", {})
    if not isinstance(object_meta, dict):
        return result
    labels, old_labels = metadata.get("labels") or {}, old.get("labels") or {}
    if isinstance(labels, dict) and labels != old_labels:
        _set(
            object_meta,
            "labels",
            labels if current is not None else {**_map(object_meta, "labels"), **labels},
        )
    annotations = declared_annotations(metadata.get("annotations"))
    old_annotations = declared_annotations(old.get("annotations"))
    if annotations != old_annotations:
        if current is None:
            annotations = {**_map(object_meta, "annotations"), **annotations}
        _set(object_meta, "annotations", annotations)
    return result


def record_of(submitted: JSONObject, current: Record | None, uid: str) -> Record:
    """The bookkeeping a write leaves: the request's finalizers, bookkeeping annotations
    and status; what only the server sets (a pending deletion, managedFields) as it was."""
    metadata = submitted.get("metadata") or {}
    record: Record = {"uid": uid}
    finalizers = metadata.get("finalizers")
    if isinstance(finalizers, list) and finalizers:
        record["finalizers"] = [f for f in dict.fromkeys(finalizers) if isinstance(f, str)]
    annotations = bookkeeping_annotations(metadata.get("annotations"))
    if annotations:
        record["annotations"] = annotations
    state = submitted.get("status")
    if isinstance(state, dict):
        kept = {k: v for k, v in state.items() if k not in DERIVED_STATUS}
        if kept:
            record["status"] = kept
    for server_side in ("deletion", "managedFields"):
        if current and current.get(server_side):
            record[server_side] = current[server_side]
    return record


def same_record(a: Record | None, b: Record | None) -> bool:
    """Whether two records keep the same bookkeeping (an empty one is none)."""
    return _meaningful(a) == _meaningful(b)


def _meaningful(record: Record | None) -> Record:
    return {k: v for k, v in (record or {}).items() if k != "uid" and v}


def _map(metadata: JSONObject, field: str) -> dict[str, Any]:
    value = metadata.get(field)
    return value if isinstance(value, dict) else {}


def _set(metadata: JSONObject, field: str, value: dict[str, Any]) -> None:
    if value:
        metadata[field] = dict(value)
    else:
        metadata.pop(field, None)


def without_plaintext(record: Record) -> Record:
    """The record without an annotation that holds a Secret's values: client-side apply's
    last-applied configuration of a plain Secret is the plaintext the API seals, and no
    plaintext value is ever written to the repository, the bookkeeping ref included."""
    annotations = record.get("annotations")
    if not isinstance(annotations, dict):
        return record
    kept = {k: v for k, v in annotations.items() if not _holds_secret(v)}
    if kept == annotations:
        return record
    cleaned = {k: v for k, v in record.items() if k != "annotations"}
    if kept:
        cleaned["annotations"] = kept
    return cleaned


def _holds_secret(value: Any) -> bool:
    if not isinstance(value, str) or not may_hold_secret(value):
        return False
    try:
        parsed = json.loads(value)
    except ValueError:
        return False
    spec = parsed.get("spec") if isinstance(parsed, dict) else None
    inner = spec.get("object") if isinstance(spec, dict) else None
    return bool(secret_values(parsed)) or bool(inner is not None and secret_values(inner))
