"""Texts people read: denial messages (kubectl prints them verbatim) and warnings.

Values come from FieldDrift, where Secret data is already redacted; everything
is truncated so a large field cannot flood a terminal or an audit log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webhook.drift import FieldDrift, Marker

MAX_WARNING = 119  # kube-apiserver truncates warnings; keep each under 120 characters
MAX_VALUE = 60
MAX_FIELDS = 10
MAX_WARNED_FIELDS = 5
MAX_DRIFT_ANNOTATION = 1024


@dataclass(frozen=True)
class Subject:
    """What a message is about."""

    kind: str
    namespace: str
    name: str
    path: str = ""  # Git path of the declaration
    revision: str = ""

    @property
    def ref(self) -> str:
        return (
            f"{self.kind} {self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind} {self.name}"
        )

    @property
    def long_ref(self) -> str:
        return (
            f"{self.kind} {self.name} in namespace {self.namespace}"
            if self.namespace
            else f"{self.kind} {self.name}"
        )

    @property
    def source(self) -> str:
        return f"{self.path} @ {self.revision}" if self.revision else self.path


def value(v: Any, limit: int = MAX_VALUE) -> str:
    if isinstance(v, Marker):
        return v.text
    try:
        text = json.dumps(v, separators=(",", ":"), sort_keys=True, default=str)
    except (TypeError, ValueError):  # e.g. YAML maps mixing int and str keys
        text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def drift_denial(subject: Subject, operation: str, drifts: Sequence[FieldDrift]) -> str:
    if operation == "DELETE":
        what = "deleting it would remove an object Git declares."
    elif operation == "CREATE":
        what = "the object being created differs from Git:"
    else:
        what = "this change leaves it different from Git:"
    lines = [f"gitplane: {subject.long_ref} is managed in Git ({subject.source}); {what}"]
    lines += [
        f"  {d.path}: git {value(d.git_value)}, request {value(d.request_value)}"
        for d in drifts[:MAX_FIELDS]
    ]
    if len(drifts) > MAX_FIELDS:
        lines.append(f"  ...and {len(drifts) - MAX_FIELDS} more fields")
    lines.append(how_to_change(subject, operation))
    return "\n".join(lines)


def undeclared_denial(subject: Subject, operation: str) -> str:
    verb = {"CREATE": "create", "UPDATE": "change"}.get(operation, "change")
    return (
        f"gitplane: namespace {subject.namespace} is strict: only objects declared in Git "
        f"may be written there, and {subject.kind} {subject.name} is not declared, so you "
        f"cannot {verb} it.\n" + how_to_change(subject, operation)
    )


def break_glass_denial(subject: Subject, operation: str, username: str, group: str) -> str:
    return (
        f"gitplane: {username} set a gitplane.io/break-glass annotation on "
        f"{subject.long_ref} but is not in the group {group!r}; only that group may "
        f"bypass Git.\n" + how_to_change(subject, operation)
    )


def how_to_change(subject: Subject, operation: str) -> str:
    kubectl = f"kubectl -n {subject.namespace}" if subject.namespace else "kubectl"
    if operation == "DELETE":
        proper = (
            f"To delete it, remove it from {subject.path} in Git with a pull request, "
            f"or run `{kubectl} delete` through the manifests.gitplane.io API."
        )
    elif subject.path:
        proper = (
            f"To change it, edit {subject.path} in Git with a pull request, or run "
            f"`{kubectl} apply` through the manifests.gitplane.io API."
        )
    else:
        proper = (
            f"To add it, declare it in Git with a pull request, or run "
            f"`{kubectl} apply` through the manifests.gitplane.io API."
        )
    return (
        proper + " In an emergency, a member of the break-glass group may set the "
        'annotation gitplane.io/break-glass: "<incident and reason>".'
    )


def drift_warnings(subject: Subject, drifts: Sequence[FieldDrift]) -> list[str]:
    head = f"gitplane: {subject.ref} differs from Git ({subject.source}), allowed in warn mode"
    out = [short(head)]
    out += [
        short(
            f"gitplane: {d.path}: git {value(d.git_value, 30)}, "
            f"request {value(d.request_value, 30)}"
        )
        for d in drifts[:MAX_WARNED_FIELDS]
    ]
    if len(drifts) > MAX_WARNED_FIELDS:
        out.append(f"gitplane: ...and {len(drifts) - MAX_WARNED_FIELDS} more fields")
    return out


def drift_annotation(drifts: Sequence[FieldDrift]) -> str:
    return short(", ".join(d.path for d in drifts), MAX_DRIFT_ANNOTATION)


def short(text: str, limit: int = MAX_WARNING) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
