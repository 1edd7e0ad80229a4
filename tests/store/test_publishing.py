"""Publishing a write: only a lost compare-and-swap of the branch is tried again.

A failure that would happen again the same way (a message git cannot take, a branch
lock a crashed process left) is answered at once, with what to do, and leaves no commit
behind.
"""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from store.errors import Unavailable
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, configmap, unreachable_commits


def test_a_commit_message_with_control_characters_is_committed_at_once(
    store: GitStore, git: GitRunner, moves: list[str]
) -> None:
    store.create(configmap("first"), ALICE)
    store.create(configmap("second"), ALICE, message="deploy\x00 now\x1b[31m red")
    assert len(moves) == 2 and unreachable_commits(git) == []
    assert git("log", "-1", "--format=%s") == "deploy\ufffd now\ufffd[31m red\n"


def test_a_failure_to_move_the_branch_that_is_not_a_lost_race_is_not_tried_again(
    store: GitStore, git: GitRunner, moves: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(configmap("first"), ALICE)

    def fails(self: pygit2.ReferenceTransaction) -> None:
        raise pygit2.GitError("failed to write reference 'refs/heads/main': simulated")

    monkeypatch.setattr(pygit2.ReferenceTransaction, "commit", fails)
    with pytest.raises(Unavailable) as failed:
        store.create(configmap("second"), ALICE)
    assert "simulated" in failed.value.message
    assert len(moves) == 2  # the first write's, and this one's once
    monkeypatch.undo()
    assert not (
        Path(git("rev-parse", "--absolute-git-dir").strip()) / "refs/heads/main.lock"
    ).exists()
    store.create(configmap("second"), ALICE)  # the lock was let go at once


@pytest.mark.parametrize("bare", [False, True])
def test_a_stale_branch_lock_is_a_503_naming_it_and_nothing_is_committed(
    repo_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch, bare: bool
) -> None:
    monkeypatch.setattr("store.locks.LOCK_WAIT", 0.2)
    store = GitStore.init(repo_path, bare=bare)
    store.create(configmap("first"), ALICE)
    objects = git("count-objects")
    lock = Path(git("rev-parse", "--absolute-git-dir").strip()) / "refs" / "heads" / "main.lock"
    lock.write_text("")  # left by a git process that crashed
    with pytest.raises(Unavailable) as failed:
        store.create(configmap("second"), ALICE)
    assert str(lock) in failed.value.message and "remove" in failed.value.message
    assert git("count-objects") == objects and git("rev-list", "--count", "main") == "1\n"
    lock.unlink()
    store.create(configmap("second"), ALICE)
    assert git("rev-list", "--count", "main") == "2\n"


def test_a_branch_lock_let_go_while_the_write_waits_is_taken(
    store: GitStore, repo_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(configmap("first"), ALICE)
    lock = repo_path / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")
    from store import locks

    looked = locks.gone_before

    def let_go_when_looked_at(lock_file: Path, deadline: float) -> bool:
        lock_file.unlink(missing_ok=True)  # the other git process is done
        return looked(lock_file, deadline)

    monkeypatch.setattr(locks, "gone_before", let_go_when_looked_at)
    store.create(configmap("second"), ALICE)
    assert git("rev-list", "--count", "HEAD") == "2\n" and git("status", "--porcelain") == ""
