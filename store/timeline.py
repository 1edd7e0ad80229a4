"""The branch's first-parent history as an ordered change feed with resourceVersions.

Position i is the i-th commit of the branch's first-parent chain (0 = root). Its
resourceVersion is `(i + 1) * 1_000_000 + (first 8 hex digits of the commit id mod
1_000_000)`: numeric and increasing like Kubernetes clients expect, and a commit
that replaced another at the same depth (history rewritten) gets a different one,
which this feed then no longer knows: that is how "expired" is detected.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from store.cow import TwoLevel
from store.errors import Expired, Invalid
from store.keys import ObjectKey
from store.snapshot import Entry

EMPTY_RV = "1"  # the resourceVersion of a branch with no commit yet
_UID_NAMESPACE = uuid.UUID("6f0d5a8e-8c1e-4a53-9d1e-2f0b8f5f4a10")
ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


def resource_version(position: int, commit_id: str) -> str:
    return str((position + 1) * 1_000_000 + int(commit_id[:8], 16) % 1_000_000)


def depth(rv: str) -> int:
    """How far along the branch a resourceVersion is (1 = the root commit)."""
    return int(rv) // 1_000_000


def is_later(rv: str, than: str) -> bool:
    """Whether `rv` is further along the branch than `than` (a version not reached yet:
    one at the same depth with another commit is not later, it is Expired)."""
    return depth(rv) > depth(than)


@dataclass(frozen=True)
class ObjectMeta:
    """What history says about an object: stable uid, creation and last change."""

    uid: str
    resource_version: str
    created_rv: str
    created_at: int  # commit time, seconds since the epoch
    commit_id: str  # the commit that last changed it


MetaIndex = TwoLevel[str, ObjectKey, ObjectMeta]  # namespace -> key -> meta


@dataclass(frozen=True)
class Change:
    type: ChangeType
    key: ObjectKey
    before: Entry | None  # None once the change is older than the watch window
    after: Entry | None
    meta: ObjectMeta | None = None  # after the change (before it, for a deletion)


@dataclass
class Step:
    """What one commit of the branch changed."""

    commit_id: str
    resource_version: str
    commit_time: int
    changes: list[Change] = field(default_factory=list)
    namespaces: frozenset[str] = frozenset()


class Timeline:
    """Ordered steps, object metadata at the tip, and lookups by resourceVersion."""

    def __init__(self, watch_window: int) -> None:
        self.steps: list[Step] = []
        self.position_of_commit: dict[str, int] = {}
        self.position_of_rv: dict[str, int] = {}
        self.meta: MetaIndex = TwoLevel()
        self.by_namespace: dict[str, list[int]] = {}
        self._window = watch_window

    @property
    def tip(self) -> str | None:
        return self.steps[-1].commit_id if self.steps else None

    @property
    def resource_version(self) -> str:
        return self.steps[-1].resource_version if self.steps else EMPTY_RV

    def append(
        self,
        commit_id: str,
        commit_time: int,
        changes: list[tuple[ObjectKey, Entry | None, Entry | None]],
        rv: str | None = None,
    ) -> Step:
        """One commit's changes; `rv` given (a feed that starts part-way along the
        branch, like the rendered one) keeps the branch's resourceVersion of the commit."""
        position = len(self.steps)
        rv = rv or resource_version(position, commit_id)
        step = Step(commit_id, rv, commit_time)
        for key, before, after in changes:
            kind: ChangeType = (
                "ADDED" if before is None else "DELETED" if after is None else "MODIFIED"
            )
            previous = self.meta.get(key.namespace, key)
            self._record_meta(key, kind, rv, commit_id, commit_time)
            meta = previous if kind == "DELETED" else self.meta.get(key.namespace, key)
            step.changes.append(Change(kind, key, before, after, meta))
        step.namespaces = frozenset(c.key.namespace for c in step.changes)
        for namespace in step.namespaces:
            self.by_namespace.setdefault(namespace, []).append(position)
        self.steps.append(step)
        self.position_of_commit[commit_id] = position
        self.position_of_rv[rv] = position
        self._forget_old_entries(position - self._window)
        return step

    def _record_meta(
        self, key: ObjectKey, kind: ChangeType, rv: str, commit_id: str, commit_time: int
    ) -> None:
        if kind == "DELETED":
            self.meta.pop(key.namespace, key)
            return
        known = self.meta.get(key.namespace, key)
        if kind == "ADDED" or known is None:
            uid = self.uid(commit_id, key)
            self.meta.set(key.namespace, key, ObjectMeta(uid, rv, rv, commit_time, commit_id))
        else:
            self.meta.set(
                key.namespace,
                key,
                ObjectMeta(known.uid, rv, known.created_rv, known.created_at, commit_id),
            )

    def uid(self, commit_id: str, key: ObjectKey) -> str:
        """The uid of an object the commit adds: a new one each time it is created."""
        return str(
            uuid.uuid5(
                _UID_NAMESPACE, f"{commit_id}/{key.group}/{key.kind}/{key.namespace}/{key.name}"
            )
        )

    def _forget_old_entries(self, position: int) -> None:
        """Past the watch window keep only what changed, not the objects (bounded memory)."""
        if position < 0:
            return
        step = self.steps[position]
        if any(c.before is not None or c.after is not None for c in step.changes):
            step.changes = [Change(c.type, c.key, None, None, None) for c in step.changes]

    def position(self, rv: str) -> int:
        """Position of a resourceVersion; -1 for the empty branch. Raises Expired/Invalid."""
        if rv == EMPTY_RV:
            return -1
        if not rv.isdigit():
            raise Invalid(f"invalid resourceVersion {rv!r}: must be a number")
        found = self.position_of_rv.get(rv)
        if found is None:
            raise Expired(f"resourceVersion {rv} is not in the history of the branch any more")
        return found

    def changes_since(self, rv: str) -> list[tuple[Step, Change]]:
        """Every object change after `rv`, in commit order; Expired past the window."""
        start = self.position(rv) + 1
        if start < len(self.steps) - self._window:
            raise Expired(
                f"too old resource version: {rv} (watch window is {self._window} commits)"
            )
        return [(step, change) for step in self.steps[start:] for change in step.changes]

    def truncate(self, position: int) -> None:
        """Forget steps after `position` (history was rewritten there); metadata must be rebuilt."""
        for step in self.steps[position + 1 :]:
            self.position_of_commit.pop(step.commit_id, None)
            self.position_of_rv.pop(step.resource_version, None)
        del self.steps[position + 1 :]
        self.by_namespace = {
            ns: [p for p in ps if p <= position] for ns, ps in self.by_namespace.items()
        }
        self.meta = meta_at(self.steps, position)


def meta_at(steps: list[Step], position: int) -> MetaIndex:
    """Object metadata as it was at `position`, replayed from the light change records."""
    replay = Timeline(watch_window=0)
    for step in steps[: position + 1]:
        for change in step.changes:
            replay._record_meta(
                change.key, change.type, step.resource_version, step.commit_id, step.commit_time
            )
    return replay.meta
