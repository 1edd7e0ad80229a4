"""Secret values and Git: find plaintext ones, and keep them out of what is shown.

A core/v1 Secret whose `data` or `stringData` holds a non-empty value is plaintext
unless the whole document is SOPS-encrypted: top-level `sops` metadata with a `mac`,
and every such value an `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]` string.

Nothing here ever returns, logs or formats a value: findings and causes name the
field (`data[password]`), never what it holds.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pygit2
import yaml
from pygit2.enums import SortMode

from store.documents import is_blank, load_yaml, split_segments
from store.errors import FieldCause
from store.gitobjects import blob_data
from store.gitobjects import tree as tree_at

if TYPE_CHECKING:  # store.repo imports this module for its write path
    from store.repo import GitStore

VALUE_FIELDS = ("data", "stringData")
REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted (changed)>"
PLAINTEXT_MESSAGE = (
    "Forbidden: a Secret value must never be written to Git in plaintext; submit the Secret"
    " through the gitplane API server with sealing configured, or commit a SealedSecret,"
    " an ExternalSecret or a SOPS-encrypted Secret instead"
)
# Annotations that carry a whole copy of the object, values included.
COPY_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
)
_B64 = r"[A-Za-z0-9+/=]"
SOPS_VALUE = re.compile(rf"^ENC\[AES256_GCM,data:{_B64}*,iv:{_B64}+,tag:{_B64}+,type:[a-z]+\]$")
_OBJECT_FILE = re.compile(r"\.(ya?ml|json)$")


def is_core_secret(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("apiVersion") == "v1" and obj.get("kind") == "Secret"


def has_sops_mac(obj: dict[str, Any]) -> bool:
    sops = obj.get("sops")
    return isinstance(sops, dict) and isinstance(sops.get("mac"), str) and bool(sops["mac"])


def is_sops_value(value: Any) -> bool:
    return isinstance(value, str) and SOPS_VALUE.match(value) is not None


def plaintext_fields(obj: Any) -> list[str]:
    """Field paths (`data[password]`) of the plaintext values of a core/v1 Secret."""
    if not is_core_secret(obj):
        return []
    encrypted = has_sops_mac(obj)
    fields: list[str] = []
    for field in VALUE_FIELDS:
        values = obj.get(field)
        if values is None or values in ({}, ""):
            continue
        if not isinstance(values, dict):
            fields.append(field)
            continue
        for name, value in values.items():
            if value is None or value == "":
                continue
            if not (encrypted and is_sops_value(value)):
                fields.append(f"{field}[{name}]")
    return fields


def served_secret(obj: Any) -> tuple[Any, list[str]]:
    """`obj` as the API may show it, and the fields hidden: a core/v1 Secret's plaintext
    values (committed from outside: gitplane never writes one) and the annotations that
    copy the whole object read `<redacted>`. Anything else is returned as it is."""
    if not is_core_secret(obj):
        return obj, []
    fields = plaintext_fields(obj)
    annotations = (obj.get("metadata") or {}).get("annotations")
    copies = (
        []  # a SOPS Secret's copy holds only its encrypted values: nothing to hide
        if has_sops_mac(obj) or not isinstance(annotations, dict)
        else [name for name in COPY_ANNOTATIONS if name in annotations]
    )
    if not fields and not copies:
        return obj, []
    served = copy.deepcopy(obj)
    for field in VALUE_FIELDS:
        values = served.get(field)
        if isinstance(values, dict):
            for name in values:
                if f"{field}[{name}]" in fields:
                    values[name] = REDACTED
        elif field in fields:
            served[field] = REDACTED
    for name in copies:
        served["metadata"]["annotations"][name] = REDACTED
    return served, fields + [f"metadata.annotations[{name}]" for name in copies]


def redacted_fields(obj: Any) -> list[str]:
    """The values of a core/v1 Secret that are the placeholder `served_secret` shows,
    not values: a Secret read from the API and sent back as it was."""
    if not is_core_secret(obj):
        return []
    placeholders = (REDACTED, REDACTED_CHANGED)
    found = []
    for field in VALUE_FIELDS:
        values = obj.get(field)
        if isinstance(values, dict):
            found += [f"{field}[{name}]" for name, v in values.items() if v in placeholders]
        elif values in placeholders:
            found.append(field)
    return found


def plaintext_secret_problems(obj: Any) -> list[FieldCause]:
    """One cause per plaintext value of a core/v1 Secret (none for anything else)."""
    return [
        FieldCause(field, PLAINTEXT_MESSAGE, "FieldValueForbidden")
        for field in plaintext_fields(obj)
    ]


# ---- scanning a repository ------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A plaintext Secret value in a file of the repository (the value is never kept)."""

    path: str
    line: int
    commit: str  # the commit where this file content was first seen
    key: str  # the value's field, e.g. data[password]
    secret: str  # namespace/name of the Secret

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: Secret {self.secret} has a plaintext value at"
            f" {self.key} (commit {self.commit[:12]})"
        )


def scan(store: GitStore, history: bool = False) -> list[Finding]:
    """Plaintext Secret values in the branch tip, or (`history`) in any commit of any ref.

    Every YAML and JSON file counts, wherever it is in the tree: a leaked value is
    leaked even outside the directory the store serves.
    """
    repo = store._repo()
    if not history:
        tip = store.refresh().commit_id
        if tip is None:
            return []
        tree = repo[tip].peel(pygit2.Tree)
        return [f for path, blob in _files(repo, tree) for f in _scan_blob(repo, path, blob, tip)]
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for made in _all_commits(repo):
        parents = made.parents
        if parents:
            diff = parents[0].tree.diff_to_tree(made.tree)
        else:
            diff = made.tree.diff_to_tree(swap=True)
        for delta in diff.deltas:
            new = delta.new_file
            blob = str(new.id)
            if delta.status == pygit2.GIT_DELTA_DELETED or (new.path, blob) in seen:
                continue
            seen.add((new.path, blob))
            if _OBJECT_FILE.search(new.path):
                findings.extend(_scan_blob(repo, new.path, blob, str(made.id)))
    return findings


def _all_commits(repo: pygit2.Repository) -> Iterator[pygit2.Commit]:
    """Every commit reachable from any ref (as `git log --all`), oldest first."""
    walker = None
    for name in repo.references:
        try:
            target = repo.references[name].peel(pygit2.Commit).id
        except (pygit2.GitError, ValueError, KeyError, pygit2.InvalidSpecError):
            continue  # a ref to a tree or blob, or a broken one
        if walker is None:
            walker = repo.walk(target, SortMode.TOPOLOGICAL | SortMode.REVERSE)
        else:
            walker.push(target)
    if walker is not None:
        yield from walker


def _files(
    repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = ""
) -> Iterator[tuple[str, str]]:
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.type_str == "tree":
            yield from _files(repo, tree_at(repo, str(entry.id)), f"{path}/")
        elif entry.type_str == "blob" and _OBJECT_FILE.search(path):
            yield path, str(entry.id)


def _scan_blob(repo: pygit2.Repository, path: str, blob: str, commit: str) -> list[Finding]:
    data = blob_data(repo, blob)
    if b"Secret" not in data:
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    return [Finding(path, line, commit, key, secret) for line, key, secret in scan_text(path, text)]


def scan_text(path: str, text: str) -> list[tuple[int, str, str]]:
    """(line, field, namespace/name) of each plaintext Secret value in a file's text."""
    if "Secret" not in text:
        return []
    is_json = path.endswith(".json")
    found: list[tuple[int, str, str]] = []
    line = 1
    for segment in [text] if is_json else split_segments(text):
        if not is_blank(segment):
            found.extend((line + offset, key, who) for offset, key, who in _scan_segment(segment))
        line += segment.count("\n")
    return found


def _scan_segment(segment: str) -> list[tuple[int, str, str]]:
    try:
        doc = load_yaml(segment)
    except yaml.YAMLError:
        try:
            doc = json.loads(segment)
        except ValueError:
            return []
    found: list[tuple[int, str, str]] = []
    for item, obj in _objects(doc):
        fields = plaintext_fields(obj)
        if not fields:
            continue
        lines = _value_lines(segment, item)
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        name = str(meta.get("name", ""))
        who = f"{meta['namespace']}/{name}" if meta.get("namespace") else name
        found.extend((lines.get(field, 0), field, who) for field in fields)
    return found


def _objects(doc: Any) -> Iterator[tuple[int | None, Any]]:
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List"):
            yield from enumerate(doc["items"])
            return
    yield None, doc


# ---- finding values in the text ---------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    item: int | None  # index in a List document's items
    field: str  # data[name], stringData[name], or an annotation that copies the object
    start: int  # character offsets of the value's text in the document
    end: int
    line: int  # 0-based, from the document's first line


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)  # pure Python: marks count characters
    except yaml.YAMLError:
        return None


def _mapping(node: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _secret_spans(text: str) -> list[_Span] | None:
    """Where each Secret value is in one YAML/JSON document; None when it does not parse."""
    root = _compose(text)
    if root is None:
        return None
    top = _mapping(root)
    nodes: list[tuple[int | None, yaml.Node]] = [(None, root)]
    kind = _scalar(top.get("kind"))
    if kind is not None and kind.endswith("List"):
        items = top.get("items")
        if isinstance(items, yaml.SequenceNode):
            nodes = list(enumerate(items.value))
    spans: list[_Span] = []
    for item, node in nodes:
        fields = _mapping(node)
        if _scalar(fields.get("kind")) != "Secret" or _scalar(fields.get("apiVersion")) != "v1":
            continue
        for field in VALUE_FIELDS:
            for key, value in _mapping(fields.get(field)).items():
                spans.append(_span(item, f"{field}[{key}]", value))
            if field in fields and not isinstance(fields[field], yaml.MappingNode):
                spans.append(_span(item, field, fields[field]))
        annotations = _mapping(_mapping(fields.get("metadata")).get("annotations"))
        for name in COPY_ANNOTATIONS:
            if name in annotations:
                spans.append(_span(item, f"metadata.annotations[{name}]", annotations[name]))
    return spans


def _span(item: int | None, field: str, node: yaml.Node) -> _Span:
    return _Span(item, field, node.start_mark.index, node.end_mark.index, node.start_mark.line)


def _value_lines(segment: str, item: int | None) -> dict[str, int]:
    """0-based line of each value of the Secret (`item` of a List) in a document."""
    return {s.field: s.line for s in _secret_spans(segment) or [] if s.item == item}


def redact_secret_text(text: str, changed: frozenset[tuple[int | None, str]] = frozenset()) -> str:
    """A YAML/JSON document with every Secret value replaced by `<redacted>`.

    Lines stay where they were (a multi-line value keeps its line breaks), so a diff's
    line numbers still point into the real file. Values in `changed` read
    `<redacted (changed)>`, so a diff still shows which value changed. A document that
    mentions Secret but does not parse is redacted whole.
    """
    if "Secret" not in text:
        return text
    spans = _secret_spans(text)
    if spans is None:
        return "".join(
            (REDACTED + ("\n" if line.endswith("\n") else "")) if line.strip() else line
            for line in text.splitlines(keepends=True)
        )
    out: list[str] = []
    at = 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < at:
            continue
        marker = REDACTED_CHANGED if (span.item, span.field) in changed else REDACTED
        out += [text[at : span.start], marker, "\n" * text.count("\n", span.start, span.end)]
        at = span.end
    out.append(text[at:])
    return "".join(out)


def redact_secret_pair(old: str, new: str) -> tuple[str, str]:
    """Both sides of a document's diff, redacted; values that differ are marked changed."""
    if "Secret" not in old and "Secret" not in new:
        return old, new
    old_values, new_values = _values_by_field(old), _values_by_field(new)
    changed = frozenset(
        field
        for field, value in new_values.items()
        if field in old_values and old_values[field] != value
    )
    return redact_secret_text(old), redact_secret_text(new, changed)


def _values_by_field(text: str) -> dict[tuple[int | None, str], str]:
    spans = _secret_spans(text) or []
    return {(s.item, s.field): text[s.start : s.end] for s in spans}
