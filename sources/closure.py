"""What a build can read: the directories and files a kustomization refers to, found in
the Git tree without building. Their ids are the render cache's key, and a commit that
changes none of them leaves the source as it was.

This reads kustomization files only to follow their references (resources, bases,
components, patches, generators' files...); the build itself is always kustomize's.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from sources.gittree import GitTree, join, normalize
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
    for reference in _references(config):
        if any(marker in reference for marker in _REMOTE_MARKERS):
            closure.remote.append(reference)
            continue
        try:
            path = join(directory, reference)
        except ValueError:
            closure.missing.append(reference)
            continue
        if tree.is_dir(path):
            kustomize_closure(tree, path, closure)
        elif tree.is_file(path):
            closure.files.add(path)
        else:
            closure.missing.append(reference)
    return closure


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
