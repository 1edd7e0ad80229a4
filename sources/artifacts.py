"""Flux ExternalArtifacts that an ArtifactGenerator (Flux's source-watcher) makes from
this repository: the artifact's files as the generator's copy operations lay them out,
read as a tree of their own, each file knowing the repository file it came from.

Copy operations follow source-watcher's builder: `@alias/dir/**` copies the contents of
`dir`, `@alias/dir` copies the directory itself, `@alias/file` copies one file (into a
directory when `to` ends with `/` or names one already made), other globs keep the path
they matched; later operations overwrite earlier ones; `exclude` patterns (doublestar)
are matched against the path and against it relative to the selection's literal prefix.
`pathPattern` makes one artifact per matching directory. What cannot be laid out offline
(another kind of source, the Merge and Extract strategies) is an error of the render.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sources.gittree import GitTree, normalize
from sources.model import RenderError, mapping

GROUP = "source.extensions.fluxcd.io"
_GLOB = re.compile(r"[*?\[\]]")


@dataclass(frozen=True)
class Generated:
    """One artifact a generator declares (after its pathPattern, if any)."""

    declared_in: str  # the generator's file
    generator: str  # namespace/name of the ArtifactGenerator
    sources: dict[str, dict[str, Any]]  # alias -> source reference
    copy: tuple[dict[str, Any], ...]


def is_generator(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("kind") == "ArtifactGenerator"
        and str(obj.get("apiVersion", "")).startswith(f"{GROUP}/")
    )


def generated_artifacts(
    documents: list[tuple[str, dict[str, Any]]], tree: GitTree, default_namespace: str
) -> dict[tuple[str, str], list[Generated]]:
    """(namespace, name) of every ExternalArtifact the repository's generators make, and
    who makes it (one generator per cluster directory may make the same artifact)."""
    found: dict[tuple[str, str], list[Generated]] = {}
    for path, obj in documents:
        if not is_generator(obj):
            continue
        meta, spec = mapping(obj.get("metadata")), mapping(obj.get("spec"))
        namespace = str(meta.get("namespace") or default_namespace)
        sources = {
            str(s["alias"]): s
            for s in spec.get("sources") or []
            if isinstance(s, dict) and isinstance(s.get("alias"), str)
        }
        generator = f"{namespace}/{meta.get('name', '')}"
        for captures in _path_captures(spec.get("pathPattern"), tree):
            for artifact in spec.get("artifacts") or []:
                if not isinstance(artifact, dict) or not isinstance(artifact.get("name"), str):
                    continue
                name = _fill(artifact["name"], {k: v.lower() for k, v in captures.items()})
                copy = tuple(
                    {**op, "from": _fill(str(op.get("from", "")), captures)}
                    for op in artifact.get("copy") or []
                    if isinstance(op, dict)
                )
                made = Generated(path, generator, sources, copy)
                found.setdefault((namespace, name), []).append(made)
    return found


def _path_captures(pattern: Any, tree: GitTree) -> list[dict[str, str]]:
    """One set of captures per directory matching `pathPattern` (one empty set without)."""
    if not isinstance(pattern, str) or not pattern:
        return [{}]
    _, _, rest = pattern.partition("/")  # "@alias/apps/{app}" -> "apps/{app}"
    names: list[str] = []

    def capture(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return "([^/]+)"

    regex = re.compile(re.sub(r"\\\{(\w+)\\\}", capture, re.escape(normalize(rest))))
    directories = {posixpath.dirname(p) for p in tree.files}
    directories |= {d for p in list(directories) for d in _parents(p)}
    found = []
    for directory in sorted(directories):
        matched = regex.fullmatch(directory)
        if matched:
            found.append(dict(zip(names, matched.groups(), strict=True)))
    return found


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _fill(text: str, captures: dict[str, str]) -> str:
    for name, value in captures.items():
        text = text.replace(f"{{{name}}}", value)
    return text


class ArtifactTree(GitTree):
    """An artifact's files, read from the repository's tree they were copied from."""

    def __init__(self, base: GitTree, origin: dict[str, str]) -> None:
        super().__init__(base.repo, base.tree_id)
        self.base = base
        self.origin = origin  # artifact path -> repository path
        digest = hashlib.sha256()
        for path in sorted(origin):
            digest.update(f"{path}\0{base.files[origin[path]]}\0".encode())
        self.tree_id = f"artifact-{digest.hexdigest()}"

    @cached_property
    def files(self) -> dict[str, str]:
        return {path: self.base.files[source] for path, source in self.origin.items()}

    def read(self, path: str) -> bytes | None:
        source = self.origin.get(normalize(path))
        return None if source is None else self.base.read(source)

    def is_file(self, path: str) -> bool:
        return normalize(path) in self.origin

    def is_dir(self, path: str) -> bool:
        directory = normalize(path)
        return not directory or any(p.startswith(f"{directory}/") for p in self.origin)

    def id_of(self, path: str) -> str | None:
        path = normalize(path)
        if path in self.origin:
            return self.files[path]
        under = self.files_under(path)
        if not under and path:
            return None
        digest = hashlib.sha256("".join(f"{p}\0{b}\0" for p, b in sorted(under.items())).encode())
        return digest.hexdigest()

    def artifact_files(self, changes: dict[str, str | None] | None) -> dict[str, str | None] | None:
        """Changes to repository files, as the artifact files copied from them."""
        if changes is None:
            return None
        return {a: changes[r] for a, r in self.origin.items() if r in changes}

    def repository_path(self, path: str) -> str:
        """The repository file an artifact file was copied from."""
        return self.origin.get(normalize(path), path)


def lay_out(base: GitTree, artifact: dict[str, Any]) -> ArtifactTree:
    """The artifact's files from the repository tree `base`, by the copy operations of
    `artifact` (as sources.flux records them; its sources were checked to be this
    repository)."""
    origin: dict[str, str] = {}
    for op in artifact.get("copy") or []:
        alias, _, pattern = str(op.get("from", "")).removeprefix("@").partition("/")
        to = str(op.get("to", ""))
        if not str(op.get("from", "")).startswith("@") or not pattern:
            raise RenderError(f"copy from {op.get('from')!r}: the format is @alias/pattern")
        if not to.startswith("@artifact/"):
            raise RenderError(f"copy to {to!r}: the destination must start with @artifact/")
        if alias not in (artifact.get("aliases") or ()):
            raise RenderError(f"copy from {op['from']}: no source has alias {alias}")
        strategy = op.get("strategy") or "Overwrite"
        if strategy == "Extract":
            raise RenderError(
                f"copy from {op['from']}: the Extract strategy is not laid out offline"
            )
        copied = _copy(base, pattern, to.removeprefix("@artifact/"), to.endswith("/"), op, origin)
        if strategy == "Merge" and any(dest in origin for dest in copied):
            raise RenderError(f"copy from {op['from']}: the Merge strategy is not laid out yet")
        origin.update(copied)
    return ArtifactTree(base, origin)


def _copy(
    base: GitTree,
    pattern: str,
    destination: str,
    into: bool,
    op: dict[str, Any],
    made: dict[str, str],
) -> dict[str, str]:
    """artifact path -> repository path of one copy operation."""
    excludes = [str(e) for e in op.get("exclude") or [] if isinstance(e, str)]
    destination = posixpath.normpath(destination) if destination.strip("/") else ""
    copied: dict[str, str] = {}
    try:
        literal = normalize(pattern)
    except ValueError:
        raise RenderError(f"copy from {op['from']}: the path leaves the repository") from None
    if not _GLOB.search(pattern):
        if base.is_dir(literal) and literal:
            target = _join(destination, posixpath.basename(literal))
            for path in base.files_under(literal):
                if not _excluded(path, literal, excludes):
                    copied[_join(target, path[len(literal) + 1 :])] = path
        elif base.is_file(literal):
            if not _excluded(literal, ".", excludes):
                is_dir = any(p.startswith(f"{destination}/") for p in made) or not destination
                name = posixpath.basename(literal)
                copied[_join(destination, name) if into or is_dir else destination] = literal
        else:
            raise RenderError(f"copy from {op['from']}: {literal} does not exist")
        return copied
    root = _selection_root(pattern)
    matches = [m for m in _glob(base, pattern) if not _excluded(m, root, excludes)]
    if not matches:
        raise RenderError(f"copy from {op['from']}: no files match")
    for match in matches:
        prefix = pattern.removesuffix("/**") if pattern.endswith("/**") else None
        relative = match[len(prefix) + 1 :] if prefix and match.startswith(prefix + "/") else match
        target = _join(destination, relative)
        if base.is_dir(match):
            for path in base.files_under(match):
                if not _excluded(path, root, excludes):
                    copied[_join(target, path[len(match) + 1 :])] = path
        else:
            copied[target] = match
    return copied


def _join(directory: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(directory, path)) if directory else path


def _selection_root(pattern: str) -> str:
    parts = []
    for part in posixpath.normpath(pattern).split("/"):
        if _GLOB.search(part):
            break
        parts.append(part)
    return "/".join(parts) or "."


def _glob(base: GitTree, pattern: str) -> list[str]:
    """Go's fs.Glob over the tree: each segment matched within one directory level (so
    `**` is `*`), files and directories alike, in lexical order."""
    segments = posixpath.normpath(pattern).split("/")
    entries = set(base.files) | {d for p in base.files for d in _parents(p)}
    candidates = [""]
    for segment in segments:
        regex = re.compile(_segment_regex(segment))
        level = []
        for parent in candidates:
            prefix = f"{parent}/" if parent else ""
            for entry in entries:
                rest = entry[len(prefix) :] if entry.startswith(prefix) else None
                if rest and "/" not in rest and regex.fullmatch(rest):
                    level.append(entry)
        candidates = level
    return sorted(set(candidates))


def _segment_regex(segment: str) -> str:
    """Go's path.Match for one path element: * ? [class] ([^...] negates)."""
    out, i = [], 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = segment.find("]", i + 1)
            if end < 0:
                raise RenderError(f"glob {segment!r}: an unclosed [")
            body = segment[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        elif char == "\\" and i + 1 < len(segment):
            i += 1
            out.append(re.escape(segment[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _excluded(path: str, root: str, excludes: list[str]) -> bool:
    """source-watcher's exclusion: the path, or the path relative to the selection root,
    matches a doublestar pattern."""
    if not excludes:
        return False
    candidates = [path]
    if root not in (".", "") and path.startswith(root + "/"):
        candidates.append(path[len(root) + 1 :])
    return any(_doublestar(p).fullmatch(c) for p in excludes for c in candidates)


def _doublestar(pattern: str) -> re.Pattern[str]:
    """doublestar.Match: `**` spans directories, `{a,b}` alternates, else path.Match."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        char = pattern[i]
        if char == "{":
            end = pattern.find("}", i)
            if end > i:
                options = pattern[i + 1 : end].split(",")
                out.append("(?:" + "|".join(_doublestar(o).pattern for o in options) + ")")
                i = end + 1
                continue
        if char == "[" and pattern.find("]", i) > i:
            end = pattern.find("]", i)
            out.append(_segment_regex(pattern[i : end + 1]))
            i = end + 1
            continue
        out.append(_segment_regex(char) if char in "*?" else re.escape(char))
        i += 1
    return re.compile("".join(out))
