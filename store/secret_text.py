"""Secret values in a file's text: where they are (for `gitplane scan`), and the text with
them replaced (for revision diffs).

Both decide what is a secret value by loading the document with the one loader
(store.loader) and asking store.secrets, so they see exactly what the API serves and
Argo CD applies. The text is only used to find where a value sits: a redaction is loaded
again and checked, and a document whose values cannot be placed (merge keys, anchors)
or that does not load at all is redacted whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from store.documents import is_blank, split_segments
from store.loader import LoadError, load_document
from store.secrets import (
    PLACEHOLDERS,
    REDACTED,
    REDACTED_CHANGED,
    SecretValue,
    field_path,
    may_hold_secret,
    secret_values,
)

_MENTIONS_SECRET = re.compile(r"secret", re.IGNORECASE)


@dataclass(frozen=True)
class TextValue:
    """A secret value of a document: its field, and the characters and line it spans."""

    value: SecretValue
    start: int
    end: int
    line: int  # 0-based, from the document's first line


def document_values(segment: str, is_json: bool = False) -> list[SecretValue] | None:
    """The secret values of one document; None when it does not load."""
    if not may_hold_secret(segment):
        return []
    try:
        return secret_values(load_document(segment, is_json))
    except LoadError:
        return None


def file_values(path: str, text: str) -> list[tuple[int, str, Any]]:
    """(1-based line, field, the object it is a field of) of each secret value in a file:
    the field of a `List` item is named within the item. A document that mentions a
    Secret but does not load is one too (a duplicate key, say): nothing can be shown of it."""
    if not may_hold_secret(text):
        return []
    is_json = path.endswith(".json")
    found: list[tuple[int, str, Any]] = []
    line = 1
    for segment in [text] if is_json else split_segments(text):
        if not is_blank(segment) and may_hold_secret(segment):
            try:
                doc = load_document(segment, is_json)
            except LoadError as exc:
                if _MENTIONS_SECRET.search(segment):  # unreadable: it may hold anything
                    found.append(
                        (
                            line + (exc.line or 0),
                            f"(a document that does not load: {exc.reason})",
                            None,
                        )
                    )
                doc = None
            values = secret_values(doc) if doc is not None else []
            lines = {t.value.path: t.line for t in _placed(segment, values) or []}
            found += [(line + lines.get(v.path, 0), *_owner(doc, v)) for v in values]
        line += segment.count("\n")
    return sorted(found, key=lambda f: f[0])


def _owner(doc: Any, value: SecretValue) -> tuple[str, Any]:
    """The value's field within the object it belongs to (a `List` item, or the document),
    and that object."""
    path = value.path
    if len(path) > 2 and path[0] == "items" and isinstance(path[1], int):
        items = doc.get("items") if isinstance(doc, dict) else None
        if isinstance(items, list) and str(doc.get("kind", "")).endswith("List"):
            return field_path(path[2:]), items[path[1]]
    return value.field, doc


def redact_secret_text(text: str, changed: frozenset[str] = frozenset()) -> str:
    """A YAML/JSON document with every secret value replaced by `<redacted>`.

    Lines stay where they were (a multi-line value keeps its line breaks), so a diff's
    line numbers still point into the real file. Fields in `changed` read
    `<redacted (changed)>`, so a diff still shows which value changed.
    """
    values = document_values(text)
    if values is None:
        values = document_values(text, is_json=True)
    if values is None:
        return _redact_whole(text)
    if not values:
        return text
    placed = _placed(text, values)
    if placed is None:
        return _redact_whole(text)
    out: list[str] = []
    at = 0
    for where in sorted(placed, key=lambda t: t.start):
        if where.start < at:
            continue
        marker = REDACTED_CHANGED if where.value.field in changed else REDACTED
        out += [text[at : where.start], marker, "\n" * text.count("\n", where.start, where.end)]
        at = where.end
    out.append(text[at:])
    redacted = "".join(out)
    return redacted if _holds_only_placeholders(redacted) else _redact_whole(text)


def redact_secret_pair(old: str, new: str) -> tuple[str, str]:
    """Both sides of a document's diff, redacted; values that differ are marked changed."""
    old_values, new_values = _values_by_field(old), _values_by_field(new)
    changed = frozenset(
        field
        for field, value in new_values.items()
        if field in old_values and old_values[field] != value
    )
    return redact_secret_text(old), redact_secret_text(new, changed)


def _values_by_field(text: str) -> dict[str, str]:
    values = document_values(text) or []
    placed = _placed(text, values) or []
    return {t.value.field: text[t.start : t.end] for t in placed}


def _redact_whole(text: str) -> str:
    """Every line but blank ones replaced, line breaks kept."""
    return "".join(
        (REDACTED + ("\n" if line.endswith("\n") else "")) if line.strip() else line
        for line in text.splitlines(keepends=True)
    )


def _holds_only_placeholders(text: str) -> bool:
    """Whether every secret value of the redacted document is a placeholder, read back."""
    try:
        doc = load_document(text, is_json=False)
    except LoadError:
        return False
    for value in secret_values(doc):
        current = doc
        for step in value.path:
            current = current[step]
        if current not in PLACEHOLDERS:
            return False
    return True


def _placed(text: str, values: list[SecretValue]) -> list[TextValue] | None:
    """Where each value's node is in the text; None when one cannot be placed."""
    if not values:
        return []
    try:  # the pure-Python composer: its marks count characters
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    placed = []
    for value in values:
        node = _node_at(root, value.path)
        if node is None:
            return None
        placed.append(
            TextValue(value, node.start_mark.index, node.end_mark.index, node.start_mark.line)
        )
    return placed


def _node_at(node: Any, path: tuple[str | int, ...]) -> yaml.Node | None:
    for step in path:
        if isinstance(node, yaml.MappingNode):
            matches = [
                v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(step)
            ]
            if len(matches) != 1:  # merged from elsewhere, or given twice: cannot be placed
                return None
            node = matches[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                return None
            node = node.value[step]
        else:
            return None
    return node if isinstance(node, yaml.Node) else None
