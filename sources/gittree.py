"""One commit's tree, read straight from the object database (no checkout).

Only regular files count: a symlink (mode 120000) may point anywhere and a submodule is
another repository, so neither is read, written or followed.
"""

from __future__ import annotations

import posixpath
from functools import cached_property

import pygit2

REGULAR = (pygit2.GIT_FILEMODE_BLOB, pygit2.GIT_FILEMODE_BLOB_EXECUTABLE)


class GitTree:
    def __init__(self, repo: pygit2.Repository, tree_id: str | None) -> None:
        self.repo = repo
        self.tree_id = tree_id

    @cached_property
    def _root(self) -> pygit2.Tree | None:
        return self.repo[self.tree_id].peel(pygit2.Tree) if self.tree_id else None

    def _entry(self, path: str) -> pygit2.Object | None:
        root = self._root
        if root is None:
            return None
        path = normalize(path)
        if not path:
            return root
        try:
            return root[path]
        except (KeyError, ValueError):
            return None

    def id_of(self, path: str) -> str | None:
        """The id of the tree or regular file at `path` (None: absent, or not regular)."""
        entry = self._entry(path)
        if entry is None:
            return None
        if isinstance(entry, pygit2.Tree) or getattr(entry, "filemode", None) in REGULAR:
            return str(entry.id)
        if not normalize(path):
            return str(entry.id)
        return None

    def is_dir(self, path: str) -> bool:
        entry = self._entry(path)
        return entry is not None and entry.type_str == "tree"

    def is_file(self, path: str) -> bool:
        entry = self._entry(path)
        return entry is not None and getattr(entry, "filemode", None) in REGULAR

    def read(self, path: str) -> bytes | None:
        entry = self._entry(path)
        if entry is None or getattr(entry, "filemode", None) not in REGULAR:
            return None
        return bytes(self.repo[entry.id].read_raw())

    @cached_property
    def files(self) -> dict[str, str]:
        """path -> blob id of every regular file in the tree."""
        found: dict[str, str] = {}
        root = self._root
        if root is None:
            return found
        stack: list[tuple[pygit2.Tree, str]] = [(root, "")]
        while stack:
            tree, prefix = stack.pop()
            for entry in tree:
                path = f"{prefix}{entry.name}"
                if entry.type_str == "tree":
                    stack.append((self.repo[entry.id].peel(pygit2.Tree), f"{path}/"))
                elif entry.filemode in REGULAR:
                    found[path] = str(entry.id)
        return found

    def files_under(self, directory: str, recurse: bool = True) -> dict[str, str]:
        directory = normalize(directory)
        prefix = f"{directory}/" if directory else ""
        return {
            path: blob
            for path, blob in self.files.items()
            if path.startswith(prefix) and (recurse or "/" not in path[len(prefix) :])
        }


def normalize(path: str) -> str:
    """A repository-relative path without `./`, trailing slashes or `..` past the root;
    raises ValueError for one that leaves the repository."""
    cleaned = posixpath.normpath(path.strip().lstrip("/")) if path.strip() else ""
    if cleaned in ("", "."):
        return ""
    if cleaned == ".." or cleaned.startswith("../"):
        raise ValueError(f"{path!r} leaves the repository")
    return cleaned


def join(directory: str, relative: str) -> str:
    """`relative` (as a kustomization or an Application writes it) from `directory`."""
    if relative.startswith("/"):
        return normalize(relative)
    return normalize(posixpath.join(directory, relative))


def shared_directories(path: str, other: str) -> int:
    """How many leading directories two files' paths share (the nearer, the more)."""
    shared = 0
    for mine, theirs in zip(path.split("/")[:-1], other.split("/")[:-1], strict=False):
        if mine != theirs:
            break
        shared += 1
    return shared
