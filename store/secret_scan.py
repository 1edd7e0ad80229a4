"""`gitplane scan`: plaintext Secret values already in a repository (never the values).

Every YAML and JSON file counts, wherever it is in the tree: a leaked value is leaked
even outside the directory the store serves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pygit2
from pygit2.enums import SortMode

from store.gitobjects import blob_data
from store.gitobjects import tree as tree_at
from store.secret_text import file_values

if TYPE_CHECKING:
    from store.repo import GitStore

_OBJECT_FILE = re.compile(r"\.(ya?ml|json)$")
_REGULAR_FILE_MODES = (pygit2.GIT_FILEMODE_BLOB, pygit2.GIT_FILEMODE_BLOB_EXECUTABLE)


@dataclass(frozen=True)
class Finding:
    """A plaintext Secret value in a file of the repository (the value is never kept)."""

    path: str
    line: int
    commit: str  # the commit where this file content was first seen
    key: str  # the value's field, e.g. data[password]
    secret: str  # namespace/name of the object that holds it

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: Secret {self.secret} has a plaintext value at"
            f" {self.key} (commit {self.commit[:12]})"
        )


def scan(store: GitStore, history: bool = False) -> list[Finding]:
    """Plaintext Secret values in the branch tip, or (`history`) in any commit of any ref."""
    repo = store._repo()
    if not history:
        tip = store.refresh().commit_id
        if tip is None:
            return []
        tree = repo[tip].peel(pygit2.Tree)
        return [f for path, blob in _files(repo, tree) for f in _scan_blob(repo, path, blob, tip)]
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for made in _all_commits(repo):
        parents = made.parents
        if parents:
            diff = parents[0].tree.diff_to_tree(made.tree)
        else:
            diff = made.tree.diff_to_tree(swap=True)
        for delta in diff.deltas:
            new = delta.new_file
            blob = str(new.id)
            if delta.status == pygit2.GIT_DELTA_DELETED or (new.path, blob) in seen:
                continue
            seen.add((new.path, blob))
            if _OBJECT_FILE.search(new.path) and new.mode in _REGULAR_FILE_MODES:
                findings.extend(_scan_blob(repo, new.path, blob, str(made.id)))
    return findings


def _all_commits(repo: pygit2.Repository) -> Iterator[pygit2.Commit]:
    """Every commit reachable from any ref (as `git log --all`), oldest first."""
    walker = None
    for name in repo.references:
        try:
            target = repo.references[name].peel(pygit2.Commit).id
        except (pygit2.GitError, ValueError, KeyError, pygit2.InvalidSpecError):
            continue  # a ref to a tree or blob, or a broken one
        if walker is None:
            walker = repo.walk(target, SortMode.TOPOLOGICAL | SortMode.REVERSE)
        else:
            walker.push(target)
    if walker is not None:
        yield from walker


def _files(
    repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = ""
) -> Iterator[tuple[str, str]]:
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.type_str == "tree":
            yield from _files(repo, tree_at(repo, str(entry.id)), f"{path}/")
        elif entry.filemode in _REGULAR_FILE_MODES and _OBJECT_FILE.search(path):
            yield path, str(entry.id)


def _scan_blob(repo: pygit2.Repository, path: str, blob: str, commit: str) -> list[Finding]:
    try:
        text = blob_data(repo, blob).decode("utf-8")
    except UnicodeDecodeError:
        return []
    return [
        Finding(path, line, commit, field, _name_of(owner))
        for line, field, owner in file_values(path, text)
    ]


def _name_of(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    name = str(meta.get("name", ""))
    return f"{meta['namespace']}/{name}" if meta.get("namespace") else name
