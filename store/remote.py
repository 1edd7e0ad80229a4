"""The remote is the truth: fetch moves the local branch to it, and a write counts only
once the remote took it.

Pushes and fetches run the `git` CLI, as Argo CD does: its receive-pack updates the remote
ref under a lock after checking the old value, which libgit2's local-path transport does
not (two replicas pushing at once to a path both "won", and one write was lost).
`--force-with-lease=<branch>:<base>` makes the push a compare-and-swap from the commit
the write was built on; the pushed commit is always a child of it, so history only grows.

A remote on a local or shared filesystem (a path or file:// URL) is written directly,
with the same guarantee at a fraction of the cost (no process, no negotiation). The
pusher takes the branch's ref lock as git does (`<ref>.lock`), checks the old value,
puts the new objects in as one pack and moves the ref. A replica finding the lock
taken waits for it rather than race: a push that loses has written its pack for
nothing, and racing, two replicas wrote less than one. The write's commits and pack are
made on the tip seen just before the lock when it is free, and again under it when the
tip moved on meanwhile (or the lock was taken); found moved on, the packs other replicas
pushed are linked first. What else of the tip's history the clone lacks is brought once
the lock is let go. The lock is what replicas take turns at: the less done holding it,
the more they write together.

The write's objects, staged in memory (store.staging), reach the disk once: the pack
is written in the clone, hard-linked into the remote and, once the remote took it,
renamed into the clone's own packs. Fetching from it hard-links the packs other
replicas wrote and packs whatever else is new (libgit2's fetch negotiates, 5 ms for
one commit); a clone far behind, or a first fetch, still goes through libgit2.

Credentials come from files: an SSH key with a known_hosts file (strict host checking),
or an HTTPS token sent as a header through git's environment (never on a command line,
never in a message).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from itertools import islice
from pathlib import Path

import pygit2

from store.errors import Unavailable
from store.gitobjects import commit, first_parents, new_objects
from store.locks import LOCK_WAIT, gone_before
from store.packformat import PackFiles
from store.packs import (
    link_pack,
    move_pack,
    pack_directory,
    pack_names,
    write_pack,
)

log = logging.getLogger(__name__)
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
GIT_TIMEOUT = 60.0
BRANCH_LOCK_WAIT = LOCK_WAIT  # seconds; pushes hold the lock for milliseconds
# What reading or writing a path remote raises when it is gone: a remote moved away in
# the middle of a read shows as a missing object.
_UNREACHABLE = (pygit2.GitError, OSError, KeyError)

# Given the tip a push is to go on: the commit to push and the objects it adds to that
# tip, or None when the write must first be checked again against that tip.
CommitsOn = Callable[[str | None], tuple[str, list[pygit2.Oid]] | None]


@dataclass(frozen=True)
class Credentials:
    """Where secrets for the remote live: files only, never values in flags or logs."""

    username: str = "git"
    ssh_private_key: Path | None = None
    known_hosts: Path | None = None
    token_file: Path | None = None  # HTTPS: the token is the password

    def environment(self) -> dict[str, str]:
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
        if self.ssh_private_key is not None:
            hosts = f"-o UserKnownHostsFile={self.known_hosts}" if self.known_hosts else ""
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i {self.ssh_private_key} -o IdentitiesOnly=yes {hosts}"
                " -o StrictHostKeyChecking=yes -o BatchMode=yes"
            )
        if self.token_file is not None:
            token = self.token_file.read_text().strip()
            basic = base64.b64encode(f"{self.username}:{token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return env


class Push(Enum):
    ACCEPTED = "accepted"
    REMOTE_MOVED = "remote-moved"


def redact(text: str) -> str:
    """A URL or message without the user:password@ part."""
    return _USERINFO.sub("", text)


class RemoteMirror:
    def __init__(
        self,
        url: str,
        branch: str,
        credentials: Credentials | None = None,
        *,
        direct_local: bool = True,
    ) -> None:
        self.url = url
        self.local_path = _local_path(url) if direct_local else None
        self.branch_ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        self.tracking_ref = "refs/remotes/origin/" + self.branch_ref.removeprefix("refs/heads/")
        self.credentials = credentials or Credentials()
        self.last_success: float | None = None  # time of the last fetch or push that worked
        self.stale_since: float | None = None  # first failure since the last success
        self.last_error = ""
        # The remote tip as last seen (fetched or pushed), with its objects in the clone.
        # Fetches and pushes take turns under the lock, so it only moves forward.
        self.fetched_tip: str | None = None
        self._seen_packs: set[str] = set()  # the remote's pack names already linked
        self._can_link = True
        self._lock = threading.Lock()
        self._handles = threading.local()

    def prepare(self, path: Path) -> None:
        """A bare local clone at `path` with `origin` pointing at the remote (created if absent)."""
        repo = (
            pygit2.Repository(str(path))
            if (path / "HEAD").exists()
            else pygit2.init_repository(str(path), bare=True, initial_head=self.branch_ref)
        )
        if "origin" in [r.name for r in repo.remotes]:
            repo.remotes.set_url("origin", self.url)
        else:
            repo.remotes.create("origin", self.url)

    def fetch(self, repo: pygit2.Repository) -> str | None:
        """The remote branch's tip after a fetch (None: the remote has no such branch yet),
        its objects in `repo`; also kept as `fetched_tip`."""
        with self._lock:
            local = self.local_path is not None
            tip = self._fetch_local(repo) if local else self._fetch_git(repo)
            self.fetched_tip = tip
            return tip

    def _fetch_git(self, repo: pygit2.Repository) -> str | None:
        result = self._git(repo, "fetch", "--quiet", "--no-tags", "origin", self._refspec())
        if result.returncode != 0:
            if "couldn't find remote ref" in result.stderr:  # an empty remote
                self._succeeded()
                return None
            self._failed(result.stderr)
            raise Unavailable(f"the Git remote is unreachable: {self.last_error}")
        self._succeeded()
        ref = repo.references.get(self.tracking_ref)
        return str(ref.target) if ref is not None else None

    def _refspec(self) -> str:
        return f"+{self.branch_ref}:{self.tracking_ref}"

    def push(self, repo: pygit2.Repository, base: str | None, commits_on: CommitsOn) -> Push:
        """Make the commit `commits_on(base)` the remote branch's tip, if it is at `base`.
        Refused because the remote moved, the remote's tip is fetched (`fetched_tip`).

        A path remote is pushed to under its branch's lock, the commit asked for on the
        tip found there (made just before the lock, and again under it if the tip moved
        on meanwhile): when the branch moved on, the other replicas' packs are linked
        first and the write, if it stands there, is pushed in the same turn.
        """
        with self._lock:
            if self.local_path is None:
                made = commits_on(base)
                if made is None:  # pragma: no cover - a write always stands on its base
                    return Push.REMOTE_MOVED
                return self._push_git(repo, made[0], base)
            return self._push_local(repo, base, commits_on)

    def _push_git(self, repo: pygit2.Repository, commit_id: str, base: str | None) -> Push:
        lease = f"--force-with-lease={self.branch_ref}:{base or ''}"
        result = self._git(repo, "push", "--quiet", "--porcelain", lease, "origin",
                           f"{commit_id}:{self.branch_ref}")  # fmt: skip
        if result.returncode == 0:
            self._succeeded()
            self.fetched_tip = commit_id
            return Push.ACCEPTED
        # Refused or failed: a fetch tells whether the remote moved or cannot be reached.
        self.fetched_tip = self._fetch_git(repo)
        if self.fetched_tip != base:
            return Push.REMOTE_MOVED
        raise Unavailable(f"the Git remote refused the push: {_last_line(result)}")

    def _push_local(self, repo: pygit2.Repository, base: str | None, commits_on: CommitsOn) -> Push:
        """The commits made on the remote's tip and packed, then, under the branch's lock,
        the pack linked into the remote and its branch moved. When the lock is free they
        are made before it, on the tip seen then: the lock is the one thing replicas take
        turns at, and when the tip is still there, linking and moving the branch is all
        it is held for. When another push holds the lock, or moved the tip meanwhile,
        they are made under the lock, on the tip found there: a replica waits its turn
        rather than build a pack that would lose the race."""
        outgoing = _outgoing_directory(repo)
        sent: PackFiles | None = None
        try:
            remote = self._open_remote()
            tip, made, packed = None, None, None
            # Another push holding the lock is about to move the tip: made under the lock.
            made_first = not self._lock_file(remote).exists()
            if made_first:
                tip = self._tip_of(remote)
                made, packed = self._made_on(remote, repo, tip, base, commits_on, outgoing)
            if made is not None or not made_first:
                with self._branch_locked(remote) as locked:
                    locked_tip = self._tip_of(remote)
                    if not made_first or locked_tip != tip:
                        tip = locked_tip
                        made, packed = self._made_on(remote, repo, tip, base, commits_on, outgoing)
                    if made is not None:
                        if packed is not None:
                            sent = self._send_pack(repo, packed, made[1], pack_directory(remote))
                        locked.set_target(self.branch_ref, made[0], message="gitplane push")
        except _UNREACHABLE as exc:
            _discard(outgoing)
            self._failed(str(exc))
            raise Unavailable(f"the Git remote is unreachable: {self.last_error}") from None
        except BaseException:  # the lock stayed taken, say: the pack made for it goes too
            _discard(outgoing)
            raise
        try:
            # The tip found moved on may still lack, in the clone, objects the commits
            # made on it did not read; brought now, with the branch free for others.
            self._make_whole(remote, repo, tip)
            self.fetched_tip = tip
            if made is not None and sent is not None:
                _keep_pack(sent, repo, made[1])
        except _UNREACHABLE as exc:
            _discard(outgoing)
            self._failed(str(exc))
            pushed = "" if made is None else f" (the write was pushed as {made[0]})"
            raise Unavailable(
                f"the clone could not take the remote's tip{pushed}: {self.last_error}"
            ) from None
        self._succeeded()
        if made is None:
            return Push.REMOTE_MOVED
        self.fetched_tip = made[0]
        return Push.ACCEPTED

    def _made_on(
        self,
        remote: pygit2.Repository,
        repo: pygit2.Repository,
        tip: str | None,
        base: str | None,
        commits_on: CommitsOn,
        outgoing: Path,
    ) -> tuple[tuple[str, list[pygit2.Oid]] | None, PackFiles | None]:
        """`commits_on(tip)`, with the objects it reads in the clone, and its new objects
        packed in the clone's outgoing directory. When the branch moved on, the packs
        other replicas pushed are linked: all a write on their commits reads, as a rule.
        A missing object (a commit pushed with git, loose in the remote) is found missing
        by the reading, and then the tip's history is brought whole."""
        _discard(outgoing)  # a pack made on a tip that moved on, or left by a crashed push
        if tip == base:
            made = commits_on(tip)
        else:
            self._link_new_packs(remote, repo)
            try:
                made = commits_on(tip)
            except (KeyError, pygit2.GitError):
                self._bring_objects(remote, repo, tip)
                self.fetched_tip = tip
                made = commits_on(tip)
        if made is None or not made[1]:
            return made, None
        outgoing.mkdir(parents=True, exist_ok=True)
        return made, write_pack(repo, made[1], outgoing, count=False)

    @contextlib.contextmanager
    def _branch_locked(self, remote: pygit2.Repository) -> Iterator[pygit2.ReferenceTransaction]:
        """The remote branch locked as git locks a ref (`<ref>.lock`): a target set on
        the transaction is written when the block ends, nothing if it raises. A lock
        held by another pusher (a replica, git receive-pack) is waited for with growing
        pauses, as git waits for one (core.filesRefLockTimeout), up to BRANCH_LOCK_WAIT."""
        deadline = time.monotonic() + BRANCH_LOCK_WAIT
        lock_file = self._lock_file(remote)
        while True:
            transaction = remote.transaction()
            try:
                transaction.lock_ref(self.branch_ref)
                break
            except pygit2.GitError as exc:
                if "lock" not in str(exc):
                    raise
                if time.monotonic() >= deadline or not gone_before(lock_file, deadline):
                    raise Unavailable(
                        f"the remote branch {self.branch_ref} stayed locked for"
                        f" {BRANCH_LOCK_WAIT:.0f} s: a push is stuck, or one that crashed left"
                        f" {self.branch_ref}.lock behind in the remote (remove it if no"
                        " push is running)"
                    ) from None
        with transaction:
            yield transaction

    def _lock_file(self, remote: pygit2.Repository) -> Path:
        return Path(remote.path) / f"{self.branch_ref}.lock"

    def _send_pack(
        self, repo: pygit2.Repository, files: PackFiles, new: list[pygit2.Oid], target: Path
    ) -> PackFiles:
        """Hard-link the push's pack into the remote (`target`); written there directly
        from the objects `new` when links cannot be made."""
        linked = link_pack(files, target) if self._can_link else False
        if linked is None:  # the remote's pack directory is gone (or the pack is)
            raise OSError(f"cannot link the push's pack into {target}")
        if not linked:
            self._can_link = False
            write_pack(repo, new, target)
        self._seen_packs.add(files.pack.stem)  # a fetch need not bring it back
        return files

    def _fetch_local(self, repo: pygit2.Repository) -> str | None:
        """The remote tip, its objects brought into `repo`.

        No tracking ref is kept: the local branch follows the remote tip itself.
        """
        try:
            remote = self._open_remote()
            tip = self._tip_of(remote)
            self._bring_objects(remote, repo, tip)
        except _UNREACHABLE as exc:
            self._failed(str(exc))
            raise Unavailable(f"the Git remote is unreachable: {self.last_error}") from None
        self._succeeded()
        return tip

    def _bring_objects(
        self, remote: pygit2.Repository, repo: pygit2.Repository, tip: str | None
    ) -> None:
        """The objects up to `tip` into `repo`: the remote's new packs hard-linked (two
        links instead of two new files), anything else (loose objects, pushed by git)
        packed from the remote; a clone far behind that lacks the tip fetches through
        libgit2 (one that holds it, linked, has every commit looked at: ~0.4 ms each)."""
        if tip is not None and tip != self._whole_tip(repo):
            self._link_new_packs(remote, repo)
            self._make_whole(remote, repo, tip)

    def _make_whole(
        self, remote: pygit2.Repository, repo: pygit2.Repository, tip: str | None
    ) -> None:
        """What `repo` lacks of the history of `tip` once the new packs are linked."""
        whole = self._whole_tip(repo)
        if tip is None or tip == whole or _held_on(repo, tip, whole):
            return
        if _copy_new_commits(remote, repo, tip, whole):
            return
        if tip in repo.odb:
            # In a linked pack: libgit2's fetch would take the tip's history for there
            # too and bring nothing, so every commit since `whole` is looked at here.
            _copy_new_commits(remote, repo, tip, whole, limit=None)
        else:
            repo.remotes["origin"].fetch([self._refspec()])

    def _whole_tip(self, repo: pygit2.Repository) -> str | None:
        """A commit whose history `repo` holds whole: the remote tip last fetched or
        pushed, or before the first fetch the clone's branch (only ever set to one)."""
        if self.fetched_tip is not None:
            return self.fetched_tip
        ref = repo.references.get(self.branch_ref)
        return str(ref.resolve().target) if ref is not None else None

    def _tip_of(self, remote: pygit2.Repository) -> str | None:
        ref = remote.references.get(self.branch_ref)
        return str(ref.target) if ref is not None else None

    def _open_remote(self) -> pygit2.Repository:
        if not (self.local_path is not None and self.local_path.is_dir()):
            raise OSError(f"no repository at {self.local_path}")
        remote: pygit2.Repository | None = getattr(self._handles, "remote", None)
        if remote is None:  # one per thread: libgit2 handles are not shared between threads
            remote = self._handles.remote = pygit2.Repository(str(self.local_path))
        return remote

    def _link_new_packs(self, remote: pygit2.Repository, repo: pygit2.Repository) -> None:
        """Hard-link the remote's packs not seen before: other replicas' writes, each one
        pack. Names already seen are not linked again, even after a repack removed them
        here; a remote on another filesystem is copied from object by object instead."""
        if not self._can_link:
            return
        source, target = pack_directory(remote), pack_directory(repo)
        names = pack_names(source)
        for name in sorted(names - self._seen_packs):
            files = PackFiles.named(source, name)
            if link_pack(files, target) is False:
                self._can_link = False
                return
        self._seen_packs = names

    def _git(self, repo: pygit2.Repository, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.credentials.environment()}
        try:
            return subprocess.run(
                ["git", "-C", repo.path, *args], env=env, capture_output=True, text=True,
                timeout=GIT_TIMEOUT, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return subprocess.CompletedProcess(args, 255, "", f"git {args[0]}: {exc}")

    def _succeeded(self) -> None:
        self.last_success, self.stale_since, self.last_error = time.time(), None, ""

    def _failed(self, stderr: str) -> None:
        self.last_error = redact(
            stderr.strip().splitlines()[-1] if stderr.strip() else "git failed"
        )
        if self.stale_since is None:
            self.stale_since = time.time()
        log.warning("Git remote %s: %s", redact(self.url), self.last_error)


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stdout + "\n" + result.stderr).strip()
    return redact(text.splitlines()[-1]) if text else f"git exited with {result.returncode}"


def _local_path(url: str) -> Path | None:
    """The directory of a path or file:// remote, else None (network remotes use git)."""
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    if "://" in url or re.match(r"^[\w.-]+@[\w.-]+:", url):  # ssh, https, scp-like
        return None
    return Path(url)


def _outgoing_directory(repo: pygit2.Repository) -> Path:
    """Where a push packs its objects before they go to the remote and the clone."""
    return Path(repo.path) / "gitplane" / "outgoing"


def _keep_pack(sent: PackFiles, repo: pygit2.Repository, new: list[pygit2.Oid]) -> None:
    """The pushed pack moved into the clone's own packs (objects staged in memory reach
    the clone's disk here); if that fails, written there again from the staged objects
    (`repo` is the staging handle: to it they are there, so nothing can be copied)."""
    try:
        move_pack(sent, pack_directory(repo))
    except OSError as exc:
        log.warning("could not keep the pushed pack (%s); writing it in the clone again", exc)
        _discard(sent.pack.parent)
        write_pack(repo, new, pack_directory(repo))


def _discard(directory: Path) -> None:
    """Remove what a push left in `directory` (a pack the remote did not take)."""
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


# Beyond this many new commits a pack from libgit2's fetch is the cheaper way.
_MAX_COPIED_COMMITS = 64


def _held_on(repo: pygit2.Repository, tip: str, whole: str | None) -> bool:
    """Whether `repo` holds `tip` whole because it leads down single parents to `whole`
    and each commit on the way is in `repo` with every object it adds to its parent:
    the usual way the branch moves on, other replicas' writes in packs just linked.
    Looked at in the clone (where a write made on `tip` has just read it), not in the
    remote: a remote's handle, its packs new at each push, read a commit in ~0.15 ms,
    and walking the remote took 1.5 ms of a 10 ms write, 8-12 ms of a push of eight."""
    if whole is None:
        return False
    try:  # KeyError: a commit, or a tree one adds, is not in `repo`
        for cursor in islice(first_parents(repo, tip), _MAX_COPIED_COMMITS):
            if cursor == whole:
                return True
            parents = commit(repo, cursor).parent_ids
            if len(parents) != 1:
                return False  # a merge: its other side is walked in the remote
            added = new_objects(repo, cursor, str(parents[0]))
            if not all(oid in repo.odb for oid in added):
                return False
    except (KeyError, pygit2.GitError):
        return False
    return False


def _copy_new_commits(
    remote: pygit2.Repository,
    repo: pygit2.Repository,
    tip: str,
    whole: str | None,
    limit: int | None = _MAX_COPIED_COMMITS,
) -> bool:
    """Pack into `repo` the objects it lacks of the commits up to `tip` since `whole`, a
    commit whose history `repo` holds whole (None: none is known); False when more than
    `limit` commits are to be looked at (a pack fetch is cheaper then).

    A commit found in `repo` is not taken to bring its history: a hard-linked pack holds
    another replica's commit without the commits beneath it that a person pushed with
    git (loose objects in the remote). It is walked through unless it is `whole` or in
    its history, and every object is looked up on its own.
    """
    new: dict[str, None] = {}  # in the order found
    after_whole = _first_parents_after(remote, tip, whole)
    pending = [tip]
    while pending:
        commit_id = pending.pop()
        if commit_id in new:
            continue
        if commit_id not in after_whole and _in_history_of(remote, repo, whole, commit_id):
            continue
        if len(new) == limit:
            return False
        new[commit_id] = None
        pending.extend(str(parent) for parent in commit(remote, commit_id).parent_ids)
    wanted: list[pygit2.Oid] = []
    for commit_id in new:
        parents = commit(remote, commit_id).parent_ids
        wanted += new_objects(remote, commit_id, str(parents[0]) if parents else None)
    missing = [oid for oid in dict.fromkeys(wanted) if oid not in repo.odb]
    if missing:
        write_pack(remote, missing, pack_directory(repo))
    return True


def _first_parents_after(remote: pygit2.Repository, tip: str, whole: str | None) -> set[str]:
    """The commits from `tip` down its first parents to `whole`, when they lead there:
    the usual way a branch moves on, and none of them is in the history of `whole`."""
    line: set[str] = set()
    if whole is None:
        return line
    for commit_id in islice(first_parents(remote, tip), _MAX_COPIED_COMMITS):
        if commit_id == whole:
            return line
        line.add(commit_id)
    return set()


def _in_history_of(
    remote: pygit2.Repository, repo: pygit2.Repository, whole: str | None, commit_id: str
) -> bool:
    if whole is None or commit_id == whole:
        return commit_id == whole
    if commit_id not in repo.odb:
        return False
    # Asked of the remote: the clone may lack commits in between.
    return whole in remote.odb and bool(remote.descendant_of(whole, commit_id))
