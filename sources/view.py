"""The desired state the servers read: what the reconcilers apply, with the Git store's
read API (head, view, get, list, watch), so the API server and the webhook serve it as
they serve a plain repository.

A repository without Applications or Kustomizations is served exactly as the Git store
has it (directory = namespace; history and watches are the store's own). Once it has
sources, each tip of the branch is rendered (sources.engine) and published as a snapshot
of rendered objects, each kept at the path of the file to change for it; a change feed
of rendered objects starts at the commit this process first rendered (a watch from
before it is Expired, and lists again), with the branch's resourceVersions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sources.engine import DesiredState, Engine
from sources.model import Rendered, RenderResult
from store.cow import TwoLevel
from store.documents import Declaration
from store.errors import NotFound, Problem, StoreError
from store.keys import ObjectKey
from store.model import (
    ObjectList,
    Operation,
    Requester,
    StoredObject,
    WatchEvent,
    WriteRequest,
    WriteResult,
)
from store.repo import CommitInfo, GitStore, HeadState, View, stored_object, timeline_events
from store.secrets import may_hold_secret, secret_values
from store.snapshot import Entry, Snapshot
from store.timeline import Timeline

log = logging.getLogger("gitplane.sources")
_UIDS = uuid.UUID("0f6c4d3e-9b1a-4e2f-8a7d-5c3b2a1f0e9d")
_KEPT_STATES = 8


@dataclass(frozen=True)
class RenderedTip:
    """A rendered commit: its desired state and the snapshot made of it."""

    commit_id: str | None
    desired: DesiredState
    snapshot: Snapshot


class RenderedTimeline(Timeline):
    """The rendered change feed: an object's uid follows its identity, not the commit this
    process first saw it at, so a restart does not give every object a new uid."""

    def uid(self, commit_id: str, key: ObjectKey) -> str:
        return str(uuid.uuid5(_UIDS, f"{key.group}/{key.kind}/{key.namespace}/{key.name}"))


class RenderedStore:
    """GitStore's read API over the rendered desired state (see the module docstring)."""

    def __init__(self, store: GitStore, engine: Engine, *, watch_window: int = 1000) -> None:
        self.git = store
        self.engine = engine
        self.remote = store.remote
        self.path = store.path
        self.branch_ref = store.branch_ref
        self.bare = store.bare
        self._lock = threading.RLock()
        self._timeline: Timeline = RenderedTimeline(watch_window)
        self._listeners: list[Callable[[HeadState], None]] = []
        self._tips: OrderedDict[str | None, RenderedTip] = OrderedDict()
        self._state: HeadState | None = None
        self.current: RenderedTip | None = None
        self._epoch = 0
        store.on_change(self._moved)
        self._moved(store.head)

    # ---- following the branch -------------------------------------------------------

    @property
    def rendering(self) -> bool:
        """Whether the repository has sources (else the Git store is served as it is)."""
        tip = self.current
        return tip is not None and bool(tip.desired.results)

    @property
    def head(self) -> HeadState:
        state = self._state
        return state if state is not None and self.rendering else self.git.head

    def on_change(self, callback: Callable[[HeadState], None]) -> None:
        self._listeners.append(callback)

    def refresh(self) -> HeadState:
        self.git.refresh()
        return self.head

    def sync(self) -> HeadState:
        self.git.sync()
        return self.head

    def _moved(self, git_state: HeadState) -> None:
        with self._lock:
            if self.current is not None and self.current.commit_id == git_state.commit_id:
                return
            documents = [
                (entry.path, entry.obj)
                for entries in git_state.snapshot.declarations.values()
                for entry in entries
            ]
            previous = self.current.desired if self.current is not None else None
            desired = self.engine.desired(git_state.commit_id, documents, previous)
            before = self.current.snapshot if self.current is not None else None
            snapshot = rendered_snapshot(git_state.commit_id, desired, before)
            tip = RenderedTip(git_state.commit_id, desired, snapshot)
            was_rendering = self.rendering
            self.current = tip
            self._tips[tip.commit_id] = tip
            while len(self._tips) > _KEPT_STATES:
                self._tips.popitem(last=False)
            if desired.results:
                self._publish(git_state, snapshot, restart=not was_rendering)
        state = self.head
        for listener in list(self._listeners):
            listener(state)

    def _publish(self, git_state: HeadState, snapshot: Snapshot, *, restart: bool) -> None:
        """A step of the rendered feed for the new tip (the first one: every object)."""
        if restart or git_state.epoch != getattr(self, "_git_epoch", git_state.epoch):
            self._timeline = RenderedTimeline(self._timeline._window)
            self._epoch += 1
            before = Snapshot(None)
        else:
            before = self._state.snapshot if self._state is not None else Snapshot(None)
        self._git_epoch = git_state.epoch
        changes = []
        keys = {k for k, _ in before.objects.items()} | {k for k, _ in snapshot.objects.items()}
        for key in keys:
            old, new = before.get(key), snapshot.get(key)
            if (old is None and new is None) or (old is not None and old.same_as(new)):
                continue
            changes.append((key, old, new))
        commit = git_state.commit_id or ""
        when = self.git.commit_info(commit).time if commit else 0
        self._timeline.append(
            commit, when, sorted(changes, key=lambda c: c[0]), git_state.resource_version
        )
        self._state = HeadState(
            git_state.commit_id,
            git_state.resource_version,
            snapshot,
            self._timeline.meta.copy(),
            self._epoch,
        )

    # ---- reads ----------------------------------------------------------------------

    def view(self, revision: str | None = None) -> View:
        if not self.rendering:
            return self.git.view(revision)
        state = self.head
        if revision is None or revision == state.commit_id:
            return View(state.commit_id, state.resource_version, state.snapshot, state.meta)
        tip = self._tips.get(revision)
        if tip is None:
            raise NotFound(f"revision {revision} is no longer rendered here")
        return View(revision, state.resource_version, tip.snapshot, state.meta)

    def get(self, key: ObjectKey, revision: str | None = None) -> StoredObject:
        found = self.view(revision).get(key)
        if found is None:
            raise NotFound(f"{key} not found")
        return found

    def list_objects(self, namespace: str | None = None, revision: str | None = None) -> ObjectList:
        view = self.view(revision)
        items = [
            stored_object(e, view.meta.get(e.key.namespace, e.key))
            for e in view.snapshot.entries(namespace)
        ]
        return ObjectList(items, view.resource_version, view.commit_id)

    def watch_events(self, since_rv: str) -> tuple[list[WatchEvent], str]:
        if not self.rendering:
            return self.git.watch_events(since_rv)
        with self._lock:
            return timeline_events(self._timeline, since_rv)

    def commit_info(self, commit_id: str) -> CommitInfo:
        return self.git.commit_info(commit_id)

    def commit_of(self, resource_version: str) -> str | None:
        return self.git.commit_of(resource_version)

    def problems(self, revision: str | None = None) -> list[Problem]:
        found = self.git.problems(revision)
        tip = self.current
        if tip is None or not self.rendering:
            return found
        # Files a tool reads are its to judge (a patch is a partial object, one base is
        # in several overlays): the source's render says what is wrong with them. The
        # directory layout's "declared again" means nothing once sources decide.
        tools = [r for r in tip.desired.results.values() if r.source.tool != "directory"]
        found = [
            p
            for p in found
            if "is declared again" not in p.message
            and not any(r.reads_any({p.path}) for r in tools)
        ]
        for result in tip.desired.results.values():
            if result.error:
                where = result.source.ref.declared_in.split("#")[0]
                stale = " (serving the last good render)" if result.stale else ""
                found.append(Problem(where, 1, f"{result.source.ref}: {result.error}{stale}"))
        found += [Problem(path, 1, message) for path, message in tip.desired.problems]
        return found

    def destinations(self) -> frozenset[str]:
        """The namespaces the sources apply to (the webhook manages them, even empty)."""
        tip = self.current
        return tip.desired.destinations if tip is not None and self.rendering else frozenset()

    def provenance(self, key: ObjectKey) -> Rendered | None:
        """How a served object was rendered: its source and files (None: not rendered)."""
        tip = self.current
        return tip.desired.objects.get(key) if tip is not None and self.rendering else None

    def results(self) -> list[RenderResult]:
        tip = self.current
        return list(tip.desired.results.values()) if tip is not None else []

    def save_parse_cache(self) -> None:
        self.git.save_parse_cache()

    def _repo(self) -> Any:
        return self.git._repo()

    # ---- writes ---------------------------------------------------------------------

    def apply(
        self,
        operations: Sequence[Operation],
        who: Requester,
        *,
        message: str | None = None,
        request_id: str | None = None,
        trailers: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        kwargs: dict[str, Any] = {
            "message": message,
            "request_id": request_id,
            "trailers": trailers,
            "dry_run": dry_run,
        }
        if not self.rendering:
            return self.git.apply(operations, who, **kwargs)
        from sources.placement import place  # noqa: PLC0415 - the write side of the view

        placed = place(self, operations)
        if not placed:  # nothing changes in Git (a write of bookkeeping only)
            return self._rendered_result(WriteResult(None, "", {}, dry_run), operations)
        return self._rendered_result(self.git.apply(placed, who, **kwargs), operations)

    def apply_batch(self, requests: Sequence[WriteRequest]) -> list[WriteResult | StoreError]:
        if not self.rendering:
            return self.git.apply_batch(requests)
        from sources.placement import place  # noqa: PLC0415

        placed: list[WriteRequest] = []
        failed: dict[int, StoreError] = {}
        unchanged: set[int] = set()
        for index, request in enumerate(requests):
            try:
                operations = place(self, request.operations)
            except StoreError as exc:
                failed[index] = exc
                continue
            if not operations:
                unchanged.add(index)
                continue
            placed.append(
                WriteRequest(
                    operations, request.who, request.message, request.request_id, request.trailers
                )
            )
        answers = iter(self.git.apply_batch(placed))
        results: list[WriteResult | StoreError] = []
        for index, request in enumerate(requests):
            if index in failed:
                results.append(failed[index])
                continue
            if index in unchanged:
                nothing = WriteResult(None, "", {})
                results.append(self._rendered_result(nothing, request.operations))
                continue
            answer = next(answers)
            results.append(
                answer
                if isinstance(answer, StoreError)
                else self._rendered_result(answer, request.operations)
            )
        return results

    def _rendered_result(
        self, written: WriteResult, operations: Sequence[Operation]
    ) -> WriteResult:
        """What the write left, as the rendered view shows it."""
        self.refresh()
        view = self.view()
        objects: dict[ObjectKey, StoredObject | None] = {}
        for op in operations:
            key = getattr(op, "key", None) or _key_of_put(op)
            if key is not None:
                objects[key] = view.get(key)
        return WriteResult(written.commit_id, view.resource_version, objects, written.dry_run)


def _key_of_put(op: Operation) -> ObjectKey | None:
    from store.keys import key_of  # noqa: PLC0415

    obj = getattr(op, "obj", None)
    try:
        return key_of(obj, getattr(op, "namespace", None) or "")
    except StoreError:
        return None


def rendered_snapshot(
    commit_id: str | None, desired: DesiredState, previous: Snapshot | None = None
) -> Snapshot:
    """Rendered objects as a snapshot: each at the path of the file to change for it. An
    object the previous snapshot holds as it is (the same rendered object) keeps its
    entry, so a commit costs what it changed."""
    snapshot = Snapshot(commit_id)
    objects: TwoLevel[str, ObjectKey, Entry] = TwoLevel()
    declarations: TwoLevel[str, ObjectKey, list[Entry]] = TwoLevel()
    for key, rendered in desired.objects.items():
        known = previous.get(key) if previous is not None else None
        if known is not None and known.obj is rendered.obj and known.path == rendered.path:
            objects.set(key.namespace, key, known)
            declarations.set(key.namespace, key, [known])
            continue
        text = json.dumps(rendered.obj, sort_keys=True, default=str)
        holds = may_hold_secret(text) and bool(secret_values(rendered.obj))
        decl = Declaration(key, rendered.obj, 0, None, 1, holds)
        entry = Entry(
            key, rendered.path, hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest(), decl
        )
        objects.set(key.namespace, key, entry)
        declarations.set(key.namespace, key, [entry])
    snapshot.objects = objects
    snapshot.declarations = declarations
    return snapshot
