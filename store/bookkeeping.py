"""Controller bookkeeping, kept in the repository beside the branch, never on it.

What controllers and clients write on a served object that is not the declared object
(finalizers, their own annotations, status, managedFields, a deletion waiting for its
finalizers) must persist, but must not change the YAML the reconcilers apply. It lives
on the ref `refs/gitplane/bookkeeping/<branch>`: one JSON file per object
(`<namespace or _cluster>/<group or core>/<kind>/<name>.json`), each change a commit on
that ref, which only moves by compare-and-swap under git's ref locks. In a repository
gitplane writes directly, the branch's lock is taken too, so no branch commit lands
between the check of the branch tip and the bookkeeping commit; with a remote, the
clone's own order is used (bookkeeping stays in the clone).

Each commit names the branch commit it was made on (`Gitplane-Branch`,
`Gitplane-Branch-Version` trailers): that orders it after that branch commit and
before the next for every reader, and gives it its resourceVersion (store.versions).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pygit2

from store import versions
from store.branch import LocalBranch
from store.errors import Conflict, Expired, Unavailable
from store.gitobjects import blob_data, commit, first_parents
from store.keys import ObjectKey
from store.model import Requester
from store.trees import write_tree

log = logging.getLogger(__name__)

Record = dict[str, Any]  # finalizers, annotations, status, managedFields, deletion, uid
BranchTip = Callable[[], tuple[str | None, str]]  # (commit id, resourceVersion) served now
_BRANCH = "Gitplane-Branch"
_BRANCH_RV = "Gitplane-Branch-Version"
_ATTEMPTS = 32


@dataclass(frozen=True)
class Change:
    key: ObjectKey
    before: Record | None
    after: Record | None


@dataclass(frozen=True)
class Step:
    """One bookkeeping commit: the branch commit it stands on and what it changed."""

    commit_id: str
    branch_commit: str
    branch_rv: str
    index: int  # among the bookkeeping commits made on that branch commit, from 1
    changes: tuple[Change, ...]

    @property
    def resource_version(self) -> str:
        return versions.encode(self.branch_rv, self.index)


def record_path(key: ObjectKey) -> str:
    return f"{key.namespace or '_cluster'}/{key.group or 'core'}/{key.kind}/{key.name}.json"


def key_of_path(path: str) -> ObjectKey | None:
    parts = path.split("/")
    if len(parts) != 4 or not parts[3].endswith(".json"):
        return None
    namespace, group, kind, name = parts
    return ObjectKey(
        "" if group == "core" else group,
        kind,
        "" if namespace == "_cluster" else namespace,
        name[: -len(".json")],
    )


def ref_for(branch_ref: str) -> str:
    return "refs/gitplane/bookkeeping/" + branch_ref.removeprefix("refs/heads/")


class Bookkeeping:
    """The records at the bookkeeping ref's tip, its history as a change feed, and
    compare-and-swap writes. `branch()` is the branch tip the API serves now;
    `refresh_branch()` catches it up with the repository."""

    def __init__(
        self,
        path: str,
        branch_ref: str,
        branch: BranchTip,
        refresh_branch: Callable[[], object],
        *,
        lock_branch: bool = True,
        window: int = 1000,
    ) -> None:
        self.path = path
        self.ref = ref_for(branch_ref)
        self._branch_ref = branch_ref
        self._branch = branch
        self._refresh_branch = refresh_branch
        self._lock_branch = lock_branch
        self._window = window
        self._local = threading.local()
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self.tip: str | None = None
        self.steps: list[Step] = []
        self.first_step = 0  # how many steps of the ref's history were dropped (window)
        self.records: dict[ObjectKey, Record] = {}
        self.versions: dict[ObjectKey, str] = {}  # of the commit that last wrote a record
        self.refresh()

    # ---- reading -----------------------------------------------------------------

    def _repo(self) -> pygit2.Repository:
        repo = getattr(self._local, "repo", None)
        if repo is None:
            repo = self._local.repo = pygit2.Repository(self.path)
        return repo

    def on_change(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def _read_tip(self) -> str | None:
        ref = self._repo().references.get(self.ref)
        return str(ref.target) if ref is not None else None

    def refresh(self) -> bool:
        """Catch up with the ref (another process, a person): whether it moved."""
        with self._lock:
            tip = self._read_tip()
            if tip == self.tip:
                return False
            repo = self._repo()
            new: list[str] = []
            found = False
            for commit_id in first_parents(repo, tip):
                if commit_id == self.tip:
                    found = True
                    break
                new.append(commit_id)
            if not found and self.tip is not None:
                log.warning("%s was rewritten: bookkeeping is read again", self.ref)
                self.steps, self.records, self.versions = [], {}, {}
                self.first_step = 0
            for commit_id in reversed(new):
                self._append(repo, commit_id)
            self.tip = tip
        for listener in list(self._listeners):
            listener()
        return True

    def _append(self, repo: pygit2.Repository, commit_id: str) -> None:
        made = commit(repo, commit_id)
        trailers = _trailers(made.message)
        branch_commit = trailers.get(_BRANCH, "")
        branch_rv = trailers.get(_BRANCH_RV, "")
        if not branch_rv.isdigit():
            branch_rv = "1"
        last = self.steps[-1] if self.steps else None
        index = last.index + 1 if last is not None and last.branch_commit == branch_commit else 1
        parent = made.parents[0].tree if made.parents else None
        changes = []
        for path, blob in _changed(repo, parent, made.tree):
            key = key_of_path(path)
            if key is None:
                continue
            after = _load(repo, blob) if blob is not None else None
            changes.append(Change(key, self.records.get(key), after))
        step = Step(commit_id, branch_commit, branch_rv, index, tuple(changes))
        for change in changes:
            if change.after is None:
                self.records.pop(change.key, None)
                self.versions.pop(change.key, None)
            else:
                self.records[change.key] = change.after
                self.versions[change.key] = step.resource_version
        self.steps.append(step)
        if len(self.steps) > self._window:
            drop = len(self.steps) - self._window
            del self.steps[:drop]
            self.first_step += drop

    def current(self, branch_rv: str) -> str:
        """The version the served state is at, with the branch at `branch_rv`."""
        with self._lock:
            last = self.steps[-1] if self.steps else None
        here = versions.encode(branch_rv)
        return versions.newest(here, last.resource_version) if last is not None else here

    def steps_after(self, rv: str) -> list[Step]:
        """The bookkeeping commits after a served version, in order; Expired when they
        are older than the window kept."""
        with self._lock:
            steps = list(self.steps)
            dropped = self.first_step
        after = [step for step in steps if int(step.resource_version) > int(rv)]
        if dropped and len(after) == len(steps):
            raise Expired(f"too old resource version: {rv} (bookkeeping window)")
        return after

    # ---- writing -----------------------------------------------------------------

    def write(
        self,
        key: ObjectKey,
        record: Record | None,
        who: Requester,
        *,
        expect_version: str | None = None,
        message: str = "",
    ) -> str:
        """Set (None: remove) the record of `key` as a commit on the bookkeeping ref, made
        on the branch tip served now: the version of the commit. `expect_version` (the
        record's version when the change was worked out; "" for none) makes it a
        compare-and-swap on the record too: Conflict when it changed meanwhile."""
        path = record_path(key)
        for _ in range(_ATTEMPTS):
            with self._lock:
                self.refresh()
                known = self.versions.get(key, "")
                if expect_version is not None and known != expect_version:
                    raise Conflict(f"{key}: its bookkeeping changed meanwhile", (str(key),))
                if record is None and key not in self.records:
                    return self.current(self._branch()[1])
                branch_commit, branch_rv = self._branch()
                made = self._commit(key, path, record, who, branch_commit, branch_rv, message)
                if made is not None and self._move(made, branch_commit):
                    self.refresh()
                    return self.versions.get(key) or self.current(branch_rv)
            self._refresh_branch()  # the branch moved under us: stand on its new tip
            time.sleep(0.001)
        raise Conflict(f"{self.ref} kept moving; try again", (str(key),))

    def _commit(
        self,
        key: ObjectKey,
        path: str,
        record: Record | None,
        who: Requester,
        branch_commit: str | None,
        branch_rv: str,
        message: str,
    ) -> str | None:
        repo = self._repo()
        base = repo[self.tip].tree if self.tip is not None else None
        blob = None
        if record is not None:
            text = json.dumps(record, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
            blob = str(repo.create_blob(text.encode()))
        tree_id, _ = write_tree(repo, base, {path: blob}, {})
        now = int(time.time())
        author = pygit2.Signature(who.username or "unknown", "bookkeeping@gitplane.invalid", now, 0)
        committer = pygit2.Signature("gitplane", "gitplane@localhost", now, 0)
        subject = message or f"{'remove' if record is None else 'set'} bookkeeping of {key}"
        text = (
            f"{subject}\n\n{_BRANCH}: {branch_commit or ''}\n{_BRANCH_RV}: {branch_rv}\n"
            f"Gitplane-User: {who.username}\n"
        )
        parents = [self.tip] if self.tip is not None else []
        return str(repo.create_commit(None, author, committer, text, tree_id, parents))

    def _move(self, commit_id: str, branch_commit: str | None) -> bool:
        """The ref from its tip to `commit_id`, under its lock and (in a repository
        written directly) the branch's: False when either moved since."""
        repo = self._repo()
        branch = LocalBranch(self._repo, self._branch_ref)
        transaction = branch._lock(repo) if self._lock_branch else repo.transaction()
        try:
            transaction.lock_ref(self.ref)
            if self._read_tip() != self.tip:
                return False
            if self._lock_branch and branch.tip() != branch_commit:
                return False
            transaction.set_target(self.ref, commit_id, message="gitplane: bookkeeping")
            transaction.commit()
            return True
        except (pygit2.GitError, OSError, ValueError) as exc:
            if "lock" in str(exc):
                return False
            raise Unavailable(f"cannot move {self.ref}: {exc}") from exc
        finally:
            transaction.__exit__(Exception, None, None)


def _trailers(message: str) -> dict[str, str]:
    found = {}
    for line in message.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name.startswith("Gitplane-"):
            found[name] = value.strip()
    return found


def _changed(repo: pygit2.Repository, before: Any, after: Any) -> list[tuple[str, str | None]]:
    """(path, new blob or None) of every file that differs between two trees."""
    if before is None:
        return [(path, blob) for path, blob in _files(repo, after, "")]
    diff = repo.diff(before, after)
    changed: list[tuple[str, str | None]] = []
    for delta in diff.deltas:
        if delta.status == pygit2.GIT_DELTA_DELETED:
            changed.append((delta.old_file.path, None))
        else:
            changed.append((delta.new_file.path, str(delta.new_file.id)))
    return changed


def _files(repo: pygit2.Repository, tree: Any, prefix: str) -> list[tuple[str, str]]:
    found = []
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.type_str == "tree":
            found += _files(repo, repo[entry.id], path + "/")
        else:
            found.append((path, str(entry.id)))
    return found


def _load(repo: pygit2.Repository, blob: str) -> Record | None:
    try:
        loaded = json.loads(blob_data(repo, blob))
    except (ValueError, KeyError):
        return None
    return loaded if isinstance(loaded, dict) else None


def bookkeeping_for(desired: Any) -> Bookkeeping:
    """The bookkeeping of what a DesiredStore serves (a GitStore, or the rendered view of
    one), in its repository, ordered after the tip it serves."""
    git = getattr(desired, "git", desired)

    def branch() -> tuple[str | None, str]:
        head = desired.head
        return head.commit_id, head.resource_version

    return Bookkeeping(
        git.path, git.branch_ref, branch, desired.refresh, lock_branch=git.remote is None
    )
