"""meta.k8s.io Table responses (what `kubectl get` prints) and Kubernetes-style ages.

Shapes follow metav1.Table and the apiserver's asTable transform (handlers/response.go); ages
follow k8s.io/apimachinery/pkg/util/duration.HumanDuration exactly, so an AGE column reads
like a built-in resource's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from kube.meta import list_metadata, parse_timestamp, partial_object_metadata
from kube.status import BadRequest, FieldError

JSONObject = dict[str, Any]

# ObjectMeta's own field docs, as upstream's default columns carry them.
NAME_DESCRIPTION: Final = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
CREATION_TIMESTAMP_DESCRIPTION: Final = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


@dataclass(frozen=True)
class Column:
    """metav1.TableColumnDefinition. Priority 0 shows always; higher only with `-o wide`."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def to_json(self) -> JSONObject:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


NAME_COLUMN: Final = Column("Name", "string", "name", NAME_DESCRIPTION)
AGE_COLUMN: Final = Column("Age", "string", "", CREATION_TIMESTAMP_DESCRIPTION)


class IncludeObject(StrEnum):
    """What each row's `object` carries (TableOptions.includeObject)."""

    NONE = "None"
    METADATA = "Metadata"
    OBJECT = "Object"


def parse_include_object(value: str | None) -> IncludeObject:
    """The `includeObject` query parameter; empty means Metadata. Bad values are a 400 worded
    as the apiserver's optionsForTransform words them."""
    if not value:
        return IncludeObject.METADATA
    try:
        return IncludeObject(value)
    except ValueError:
        error = FieldError.invalid(
            "includeObject", value, "must be 'Metadata', 'Object', 'None', or empty"
        )
        raise BadRequest(f"Unable to convert to Table as requested: {error}") from None


@dataclass(frozen=True)
class Row:
    """One table row: its cells (one per column) and the object it shows."""

    cells: Sequence[object]
    object: Mapping[str, Any]


def build_table(
    columns: Sequence[Column],
    rows: Iterable[Row],
    *,
    include_object: IncludeObject = IncludeObject.METADATA,
    api_version: str = "meta.k8s.io/v1",
    resource_version: str = "",
    continue_token: str = "",
    remaining_item_count: int | None = None,
    include_headers: bool = True,
) -> JSONObject:
    """A Table body. Watch streams send headers with the first event only
    (`include_headers=False` afterwards gives `columnDefinitions: null`, as upstream)."""
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": list_metadata(resource_version, continue_token, remaining_item_count),
        "columnDefinitions": [c.to_json() for c in columns] if include_headers else None,
        "rows": [
            {
                "cells": list(row.cells),
                "object": _row_object(row.object, include_object, api_version),
            }
            for row in rows
        ],
    }


def _row_object(
    obj: Mapping[str, Any], include: IncludeObject, api_version: str
) -> JSONObject | None:
    if include is IncludeObject.OBJECT:
        return dict(obj)
    if include is IncludeObject.METADATA:
        return partial_object_metadata(obj, api_version)
    return None


# --- ages --------------------------------------------------------------------------------------


def human_duration(elapsed: timedelta | float) -> str:
    """duration.HumanDuration: ~2-3 significant figures (5s, 3m2s, 10m, 3h4m, 5d, 2y...)."""
    total = elapsed.total_seconds() if isinstance(elapsed, timedelta) else float(elapsed)
    seconds = int(total)  # truncates toward zero, as Go's int(d.Seconds())
    # Up to a second in the future is clock skew: "0s". More is "<invalid>".
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{hours // 24 // 365}y"


def translate_timestamp_since(timestamp: str | datetime | None, now: datetime | None = None) -> str:
    """An AGE cell: `<unknown>` for no timestamp, else the human duration since it."""
    if not timestamp:
        return "<unknown>"
    moment = parse_timestamp(timestamp) if isinstance(timestamp, str) else timestamp
    return human_duration((now or datetime.now(UTC)) - moment)
