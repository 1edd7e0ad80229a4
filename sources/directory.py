"""Argo CD's plain directory source: the manifests in a path, read as its repo-server reads
them (`directory.recurse`, `include`/`exclude` globs), with the one loader."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from sources.gittree import GitTree, normalize
from sources.model import RenderError
from store.documents import is_blank, is_list, split_segments
from store.loader import LoadError, load_document

_MANIFEST = re.compile(r"^.*\.(yaml|yml|json|jsonnet)$")
_BRACES = re.compile(r"\{([^{}]*)\}")
_LOOKS_LIKE_AN_OBJECT = (b"apiVersion:", b"kind:", b"metadata:")


def render_directory(
    tree: GitTree, path: str, options: dict[str, Any]
) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """(object, (file,)) for each object of the directory, in file order."""
    directory = normalize(path)
    recurse = bool(options.get("recurse"))
    include = _patterns(options.get("include"))
    exclude = _patterns(options.get("exclude"))
    prefix = f"{directory}/" if directory else ""
    found: list[tuple[dict[str, Any], tuple[str, ...]]] = []
    for file in sorted(tree.files_under(directory, recurse=recurse)):
        relative = file[len(prefix) :]
        if not _MANIFEST.match(relative):
            continue
        if exclude and _matches(relative, exclude):
            continue
        if include and not _matches(relative, include):
            continue
        if relative.endswith(".jsonnet"):
            raise RenderError(f"{file}: jsonnet cannot be rendered offline by gitplane")
        data = tree.read(file) or b""
        if b"+argocd:skip-file-rendering" in data:
            continue
        found += [(obj, (file,)) for obj in _objects(file, data)]
    return found


def _objects(path: str, data: bytes) -> list[dict[str, Any]]:
    is_json = path.endswith(".json")
    text = data.decode("utf-8", "replace")
    objects: list[dict[str, Any]] = []
    for segment in [text] if is_json else split_segments(text):
        if is_blank(segment):
            continue
        try:
            doc = load_document(segment, is_json)
        except LoadError as exc:
            if all(marker in data for marker in _LOOKS_LIKE_AN_OBJECT):
                raise RenderError(f"{path}: {exc}") from None
            return []  # not a manifest at all: Argo CD skips it
        if is_list(doc):
            objects += [item for item in doc["items"] if isinstance(item, dict)]
        elif isinstance(doc, dict):
            objects.append(doc)
    return objects


def _patterns(value: Any) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return []
    return _expand_braces(value.strip())


def _expand_braces(pattern: str) -> list[str]:
    found = _BRACES.search(pattern)
    if found is None:
        return [pattern]
    head, tail = pattern[: found.start()], pattern[found.end() :]
    return [p for option in found.group(1).split(",") for p in _expand_braces(head + option + tail)]


def _matches(relative: str, patterns: list[str]) -> bool:
    # gobwas/glob without separators: `*` crosses `/`, as fnmatch's does.
    return any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns)
