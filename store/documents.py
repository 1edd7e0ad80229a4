"""Turning a file's bytes into the objects it declares (the read path).

A file is split into segments, one per YAML document, so that a write can later
replace or drop one document and leave every other byte of the file as it was.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any

import yaml

from store.errors import Invalid, Problem
from store.keys import ObjectKey, key_of

try:  # the C loader is ~10x faster; fall back to pure Python where libyaml is missing
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader


class KubeLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """YAML 1.1 like Kubernetes' own decoder, except that timestamps stay strings.

    kubectl turns YAML into JSON, where `2024-01-01` is a string; PyYAML would make a
    datetime that has no JSON form.
    """


_PLAIN_TAGS: dict[str, str] = {}  # plain scalar -> resolved tag; keys and values repeat a lot


def _resolve(self: Any, kind: Any, value: Any, implicit: Any) -> str:
    # The composer asks for every node; resolving each plain scalar afresh (a regex per
    # candidate type) is the slowest part of a load, so answers are remembered.
    if kind is yaml.ScalarNode:
        if not implicit[0]:
            return "tag:yaml.org,2002:str"  # quoted: always a string
        tag = _PLAIN_TAGS.get(value)
        if tag is None:
            tag = str(_BaseLoader.resolve(self, kind, value, implicit))  # type: ignore[no-untyped-call]
            if len(_PLAIN_TAGS) < 200_000 and len(value) < 256:
                _PLAIN_TAGS[value] = tag
        return tag
    return "tag:yaml.org,2002:map" if kind is yaml.MappingNode else "tag:yaml.org,2002:seq"


KubeLoader.resolve = _resolve
KubeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}

_DOC_START = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
_DOC_END = re.compile(r"^\.\.\.[ \t]*(?:#[^\n]*)?(?:\r?\n|$)", re.MULTILINE)
_BLANK_OR_COMMENT = re.compile(
    r"^(?:[ \t]*(?:#[^\n]*)?(?:\r?\n|$)|---[ \t]*(?:\r?\n|$)|\.\.\.[ \t]*(?:\r?\n|$))*\Z"
)
_LIST_KIND = re.compile(r"^(?:[A-Z][A-Za-z0-9]*)?List$")


@dataclass(frozen=True)
class Declaration:
    """One object a file declares: where, and what (treat `obj` as read-only)."""

    key: ObjectKey
    obj: dict[str, Any]
    segment: int  # index of the YAML document in the file
    item: int | None  # index in a `List` document's items, else None
    line: int  # 1-based line where the document (or item) starts


@dataclass(frozen=True)
class ParsedFile:
    """What a file declares. Its text is not kept (a large repository's parsed objects
    stay in memory, their text need not): `file_segments` cuts it again for a write."""

    declarations: tuple[Declaration, ...]
    problems: tuple[Problem, ...]
    is_json: bool


def file_segments(data: bytes, is_json: bool) -> tuple[str, ...]:
    """The documents of a file as parse_file cut them; joined, they are its text exactly."""
    text = data.decode("utf-8")
    return (text,) if is_json else tuple(split_segments(text))


def split_segments(text: str) -> list[str]:
    """Cut YAML text into documents; joining the pieces gives back the text exactly."""
    cuts = {m.start() for m in _DOC_START.finditer(text)}
    cuts.update(m.end() for m in _DOC_END.finditer(text))
    cuts.discard(0)
    cuts.discard(len(text))
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a] or [text]


def is_blank(segment: str) -> bool:
    """True for a document with nothing but markers, comments and blank lines."""
    return _BLANK_OR_COMMENT.match(segment) is not None


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, as Kubernetes reads them (timestamps stay strings)."""
    return [load_yaml(segment) for segment in split_segments(text) if not is_blank(segment)]


def load_yaml(text: str) -> Any:
    """One YAML document as plain data, about twice as fast as `yaml.load`.

    PyYAML's constructor spends most of a load in generic Python dispatch. Here the C
    parser composes the node tree and plain maps, lists and strings are built directly;
    every other tag goes to PyYAML's own (safe) constructor, so results are the same.
    """
    loader = KubeLoader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(loader, node, {}, set())
    finally:
        loader.dispose()


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


# Strings up to this length are interned: ten thousand manifests repeat the same keys
# and many of the same values ("apiVersion", "TCP", "IfNotPresent"), and one shared copy
# of each keeps a large repository's parsed objects a third smaller (marshal keeps the
# sharing in the parse cache on disk too).
_INTERNED_LENGTH = 100


def _build(loader: Any, node: yaml.Node, built: dict[int, Any], building: set[int]) -> Any:
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        if tag == _STR:
            value: str = node.value
            return sys.intern(value) if len(value) <= _INTERNED_LENGTH else value
        return loader.construct_object(node, deep=True)
    ident = id(node)
    if ident in built:  # an alias: share the object, as PyYAML does (no exponential copies)
        return built[ident]
    if ident in building:
        raise yaml.constructor.ConstructorError(
            None, None, "recursive alias: a node contains itself", node.start_mark
        )
    building.add(ident)
    try:
        if isinstance(node, yaml.MappingNode) and tag == _MAP:
            if any(key.tag == _MERGE for key, _ in node.value):
                result: Any = loader.construct_object(node, deep=True)  # `<<` merge keys
            else:
                result = {}
                for key_node, value_node in node.value:
                    key = _build(loader, key_node, built, building)
                    if not isinstance(key, (str, int, float, bool)) and key is not None:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            "found an unhashable or complex mapping key",
                            key_node.start_mark,
                        )
                    result[key] = _build(loader, value_node, built, building)
        elif isinstance(node, yaml.SequenceNode) and tag == _SEQ:
            result = [_build(loader, item, built, building) for item in node.value]
        else:
            result = loader.construct_object(node, deep=True)
    finally:
        building.discard(ident)
    built[ident] = result
    return result


def parse_file(
    path: str,
    data: bytes,
    directory_namespace: str | None,
    cluster_kinds: frozenset[tuple[str, str]] = frozenset(),
) -> ParsedFile:
    """Every object `data` declares, and a Problem for each document that is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParsedFile((), (Problem(path, 1, f"not UTF-8 text: {exc.reason}"),), False)
    is_json = path.endswith(".json")
    segments = [text] if is_json else split_segments(text)
    declarations: list[Declaration] = []
    problems: list[Problem] = []
    line = 1
    for index, segment in enumerate(segments):
        if not is_blank(segment):
            doc, problem = _load_segment(path, segment, line, is_json)
            if problem:
                problems.append(problem)
            elif doc is not None:
                _declare(
                    path,
                    doc,
                    index,
                    line,
                    directory_namespace,
                    cluster_kinds,
                    declarations,
                    problems,
                )
        line += segment.count("\n")
    return ParsedFile(tuple(declarations), tuple(problems), is_json)


class LoadedDocuments:
    """Documents a write has just loaded to check the text it made (store.yamledit),
    handed to the parse of the file it commits, where the same text comes back: each
    loaded once (a tenth of a small write's CPU). Each is taken once, so no two
    readers share an object; a few are kept, as a write may never be committed (a dry
    run, a conflict)."""

    def __init__(self, kept: int = 64) -> None:
        self._kept = kept
        self._documents: dict[str, Any] = {}
        self._lock = threading.Lock()

    def hand_over(self, text: str, document: Any) -> None:
        with self._lock:
            self._documents[text] = document
            if len(self._documents) > self._kept:  # the oldest goes (dicts keep order)
                del self._documents[next(iter(self._documents))]

    def take(self, text: str) -> Any:
        """The document loaded from `text`, or None."""
        with self._lock:
            return self._documents.pop(text, None)


LOADED = LoadedDocuments()


def _load_segment(path: str, segment: str, line: int, is_json: bool) -> tuple[Any, Problem | None]:
    if not is_json and (loaded := LOADED.take(segment)) is not None:
        return loaded, None
    try:
        return (json.loads(segment) if is_json else load_yaml(segment)), None
    except json.JSONDecodeError as exc:
        return None, Problem(path, line + exc.lineno - 1, f"invalid JSON: {exc.msg}")
    except yaml.YAMLError as exc:
        # Point at where the broken construct starts (an unclosed `[` is only noticed at
        # the end of the document); say where the parser gave up too.
        problem = getattr(exc, "problem_mark", None)
        context = getattr(exc, "context_mark", None)
        mark = context or problem
        where = line + (mark.line if mark is not None else 0)
        reason = getattr(exc, "problem", None) or str(exc)
        if context is not None and problem is not None and problem.line != context.line:
            reason += f" (noticed at line {line + problem.line})"
        return None, Problem(path, where, f"invalid YAML: {reason}")


def _declare(
    path: str,
    doc: Any,
    segment: int,
    line: int,
    directory_namespace: str | None,
    cluster_kinds: frozenset[tuple[str, str]],
    declarations: list[Declaration],
    problems: list[Problem],
) -> None:
    if not isinstance(doc, dict):
        problems.append(
            Problem(path, line, "document is not a mapping, so not a Kubernetes object")
        )
        return
    api_version = doc.get("apiVersion")
    if isinstance(api_version, str) and api_version.startswith("kustomize.config.k8s.io/"):
        return  # kustomize configuration, not an object
    kind = doc.get("kind")
    if isinstance(kind, str) and _LIST_KIND.match(kind) and isinstance(doc.get("items"), list):
        for item_index, item in enumerate(doc["items"]):
            _declare_one(
                path,
                item,
                segment,
                item_index,
                line,
                directory_namespace,
                cluster_kinds,
                declarations,
                problems,
            )
        return
    _declare_one(
        path, doc, segment, None, line, directory_namespace, cluster_kinds, declarations, problems
    )


def _declare_one(
    path: str,
    obj: Any,
    segment: int,
    item: int | None,
    line: int,
    directory_namespace: str | None,
    cluster_kinds: frozenset[tuple[str, str]],
    declarations: list[Declaration],
    problems: list[Problem],
) -> None:
    try:
        key = key_of(obj, directory_namespace, cluster_kinds)
    except Invalid as exc:
        where = f" (items[{item}])" if item is not None else ""
        causes = "; ".join(f"{c.field}: {c.message}" for c in exc.causes)
        problems.append(Problem(path, line, f"not a valid Kubernetes object{where}: {causes}"))
        return
    declarations.append(Declaration(key, obj, segment, item, line))
