"""Typed lookups of Git objects (pygit2's `repo[id]` is typed as a plain Object)."""

from __future__ import annotations

from typing import cast

import pygit2


def commit(repo: pygit2.Repository, commit_id: str) -> pygit2.Commit:
    return cast(pygit2.Commit, repo[commit_id])


def tree(repo: pygit2.Repository, tree_id: str) -> pygit2.Tree:
    return cast(pygit2.Tree, repo[tree_id])


def blob_data(repo: pygit2.Repository, blob_id: str) -> bytes:
    return cast(pygit2.Blob, repo[blob_id]).data
