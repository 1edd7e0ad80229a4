"""A commit's files on disk, for the tools that read directories (kustomize, Helm).

One directory is kept in step with the tip: moving to a new tree writes the files that
changed and removes the ones that went, so a commit costs what it changed. Renders that
must edit a kustomization (Argo CD's and Flux's options) work on a copy of the source's
directory beside it, which keeps every relative path (`../../base`) the same.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from sources.gittree import GitTree, normalize

COPY_PREFIX = ".gitplane-render-"


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "tree"
        self._blobs: dict[str, str] = {}  # path -> blob id written there
        self.tree_id: str | None = None
        self.lock = threading.RLock()  # one render (and one checkout) at a time

    def checkout(self, tree: GitTree) -> Path:
        """The tree's regular files under `files`, written where they changed."""
        with self.lock:
            if tree.tree_id == self.tree_id and self.files.is_dir():
                return self.files
            if not self.files.is_dir():
                self._blobs = {}
            wanted = tree.files
            for path in [p for p in self._blobs if p not in wanted]:
                (self.files / path).unlink(missing_ok=True)
                self._blobs.pop(path)
                self._prune(self.files / path)
            for path, blob in wanted.items():
                if self._blobs.get(path) == blob:
                    continue
                target = self.files / normalize(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                data = tree.read(path) or b""
                tmp = target.with_name(f".{target.name}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, target)
                self._blobs[path] = blob
            self.tree_id = tree.tree_id
            return self.files

    def _prune(self, removed: Path) -> None:
        directory = removed.parent
        while directory != self.files and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent

    @contextlib.contextmanager
    def copy_of(self, directory: str) -> Iterator[Path]:
        """A throw-away copy of `directory` beside it (same parent, same relative paths)."""
        relative = normalize(directory)
        source = self.files / relative if relative else self.files
        # The repository's root has no parent inside the tree: its copy is made beside it.
        parent = source.parent if relative else self.root
        copy = Path(tempfile.mkdtemp(prefix=COPY_PREFIX, dir=parent))
        try:
            if source.is_dir():
                shutil.copytree(
                    source,
                    copy,
                    dirs_exist_ok=True,
                    symlinks=False,
                    ignore=shutil.ignore_patterns(f"{COPY_PREFIX}*"),
                )
            yield copy
        finally:
            shutil.rmtree(copy, ignore_errors=True)


def scratch_tree(tree: GitTree, root: Path) -> Path:
    """All of a tree's files in a new directory (for an older commit than the tip)."""
    for path in tree.files:
        target = root / normalize(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(tree.read(path) or b"")
    return root
