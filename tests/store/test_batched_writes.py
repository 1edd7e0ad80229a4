"""Writes that queue go together: one commit per request, one publish (one push) per batch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from store.aio import AsyncStore
from store.errors import AlreadyExists, Conflict
from store.keys import ObjectKey
from store.model import Delete, Put, Requester, WriteRequest, WriteResult
from store.remote import Push, RemoteMirror
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, configmap, run_git, write_files

BOB = Requester("bob", ("devs",))


def put(obj: dict[str, Any], who: Requester = ALICE) -> WriteRequest:
    return WriteRequest([Put(obj)], who)


def authors_and_subjects(repo: Path, count: int) -> list[str]:
    log = run_git(repo, "log", f"-{count}", "--reverse", "--format=%an %s")
    return log.strip().splitlines()


def test_each_request_is_its_own_commit_by_its_own_author(
    store: GitStore, git: GitRunner, repo_path: Path
) -> None:
    results = store.apply_batch(
        [put(configmap("a")), put(configmap("b"), BOB), put(configmap("c"))]
    )
    assert all(isinstance(r, WriteResult) for r in results)
    commits = [r.commit_id for r in results if isinstance(r, WriteResult)]
    # A chain: each commit's parent is the one before, and the last is the branch tip.
    assert git("rev-parse", "main").strip() == commits[-1]
    assert git("rev-parse", f"{commits[2]}^").strip() == commits[1]
    assert git("rev-parse", f"{commits[1]}^").strip() == commits[0]
    assert [line.split()[0] for line in authors_and_subjects(repo_path, 3)] == [
        "alice",
        "bob",
        "alice",
    ]
    # The checkout follows: git sees the three files and nothing left to commit.
    assert git("status", "--porcelain").strip() == ""
    assert sorted(p.name for p in (repo_path / "shop").iterdir()) == [
        "configmap-a.yaml",
        "configmap-b.yaml",
        "configmap-c.yaml",
    ]
    # Each object carries the version of its own commit.
    for name, result in zip("abc", results, strict=True):
        assert isinstance(result, WriteResult)
        stored = result.objects[ObjectKey("", "ConfigMap", "shop", name)]
        assert stored is not None
        assert stored.resource_version == store.get(stored.key).resource_version


def test_each_commit_of_a_chain_over_many_directories_holds_the_writes_up_to_it(
    store: GitStore, git: GitRunner
) -> None:
    """Directories a commit leaves alone are taken from the commit before it (made
    once per chain): each commit still holds exactly the writes up to it."""
    store.create(configmap("old", namespace="tmp"), ALICE)
    namespaces = ["shop", "ops", "web", "shop"]
    requests = [put(configmap(f"n{n}", namespace=ns)) for n, ns in enumerate(namespaces)]
    requests.append(WriteRequest([Delete(ObjectKey("", "ConfigMap", "tmp", "old"))], ALICE))
    results = store.apply_batch(requests)
    commits = [r.commit_id for r in results if isinstance(r, WriteResult)]
    assert len(commits) == 5
    written = [f"{ns}/configmap-n{n}.yaml" for n, ns in enumerate(namespaces)]
    for upto, commit in enumerate(commits):
        listed = git("ls-tree", "-r", "--name-only", commit).split()
        assert [path in listed for path in written] == [n <= upto for n in range(4)]
        assert ("tmp/configmap-old.yaml" in listed) == (upto < 4)
    assert "tmp" not in git("ls-tree", "--name-only", commits[-1]).split()  # left empty: gone
    git("fsck", "--strict")


def test_a_failing_request_fails_alone(store: GitStore, git: GitRunner) -> None:
    store.create(configmap("taken"), ALICE)
    before = git("rev-parse", "main").strip()
    results = store.apply_batch(
        [
            put(configmap("new-1")),
            WriteRequest([Put(configmap("taken"), mode="create")], BOB),
            WriteRequest([Delete(ObjectKey("", "ConfigMap", "shop", "new-1"), "1")], BOB),
            put(configmap("new-2")),
        ]
    )
    assert isinstance(results[0], WriteResult)
    assert isinstance(results[1], AlreadyExists)
    assert isinstance(results[3], WriteResult)
    # The delete names new-1, which the first request writes: it waits for the next chain
    # and is checked against the state that includes new-1 (its version "1" is stale).
    assert isinstance(results[2], Conflict)
    assert git("rev-list", "--count", f"{before}..main").strip() == "2"


def test_requests_sharing_a_file_become_consecutive_commits(
    store: GitStore, git: GitRunner, repo_path: Path
) -> None:
    write_files(
        repo_path,
        {
            "shop/both.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata:\n  v: '1'\n"
                "---\n"
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\ndata:\n  v: '1'\n"
            )
        },
    )
    git("add", "-A")
    git("-c", "user.name=p", "-c", "user.email=p@x", "commit", "-qm", "both")
    before = git("rev-parse", "main").strip()
    results = store.apply_batch(
        [
            put({**configmap("one"), "data": {"v": "2"}}),
            put({**configmap("two"), "data": {"v": "2"}}, BOB),
        ]
    )
    assert all(isinstance(r, WriteResult) for r in results)
    assert git("rev-list", "--count", f"{before}..main").strip() == "2"
    text = git("show", "main:shop/both.yaml")
    assert text.count("v: '2'") == 2  # the second edit was made on top of the first


class CountingMirror(RemoteMirror):
    """The real mirror, counting the pushes it makes."""

    pushes = 0

    def push(self, repo: Any, base: str | None, commits_on: Any) -> Push:
        self.pushes += 1
        return super().push(repo, base, commits_on)


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "git-cli"])
async def test_queued_writes_share_one_push_and_all_reach_the_remote(
    tmp_path: Path, remote: Path, direct: bool
) -> None:
    mirror = CountingMirror(str(remote), "main", direct_local=direct)
    store = GitStore(tmp_path / "clone", remote=mirror)
    store.create(configmap("seed"), ALICE)
    aio = AsyncStore(store)
    await aio.start()
    try:
        results = await asyncio.gather(
            *(aio.apply([Put(configmap(f"cm-{n}"))], BOB) for n in range(12))
        )
    finally:
        await aio.close()
    assert mirror.pushes <= 3  # the seed, then the twelve queued writes in one or two batches
    acknowledged = {r.commit_id for r in results}
    assert len(acknowledged) == 12  # one commit each
    history = set(run_git(remote, "rev-list", "main").split())
    assert acknowledged <= history
    assert run_git(remote, "rev-list", "--count", "main").strip() == "13"
    run_git(remote, "fsck", "--strict")  # raises when git finds a problem
