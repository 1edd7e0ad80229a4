"""Turning a file's bytes into the objects it declares (the read path).

A file is split into segments, one per YAML document, so that a write can later
replace or drop one document and leave every other byte of the file as it was.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass
from typing import Any

from store.errors import Invalid, Problem
from store.keys import ObjectKey, key_of
from store.loader import LoadError, load_document, load_yaml
from store.secrets import may_hold_secret, secret_values

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
    holds_secret: bool = False  # has values that may not be shown (store.secrets)


@dataclass(frozen=True)
class ParsedFile:
    """What a file declares. Its text is not kept (a large repository's parsed objects
    stay in memory, their text need not): `file_segments` cuts it again for a write."""

    declarations: tuple[Declaration, ...]
    problems: tuple[Problem, ...]
    is_json: bool
    stale: str = ""  # the blob whose declarations these are: the file no longer loads


_LOAD_PROBLEMS = ("invalid YAML", "invalid JSON", "not UTF-8")


def keep_last_good(new: ParsedFile, old: ParsedFile, old_blob: str) -> ParsedFile:
    """What a file declares when a commit broke it: Argo CD and Flux fail to sync it and
    the cluster keeps what it had, so its last good declarations stay served, and the
    breakage is a problem that says so (never a silent deletion). A file that merely
    declares nothing now is taken as it is."""
    broken = (
        not new.declarations
        and new.problems
        and all(p.message.startswith(_LOAD_PROBLEMS) for p in new.problems)
    )
    if not broken or not old.declarations:
        return new
    good = old.stale or old_blob
    note = Problem(
        new.problems[0].path,
        new.problems[0].line,
        f"does not load, so its last good version ({good[:12]}) is still served: fix it in Git",
    )
    return ParsedFile(old.declarations, (*new.problems, note), old.is_json, good)


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


def is_list(doc: Any) -> bool:
    """A `List` (or `ConfigMapList`...) document: its items are the objects."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return (
        isinstance(kind, str)
        and _LIST_KIND.match(kind) is not None
        and isinstance(doc.get("items"), list)
    )


def is_blank(segment: str) -> bool:
    """True for a document with nothing but markers, comments and blank lines."""
    return _BLANK_OR_COMMENT.match(segment) is not None


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, as Kubernetes reads them (timestamps stay strings)."""
    return [load_yaml(segment) for segment in split_segments(text) if not is_blank(segment)]


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
                found = _Found(path, index, line, may_hold_secret(segment), declarations, problems)
                _declare(found, doc, directory_namespace, cluster_kinds)
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
        return load_document(segment, is_json), None
    except LoadError as exc:
        return None, load_problem(path, line, exc, is_json)


def load_problem(path: str, line: int, exc: LoadError, is_json: bool) -> Problem:
    """The Problem of a document starting at `line` of `path` that did not load."""
    where = line + (exc.line or 0)
    reason = exc.reason
    if exc.noticed is not None and exc.noticed != exc.line:
        reason += f" (noticed at line {line + exc.noticed})"
    return Problem(path, where, f"invalid {'JSON' if is_json else 'YAML'}: {reason}")


@dataclass
class _Found:
    """Where the declarations of one document go, and what is known of its text."""

    path: str
    segment: int
    line: int
    may_hold_secret: bool
    declarations: list[Declaration]
    problems: list[Problem]


def _declare(
    found: _Found,
    doc: Any,
    directory_namespace: str | None,
    cluster_kinds: frozenset[tuple[str, str]],
) -> None:
    if not isinstance(doc, dict):
        found.problems.append(
            Problem(found.path, found.line, "document is not a mapping, so not a Kubernetes object")
        )
        return
    api_version = doc.get("apiVersion")
    if isinstance(api_version, str) and api_version.startswith("kustomize.config.k8s.io/"):
        return  # kustomize configuration, not an object
    if is_list(doc):
        for item_index, item in enumerate(doc["items"]):
            _declare_one(found, item, item_index, directory_namespace, cluster_kinds)
        return
    _declare_one(found, doc, None, directory_namespace, cluster_kinds)


def is_sync_hook(obj: Any) -> bool:
    """A hook runs during a sync and is not kept applied (Argo CD's annotation, or
    Helm's, which Argo CD reads the same way; a CRD install hook is kept)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict):
        return False
    argo = annotations.get("argocd.argoproj.io/hook")
    if isinstance(argo, str) and argo:
        return True
    hook = annotations.get("helm.sh/hook")
    return isinstance(hook, str) and bool(hook) and hook != "crd-install"


def _generated_name(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata")
    return isinstance(meta, dict) and not meta.get("name") and bool(meta.get("generateName"))


def _declare_one(
    found: _Found,
    obj: Any,
    item: int | None,
    directory_namespace: str | None,
    cluster_kinds: frozenset[tuple[str, str]],
) -> None:
    try:
        key = key_of(obj, directory_namespace, cluster_kinds)
    except Invalid as exc:
        if is_sync_hook(obj) and _generated_name(obj):
            return  # made anew at each sync (an Argo CD or Helm hook): nothing to serve
        where = f" (items[{item}])" if item is not None else ""
        causes = "; ".join(f"{c.field}: {c.message}" for c in exc.causes)
        found.problems.append(
            Problem(found.path, found.line, f"not a valid Kubernetes object{where}: {causes}")
        )
        return
    holds_secret = found.may_hold_secret and bool(secret_values(obj))
    found.declarations.append(Declaration(key, obj, found.segment, item, found.line, holds_secret))
