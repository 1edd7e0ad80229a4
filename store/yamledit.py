"""Writing objects back into files so that `git diff` shows only what changed.

Three ways, cheapest first:
- a new document is dumped with PyYAML (block style, key order kept);
- an update that only changes scalar values is spliced into the original text at the
  positions PyYAML's composer reports, so comments, quoting and layout stay;
- any other update goes through ruamel.yaml's round-trip loader (slow, but it keeps
  comments and key order), told the file's indentation.
Every spliced or round-tripped result is parsed again and compared with the intended
object; a mismatch falls back to the next way, so a write never stores something else.
"""

from __future__ import annotations

import copy
import io
import json
import re
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.util import load_yaml_guess_indent

from store.documents import LOADED, is_blank
from store.equality import same
from store.loader import KubeLoader, load_yaml

try:
    _BaseDumper: type[yaml.SafeDumper] = yaml.CSafeDumper  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _BaseDumper = yaml.SafeDumper


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """Objects written out whole: a value shared in memory (an alias in a request body)
    is not an anchor in Git, as kube-apiserver stores the JSON the alias stood for."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_WIDTH = 1 << 16  # never fold long strings: folding makes one-value changes multi-line diffs
_LEADING_MARKER = re.compile(r"\A(?:[ \t]*#[^\n]*\n|[ \t]*\n)*---[^\n]*\n")
_TRAILING_MARKER = re.compile(r"\n\.\.\.[^\n]*\n?\Z")
_REMOVED = object()


def dump_document(obj: Any) -> str:
    return yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=_WIDTH,
    )


def update_document(segment: str, old: Any, new: Any) -> str:
    """The document `segment` (which parses to `old`) rewritten to hold `new`."""
    if same(old, new):
        return segment
    spliced = _splice_scalars(segment, old, new)
    if spliced is not None:
        loaded = load_yaml(spliced)
        if same(loaded, new):
            LOADED.hand_over(spliced, loaded)  # parsed again once committed: taken there
            return spliced
    return _round_trip(segment, new)


class FileEdit:
    """Pending changes to one file: replace, remove or append documents, then render."""

    def __init__(self, segments: tuple[str, ...] = (), is_json: bool = False) -> None:
        self._segments = list(segments)
        self._is_json = is_json
        self._original: dict[int, Any] = {}
        self._pending: dict[int, Any] = {}
        self._appended: list[tuple[Any, str | None]] = []

    @property
    def original_segments(self) -> tuple[str, ...]:
        """The file's documents as they were before this edit."""
        return tuple(self._segments)

    def replace(self, segment: int, item: int | None, obj: Any, original: Any) -> None:
        self._set(segment, item, obj, original)

    def remove(self, segment: int, item: int | None, original: Any) -> None:
        self._set(segment, item, _REMOVED, original)

    def append(self, obj: Any, text: str | None = None) -> None:
        """Add a document; `text`, when given, is its exact YAML (restoring old bytes)."""
        self._appended.append((obj, text))

    def render(self) -> str | None:
        """The new file text, or None when no document is left (the file goes)."""
        self._drop_removed_items()
        if self._is_json:
            return self._render_json()
        out: list[str] = []
        for index, segment in enumerate(self._segments):
            if index not in self._pending:
                out.append(segment)
                continue
            doc = self._pending[index]
            if doc is _REMOVED:
                continue
            out.append(update_document(segment, self._original[index], doc))
        for obj, text in self._appended:
            body = text if text is not None else dump_document(obj)
            if not _LEADING_MARKER.match(body):
                body = "---\n" + body
            if out and not out[-1].endswith("\n"):
                out[-1] += "\n"
            out.append(body)
        text = "".join(out)
        if is_blank(text):
            return None
        # A `---` that only separated a removed first document from the next one goes too.
        if text.startswith("---\n") and not "".join(self._segments).startswith("---"):
            text = text[4:]
        return text

    def _set(self, segment: int, item: int | None, value: Any, original: Any) -> None:
        if item is None:
            self._original.setdefault(segment, original)
            self._pending[segment] = value
            return
        if segment not in self._pending:
            whole = (
                load_yaml(self._segments[segment])
                if not self._is_json
                else json.loads(self._segments[segment])
            )
            self._original[segment] = whole
            self._pending[segment] = copy.deepcopy(whole)
        self._pending[segment]["items"][item] = value

    def _render_json(self) -> str | None:
        doc = self._pending.get(0, self._original.get(0))
        if doc is None and self._segments:
            doc = json.loads(self._segments[0])
        if doc is _REMOVED:
            doc = None
        docs = [doc] if doc is not None else []
        docs.extend(obj for obj, _ in self._appended)
        if not docs:
            return None
        if len(docs) > 1:
            docs = [{"apiVersion": "v1", "kind": "List", "items": docs}]
        return json.dumps(docs[0], indent=2, ensure_ascii=False) + "\n"

    def _drop_removed_items(self) -> None:
        for doc in self._pending.values():
            if isinstance(doc, dict) and isinstance(doc.get("items"), list):
                doc["items"] = [i for i in doc["items"] if i is not _REMOVED]


def _scalar_changes(
    old: Any, new: Any, path: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], Any]] | None:
    """Paths whose scalar value differs, or None when the shape itself changed."""
    if isinstance(old, dict) and isinstance(new, dict):
        if old.keys() != new.keys():
            return None
        changes: list[tuple[tuple[Any, ...], Any]] = []
        for key in old:
            sub = _scalar_changes(old[key], new[key], (*path, key))
            if sub is None:
                return None
            changes.extend(sub)
        return changes
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return None
        changes = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            sub = _scalar_changes(a, b, (*path, index))
            if sub is None:
                return None
            changes.extend(sub)
        return changes
    if isinstance(old, (dict, list)) or isinstance(new, (dict, list)):
        return None
    return [] if same(old, new) else [(path, new)]


def _splice_scalars(segment: str, old: Any, new: Any) -> str | None:
    changes = _scalar_changes(old, new)
    if changes is None or "&" in segment or "<<" in segment:
        return None  # anchors and merge keys: one node may stand for several values
    root = yaml.compose(segment, Loader=KubeLoader)
    edits: list[tuple[int, int, str]] = []
    for path, value in changes:
        node = _node_at(root, path)
        if node is None or node.start_mark.line != node.end_mark.line or node.style in ("|", ">"):
            return None
        text = _render_scalar(value, node.style)
        if text is None:
            return None
        edits.append((node.start_mark.index, node.end_mark.index, text))
    for start, end, text in sorted(edits, reverse=True):
        segment = segment[:start] + text + segment[end:]
    return segment


def _node_at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if str(k.value) == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node = node.value[step] if step < len(node.value) else None
        else:
            return None
        if node is None:
            return None
    return node if isinstance(node, yaml.ScalarNode) else None


def _render_scalar(value: Any, style: str | None) -> str | None:
    if isinstance(value, str) and style == '"':
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    text = yaml.dump(
        value, Dumper=_Dumper, default_flow_style=True, allow_unicode=True, width=_WIDTH
    )
    text = text.removesuffix("\n...\n").removesuffix("\n")
    return None if "\n" in text else text


def _round_trip(segment: str, new: Any) -> str:
    lead = _LEADING_MARKER.match(segment)
    prefix = lead.group(0) if lead else ""
    trail = _TRAILING_MARKER.search(segment)
    suffix = trail.group(0).lstrip("\n") if trail else ""
    body = segment[len(prefix) : trail.start() + 1 if trail else len(segment)]
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = _WIDTH
    try:
        _, indent, block_seq_indent = load_yaml_guess_indent(body)
        offset = block_seq_indent or 0
        rt.indent(
            mapping=_mapping_indent(body), sequence=max(indent or 2, offset + 2), offset=offset
        )
        data = rt.load(body)
    except Exception:
        return prefix + dump_document(new) + suffix
    if not isinstance(data, dict) or not isinstance(new, dict):
        return prefix + dump_document(new) + suffix
    _merge_into(data, new)
    out = io.StringIO()
    rt.dump(data, out)
    result = prefix + out.getvalue() + suffix
    return result if same(load_yaml(result), new) else prefix + dump_document(new) + suffix


_NESTED_KEY = re.compile(r"^[^ #\-\n][^\n]*:[ \t]*(?:#[^\n]*)?\n([ ]+)[^ #\-\n]", re.MULTILINE)


def _mapping_indent(text: str) -> int:
    """Indentation of the first nested mapping in `text` (2 when there is none)."""
    match = _NESTED_KEY.search(text)
    return len(match.group(1)) if match else 2


def _merge_into(target: Any, new: dict[str, Any]) -> None:
    """Make ruamel's commented mapping equal `new`, touching only what differs."""
    for key in [k for k in target if k not in new]:
        del target[key]
    for key, value in new.items():
        if key not in target:
            target[key] = value
            continue
        current = target[key]
        if isinstance(current, dict) and isinstance(value, dict):
            _merge_into(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            _merge_list(current, value)
        elif not same(current, value):
            target[key] = value


def _merge_list(current: Any, new: list[Any]) -> None:
    """Items keep their comments when matched by position, or by `name` when it moved."""
    by_name = {i.get("name"): i for i in current if isinstance(i, dict) and "name" in i}
    merged = []
    for index, item in enumerate(new):
        old = current[index] if index < len(current) and len(current) == len(new) else None
        if old is None and isinstance(item, dict) and "name" in item:
            old = by_name.get(item["name"])
        if isinstance(old, dict) and isinstance(item, dict):
            _merge_into(old, item)
            merged.append(old)
        elif old is not None and same(old, item):
            merged.append(old)
        else:
            merged.append(item)
    current[:] = merged
