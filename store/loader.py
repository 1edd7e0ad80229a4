"""YAML and JSON read the way Kubernetes' strict decoders read them: one loader for all.

Served objects, revision diffs, `gitplane scan`, the webhook, the CLI and the write
path's check of what it is about to commit all load documents here, so no two readers
can disagree about what a document says (a Secret hidden behind a merge key or a
duplicate key was once invisible to the diff and the scan, and plain to Argo CD).

Like sigs.k8s.io/yaml's strict decoding (go-yaml underneath):
- a key given twice in one mapping is an error, never "the last one wins";
- `<<` merge keys are expanded (explicit keys win); aliases too, within go-yaml's bound
  on how much of a document may come from alias expansion, so a 500-byte "billion
  laughs" is refused at once instead of costing gigabytes wherever it is expanded;
- timestamps stay strings, and mapping keys are strings (`1:` is "1"), as in the JSON
  Kubernetes turns YAML into;
- only values JSON can carry: no NaN or infinities, no binary, sets or custom tags;
- nesting deeper than MAX_DEPTH is refused (every recursive reader stays far from
  Python's recursion limit).
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

import yaml

try:  # the C parser is ~10x faster; fall back to pure Python where libyaml is missing
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader

MAX_DEPTH = 200
"""Nested mappings and lists a document may have (the request bodies' bound too, see
kube.bodies). Real objects stay far below (a CRD embedding a pod template is about 60
deep); every reader recurses per level, and PyYAML's emitter fails near 330."""

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null")
)
# go-yaml's bound on alias expansion (yaml.v2 decode.go, allowedAliasRatio): up to 99% of
# a small document may come from aliases, falling to 10% for documents of 4M nodes.
_ALIAS_RATIO_LOW, _ALIAS_RATIO_HIGH = 400_000, 4_000_000
# Strings up to this length are interned: ten thousand manifests repeat the same keys
# and many of the same values ("apiVersion", "TCP", "IfNotPresent"), and one shared copy
# of each keeps a large repository's parsed objects a third smaller (marshal keeps the
# sharing in the parse cache on disk too).
_INTERNED_LENGTH = 100


class LoadError(yaml.YAMLError):
    """A document that Kubernetes would not decode; `line` is 0-based in the text given."""

    def __init__(self, reason: str, line: int | None = None, noticed: int | None = None) -> None:
        super().__init__(reason if line is None else f"line {line + 1}: {reason}")
        self.reason = reason
        self.line = line
        self.noticed = noticed  # where the parser gave up, when not where the fault starts


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
            return _STR  # quoted: always a string
        tag = _PLAIN_TAGS.get(value)
        if tag is None:
            tag = str(_BaseLoader.resolve(self, kind, value, implicit))  # type: ignore[no-untyped-call]
            if len(_PLAIN_TAGS) < 200_000 and len(value) < 256:
                _PLAIN_TAGS[value] = tag
        return tag
    return _MAP if kind is yaml.MappingNode else _SEQ


KubeLoader.resolve = _resolve
KubeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def load_document(text: str, is_json: bool) -> Any:
    """One document of a file: JSON for a `.json` file, YAML otherwise."""
    return load_json(text) if is_json else load_yaml(text)


def load_yaml(text: str) -> Any:
    """One YAML document as plain data; raises LoadError (a yaml.YAMLError)."""
    loader = KubeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            # Point at where the broken construct starts (an unclosed `[` is only noticed
            # at the end of the document), and say where the parser gave up.
            mark = exc.context_mark or exc.problem_mark
            noticed = exc.problem_mark.line if exc.problem_mark is not None else None
            reason = _first_line(exc.problem or str(exc))
            raise LoadError(reason, mark.line if mark else None, noticed) from None
        except yaml.YAMLError as exc:
            raise LoadError(_first_line(str(exc))) from None
        if node is None:
            return None
        return _Builder(loader, counts_aliases="*" in text).build(node, 0)
    finally:
        loader.dispose()


def load_json(text: str) -> Any:
    """One JSON document as plain data; raises LoadError, as load_yaml does."""
    try:
        doc = json.loads(
            text,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except LoadError:
        raise
    except json.JSONDecodeError as exc:
        raise LoadError(f"invalid JSON: {exc.msg}", exc.lineno - 1) from None
    except RecursionError:
        raise LoadError(_too_deep()) from None
    except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
        found = re.search(r"value has (\d+) digits", str(exc))
        raise LoadError(_out_of_range(int(found[1])) if found else _first_line(str(exc))) from None
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth(doc) > MAX_DEPTH:
        raise LoadError(_too_deep())
    return doc


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _too_deep() -> str:
    return f"exceeded max depth of {MAX_DEPTH}"  # goyaml's words, with our limit


def _out_of_range(digits: int) -> str:
    return f"value out of range: a number of {digits} digits does not fit a 64-bit float"


def _no_constant(name: str) -> Any:
    raise LoadError(f"{name} is not a number JSON can carry (json: unsupported value)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise LoadError(f"{text} is out of range for a number JSON can carry")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise LoadError(f"key {json.dumps(key)} already set in map")
            seen.add(key)
    return result


def _depth(doc: Any) -> int:
    deepest = 0
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _json_key(key: Any, node: yaml.Node) -> str:
    """A mapping key as the JSON Kubernetes turns YAML into has it (sigs.k8s.io/yaml)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return json.dumps(key)
    raise LoadError(f"unsupported map key: {node.value or node.tag}", node.start_mark.line)


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _ALIAS_RATIO_LOW:
        return 0.99
    if decoded >= _ALIAS_RATIO_HIGH:
        return 0.10
    span = _ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW
    return 0.99 - 0.89 * (decoded - _ALIAS_RATIO_LOW) / span


class _Builder:
    """Plain data from the composed node tree, about twice as fast as PyYAML's constructor.

    PyYAML's constructor spends most of a load in generic Python dispatch. Here plain maps,
    lists and strings are built directly; other scalars go to PyYAML's safe constructor and
    must come out as values JSON can carry. An alias shares the object it names, as
    PyYAML does, and counts as go-yaml counts it: every node of what it stands for is
    decoded again there (`decoded`), and came from an alias (`aliased`).
    """

    __slots__ = ("aliased", "building", "built", "counts_aliases", "decoded", "loader", "sizes")

    def __init__(self, loader: Any, *, counts_aliases: bool) -> None:
        self.loader = loader
        self.built: dict[int, Any] = {}
        self.building: set[int] = set()
        self.counts_aliases = counts_aliases  # no `*` in the text: no alias to count
        self.sizes: dict[int, int] = {}  # node -> nodes decoded to build it, aliases expanded
        self.decoded = 0
        self.aliased = 0

    def build(self, node: yaml.Node, depth: int) -> Any:
        self.decoded += 1
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        ident = id(node)
        if ident in self.built:
            if self.counts_aliases:
                self._expand_alias(ident, node)
            return self.built[ident]
        if ident in self.building:
            raise LoadError("recursive alias: a node contains itself", node.start_mark.line)
        if depth >= MAX_DEPTH:
            raise LoadError(_too_deep(), node.start_mark.line)
        self.building.add(ident)
        before = self.decoded
        tag = node.tag
        if isinstance(node, yaml.MappingNode) and tag == _MAP:
            result: Any = self._mapping(node, depth + 1)
        elif isinstance(node, yaml.SequenceNode) and tag == _SEQ:
            result = [self.build(item, depth + 1) for item in node.value]
        else:
            raise LoadError(f"the YAML tag {tag} is not supported", node.start_mark.line)
        self.building.discard(ident)
        self.built[ident] = result
        if self.counts_aliases:
            self.sizes[ident] = self.decoded - before + 1
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR:
            value: str = node.value
            return sys.intern(value) if len(value) <= _INTERNED_LENGTH else value
        if tag not in _SCALAR_TAGS:
            raise LoadError(f"the YAML tag {tag} is not supported", node.start_mark.line)
        try:
            value = self.loader.construct_object(node, deep=True)
        except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
            digits = sum(c.isdigit() for c in node.value)
            reason = _out_of_range(digits) if "digits" in str(exc) else _first_line(str(exc))
            raise LoadError(reason, node.start_mark.line) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise LoadError(
                f"{node.value} is not a number JSON can carry (json: unsupported value)",
                node.start_mark.line,
            )
        return value

    def _mapping(self, node: yaml.MappingNode, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.decoded += 1
                for source in self._merge_sources(value_node, depth):
                    for key, value in source.items():
                        merged.setdefault(key, value)  # earlier mappings take precedence
                continue
            key = self.build(key_node, depth)
            if type(key) is not str:
                key = _json_key(key, key_node)
            if key in result:
                raise LoadError(
                    f"key {json.dumps(key)} already set in map", key_node.start_mark.line
                )
            result[key] = self.build(value_node, depth)
        if merged:  # explicit keys win over merged ones
            return {**{k: v for k, v in merged.items() if k not in result}, **result}
        return result

    def _merge_sources(self, node: yaml.Node, depth: int) -> list[dict[Any, Any]]:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = []
        for item in nodes:
            if not isinstance(item, yaml.MappingNode):
                raise LoadError(
                    "map merge requires map or sequence of maps as the value",
                    item.start_mark.line,
                )
            sources.append(self.build(item, depth))
        return sources

    def _expand_alias(self, ident: int, node: yaml.Node) -> None:
        size = self.sizes.get(ident, 1)
        self.decoded += size
        self.aliased += size
        if (
            self.aliased > 100
            and self.decoded > 1000
            and self.aliased / self.decoded > _allowed_alias_ratio(self.decoded)
        ):
            raise LoadError("document contains excessive aliasing", node.start_mark.line)
