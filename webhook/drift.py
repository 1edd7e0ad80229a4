"""Field-level comparison of an object against its declaration in Git.

Only what Git declares is compared: a field Git omits is owned by someone else
(an HPA's replicas, defaults filled in by kube-apiserver, status). Lists of named
items are matched by their strategic-merge-patch key, as `kubectl apply` does;
other lists compare position by position. Quantities and int-or-string values
compare by meaning, not spelling.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kube import quantity
from kube.meta import SYSTEM_FIELDS


class Marker:
    """A stand-in value that messages print as is."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


ABSENT: Any = Marker("(absent)")  # the request lacks a field Git declares
REDACTED: Any = Marker("(redacted)")  # a Secret's value, never shown


@dataclass(frozen=True)
class GroupKind:
    group: str
    kind: str

    @property
    def is_secret(self) -> bool:
        return self.group == "" and self.kind == "Secret"


@dataclass(frozen=True)
class FieldDrift:
    path: str  # e.g. spec.template.spec.containers[name=web].image
    git_value: Any
    request_value: Any  # ABSENT when the request does not have the field


# Written by the API server or by controllers, never desired state.
SYSTEM_METADATA = frozenset(
    {*SYSTEM_FIELDS, "name", "namespace", "generateName", "ownerReferences", "finalizers"}
)
IGNORED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        # gitplane's own bookkeeping, set by this webhook or by a break-glass user
        "gitplane.io/break-glass",
        "gitplane.io/break-glass-by",
        "gitplane.io/break-glass-at",
        "gitplane.io/drift",
    }
)

# patchMergeKey of Kubernetes' built-in types (core/v1 types.go); a missing part
# of a composite key takes its API default.
_BY_NAME = (("name", None),)
MERGE_KEYS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "containers": _BY_NAME,
    "initContainers": _BY_NAME,
    "ephemeralContainers": _BY_NAME,
    "env": _BY_NAME,
    "volumes": _BY_NAME,
    "imagePullSecrets": _BY_NAME,
    "resourceClaims": _BY_NAME,
    "schedulingGates": _BY_NAME,
    "claims": _BY_NAME,
    "volumeMounts": (("mountPath", None),),
    "volumeDevices": (("devicePath", None),),
    "hostAliases": (("ip", None),),
    "topologySpreadConstraints": (("topologyKey", None), ("whenUnsatisfiable", None)),
}
_CONTAINER_PORT_KEY = (("containerPort", None), ("protocol", "TCP"))
_SERVICE_PORT_KEY = (("port", None), ("protocol", "TCP"))

# Maps whose values are quantities (ResourceList and friends), and quantity fields.
RESOURCE_LISTS = frozenset(
    {
        "limits",
        "requests",
        "capacity",
        "allocatable",
        "hard",
        "used",
        "min",
        "max",
        "default",
        "defaultRequest",
        "maxLimitRequestRatio",
        "overhead",
    }
)
QUANTITY_FIELDS = frozenset({"sizeLimit", "averageValue", "storage"})
INT_OR_STRING_FIELDS = frozenset(
    {"port", "targetPort", "maxSurge", "maxUnavailable", "minAvailable"}
)

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

# Where a value sits: (parent, segment, is_list_item), rendered only when a drift is
# reported, so matching objects cost no string building. The segment of an item matched
# by merge key is (merge key, identity), turned into `name=web` only when rendered.
_Label = tuple[tuple[tuple[str, str | None], ...], tuple[Any, ...]]
_Path = tuple[Any, "str | _Label", bool] | None

# Keys to skip, and the rules of nested maps; the walk follows this tree from the root.
_Rules = tuple[frozenset[str], dict[str, Any]]
_NO_RULES: _Rules = (frozenset(), {})
_ROOT_RULES: _Rules = (
    frozenset({"apiVersion", "kind", "status"}),
    {"metadata": (SYSTEM_METADATA, {"annotations": (IGNORED_ANNOTATIONS, {})})},
)


def find_drift(
    declared: dict[str, Any], actual: dict[str, Any], kind: GroupKind
) -> list[FieldDrift]:
    """Every field Git declares whose value in `actual` means something else."""
    secret = kind.is_secret
    if secret:
        declared, actual = _normalise_secret(declared), _normalise_secret(actual)
    drifts: list[FieldDrift] = []
    _compare_map(declared, actual, None, _ROOT_RULES, drifts)
    if secret:
        return [_redact(d) if d.path.startswith(("data", "stringData")) else d for d in drifts]
    return drifts


# The walk runs on every review of a declared object, so it is written for speed: plain
# functions, C-level equality first, type dispatch inline, paths and labels rendered
# only for what drifts.


def _compare_map(
    git: dict[str, Any], live: dict[str, Any], path: _Path, rules: _Rules, out: list[FieldDrift]
) -> None:
    skip, nested = rules
    get = live.get
    for child, value in git.items():
        actual = get(child, ABSENT)
        # Identical subtrees need no walk (compared in C). Python's True == 1 can only
        # hide inside a subtree that is otherwise identical, which typed fields rule out.
        if (value == actual and type(value) is type(actual)) or child in skip:
            continue
        kind = type(value)
        if kind is dict and type(actual) is dict:
            _compare_map(value, actual, (path, child, False), nested.get(child, _NO_RULES), out)
        elif kind is list and type(actual) is list:
            _compare_list(value, actual, (path, child, False), out)
        else:
            _compare_other(value, actual, (path, child, False), out)


def _compare_list(git: list[Any], live: list[Any], path: _Path, out: list[FieldDrift]) -> None:
    merge_key = _merge_key(git, path)
    if merge_key is None:
        if len(git) != len(live):
            out.append(FieldDrift(render_path(path), git, live))
            return
        for i, (g, v) in enumerate(zip(git, live, strict=True)):
            if g != v or type(g) is not type(v):
                _compare_value(g, v, (path, str(i), True), out)
        return
    if len(merge_key) == 1:  # by name, by mountPath...: the common case, kept cheap
        ((name, default),) = merge_key
        by_key: dict[Any, Any] = {}
        for item in live:
            if type(item) is dict:
                ident = item.get(name, default)
                by_key[ident if type(ident) is str else _hashable(ident)] = item
        for item in git:
            ident = item.get(name, default)
            if type(ident) is not str:
                ident = _hashable(ident)
            actual = by_key.get(ident, ABSENT)
            if item != actual:
                _compare_value(item, actual, (path, (merge_key, (ident,)), True), out)
        return
    identify = _identifier(merge_key)
    live_by_key = {identify(item): item for item in live if type(item) is dict}
    for item in git:
        ident_tuple = identify(item)
        actual = live_by_key.get(ident_tuple, ABSENT)
        if item != actual:
            _compare_value(item, actual, (path, (merge_key, ident_tuple), True), out)


def _compare_value(git: Any, live: Any, path: _Path, out: list[FieldDrift]) -> None:
    if type(git) is dict and type(live) is dict:
        _compare_map(git, live, path, _NO_RULES, out)
    elif type(git) is list and type(live) is list:
        _compare_list(git, live, path, out)
    else:
        _compare_other(git, live, path, out)


def _compare_other(git: Any, live: Any, path: _Path, out: list[FieldDrift]) -> None:
    """Scalars, and values whose type differs from Git's or that are missing."""
    if git is None:  # `field: null` in Git declares nothing
        return
    if live is ABSENT or live is None:
        # kube-apiserver drops empty and zero values (omitempty): they match absence.
        if git in ({}, [], "", 0):  # also matches False and 0.0
            return
        out.append(FieldDrift(render_path(path), git, ABSENT))
    elif isinstance(git, dict | list) or not _scalar_equal(git, live, path):
        out.append(FieldDrift(render_path(path), git, live))


def render_path(path: _Path) -> str:
    """`spec.template.spec.containers[name=web].image`; odd map keys go in brackets."""
    parts: list[tuple[str, bool]] = []
    while path is not None:
        path, segment, item = path
        parts.append((segment if isinstance(segment, str) else _label(segment), item))
    out = ""
    for segment, item in reversed(parts):
        if item or not _PLAIN_KEY.fullmatch(segment):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else segment
    return out


def _label(segment: _Label) -> str:
    """`name=web`, `containerPort=53,protocol=UDP`; a key part at its default is left out."""
    merge_key, ident = segment
    return ",".join(
        f"{name}={value}"
        for (name, default), value in zip(merge_key, ident, strict=True)
        if default is None or value != default
    )


def _key_and_parent(path: _Path) -> tuple[str, str]:
    """The field name of a value and of the map holding it ("[]" for list items)."""
    assert path is not None  # scalars are never the root
    parent, segment, item = path
    if item:
        key = "[]"
    else:
        assert type(segment) is str  # map keys are strings; labels only name list items
        key = segment
    if parent is None:
        return key, ""
    return key, "[]" if parent[2] else parent[1]


def _merge_key(git: list[Any], path: _Path) -> tuple[tuple[str, str | None], ...] | None:
    if path is None:
        return None
    parent, key, _ = path
    found: tuple[tuple[str, str | None], ...] | None
    if key != "ports":
        found = MERGE_KEYS.get(key) if type(key) is str else None
        if found is None:  # most lists (args, command, ...) stop here
            return None
        for item in git:
            if not isinstance(item, dict):
                return None
    else:
        for item in git:
            if not isinstance(item, dict):
                return None
        if all("containerPort" in item for item in git):
            found = _CONTAINER_PORT_KEY
        else:  # a Service's spec.ports has a merge key; other `ports` lists are atomic
            is_service = parent is not None and parent[0] is None and parent[1] == "spec"
            found = _SERVICE_PORT_KEY if is_service else None
            if found is None:
                return None
    for name, default in found:
        if default is None:
            for item in git:
                if name not in item:
                    return None
    return found


def _identifier(
    merge_key: tuple[tuple[str, str | None], ...],
) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if len(merge_key) == 2:  # ports by (port, protocol), topology spread constraints
        (first, first_default), (second, second_default) = merge_key
        return lambda item: (
            _hashable(item.get(first, first_default)),
            _hashable(item.get(second, second_default)),
        )

    def identify(item: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_hashable(item.get(name, default)) for name, default in merge_key)

    return identify


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def _scalar_equal(git: Any, live: Any, path: _Path) -> bool:
    if git == live and isinstance(git, bool) == isinstance(live, bool):
        return True
    if isinstance(git, bool) or isinstance(live, bool):
        return False
    key, parent = _key_and_parent(path)
    if (
        parent in RESOURCE_LISTS
        or key in QUANTITY_FIELDS
        or (key == "value" and parent == "target")
    ):
        try:
            return quantity.equal(git, live)
        except quantity.QuantityError:
            return False
    if key in INT_OR_STRING_FIELDS and isinstance(git, int | str) and isinstance(live, int | str):
        return str(git).strip() == str(live).strip()
    return False


def _normalise_secret(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret as kube-apiserver stores it: `stringData` merged into `data`, and
    base64 re-encoded so line wrapping in YAML does not count as a change."""
    data = obj.get("data")
    string_data = obj.get("stringData")
    if not isinstance(data, dict) and not isinstance(string_data, dict):
        return obj
    merged = {name: _canonical_base64(value) for name, value in (data or {}).items()}
    for name, value in (string_data or {}).items():
        merged[name] = base64.b64encode(str(value).encode()).decode("ascii")
    normalised = {k: v for k, v in obj.items() if k != "stringData"}
    normalised["data"] = merged
    return normalised


def _canonical_base64(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64encode(base64.b64decode("".join(value.split()), validate=True)).decode()
    except (binascii.Error, ValueError):
        return value


def _redact(drift: FieldDrift) -> FieldDrift:
    def hide(value: Any) -> Any:
        return value if value is ABSENT else REDACTED

    return FieldDrift(drift.path, hide(drift.git_value), hide(drift.request_value))
