"""The branch ref of a local repository, moved by compare-and-swap under git's ref lock.

The ref is locked as git locks it, its value compared with the commit the write was
built on and set under the lock. A write is tried again only when it lost that
comparison: another writer moved the branch first, so the write is worked out again on
that writer's commit. Any other failure would fail the same way again and is raised
at once. (Every failure used to count as a
lost race: a NUL in the reflog message was tried 64 times over 4 s, each try leaving a
commit behind, and answered "the branch kept moving"; a ref lock left by a crashed git
got the same answer, naming no file.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from store import locks
from store.errors import Unavailable

log = logging.getLogger(__name__)


class LocalBranch:
    def __init__(self, repo: Callable[[], pygit2.Repository], ref: str) -> None:
        self._repo = repo  # this thread's handle: libgit2 handles are not shared
        self.ref = ref

    def tip(self) -> str | None:
        ref = self._repo().references.get(self.ref)
        return str(ref.resolve().target) if ref is not None else None

    def move(self, base: str | None, commit_id: str, reflog_message: str) -> bool:
        """Move the branch from `base` to `commit_id`: False only when it is no longer at
        `base`. The ref is locked as git locks it (a lock another process holds is
        waited for, as git waits; one that stays is Unavailable, naming it), then
        compared and set under the lock. Any failure to set it is Unavailable."""
        transaction = self._lock(self._repo())
        try:
            if self.tip() != base:
                return False
            transaction.set_target(self.ref, commit_id, message=reflog_message)
            transaction.commit()
            return True
        except (pygit2.GitError, OSError, ValueError) as exc:
            raise Unavailable(f"cannot move branch {self.ref}: {exc}") from exc
        finally:
            # Freed without committing (again): the lock goes now, not when the
            # transaction is collected (an error's traceback keeps it alive).
            transaction.__exit__(Exception, None, None)

    def _lock(self, repo: pygit2.Repository) -> pygit2.ReferenceTransaction:
        deadline = time.monotonic() + locks.LOCK_WAIT
        lock = self.lock_file()
        while True:
            transaction = repo.transaction()
            try:
                transaction.lock_ref(self.ref)
                return transaction
            except pygit2.GitError as exc:
                if "lock" not in str(exc) or time.monotonic() >= deadline:
                    raise Unavailable(f"cannot lock branch {self.ref}: {exc}") from exc
            # Taken by another writer (which may have let go already: then at once again).
            if lock.exists() and not locks.gone_before(lock, deadline):
                raise Unavailable(locks.stale_lock_message(f"branch {self.ref}", lock))

    def wait_unlocked(self) -> None:
        """Wait for a lock another process holds on the branch (one that stays is
        Unavailable, naming it), before a write makes anything it would leave behind."""
        lock = self.lock_file()
        if lock.exists() and not locks.gone_before(lock, time.monotonic() + locks.LOCK_WAIT):
            raise Unavailable(locks.stale_lock_message(f"branch {self.ref}", lock))

    def lock_file(self) -> Path:
        """`<ref>.lock` where the refs are (the main repository's, for a checkout made by
        `git worktree add`)."""
        git_dir = Path(self._repo().path)
        common = git_dir / "commondir"
        if common.is_file():
            git_dir = (git_dir / common.read_text().strip()).resolve()
        return git_dir / f"{self.ref}.lock"
