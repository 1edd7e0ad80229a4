"""A non-bare checkout a person works in: no acknowledged write is undone by their git.

The person here is the git CLI run by the test (`git add`, `git commit`, `git status`);
gitplane writes from this process or from a writer process killed with SIGKILL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store.errors import Conflict, Invalid, Unavailable
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, configmap

PROJECT = Path(__file__).resolve().parents[2]
UPDATED = "shop/configmap-updated.yaml"
CREATED = "shop/configmap-created.yaml"

# A writer whose process dies (SIGKILL) right after its write moved the branch: before
# the checkout's index and files were brought to the new commit.
_DIES_AFTER_THE_BRANCH_MOVED = """
import os, signal, sys
from store.model import Put
from store.repo import GitStore
from tests.store.conftest import ALICE, configmap

move = GitStore._move_branch
def move_then_die(self, *args):
    if move(self, *args):
        os.kill(os.getpid(), signal.SIGKILL)
    return False
GitStore._move_branch = move_then_die
GitStore(sys.argv[1]).apply(
    [Put(configmap("created", value="1")), Put(configmap("updated", value="2"), mode="update")],
    ALICE,
)
"""

# A writer that prints `ack N` once each write returned: those are acknowledged.
_WRITES_UNTIL_KILLED = """
import sys
from store import locks
from store.model import Put
from store.repo import GitStore
from tests.store.conftest import ALICE, configmap

locks.LOCK_WAIT = 0.5  # a lock a killed writer left is waited for this long, then removed
store = GitStore(sys.argv[1])
round = sys.argv[2]
for n in range(10_000):
    store.apply(
        [Put(configmap(f"r{round}-{n}", value=str(n))), Put(configmap("counter", value=f"{round}-{n}"))],
        ALICE,
    )
    print(f"ack {n}", flush=True)
"""


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args], cwd=PROJECT, capture_output=True, text=True,
        check=False, timeout=120,
    )  # fmt: skip


def _person_commits_notes(repo: Path, git: GitRunner) -> None:
    """What a person does in their checkout: add a file of their own and commit it."""
    (repo / "NOTES.md").write_text("my notes\n")
    git("add", "NOTES.md")
    git("commit", "-qm", "notes")


def _value(git: GitRunner, path: str, revision: str = "HEAD") -> str:
    text = git("show", f"{revision}:{path}")
    return text.split("value: ")[1].split("\n")[0].strip("'\"")


def test_a_writer_killed_after_moving_the_branch_leaves_nothing_a_commit_undoes(
    repo_path: Path, git: GitRunner
) -> None:
    store = GitStore.init(repo_path)
    store.create(configmap("updated", value="1"), ALICE)
    died = _python(_DIES_AFTER_THE_BRANCH_MOVED, str(repo_path))
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert _value(git, UPDATED) == "2"  # the branch moved; the checkout did not follow
    # The next gitplane on this checkout finishes what the killed one started...
    store = GitStore(repo_path)
    # ...and then acknowledges writes to the same files.
    store.update(configmap("updated", value="3"), ALICE)
    store.update(configmap("created", value="2"), ALICE)
    assert git("status", "--porcelain") == ""
    _person_commits_notes(repo_path, git)
    assert _value(git, UPDATED) == "3" and _value(git, CREATED) == "2"
    assert git("status", "--porcelain") == ""


def test_writers_killed_in_the_middle_of_writes_lose_no_acknowledged_write(
    repo_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("store.locks.LOCK_WAIT", 0.5)
    GitStore.init(repo_path).create(configmap("counter", value="start"), ALICE)
    acknowledged: list[str] = []
    for round in range(5):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITES_UNTIL_KILLED, str(repo_path), str(round)],
            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert writer.stdout is not None
        for _ in range(4 + round):  # then killed in the middle of a later write
            line = writer.stdout.readline()
            assert line.startswith("ack "), writer.stderr.read() if writer.stderr else line
            acknowledged.append(f"r{round}-{line.split()[1]}")
        time.sleep(random.uniform(0, 0.004))  # somewhere in the next write or two
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
    # The next gitplane finishes what the killed one started; then the person commits.
    GitStore(repo_path)
    _person_commits_notes(repo_path, git)
    files = set(git("ls-tree", "-r", "--name-only", "HEAD").split())
    assert {f"shop/configmap-{name}.yaml" for name in acknowledged} <= files
    # The last write acknowledged, or one after it that landed before the kill.
    counter_round, counter_n = _value(git, "shop/configmap-counter.yaml").split("-")
    assert counter_round == "4" and int(counter_n) >= int(acknowledged[-1].split("-")[1])
    assert git("status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("change", "what", "advice"),
    [
        ("edit", "modified", f"git checkout -- {UPDATED}"),
        ("stage", "staged", f"git checkout HEAD -- {UPDATED}"),
        ("symlink", "a symbolic link", f"git checkout -- {UPDATED}"),
    ],
)
def test_a_local_change_to_a_file_a_write_touches_is_a_conflict_naming_it(
    repo_path: Path, git: GitRunner, tmp_path: Path, change: str, what: str, advice: str
) -> None:
    store = GitStore.init(repo_path)
    store.create(configmap("updated", value="1"), ALICE)
    file = repo_path / UPDATED
    if change == "symlink":
        outside = tmp_path / "outside.yaml"
        outside.write_text("mine\n")
        file.unlink()
        file.symlink_to(outside)
    else:
        file.write_text(file.read_text() + "# my note\n")
        if change == "stage":
            git("add", UPDATED)
    before = git("status", "--porcelain")
    head = git("rev-parse", "HEAD")
    with pytest.raises(Conflict) as refused:
        store.update(configmap("updated", value="2"), ALICE)
    assert UPDATED in refused.value.message and what in refused.value.message
    assert advice in refused.value.message
    # Nothing was committed and the checkout is as the person left it: never `MM`.
    assert git("rev-parse", "HEAD") == head
    assert git("status", "--porcelain") == before
    if change == "symlink":
        assert (tmp_path / "outside.yaml").read_text() == "mine\n"
    git("checkout", "HEAD", "--", UPDATED)
    store.update(configmap("updated", value="2"), ALICE)
    assert _value(git, UPDATED) == "2" and git("status", "--porcelain") == ""


def test_an_untracked_file_in_the_way_of_a_create_is_a_conflict(
    store: GitStore, repo_path: Path, git: GitRunner
) -> None:
    (repo_path / "shop").mkdir()
    (repo_path / CREATED).write_text("# mine, not committed\n")
    with pytest.raises(Conflict) as refused:
        store.create(configmap("created", value="1"), ALICE)
    assert CREATED in refused.value.message and "not in Git" in refused.value.message
    assert (repo_path / CREATED).read_text() == "# mine, not committed\n"
    assert git("status", "--porcelain", "-uall") == f"?? {CREATED}\n"


def test_a_checkout_directory_replaced_by_a_symlink_is_never_written_through(
    store: GitStore, repo_path: Path, git: GitRunner, tmp_path: Path
) -> None:
    store.create(configmap("updated", value="1"), ALICE)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.rename(repo_path / "shop", outside / "shop")
    (repo_path / "shop").symlink_to(outside / "shop")
    with pytest.raises(Conflict) as refused:
        store.create(configmap("created", value="1"), ALICE)
    assert "shop" in refused.value.message and "symbolic link" in refused.value.message
    assert sorted(p.name for p in (outside / "shop").iterdir()) == ["configmap-updated.yaml"]


def test_a_stale_index_lock_fails_the_write_before_committing(
    store: GitStore, repo_path: Path, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("store.locks.LOCK_WAIT", 0.2)
    store.create(configmap("updated", value="1"), ALICE)
    head = git("rev-parse", "HEAD")
    objects = git("count-objects")
    lock = repo_path / ".git" / "index.lock"
    lock.write_bytes(b"")  # a git process that crashed
    with pytest.raises(Unavailable) as refused:
        store.update(configmap("updated", value="2"), ALICE)
    assert str(lock) in refused.value.message and "remove" in refused.value.message
    assert git("rev-parse", "HEAD") == head and git("count-objects") == objects
    lock.unlink()
    store.update(configmap("updated", value="2"), ALICE)
    assert _value(git, UPDATED) == "2" and git("status", "--porcelain") == ""


def test_a_name_whose_file_cannot_be_checked_out_is_invalid(
    store: GitStore, git: GitRunner
) -> None:
    store.create(configmap("first"), ALICE)
    head = git("rev-parse", "HEAD")
    long_name = "a" * 246  # configmap-<name>.yaml: 261 bytes, over the 255 a file name has
    with pytest.raises(Invalid) as refused:
        store.create(configmap(long_name), ALICE)
    assert [c.field for c in refused.value.causes] == ["metadata.name"]
    assert "255" in refused.value.causes[0].message
    assert git("rev-parse", "HEAD") == head
    store.create(configmap("a" * 240), ALICE)  # 255 bytes: fits
    assert git("status", "--porcelain") == ""


def test_writes_to_a_checkout_of_another_branch_leave_the_checkout_alone(
    store: GitStore, repo_path: Path, git: GitRunner
) -> None:
    store.create(configmap("updated", value="1"), ALICE)
    git("checkout", "-q", "-b", "side")
    store.update(configmap("updated", value="2"), ALICE)
    assert _value(git, UPDATED, "main") == "2" and _value(git, UPDATED) == "1"
    assert git("status", "--porcelain") == ""
