"""Trees for a chain of commits: the base tree but for the files the commits change."""

from __future__ import annotations

from typing import Any

import pygit2

from store.errors import Invalid
from store.rawobjects import (
    BLOB_MODE,
    FILE_MODES,
    TREE,
    TREE_MODE,
    check_entry_name,
    mode_name,
    tree_data,
    tree_entries,
)
from store.staging import put_object

# The subtrees made for a chain: (the base subtree's raw id, the changes in it) -> made.
Subtrees = dict[tuple[bytes | None, frozenset[tuple[str, str | None]]], tuple[str, bool]]


def write_tree(
    repo: pygit2.Repository, base: Any, changes: dict[str, str | None], subtrees: Subtrees
) -> tuple[str, bool]:
    """A tree equal to `base` but for `changes` (path -> blob id, None = remove), and
    whether it is empty (a directory left empty is dropped from its parent). Each
    commit of a chain holds the changes of those before it: the directories it leaves
    alone come from `subtrees` (a chain of eight writes in eight directories made 44
    trees instead of 16, half of its commits' cost)."""
    by_dir: dict[str, dict[str, str | None]] = {}
    files: dict[str, str | None] = {}
    for path, blob in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            by_dir.setdefault(head, {})[rest] = blob
        else:
            files[head] = blob
    entries = tree_entries(base.read_raw()) if base is not None else {}
    for name, blob in files.items():
        key = name.encode()
        existing = entries.get(key)
        if existing is not None and existing[0] not in FILE_MODES:
            # Planning refuses these (Layout.check_new_file); never replaced in passing.
            raise Invalid(f"{name!r} is {mode_name(existing[0])} in the tree, not a file")
        if blob is None:
            entries.pop(key, None)
        else:
            check_entry_name(key)
            mode = existing[0] if existing is not None else BLOB_MODE  # an executable stays one
            entries[key] = (mode, pygit2.Oid(hex=blob).raw)
    for name, sub_changes in by_dir.items():
        key = name.encode()
        existing = entries.get(key)
        if existing is not None and existing[0] != TREE_MODE:
            raise Invalid(f"{name!r} is {mode_name(existing[0])} in the tree, not a directory")
        sub_base_id = existing[1] if existing is not None else None
        made = subtrees.get(made_key := (sub_base_id, frozenset(sub_changes.items())))
        if made is None:
            sub_base = repo[pygit2.Oid(raw=sub_base_id)] if sub_base_id is not None else None
            made = subtrees[made_key] = write_tree(repo, sub_base, sub_changes, subtrees)
        sub_tree, empty = made
        if empty:
            entries.pop(key, None)
        else:
            check_entry_name(key)
            entries[key] = (TREE_MODE, pygit2.Oid(hex=sub_tree).raw)
    return put_object(repo, TREE, tree_data(entries)), not entries
