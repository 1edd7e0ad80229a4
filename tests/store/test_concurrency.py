"""Many writers at once: threads, asyncio tasks and separate processes."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from store.errors import Conflict
from store.keys import ObjectKey
from store.model import Requester
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, configmap, deployment


def _process_writer(path: str, worker: int, count: int) -> None:
    store = GitStore(path)
    for index in range(count):
        store.create(configmap(f"w{worker}-{index}", value=str(index)), Requester(f"proc-{worker}"))


def test_processes_writing_at_once_lose_nothing(
    store: GitStore, repo_path: Path, git: GitRunner
) -> None:
    store.create(deployment(), ALICE)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_process_writer, args=(str(repo_path), w, 15)) for w in range(4)
    ]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    store.refresh()
    names = {o.key.name for o in store.list_objects("shop").items if o.key.kind == "ConfigMap"}
    assert names == {f"w{w}-{i}" for w in range(4) for i in range(15)}
    assert git("rev-list", "--count", "HEAD").strip() == str(1 + 60)
    git("fsck", "--strict")


def test_threads_writing_at_once_lose_nothing(store: GitStore, git: GitRunner) -> None:
    def writer(worker: int) -> None:
        other = GitStore(store.path)  # separate store objects, like separate servers
        for index in range(10):
            other.create(configmap(f"t{worker}-{index}"), Requester(f"thread-{worker}"))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.refresh()
    assert len(store.list_objects("shop").items) == 40
    assert git("rev-list", "--count", "HEAD").strip() == "40"
    git("fsck", "--strict")


def test_same_object_same_version_exactly_one_wins(store: GitStore, git: GitRunner) -> None:
    rv = store.create(deployment(), ALICE).resource_version
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def contender(replicas: int) -> None:
        other = GitStore(store.path)
        barrier.wait()
        try:
            other.update(deployment(replicas=replicas), Requester(f"u{replicas}"), expect_rv=rv)
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=contender, args=(r,)) for r in range(10, 16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["won"]
    assert git("rev-list", "--count", "HEAD").strip() == "2"


@pytest.mark.parametrize("tasks", [20])
async def test_async_tasks_share_one_writer(store: GitStore, tasks: int) -> None:
    import asyncio

    from store.aio import AsyncStore

    aio = AsyncStore(store, poll_interval=0.05)
    await aio.start()
    try:
        from store.model import Put

        await asyncio.gather(*(aio.apply([Put(configmap(f"a{i}"))], ALICE) for i in range(tasks)))
        assert len((await aio.list_objects("shop")).items) == tasks
        assert (await aio.get(ObjectKey("", "ConfigMap", "shop", "a3"))).obj["metadata"][
            "name"
        ] == "a3"
    finally:
        await aio.close()
