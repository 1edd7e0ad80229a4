"""What a build can read: the directories and files a kustomization refers to, found in
the Git tree without building. Their ids are the render cache's key, and a commit that
changes none of them leaves the source as it was.

This reads kustomization files only to follow their references (resources, bases,
components, patches, generators' files...); the build itself is always kustomize's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from sources.gittree import GitTree, join, normalize
from store.documents import split_segments
from store.loader import LoadError, load_yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REMOTE_MARKERS = ("://", "git@", "github.com/", "gitlab.com/", "bitbucket.org/")


@dataclass
class Closure:
    """Everything one render reads: directories (whole) and files, by path."""

    directories: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    remote: list[str] = field(default_factory=list)  # references that need the network
    missing: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)  # paths that leave the repository

    def key(self, tree: GitTree, settings: Any) -> str:
        """One id for what the build reads and how it is asked to build it."""
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
        for path in sorted(self.directories | self.files):
            digest.update(f"{path}\0{tree.id_of(path)}\0".encode())
        return digest.hexdigest()

    def touches(self, changed: set[str]) -> bool:
        """Whether any of `changed` (file paths) is read by this build."""
        for path in changed:
            if path in self.files:
                return True
            for directory in self.directories:
                if not directory or path == directory or path.startswith(directory + "/"):
                    return True
        return False


def kustomization_file(tree: GitTree, directory: str) -> str | None:
    for name in KUSTOMIZATION_FILES:
        path = join(directory, name) if directory else name
        if tree.is_file(path):
            return path
    return None


def kustomize_closure(tree: GitTree, directory: str, closure: Closure | None = None) -> Closure:
    """The closure of the kustomization in `directory` (followed through its bases)."""
    closure = closure or Closure()
    directory = normalize(directory)
    if directory in closure.directories:
        return closure
    closure.directories.add(directory)
    found = kustomization_file(tree, directory)
    if found is None:
        return closure
    try:
        config = load_yaml((tree.read(found) or b"").decode("utf-8", "replace"))
    except LoadError:
        return closure  # kustomize will say what is wrong with it
    if not isinstance(config, dict):
        return closure
    _follow(tree, directory, _references(config), closure, found)
    for plugin in _plugin_files(config):
        with contextlib.suppress(ValueError):
            path = join(directory, plugin)
            if not plugin.startswith("/") and tree.is_file(path):
                _follow(tree, directory, _plugin_references(tree, path), closure, path)
    return closure


def _follow(
    tree: GitTree, directory: str, references: list[str], closure: Closure, named_in: str
) -> None:
    """Add what each reference (from `directory`, named in the file `named_in`) reads."""
    for reference in references:
        if any(marker in reference for marker in _REMOTE_MARKERS):
            closure.remote.append(reference)
            continue
        try:
            if reference.startswith("/"):  # kustomize reads it from the disk, not the tree
                raise ValueError(reference)
            path = join(directory, reference)
        except ValueError:
            closure.outside.append(f"{named_in} refers to {reference}")
            continue
        if tree.is_dir(path):
            kustomize_closure(tree, path, closure)
        elif tree.is_file(path):
            closure.files.add(path)
        else:
            closure.missing.append(reference)


def _plugin_references(tree: GitTree, path: str) -> list[str]:
    """The paths a built-in generator's or transformer's configuration file names
    (`transformers: [patch.yaml]` whose PatchTransformer has a `path`), read from the
    kustomization's directory as kustomize reads them."""
    documents = []
    for segment in split_segments((tree.read(path) or b"").decode("utf-8", "replace")):
        try:
            documents.append(load_yaml(segment))
        except LoadError:
            continue  # kustomize will say what is wrong with it
    found: list[str] = []
    for doc in documents:
        if not isinstance(doc, dict) or not str(doc.get("apiVersion", "")).startswith("builtin"):
            continue
        found += [v for v in (doc.get("path"),) if isinstance(v, str) and "\n" not in v]
        for name in ("paths", "files", "envs"):
            values = doc.get(name)
            if isinstance(values, list):
                found += [v.split("=", 1)[-1] for v in values if isinstance(v, str)]
        if isinstance(doc.get("env"), str):
            found.append(doc["env"])
        for item in doc.get("replacements") or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                found.append(item["path"])
    return [posixpath.normpath(p) for p in found]


def _plugin_files(config: dict[str, Any]) -> list[str]:
    """The generator and transformer configuration files a kustomization names."""
    found: list[str] = []
    for field_name in ("generators", "transformers", "validators"):
        values = config.get(field_name)
        if isinstance(values, list):
            found += [v for v in values if isinstance(v, str) and "\n" not in v]
    return found


def _references(config: dict[str, Any]) -> list[str]:
    """Every path a kustomization names, inline patches and generator literals left out."""
    found: list[str] = []

    def strings(value: Any) -> list[str]:
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    for field_name in ("resources", "bases", "components", "crds", "configurations"):
        found += strings(config.get(field_name))
    for field_name in ("generators", "transformers", "validators"):
        found += [v for v in strings(config.get(field_name)) if "\n" not in v]
    found += [p for p in strings(config.get("patchesStrategicMerge")) if "\n" not in p]
    for field_name in ("patches", "patchesJson6902", "replacements"):
        for item in config.get(field_name) or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                found.append(item["path"])
    for field_name in ("configMapGenerator", "secretGenerator"):
        for generator in config.get(field_name) or []:
            if not isinstance(generator, dict):
                continue
            for entry in strings(generator.get("files")):
                found.append(entry.split("=", 1)[-1])
            found += strings(generator.get("envs"))
            if isinstance(generator.get("env"), str):
                found.append(generator["env"])
    openapi = config.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        found.append(openapi["path"])
    return [posixpath.normpath(p) if not p.startswith(("http", "git@")) else p for p in found]
