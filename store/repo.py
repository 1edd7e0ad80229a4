"""GitStore: objects read from, and written as commits to, one branch of a repository.

Reads are served from a snapshot of the branch tip kept in memory and moved forward
by diffs, so an unchanged repository is never parsed twice. Each write is one commit
made on top of the tip and published with a compare-and-swap of the branch ref: if
another thread or process moved the branch meanwhile, the write is worked out again
on the new tip (preconditions checked again) and retried.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pygit2

from store.branch import LocalBranch
from store.commit_check import check_file
from store.cow import TwoLevel
from store.documents import file_segments, is_list
from store.errors import (
    AlreadyExists,
    Conflict,
    FieldCause,
    Invalid,
    NotFound,
    Problem,
    StoreError,
    Unavailable,
)
from store.gitobjects import (
    blob_data,
    blocked_at,
    commit,
    descends_from,
    first_parents,
    new_objects,
)
from store.keys import ObjectKey, key_of
from store.layout import Layout, path_problems
from store.model import (
    Delete,
    FileWrite,
    ObjectList,
    Operation,
    Put,
    Requester,
    StoredObject,
    WatchEvent,
    WriteRequest,
    WriteResult,
)
from store.rawobjects import (
    BLOB,
    COMMIT,
)
from store.remote import Push, RemoteMirror
from store.snapshot import (
    Entry,
    ParseCache,
    Snapshot,
    SnapshotBuilder,
    apply_changes,
    build_snapshot,
    changed_files,
    root_tree_id,
)
from store.staging import StagedObjects, open_staging, put_object
from store.timeline import EMPTY_RV, MetaIndex, ObjectMeta, Timeline, meta_at
from store.trees import Subtrees, write_tree
from store.worktree import Checkout, LockedIndex
from store.yamledit import FileEdit

log = logging.getLogger(__name__)

_EMAIL_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
# Control characters but tab and newline: git and libgit2 cut a message at a NUL (or
# refuse it), and none of them belongs in a terminal showing `git log`.
_MESSAGE_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MAX_ATTEMPTS = 64
_MAX_REMOTE_ATTEMPTS = 32


@dataclass(frozen=True)
class CommitIdentity:
    """How commits name people: the author from the requester, the committer fixed."""

    email_template: str = "{user}@users.gitplane.invalid"
    committer_name: str = "gitplane"
    committer_email: str = "gitplane@localhost"

    def author(self, who: Requester, when: int) -> pygit2.Signature:
        email = self.email_template.format(user=_EMAIL_UNSAFE.sub("-", who.username) or "unknown")
        return pygit2.Signature(who.username or "unknown", email, when, 0)

    def committer(self, when: int) -> pygit2.Signature:
        return pygit2.Signature(self.committer_name, self.committer_email, when, 0)


@dataclass(frozen=True)
class View:
    """The objects at one commit, read without building a list of all of them."""

    commit_id: str | None
    resource_version: str
    snapshot: Snapshot
    meta: MetaIndex

    def get(self, key: ObjectKey) -> StoredObject | None:
        entry = self.snapshot.get(key)
        return stored_object(entry, _meta(self.meta, key)) if entry is not None else None

    def keys(self, namespace: str | None = None) -> list[ObjectKey]:
        return [entry.key for entry in self.snapshot.entries(namespace)]


@dataclass(frozen=True)
class CommitInfo:
    author: str
    email: str
    time: int
    message: str


@dataclass(frozen=True)
class _Batch:
    """Requests to commit one after another, with what each attempt keeps for the next."""

    requests: Sequence[WriteRequest]
    keyed: dict[int, list[tuple[ObjectKey, Operation]]]
    indexes: list[int]  # the requests of this batch, in order; they touch distinct objects
    # Per request: the new blob made from each (path, old blob) (see _changed_blobs).
    rendered: dict[int, dict[tuple[str, str | None], str | None]]


@dataclass(frozen=True)
class _Planned:
    """One commit of a chain before it is made: its request, files, message and author."""

    index: int
    files: dict[str, str | None]  # path -> new blob (None: the file goes)
    message: str
    who: Requester


@dataclass
class _Chain:
    """What one attempt worked out for a batch of writes (the commits to make, each
    request's fate) and, once made on a base, the commits."""

    base: str | None = None
    planned: list[_Planned] = field(default_factory=list)
    committed: list[tuple[int, str]] = field(default_factory=list)  # (request, commit)
    decided: dict[int, WriteResult | StoreError] = field(default_factory=dict)
    deferred: list[int] = field(default_factory=list)  # for the next chain: a file is shared
    paths: list[str] = field(default_factory=list)
    replaces_only: bool = True  # every commit only replaces objects that exist

    def new_objects(self, repo: pygit2.Repository) -> list[pygit2.Oid]:
        """What the chain's commits add to the base: what a remote at the base lacks."""
        parents = [self.base, *(commit_id for _, commit_id in self.committed)]
        return [
            oid
            for (_, commit_id), parent in zip(self.committed, parents, strict=False)
            for oid in new_objects(repo, commit_id, parent)
        ]


@dataclass(frozen=True)
class HeadState:
    """The branch tip as last seen: published whole, never changed."""

    commit_id: str | None
    resource_version: str
    snapshot: Snapshot
    meta: MetaIndex
    epoch: int  # goes up each time history was found rewritten


class GitStore:
    def __init__(
        self,
        path: str | Path,
        *,
        branch: str | None = None,
        layout: Layout | None = None,
        identity: CommitIdentity | None = None,
        cluster_kinds: Iterable[tuple[str, str]] = (),
        watch_window: int = 1000,
        parse_cache_size: int = 100_000,
        persist_parse_cache: bool = True,
        remote: RemoteMirror | None = None,
    ) -> None:
        self.path = str(path)
        self.remote = remote
        if remote is not None:
            remote.prepare(Path(path))
        self.layout = layout or Layout()
        self.identity = identity or CommitIdentity()
        self.cluster_kinds = frozenset(cluster_kinds)
        self._local = threading.local()
        repo = self._repo()
        self.bare = repo.is_bare
        self.branch_ref = _branch_ref(repo, branch)
        self._branch = LocalBranch(self._repo, self.branch_ref)
        # The working tree a person may use too (never with a remote: the clone is bare).
        self._checkout = Checkout.of(repo, self._branch) if remote is None else None
        self._lock = threading.RLock()  # guards the timeline, caches and publishing
        self._write_lock = threading.Lock()  # one writer at a time in this process
        self._staging: tuple[pygit2.Repository, StagedObjects] | None = None
        self._ref_lock = threading.Lock()  # fetches write the clone's branch ref in turn
        self._cache = ParseCache(self.layout, self.cluster_kinds, parse_cache_size)
        # Parsed files are kept beside the repository's own data for the next process.
        self._cache_file = (
            Path(repo.path) / "gitplane" / "parse-cache" if persist_parse_cache else None
        )
        self._saved_at_parses = 0
        if self._cache_file is not None:
            with _cyclic_gc_paused():
                self._cache.load(self._cache_file)
        self._timeline = Timeline(watch_window)
        self._old_snapshots: OrderedDict[str | None, Snapshot] = OrderedDict()
        self._old_meta: OrderedDict[str, MetaIndex] = OrderedDict()
        self._state = HeadState(None, EMPTY_RV, Snapshot(None), TwoLevel(), 0)
        self._listeners: list[Any] = []
        self._commit_infos: dict[str, CommitInfo] = {}
        try:
            self.sync()
        except Unavailable:  # serve what the local clone has; the next fetch may work
            self.refresh()
        if self._checkout is not None:
            try:  # a write killed before the checkout followed it is finished now
                self._checkout.recover(repo, wait=False)
            except Unavailable as exc:  # or before the next write
                log.warning("%s", exc.message)

    @classmethod
    def init(
        cls, path: str | Path, *, bare: bool = False, branch: str = "main", **kwargs: Any
    ) -> GitStore:
        """Create a repository (if there is none) whose branch starts empty, and open it."""
        target = Path(path)
        if not (target / ".git").exists() and not (target / "HEAD").exists():
            pygit2.init_repository(str(target), bare=bare, initial_head=branch)
        return cls(target, branch=branch, **kwargs)

    # ---- the branch tip ------------------------------------------------------------

    @property
    def head(self) -> HeadState:
        return self._state

    def on_change(self, callback: Any) -> None:
        """Call `callback(state)` (from the thread that saw it) whenever the tip moves."""
        self._listeners.append(callback)

    def refresh(self) -> HeadState:
        """Catch up with the branch, including commits made by other processes."""
        tip = self._read_tip()
        if tip != self._state.commit_id:
            self._advance(tip)
        return self._state

    def _repo(self) -> pygit2.Repository:
        # libgit2 repository handles are not to be shared between threads.
        repo = getattr(self._local, "repo", None)
        if repo is None:
            try:
                repo = pygit2.Repository(self.path)
            except pygit2.GitError as exc:
                raise Unavailable(f"cannot open repository {self.path}: {exc}") from exc
            self._local.repo = repo
        return repo

    @contextlib.contextmanager
    def _writer(self) -> Iterator[pygit2.Repository]:
        """The handle a write builds its objects with (under the write lock). With a
        path remote they stay in memory until the push packs them (store.staging);
        otherwise they are written to the repository as they are made."""
        if self.remote is None or self.remote.local_path is None:
            yield self._repo()
            return
        if self._staging is None:
            self._staging = open_staging(self.path)
        repo, staged = self._staging
        try:
            yield repo
        finally:
            staged.clear()  # pushed, and kept on disk as a pack; or not written at all

    def _read_tip(self) -> str | None:
        """The branch tip: the remote's as last fetched or pushed, when there is a remote
        (the clone's branch ref is written from it on each fetch, not on each push: a ref
        update is a file made and one freed, a fifth of a write's disk work)."""
        if self.remote is not None and self.remote.fetched_tip is not None:
            return self.remote.fetched_tip
        return self._branch.tip()

    def _advance(self, tip: str | None) -> None:
        with self._lock, _cyclic_gc_paused():
            if tip == self._timeline.tip:
                return
            repo = self._repo()
            timeline = self._timeline
            chain: list[str] = []
            cursor = None  # the newest commit already in the timeline, if any
            for commit_id in first_parents(repo, tip):
                if commit_id in timeline.position_of_commit:
                    cursor = commit_id
                    break
                chain.append(commit_id)
            epoch = self._state.epoch
            snapshot = self._state.snapshot
            if cursor != timeline.tip:
                # The old tip is not an ancestor of the new one: history was rewritten.
                log.warning("branch %s was rewritten; watchers must list again", self.branch_ref)
                epoch += 1
                fork = timeline.position_of_commit[cursor] if cursor is not None else -1
                timeline.truncate(fork)
                snapshot = build_snapshot(
                    repo, root_tree_id(repo, cursor, self.layout), self.layout, self._cache
                )
            builder = SnapshotBuilder(snapshot.copy())
            for commit_id in reversed(chain):
                made = commit(repo, commit_id)
                tree_id = root_tree_id(repo, commit_id, self.layout)
                builder.touched = {}
                files = changed_files(repo, builder.snapshot.tree_id, tree_id, self.layout)
                apply_changes(repo, builder, files, self._cache)
                builder.snapshot.tree_id = tree_id
                timeline.append(commit_id, made.commit_time, builder.changes())
            self._state = HeadState(
                tip, timeline.resource_version, builder.snapshot, timeline.meta.copy(), epoch
            )
            state = self._state
            self._maybe_save_cache()
        for listener in list(self._listeners):
            listener(state)

    def _maybe_save_cache(self) -> None:
        """Save parsed files once many new ones were parsed (a cold start, a big merge)."""
        if self._cache.parses - self._saved_at_parses >= 500:
            self.save_parse_cache()

    def save_parse_cache(self) -> None:
        """Keep what was parsed for the next process that opens this repository."""
        if self._cache_file is None:
            return
        try:
            self._cache.save(self._cache_file)
            self._saved_at_parses = self._cache.parses
        except OSError as exc:  # a read-only repository still serves
            log.info("parse cache not saved: %s", exc)
            self._cache_file = None

    # ---- reads -----------------------------------------------------------------

    def get(self, key: ObjectKey, revision: str | None = None) -> StoredObject:
        snapshot, meta, _ = self._view(revision)
        entry = snapshot.get(key)
        if entry is None:
            raise NotFound(f"{key} not found")
        return stored_object(entry, _meta(meta, key))

    def list_objects(self, namespace: str | None = None, revision: str | None = None) -> ObjectList:
        snapshot, meta, state_rv = self._view(revision)
        commit_id = revision or self._state.commit_id
        items = [stored_object(e, _meta(meta, e.key)) for e in snapshot.entries(namespace)]
        return ObjectList(items, state_rv, commit_id)

    def view(self, revision: str | None = None) -> View:
        """The branch tip (no I/O) or an older commit of the branch (may parse)."""
        if revision is None:  # one state read once: the tip may move on meanwhile
            state = self._state
            return View(state.commit_id, state.resource_version, state.snapshot, state.meta)
        snapshot, meta, rv = self._view(revision)
        return View(revision, rv, snapshot, meta)

    def problems(self, revision: str | None = None) -> list[Problem]:
        return self._view(revision)[0].problems

    def watch_events(self, since_rv: str) -> tuple[list[WatchEvent], str]:
        """Every object change after `since_rv`, in order, and the version they lead to.

        Raises Expired for a version the branch no longer has (or too old to replay).
        """
        with self._lock:
            return timeline_events(self._timeline, since_rv)

    def commit_info(self, commit_id: str) -> CommitInfo:
        """Author, time and message of a commit (remembered: commits never change)."""
        info = self._commit_infos.get(commit_id)
        if info is None:
            made = commit(self._repo(), commit_id)
            info = CommitInfo(made.author.name, made.author.email, made.commit_time, made.message)
            if len(self._commit_infos) > 50_000:
                self._commit_infos.clear()
            self._commit_infos[commit_id] = info
        return info

    def commit_of(self, resource_version: str) -> str | None:
        with self._lock:
            position = self._timeline.position(resource_version)
            return self._timeline.steps[position].commit_id if position >= 0 else None

    def _view(self, revision: str | None) -> tuple[Snapshot, MetaIndex, str]:
        state = self._state
        if revision is None or revision == state.commit_id:
            return state.snapshot, state.meta, state.resource_version
        with self._lock:
            position = self._timeline.position_of_commit.get(revision)
            if position is None:
                raise NotFound(f"revision {revision} is not on branch {self.branch_ref}")
            step = self._timeline.steps[position]
            repo = self._repo()
            tree_id = root_tree_id(repo, revision, self.layout)
            snapshot = self._old_snapshots.get(tree_id)
            if snapshot is None:
                snapshot = build_snapshot(repo, tree_id, self.layout, self._cache)
                _remember(self._old_snapshots, tree_id, snapshot)
            meta = self._old_meta.get(revision)
            if meta is None:
                meta = meta_at(self._timeline.steps, position)
                _remember(self._old_meta, revision, meta)
            return snapshot, meta, step.resource_version

    # ---- writes ----------------------------------------------------------------

    def create(
        self,
        obj: dict[str, Any],
        who: Requester,
        *,
        namespace: str | None = None,
        message: str | None = None,
        **kwargs: Any,
    ) -> WriteResult:
        return self.apply([Put(obj, namespace, "create")], who, message=message, **kwargs)

    def update(
        self,
        obj: dict[str, Any],
        who: Requester,
        *,
        namespace: str | None = None,
        expect_rv: str | None = None,
        message: str | None = None,
        **kwargs: Any,
    ) -> WriteResult:
        return self.apply(
            [Put(obj, namespace, "update", expect_rv)], who, message=message, **kwargs
        )

    def delete(
        self,
        key: ObjectKey,
        who: Requester,
        *,
        expect_rv: str | None = None,
        message: str | None = None,
        **kwargs: Any,
    ) -> WriteResult:
        return self.apply([Delete(key, expect_rv)], who, message=message, **kwargs)

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
        """Make every operation in one commit, or none of them."""
        if dry_run:
            keyed = self._keyed(operations)
            state = self.refresh()
            self._changed_blobs(self._repo(), state, keyed, write=False)  # every check made
            return self._unwritten(state, keyed, dry_run=True)
        request = WriteRequest(operations, who, message, request_id, trailers)
        result = self.apply_batch([request])[0]
        if isinstance(result, StoreError):
            raise result
        return result

    def apply_batch(self, requests: Sequence[WriteRequest]) -> list[WriteResult | StoreError]:
        """Each request as its own commit (or its own error), the commits chained and
        published together: with a remote, one push carries them all.

        This is how a replica keeps up when its writes queue: a push costs milliseconds
        and the remote's branch takes one at a time, so the writes waiting behind one
        push share the next. A request touching an object or a file that an earlier
        request of the batch touches waits for the next chain, so every request is
        checked against the state its own commit is built on.
        """
        results: dict[int, WriteResult | StoreError] = {}
        keyed: dict[int, list[tuple[ObjectKey, Operation]]] = {}
        for index, request in enumerate(requests):
            try:
                keyed[index] = self._keyed(request.operations)
            except StoreError as exc:
                results[index] = exc
        pending = sorted(keyed)
        while pending:
            chain: list[int] = []
            later: list[int] = []
            keys: set[ObjectKey] = set()
            for index in pending:
                touched = {key for key, _ in keyed[index]}
                (later if touched & keys else chain).append(index)
                keys |= touched
            try:
                later += self._apply_chain(requests, keyed, chain, results)
            except StoreError as exc:  # the remote is unreachable, or the branch kept moving
                results.update((index, exc) for index in chain if index not in results)
            pending = sorted(later)
        return [results[index] for index in range(len(requests))]

    def _apply_chain(
        self,
        requests: Sequence[WriteRequest],
        keyed: dict[int, list[tuple[ObjectKey, Operation]]],
        indexes: list[int],
        results: dict[int, WriteResult | StoreError],
    ) -> list[int]:
        """Commit `indexes` (touching distinct objects) one after another on the tip and
        publish the chain; the requests whose files an earlier one changed are returned
        for the next chain."""
        attempts = _MAX_REMOTE_ATTEMPTS if self.remote is not None else _MAX_ATTEMPTS
        batch = _Batch(requests, keyed, indexes, {i: {} for i in indexes})
        with self._write_lock, self._writer() as repo, self._checkout_locked(repo) as checkout:
            if self.remote is None:
                self._branch.wait_unlocked()  # before anything is written for the chain
            state = self.refresh()
            base = state.commit_id  # the commit the chain is built on
            for attempt in range(attempts):
                chain = self._plan_chain(repo, state, batch, checkout)
                if base != state.commit_id and not self._rebases_cleanly(repo, chain, state, base):
                    state = self._catch_up()
                    base = state.commit_id
                    chain = self._plan_chain(repo, state, batch, checkout)
                published = (
                    self._publish(repo, state, chain, base, checkout) if chain.planned else chain
                )
                if published is not None:
                    if published.committed:
                        self._advance(published.committed[-1][1])
                    results.update(published.decided)
                    results.update(
                        (index, self._written(commit_id, keyed[index]))
                        for index, commit_id in published.committed
                    )
                    return published.deferred
                time.sleep(self._backoff(attempt))
                base = self.remote.fetched_tip if self.remote is not None else self._read_tip()
        raise Conflict(
            f"branch {self.branch_ref} kept moving (other writers won {attempts} times in a"
            " row); try again"
        )

    @contextlib.contextmanager
    def _checkout_locked(self, repo: pygit2.Repository) -> Iterator[LockedIndex | None]:
        """The checkout's index locked for a write (store.worktree), or None: a bare
        repository, a remote's clone, another branch checked out."""
        if self._checkout is None:
            yield None
            return
        with self._checkout.locked(repo) as index:
            yield index

    def _rebases_cleanly(
        self, repo: pygit2.Repository, chain: _Chain, state: HeadState, tip: str | None
    ) -> bool:
        """Whether a chain built from `state` stands as it is on `tip`, a descendant made
        by others meanwhile: it only replaces objects that exist, in files the commits
        since did not touch, so every check it passed would pass again. Then the other
        writers' files are parsed after the push, not before it, while the remote is
        free for the next writer."""
        if tip == state.commit_id:
            return True
        if not chain.replaces_only or tip is None or state.commit_id is None:
            return False
        if not descends_from(repo, tip, state.commit_id):
            return False  # history was rewritten: start over from the new tip
        touched = changed_files(
            repo, state.snapshot.tree_id, root_tree_id(repo, tip, self.layout), self.layout
        )
        return touched.keys().isdisjoint(chain.paths)

    def _catch_up(self) -> HeadState:
        """The branch as others left it (with a remote, its tip as last fetched), parsed."""
        return self.refresh()

    def _plan_chain(
        self,
        repo: pygit2.Repository,
        state: HeadState,
        batch: _Batch,
        checkout: LockedIndex | None = None,
    ) -> _Chain:
        """One commit per request, each on the one before, checked against `state`: the
        blobs are written, the trees and commits are made by _commit_on, on the tip the
        chain is published on (the same commit as `state`, or a later one on which
        _rebases_cleanly says it stands). In a checkout, a request changing a file the
        person changed too is a Conflict."""
        chain = _Chain()
        blobs: dict[str, str | None] = {}
        base_tree = _tree_of(repo, state.commit_id) if checkout is not None else None
        for index in batch.indexes:
            request, keyed = batch.requests[index], batch.keyed[index]
            try:
                changed = self._changed_blobs(repo, state, keyed, batch.rendered[index])
                if checkout is not None:
                    checkout.refuse_local_changes(base_tree, changed)
            except StoreError as exc:
                chain.decided[index] = exc
                continue
            if not changed:
                chain.decided[index] = self._unwritten(state, keyed, dry_run=False)
                continue
            if blobs.keys() & changed.keys():
                chain.deferred.append(index)
                continue
            blobs.update(changed)
            subject = request.message or _default_message(keyed, state.snapshot)
            message = _commit_message(subject, request.who, request.request_id, request.trailers)
            chain.planned.append(_Planned(index, changed, message, request.who))
            chain.replaces_only &= all(
                isinstance(op, Put) and state.snapshot.get(key) is not None for key, op in keyed
            )
        chain.paths = sorted(blobs)
        return chain

    def _commit_on(self, repo: pygit2.Repository, chain: _Chain, base: str | None) -> _Chain:
        """The chain's planned commits made one after another, the first on `base`."""
        made = replace(chain, base=base, committed=[])
        base_tree = repo[base].peel(pygit2.Tree) if base else None
        files: dict[str, str | None] = {}
        subtrees: Subtrees = {}  # a directory no later commit changes is made once
        tip = base
        for planned in chain.planned:
            files.update(planned.files)
            tree_id = write_tree(repo, base_tree, files, subtrees)[0]
            tip = self._create_commit(repo, tip, tree_id, planned.message, planned.who)
            made.committed.append((planned.index, tip))
        return made

    def _backoff(self, attempt: int) -> float:
        """How long to wait before trying again after losing the branch to another writer.

        Someone always wins, so retrying at once cannot livelock, and every
        millisecond asleep is throughput lost: with waits of ~10 ms, a replica that lost
        spent more time asleep than writing. Not waiting at all lets two writers fall
        into step, the slower one losing every time; a short random wait, growing
        while one keeps losing, breaks the step.
        """
        unit = 0.0005 if self.remote is not None else 0.002
        return random.uniform(0, unit * 2 ** min(attempt, 6))  # noqa: S311 - jitter only

    def _keyed(self, operations: Sequence[Operation]) -> list[tuple[ObjectKey, Operation]]:
        keyed: list[tuple[ObjectKey, Operation]] = []
        seen: set[ObjectKey] = set()
        for op in operations:
            key = (
                op.key
                if isinstance(op, (Delete, FileWrite))
                else key_of(op.obj, op.namespace, self.cluster_kinds)
            )
            if key in seen:
                raise Invalid(f"{key} appears more than once in one change")
            if isinstance(op, Put) and is_list(op.obj):
                raise Invalid(
                    f"{key}: a {key.kind} holds several objects; write each of its items instead",
                    [FieldCause("kind", f"Invalid value: {key.kind!r}: not one object")],
                )
            seen.add(key)
            keyed.append((key, op))
        if not keyed:
            raise Invalid("a change must hold at least one operation")
        return keyed

    def _changed_blobs(
        self,
        repo: pygit2.Repository,
        state: HeadState,
        keyed: list[tuple[ObjectKey, Operation]],
        rendered: dict[tuple[str, str | None], str | None] | None = None,
        *,
        write: bool = True,
    ) -> dict[str, str | None]:
        """Check every precondition and write the changed files' blobs: path -> new blob
        (None: the file goes), empty when nothing changes. `write=False` (a dry run)
        only works out the blobs' ids: nothing reaches the object database.

        `rendered` remembers, across the retries of one request, the new blob made from
        each (path, old blob): after losing a race to a write elsewhere in the tree, the
        same edit of the same file is not worked out again.
        """
        snapshot = state.snapshot
        edits: dict[str, FileEdit] = {}
        tree: list[pygit2.Tree | None] = []  # the commit's whole tree, once a new file needs it

        def edit(path: str) -> FileEdit:
            if path not in edits:
                known = snapshot.file(path)
                if known and known[1].stale:
                    raise Conflict(
                        f"{path} does not load at the tip of the branch (see gitplane check):"
                        " fix it in Git, then try again",
                        (path,),
                    )
                if known:
                    blob_id, parsed = known
                    segments = file_segments(blob_data(repo, blob_id), parsed.is_json)
                    edits[path] = FileEdit(segments, parsed.is_json)
                else:
                    edits[path] = FileEdit(is_json=path.endswith(".json"))
            return edits[path]

        files: dict[str, FileWrite] = {}
        for key, op in keyed:
            if isinstance(op, FileWrite):
                files[op.path] = op
                continue
            existing = snapshot.get(key)
            _check(key, op, existing, state.meta.get(key.namespace, key))
            if isinstance(op, Delete):
                for entry in snapshot.declarations_of(key):
                    edit(entry.path).remove(entry.decl.segment, entry.decl.item, entry.obj)
            elif existing is not None:
                edit(existing.path).replace(
                    existing.decl.segment,
                    existing.decl.item,
                    _as_declared(op.obj, existing),
                    existing.obj,
                )
            else:
                path = op.path or self.layout.path_for(key)
                if path not in edits:  # a file made here: no link or submodule in its way
                    if not tree:
                        tree.append(_tree_of(repo, state.commit_id))
                    self.layout.check_new_file(key, path, blocked_at(tree[0], path))
                edit(path).append(op.obj, op.text)
        blobs: dict[str, str | None] = {}
        for path, file_edit in edits.items():
            known = snapshot.file(path)
            made_from = (path, known[0] if known else None)
            if rendered is not None and made_from in rendered:
                new_blob = rendered[made_from]
            else:
                text = file_edit.render()
                if text is not None:
                    check_file(path, file_edit.original_segments, text)
                new_blob = _blob_id(repo, text, write) if text is not None else None
                if rendered is not None:
                    rendered[made_from] = new_blob
            if known is None or known[0] != new_blob:
                blobs[path] = new_blob
        if files:
            if not tree:
                tree.append(_tree_of(repo, state.commit_id))
            blobs.update(self._file_blobs(repo, tree[0], files, set(edits), write))
        return blobs

    def _file_blobs(
        self,
        repo: pygit2.Repository,
        tree: pygit2.Tree | None,
        files: dict[str, FileWrite],
        edited: set[str],
        write: bool,
    ) -> dict[str, str | None]:
        """The blobs of FileWrites, each checked as any committed file is."""
        blobs: dict[str, str | None] = {}
        for path, op in files.items():
            if path in edited:
                raise Invalid(f"{path} is written twice in one change (as a file and an object)")
            current = _blob_at(tree, path)
            if op.expect_blob is not None and (current or "") != op.expect_blob:
                raise Conflict(
                    f"{path} changed since this change was worked out; read it again and retry",
                    (path,),
                )
            if op.text is None:
                if current is not None:
                    blobs[path] = None
                continue
            problems = path_problems(path)
            blocked = blocked_at(tree, path)
            if blocked is not None and blocked[0] != path:
                problems.append(f"{blocked[0]!r} is not a directory gitplane writes into")
            if problems:
                raise Invalid(f"{path} cannot be written", [FieldCause("", p) for p in problems])
            before = (
                file_segments(blob_data(repo, current), path.endswith(".json")) if current else ()
            )
            if path.endswith((".yaml", ".yml", ".json")):
                check_file(path, before, op.text)
            new_blob = _blob_id(repo, op.text, write)
            if new_blob != current:
                blobs[path] = new_blob
        return blobs

    def _create_commit(
        self, repo: pygit2.Repository, parent: str | None, tree_id: str, message: str,
        who: Requester,
    ) -> str:  # fmt: skip
        now = int(time.time())
        parents: list[str | pygit2.Oid] = [parent] if parent else []
        author, committer = self.identity.author(who, now), self.identity.committer(now)
        # The commit's text as libgit2 lays it out; pygit2's stub says Oid, it is a str.
        text = repo.create_commit_string(author, committer, message, tree_id, parents)
        return put_object(repo, COMMIT, cast(str, text).encode())

    def _publish(
        self,
        repo: pygit2.Repository,
        state: HeadState,
        chain: _Chain,
        base: str | None,
        checkout: LockedIndex | None = None,
    ) -> _Chain | None:
        """Make the chain's commits on `base` and the last one the branch tip if the branch
        is still there: the chain made, or None when the branch moved on (the caller
        works the batch out again on the new tip).

        With a remote, the remote decides (a fast-forward push); this store's tip is then
        the remote's (`RemoteMirror.fetched_tip`), the clone's branch ref is written on
        the next fetch. A path remote asks for the commits on the tip it finds, just
        before or under its branch's lock (RemoteMirror._push_local): when the branch
        moved on, the chain is made on its new tip and pushed in the same turn if it
        stands there.

        In a checkout, the journal names the chain's files before the branch moves, and
        they are brought to the new tip in the index and the working tree before the
        write is acknowledged (store.worktree).
        """
        if self.remote is None:
            made = self._commit_on(repo, chain, base)
            last = made.committed[-1][1]
            if checkout is not None:
                checkout.begin(base, last, chain.paths)
            moved = False
            try:
                moved = self._move_branch(base, last, chain.planned[-1].message)
            finally:
                if checkout is not None and not moved:
                    checkout.abandon()
            if checkout is not None and moved:
                checkout.finish(base, last, chain.paths)
            return made if moved else None
        pushed: _Chain | None = None

        def commits_on(tip: str | None) -> tuple[str, list[pygit2.Oid]] | None:
            nonlocal pushed
            if tip != base and not self._rebases_cleanly(repo, chain, state, tip):
                return None
            pushed = self._commit_on(repo, chain, tip)
            return pushed.committed[-1][1], pushed.new_objects(repo)

        outcome = self.remote.push(repo, base, commits_on)
        return pushed if outcome is Push.ACCEPTED else None

    def _move_branch(self, base: str | None, commit_id: str, message: str) -> bool:
        """Compare-and-swap of the local branch from `base` (store.branch): False only
        when another writer moved it first."""
        return self._branch.move(base, commit_id, f"gitplane: {message.splitlines()[0]}")

    def _force_branch(self, commit_id: str | None) -> None:
        if commit_id is not None:
            self._repo().references.create(self.branch_ref, commit_id, force=True)

    def _follow_remote(self) -> None:
        """Move the clone's branch ref to the remote tip last seen, for the next start and
        for people looking at the clone. Read under the lock, not passed in: a fetch that
        read the remote earlier never moves the branch back."""
        assert self.remote is not None
        with self._ref_lock:
            tip = self.remote.fetched_tip
            ref = self._repo().references.get(self.branch_ref)
            if tip is not None and (ref is None or str(ref.resolve().target) != tip):
                self._force_branch(tip)

    def sync(self) -> HeadState:
        """Fetch from the remote (when there is one) and catch up with its branch."""
        if self.remote is not None:
            self.remote.fetch(self._repo())
            self._follow_remote()
        return self.refresh()

    def _written(self, commit_id: str, keyed: list[tuple[ObjectKey, Operation]]) -> WriteResult:
        state = self._state
        objects = {}
        for key, _ in keyed:
            entry = state.snapshot.get(key)
            objects[key] = (
                stored_object(entry, _meta(state.meta, key)) if entry is not None else None
            )
        return WriteResult(commit_id, state.resource_version, objects)

    def _unwritten(
        self, state: HeadState, keyed: list[tuple[ObjectKey, Operation]], dry_run: bool
    ) -> WriteResult:
        """What a dry run (or a write that changes nothing) would leave."""
        objects: dict[ObjectKey, StoredObject | None] = {}
        for key, op in keyed:
            entry = state.snapshot.get(key)
            meta = state.meta.get(key.namespace, key)
            if isinstance(op, (Delete, FileWrite)):
                objects[key] = None
            elif entry is not None and meta is not None and not dry_run:
                objects[key] = stored_object(entry, meta)
            else:
                path = entry.path if entry else (op.path or self.layout.path_for(key))
                objects[key] = StoredObject(
                    key,
                    op.obj,
                    path,
                    meta.resource_version if meta else "",
                    meta.uid if meta else "",
                    meta.created_at if meta else int(time.time()),
                    meta.commit_id if meta else "",
                )
        return WriteResult(None, state.resource_version, objects, dry_run)


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Building a snapshot allocates ~100 objects per declared object, none in cycles.

    Left on, the cyclic collector runs over and over during a cold build and doubles its
    time; it runs once afterwards instead.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check(
    key: ObjectKey, op: Put | Delete, existing: Entry | None, meta: ObjectMeta | None
) -> None:
    if isinstance(op, Put) and op.mode == "create" and existing is not None:
        raise AlreadyExists(f"{key} already exists")
    if existing is None and (isinstance(op, Delete) or op.mode == "update"):
        raise NotFound(f"{key} not found")
    if op.expect_rv and meta is not None and op.expect_rv != meta.resource_version:
        raise Conflict(
            f"{key} has been modified (resourceVersion {meta.resource_version}, expected"
            f" {op.expect_rv}); apply your changes to the latest version and try again",
            (str(key),),
        )


def _as_declared(obj: dict[str, Any], existing: Entry) -> dict[str, Any]:
    """Keep a file's habit of leaving the namespace to its directory."""
    old_meta = existing.obj.get("metadata") or {}
    new_meta = obj.get("metadata")
    if "namespace" in old_meta or not isinstance(new_meta, dict) or "namespace" not in new_meta:
        return obj
    if new_meta["namespace"] != existing.key.namespace:
        return obj
    return {**obj, "metadata": {k: v for k, v in new_meta.items() if k != "namespace"}}


def timeline_events(timeline: Timeline, since_rv: str) -> tuple[list[WatchEvent], str]:
    """The watch events of a change feed after `since_rv` (see GitStore.watch_events)."""
    pairs = timeline.changes_since(since_rv)
    reached = timeline.resource_version
    events = []
    for step, change in pairs:
        entry = change.after or change.before
        if entry is None or change.meta is None:
            continue  # older than the window: changes_since already refused that
        stored = stored_object(entry, change.meta)
        previous = None
        if change.type == "DELETED":  # the last state, at the version that deleted it
            stored = stored._replace(resource_version=step.resource_version)
        elif change.type == "MODIFIED" and change.before is not None:
            previous = stored_object(change.before, change.meta)
        events.append(WatchEvent(change.type, stored, step.resource_version, previous))
    return events, reached


def _meta(index: MetaIndex, key: ObjectKey) -> ObjectMeta | None:
    return index.get(key.namespace, key)


def stored_object(entry: Entry, info: ObjectMeta | None) -> StoredObject:
    if info is None:  # only while history is being caught up; never published that way
        return StoredObject(
            entry.key, entry.obj, entry.path, "", "", 0, "", entry.decl.line,
            entry.decl.holds_secret,
        )  # fmt: skip
    return StoredObject(
        entry.key,
        entry.obj,
        entry.path,
        info.resource_version,
        info.uid,
        info.created_at,
        info.commit_id,
        entry.decl.line,
        entry.decl.holds_secret,
    )


def _blob_id(repo: pygit2.Repository, text: str, write: bool) -> str:
    data = text.encode()
    return put_object(repo, BLOB, data) if write else str(pygit2.hash(data))


def _blob_at(tree: pygit2.Tree | None, path: str) -> str | None:
    """The blob of a regular file at `path` (None: no such file)."""
    if tree is None:
        return None
    try:
        entry = tree[path]
    except KeyError:
        return None
    regular = (pygit2.GIT_FILEMODE_BLOB, pygit2.GIT_FILEMODE_BLOB_EXECUTABLE)
    return str(entry.id) if entry.filemode in regular else None


def _tree_of(repo: pygit2.Repository, commit_id: str | None) -> pygit2.Tree | None:
    return repo[commit_id].peel(pygit2.Tree) if commit_id else None


def _branch_ref(repo: pygit2.Repository, branch: str | None) -> str:
    if branch:
        return branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    head = repo.references.get("HEAD")
    target = head.target if head is not None else None
    if isinstance(target, str) and target.startswith("refs/heads/"):
        return target
    return "refs/heads/main"


def _default_message(keyed: list[tuple[ObjectKey, Operation]], snapshot: Snapshot) -> str:
    """`update apps/v1 Deployment shop/web`, or a summary for several objects."""
    if len(keyed) == 1:
        key, op = keyed[0]
        if isinstance(op, FileWrite):
            return f"{'remove' if op.text is None else 'update'} {op.path}"
        if isinstance(op, Delete):
            entry = snapshot.get(key)
            api_version = entry.obj.get("apiVersion", key.group) if entry else key.group
            return f"delete {api_version} {key.kind} {_where(key)}"
        existing = snapshot.get(key) is not None
        verb = op.mode if op.mode != "apply" else ("update" if existing else "create")
        return f"{verb} {op.obj.get('apiVersion', '')} {key.kind} {_where(key)}"
    namespaces = sorted({k.namespace or "(cluster)" for k, _ in keyed})
    return f"apply {len(keyed)} changes in {', '.join(namespaces)}"


def _where(key: ObjectKey) -> str:
    return f"{key.namespace}/{key.name}" if key.namespace else key.name


def _commit_message(
    message: str, who: Requester, request_id: str | None, extra: dict[str, str] | None
) -> str:
    message = _MESSAGE_UNSAFE.sub("\ufffd", message)
    lines = [line.rstrip() for line in message.strip().splitlines()] or ["gitplane change"]
    trailers = {"Gitplane-User": who.username}
    if who.groups:
        trailers["Gitplane-Groups"] = ", ".join(who.groups)
    if request_id:
        trailers["Gitplane-Request-Id"] = request_id
    trailers.update(extra or {})
    block = "\n".join(
        f"{k}: {_MESSAGE_UNSAFE.sub(chr(0xFFFD), v).replace(chr(10), ' ')}"
        for k, v in trailers.items()
    )
    return "\n".join(lines) + "\n\n" + block + "\n"


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any, size: int = 8) -> None:
    cache[key] = value
    if len(cache) > size:
        cache.popitem(last=False)
