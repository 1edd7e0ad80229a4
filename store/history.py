"""Revisions, diffs, revert and rollback, each scoped to one namespace (or all).

A revert or rollback is a new commit made through the ordinary write path, so it has
the same preconditions, trailers and compare-and-swap as any other write. History is
never rewritten.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import pygit2

from store.documents import file_segments
from store.equality import same
from store.errors import Conflict, Invalid, NotFound
from store.gitobjects import blob_data
from store.gitobjects import commit as commit_at
from store.gitobjects import tree as tree_at
from store.keys import ObjectKey
from store.model import Delete, Operation, Put, Requester, WriteResult
from store.repo import GitStore
from store.secret_text import redact_secret_pair
from store.snapshot import (
    Entry,
    ParseCache,
    Snapshot,
    SnapshotBuilder,
    TreeFile,
    apply_changes,
    changed_files,
    root_tree_id,
    tree_file,
)
from store.timeline import ChangeType, Step, Timeline

_HEX = re.compile(r"^[0-9a-f]{4,40}$")
_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@", re.MULTILINE)
TRAILER_OPERATION = "Gitplane-Operation"


@dataclass(frozen=True)
class ObjectChange:
    type: ChangeType
    key: ObjectKey


@dataclass(frozen=True)
class Revision:
    id: str
    resource_version: str
    author_name: str
    author_email: str
    time: int
    committer_name: str
    message: str
    parents: tuple[str, ...]
    changes: tuple[ObjectChange, ...]
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]


@dataclass(frozen=True)
class RevisionPage:
    items: list[Revision]
    continue_token: str | None  # pass back to get the next page


class History:
    """History operations over a GitStore's branch."""

    def __init__(self, store: GitStore) -> None:
        self.store = store

    # ---- reading -----------------------------------------------------------------

    def revisions(
        self, namespace: str | None = None, limit: int = 50, continue_token: str | None = None
    ) -> RevisionPage:
        """Commits that changed objects of `namespace` (None: any), newest first."""
        store = self.store
        store.refresh()
        with store._lock:
            timeline = store._timeline
            if namespace is None:
                positions = range(len(timeline.steps))
                candidates: Any = [p for p in positions if timeline.steps[p].changes]
            else:
                candidates = timeline.by_namespace.get(namespace, [])
            end = len(candidates)
            if continue_token:
                end = bisect.bisect_left(candidates, _continue_position(continue_token, timeline))
            start = max(0, end - limit) if limit > 0 else 0
            chosen = list(reversed(candidates[start:end]))
            steps = [timeline.steps[p] for p in chosen]
            token = None
            if start > 0:
                token = f"{timeline.steps[candidates[start]].resource_version}"
        repo = store._repo()
        items = [
            _revision(
                repo,
                step.commit_id,
                step.resource_version,
                _changes_of(step, namespace),
            )
            for step in steps
        ]
        return RevisionPage(items, token)

    def revisions_since(
        self, since_rv: str, namespace: str | None = None
    ) -> tuple[list[Revision], str]:
        """The commits after `since_rv` that changed objects of `namespace` (None: any),
        oldest first, and the version they lead to: what a watch of revisions sends.
        Raises Expired as GitStore.watch_events does."""
        store = self.store
        with store._lock:
            pairs = store._timeline.changes_since(since_rv)
            reached = store._timeline.resource_version
        steps = {step.resource_version: step for step, _ in pairs}  # in commit order
        repo = store._repo()
        revisions = []
        for step in steps.values():
            changes = _changes_of(step, namespace)
            if changes:
                revisions.append(_revision(repo, step.commit_id, step.resource_version, changes))
        return revisions, reached

    def resolve(self, revision: str) -> str:
        """A full commit id on the branch for a full id or a unique prefix (7+ hex digits)."""
        value = revision.strip().lower()
        if not _HEX.match(value) or len(value) < 7:
            raise Invalid(
                f"revision {revision!r} is not a commit id or a prefix of 7 or more hex digits"
            )
        store = self.store
        store.refresh()
        with store._lock:
            if value in store._timeline.position_of_commit:
                return value
            found = [c for c in store._timeline.position_of_commit if c.startswith(value)]
        if not found:
            raise NotFound(f"revision {revision} not found on branch {store.branch_ref}")
        if len(found) > 1:
            raise Invalid(
                f"revision {revision} is ambiguous: {', '.join(f[:12] for f in found[:5])}"
            )
        return found[0]

    def revision(self, revision: str, namespace: str | None = None) -> Revision:
        commit_id = self.resolve(revision)
        store = self.store
        with store._lock:
            step = store._timeline.steps[store._timeline.position_of_commit[commit_id]]
        changes = _changes_of(step, namespace)
        return _revision(store._repo(), commit_id, step.resource_version, changes)

    def diff(self, revision: str, namespace: str | None = None) -> str:
        """Unified diff of what `revision` changed, limited to `namespace`'s objects."""
        commit_id = self.resolve(revision)
        before, after = self._changed_entries(commit_id)
        keys = sorted(
            k for k in set(before) | set(after) if namespace is None or k.namespace == namespace
        )
        seen: set[tuple[str, int, str, int]] = set()
        parts: list[str] = []
        for key in keys:
            old, new = before.get(key), after.get(key)
            ident = (
                old.path if old else "",
                old.decl.segment if old else -1,
                new.path if new else "",
                new.decl.segment if new else -1,
            )
            if ident in seen:
                continue
            seen.add(ident)
            texts = redact_secret_pair(self._segment(old), self._segment(new))
            parts.append(_document_diff(*texts, old, new))
        return "".join(parts)

    # ---- changing --------------------------------------------------------------

    def revert(
        self,
        revision: str,
        namespace: str,
        who: Requester,
        *,
        message: str | None = None,
        request_id: str | None = None,
        dry_run: bool = False,
        trailers: dict[str, str] | None = None,
    ) -> WriteResult:
        """Undo what `revision` changed in `namespace`, as a new commit."""
        commit_id = self.resolve(revision)
        before, after = self._changed_entries(commit_id)
        keys = sorted(k for k in set(before) | set(after) if k.namespace == namespace)
        if not keys:
            raise Invalid(f"revision {commit_id[:12]} changed nothing in namespace {namespace!r}")
        head = self.store.refresh().snapshot
        conflicts = [str(k) for k in keys if not _same_state(head.get(k), after.get(k))]
        if conflicts:
            raise Conflict(
                f"cannot revert {commit_id[:12]} in namespace {namespace!r}: changed since by later"
                f" commits: {', '.join(conflicts)}",
                tuple(conflicts),
            )
        operations = self._restore_operations(keys, before, head)
        subject = self._revision_subject(commit_id)
        text = message or (
            f'Revert "{subject}" in namespace {namespace}\n\n'
            f"This reverts commit {commit_id} in namespace {namespace} only."
        )
        return self.store.apply(
            operations,
            who,
            message=text,
            request_id=request_id,
            dry_run=dry_run,
            trailers={
                TRAILER_OPERATION: "revert",
                "Gitplane-Namespace": namespace,
                "Gitplane-Reverts": commit_id,
                **(trailers or {}),
            },
        )

    def rollback(
        self,
        revision: str,
        namespace: str,
        who: Requester,
        *,
        message: str | None = None,
        request_id: str | None = None,
        dry_run: bool = False,
        trailers: dict[str, str] | None = None,
    ) -> WriteResult:
        """Make `namespace`'s desired state what it was at `revision`, as a new commit."""
        commit_id = self.resolve(revision)
        target = {e.key: e for e in self._snapshot_at(commit_id).entries(namespace)}
        head = self.store.refresh().snapshot
        current = {e.key: e for e in head.entries(namespace)}
        keys = sorted(
            k for k in set(target) | set(current) if not _same_state(current.get(k), target.get(k))
        )
        if not keys:  # already there: nothing to commit
            return WriteResult(None, self.store.head.resource_version, dry_run=dry_run)
        operations = self._restore_operations(keys, target, head)
        text = message or (
            f"Roll back namespace {namespace} to {commit_id[:12]}\n\n"
            f"Namespace {namespace} now declares what it declared at commit {commit_id}."
        )
        return self.store.apply(
            operations,
            who,
            message=text,
            request_id=request_id,
            dry_run=dry_run,
            trailers={
                TRAILER_OPERATION: "rollback",
                "Gitplane-Namespace": namespace,
                "Gitplane-Rollback-To": commit_id,
                **(trailers or {}),
            },
        )

    def operations(self, namespace: str, operation: str) -> list[Revision]:
        """Past reverts or rollbacks in a namespace, newest first (read from trailers)."""
        out: list[Revision] = []
        token = None
        while True:
            page = self.revisions(namespace, limit=200, continue_token=token)
            out.extend(r for r in page.items if r.trailers.get(TRAILER_OPERATION) == operation)
            if page.continue_token is None:
                return out
            token = page.continue_token

    # ---- helpers ---------------------------------------------------------------

    def _restore_operations(
        self, keys: list[ObjectKey], target: dict[ObjectKey, Entry], head: Snapshot
    ) -> list[Operation]:
        operations: list[Operation] = []
        for key in keys:
            wanted = target.get(key)
            if wanted is None:
                if head.get(key) is not None:
                    operations.append(Delete(key))
                continue
            text = self._segment(wanted) if wanted.decl.item is None else None
            operations.append(
                Put(dict(wanted.obj), key.namespace, "apply", text=text, path=wanted.path)
            )
        return operations

    def _changed_entries(
        self, commit_id: str
    ) -> tuple[dict[ObjectKey, Entry], dict[ObjectKey, Entry]]:
        """Objects as they were before and after `commit_id`, for those it changed."""
        store = self.store
        repo = store._repo()
        parents = commit_at(repo, commit_id).parent_ids
        parent = str(parents[0]) if parents else None
        old_tree = root_tree_id(repo, parent, store.layout)
        new_tree = root_tree_id(repo, commit_id, store.layout)
        files = changed_files(repo, old_tree, new_tree, store.layout)
        with store._lock:
            cache: ParseCache = store._cache
            before = _entries_of(repo, cache, old_tree, files, store)
            builder = SnapshotBuilder(Snapshot(None))
            apply_changes(repo, builder, {p: b for p, b in files.items() if b}, cache)
        after = {e.key: e for e in builder.snapshot.entries()}
        keys = {k for k in set(before) | set(after) if not _same_state(before.get(k), after.get(k))}
        return (
            {k: v for k, v in before.items() if k in keys},
            {k: v for k, v in after.items() if k in keys},
        )

    def _snapshot_at(self, commit_id: str) -> Snapshot:
        return self.store._view(commit_id)[0]

    def _segment(self, entry: Entry | None) -> str:
        if entry is None:
            return ""
        with self.store._lock:
            repo = self.store._repo()
            parsed = self.store._cache.get(repo, entry.path, entry.blob)
            data = blob_data(repo, entry.blob)
        return file_segments(data, parsed.is_json)[entry.decl.segment]

    def _revision_subject(self, commit_id: str) -> str:
        return commit_at(self.store._repo(), commit_id).message.split("\n", 1)[0]


def _entries_of(
    repo: pygit2.Repository,
    cache: ParseCache,
    tree_id: str | None,
    files: dict[str, TreeFile | None],
    store: GitStore,
) -> dict[ObjectKey, Entry]:
    """Objects declared, in the tree `tree_id`, by the files named in `files`."""
    if tree_id is None:
        return {}
    tree = tree_at(repo, tree_id)
    prefix = f"{store.layout.root}/" if store.layout.root else ""
    found: dict[str, TreeFile | None] = {}
    for path in files:
        try:
            entry = tree[path[len(prefix) :]]
        except KeyError:
            continue
        found[path] = tree_file(entry, path, store.layout)
    builder = SnapshotBuilder(Snapshot(None))
    apply_changes(repo, builder, found, cache)
    return {e.key: e for e in builder.snapshot.entries()}


def _same_state(a: Entry | None, b: Entry | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return same(a.obj, b.obj)


def _changes_of(step: Step, namespace: str | None) -> list[ObjectChange]:
    """What the step changed in objects of `namespace` (None: any)."""
    return [
        ObjectChange(c.type, c.key)
        for c in step.changes
        if namespace is None or c.key.namespace == namespace
    ]


def _revision(
    repo: pygit2.Repository, commit_id: str, rv: str, changes: list[ObjectChange]
) -> Revision:
    commit = commit_at(repo, commit_id)
    trailers: dict[str, str] = {}
    with contextlib.suppress(pygit2.GitError):
        trailers = dict(commit.message_trailers)
    return Revision(
        id=commit_id,
        resource_version=rv,
        author_name=commit.author.name,
        author_email=commit.author.email,
        time=commit.author.time,
        committer_name=commit.committer.name,
        message=commit.message,
        parents=tuple(str(p) for p in commit.parent_ids),
        changes=tuple(changes),
        trailers=trailers,
    )


def _document_diff(old_text: str, new_text: str, old: Entry | None, new: Entry | None) -> str:
    """A git-style diff of one document, its hunks numbered as lines of the whole file."""
    either = old or new
    if either is None:
        return ""
    a_path = (old or either).path
    b_path = (new or either).path
    patch = pygit2.Patch.create_from(
        old_text.encode(), new_text.encode(), old_as_path=a_path, new_as_path=b_path
    )
    body = patch.text or ""
    start = body.find("@@")
    hunks = body[start:] if start >= 0 else ""
    old_offset = (old.decl.line - 1) if old else 0
    new_offset = (new.decl.line - 1) if new else 0

    def shift(match: re.Match[str]) -> str:
        a = int(match.group(1))
        b = int(match.group(3))
        a += old_offset if a else 0
        b += new_offset if b else 0
        return f"@@ -{a}{match.group(2) or ''} +{b}{match.group(4) or ''} @@"

    header = (
        f"diff --git a/{a_path} b/{b_path}\n"
        f"--- {'a/' + a_path if old else '/dev/null'}\n"
        f"+++ {'b/' + b_path if new else '/dev/null'}\n"
    )
    return header + _HUNK.sub(shift, hunks)


def _continue_position(token: str, timeline: Timeline) -> int:
    """Continue tokens are resourceVersions of the last revision returned."""
    if not token.isdigit():
        raise Invalid(f"invalid continue token {token!r}")
    return timeline.position(token)  # Expired when history moved under it
