"""The objects one tree declares, built from scratch or from its parent's by a diff."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import pygit2

from store.documents import Declaration, ParsedFile, parse_file
from store.equality import same
from store.errors import Problem
from store.gitobjects import blob_data, tree
from store.keys import ObjectKey
from store.layout import Layout


@dataclass(frozen=True)
class Entry:
    """One declared object: where it is and what it says."""

    key: ObjectKey
    path: str
    blob: str
    decl: Declaration

    @property
    def obj(self) -> dict[str, Any]:
        return self.decl.obj

    def same_as(self, other: Entry | None) -> bool:
        return other is not None and self.path == other.path and same(self.obj, other.obj)


class ParseCache:
    """Parsed files by (blob id, path): each blob is parsed once while it is remembered."""

    def __init__(
        self, layout: Layout, cluster_kinds: frozenset[tuple[str, str]], size: int
    ) -> None:
        self._layout = layout
        self._cluster_kinds = cluster_kinds
        self._size = size
        self._items: OrderedDict[tuple[str, str], ParsedFile] = OrderedDict()
        self.parses = 0  # how many times YAML was actually parsed: tests and benches read it

    def get(self, repo: pygit2.Repository, path: str, blob_id: str) -> ParsedFile:
        cache_key = (blob_id, path)
        parsed = self._items.get(cache_key)
        if parsed is not None:
            self._items.move_to_end(cache_key)
            return parsed
        data = blob_data(repo, blob_id)
        parsed = parse_file(path, data, self._layout.directory_namespace(path), self._cluster_kinds)
        self.parses += 1
        self._items[cache_key] = parsed
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return parsed


@dataclass
class Snapshot:
    """Objects declared by one tree. Published snapshots are never mutated."""

    tree_id: str | None
    files: dict[str, tuple[str, ParsedFile]] = field(default_factory=dict)  # path -> (blob, parsed)
    # Every declaration of a key, in path order; the first one is the object.
    declarations: dict[ObjectKey, list[Entry]] = field(default_factory=dict)
    by_namespace: dict[str, dict[ObjectKey, Entry]] = field(default_factory=dict)

    def get(self, key: ObjectKey) -> Entry | None:
        return self.by_namespace.get(key.namespace, {}).get(key)

    def entries(self, namespace: str | None = None) -> list[Entry]:
        if namespace is not None:
            return list(self.by_namespace.get(namespace, {}).values())
        return [e for ns in self.by_namespace.values() for e in ns.values()]

    def namespaces(self) -> list[str]:
        return sorted(ns for ns, entries in self.by_namespace.items() if ns and entries)

    def count(self) -> int:
        return sum(len(v) for v in self.by_namespace.values())

    @property
    def problems(self) -> list[Problem]:
        found = [p for _, parsed in self.files.values() for p in parsed.problems]
        for key, entries in self.declarations.items():
            for dup in entries[1:]:
                found.append(
                    Problem(
                        dup.path,
                        dup.decl.line,
                        f"{key} is declared again; the one in {entries[0].path} wins",
                    )
                )
        return sorted(found, key=lambda p: (p.path, p.line))

    def copy(self) -> Snapshot:
        """A shallow copy whose namespace maps may be changed without touching this one."""
        return Snapshot(
            self.tree_id, dict(self.files), dict(self.declarations), dict(self.by_namespace)
        )


class SnapshotBuilder:
    """Applies file changes to a snapshot in place, noting which objects changed."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._copied_namespaces: set[str] = set()
        self.touched: dict[ObjectKey, Entry | None] = {}  # key -> entry before the changes

    def set_file(self, path: str, blob_id: str | None, parsed: ParsedFile | None) -> None:
        snap = self.snapshot
        old = snap.files.pop(path, None)
        if old is not None:
            for decl in old[1].declarations:
                self._remove(Entry(decl.key, path, old[0], decl))
        if blob_id is not None and parsed is not None:
            snap.files[path] = (blob_id, parsed)
            for decl in parsed.declarations:
                self._add(Entry(decl.key, path, blob_id, decl))

    def _namespace(self, namespace: str) -> dict[ObjectKey, Entry]:
        if namespace not in self._copied_namespaces:
            self.snapshot.by_namespace[namespace] = dict(
                self.snapshot.by_namespace.get(namespace, {})
            )
            self._copied_namespaces.add(namespace)
        return self.snapshot.by_namespace[namespace]

    def _before(self, key: ObjectKey) -> None:
        if key not in self.touched:
            self.touched[key] = self.snapshot.get(key)

    def _remove(self, entry: Entry) -> None:
        key = entry.key
        self._before(key)
        entries = [
            e
            for e in self.snapshot.declarations.get(key, [])
            if e.path != entry.path
            or e.decl.segment != entry.decl.segment
            or e.decl.item != entry.decl.item
        ]
        self._store(key, entries)

    def _add(self, entry: Entry) -> None:
        key = entry.key
        self._before(key)
        entries = [*self.snapshot.declarations.get(key, []), entry]
        entries.sort(key=lambda e: (e.path, e.decl.segment, e.decl.item or 0))
        self._store(key, entries)

    def _store(self, key: ObjectKey, entries: list[Entry]) -> None:
        namespace = self._namespace(key.namespace)
        if entries:
            self.snapshot.declarations[key] = entries
            namespace[key] = entries[0]
        else:
            self.snapshot.declarations.pop(key, None)
            namespace.pop(key, None)

    def changes(self) -> list[tuple[ObjectKey, Entry | None, Entry | None]]:
        """(key, before, after) for every object whose content or path changed."""
        out = []
        for key, before in self.touched.items():
            after = self.snapshot.get(key)
            if before is None and after is None:
                continue
            if before is not None and before.same_as(after):
                continue
            out.append((key, before, after))
        return out


def object_files(repo: pygit2.Repository, tree_id: str | None, layout: Layout) -> dict[str, str]:
    """path -> blob id for every file below the root that may hold objects."""
    found: dict[str, str] = {}
    if tree_id is None:
        return found
    stack: list[tuple[Any, str]] = [(repo[tree_id], layout.root)]
    while stack:
        tree, prefix = stack.pop()
        for entry in tree:
            name = entry.name
            if name.startswith("."):
                continue  # .github, .git-crypt and friends are not desired state
            path = f"{prefix}/{name}" if prefix else name
            if entry.type_str == "tree":
                stack.append((repo[entry.id], path))
            elif entry.type_str == "blob" and layout.holds_objects(path):
                found[path] = str(entry.id)
    return found


def root_tree_id(repo: pygit2.Repository, commit_id: str | None, layout: Layout) -> str | None:
    """The id of the tree at the layout's root in a commit (None when absent)."""
    if commit_id is None:
        return None
    tree = repo[commit_id].peel(pygit2.Tree)
    if not layout.root:
        return str(tree.id)
    try:
        sub = tree[layout.root]
    except KeyError:
        return None
    return str(sub.id) if sub.type_str == "tree" else None


def build_snapshot(
    repo: pygit2.Repository, tree_id: str | None, layout: Layout, cache: ParseCache
) -> Snapshot:
    builder = SnapshotBuilder(Snapshot(tree_id))
    for path, blob_id in sorted(object_files(repo, tree_id, layout).items()):
        builder.set_file(path, blob_id, cache.get(repo, path, blob_id))
    builder.snapshot.tree_id = tree_id
    return builder.snapshot


def changed_files(
    repo: pygit2.Repository, old_tree: str | None, new_tree: str | None, layout: Layout
) -> dict[str, str | None]:
    """path -> new blob id (None when removed) for object files that differ."""
    if old_tree == new_tree:
        return {}
    if old_tree is None or new_tree is None:
        before = object_files(repo, old_tree, layout)
        after = object_files(repo, new_tree, layout)
        out: dict[str, str | None] = {p: None for p in before if p not in after}
        out.update({p: b for p, b in after.items() if before.get(p) != b})
        return out
    diff = tree(repo, old_tree).diff_to_tree(tree(repo, new_tree))
    out = {}
    prefix = f"{layout.root}/" if layout.root else ""
    for delta in diff.deltas:
        old_path = prefix + delta.old_file.path
        new_path = prefix + delta.new_file.path
        if delta.status_char() in ("D", "M", "T") and layout.holds_objects(old_path):
            out[old_path] = None
        if delta.status_char() in ("A", "M", "T") and layout.holds_objects(new_path):
            out[new_path] = str(delta.new_file.id)
    return out


def apply_changes(
    repo: pygit2.Repository,
    builder: SnapshotBuilder,
    files: dict[str, str | None],
    cache: ParseCache,
) -> None:
    for path in sorted(files):
        blob_id = files[path]
        parsed = cache.get(repo, path, blob_id) if blob_id is not None else None
        builder.set_file(path, blob_id, parsed)
