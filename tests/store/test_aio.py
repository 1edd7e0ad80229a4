"""The async boundary: the event loop keeps running, and watchers wake on new commits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from store.aio import AsyncStore
from store.model import Put
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, configmap, write_files


async def test_loop_keeps_ticking_during_writes(store: GitStore) -> None:
    aio = AsyncStore(store)
    await aio.start()
    ticks = 0
    gaps: list[float] = []

    async def ticker() -> None:
        nonlocal ticks
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.005)
            now = loop.time()
            gaps.append(now - last)
            last = now
            ticks += 1

    task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        for i in range(30):
            await aio.apply([Put(configmap(f"c{i}", value="x" * 100))], ALICE)
    finally:
        elapsed = loop.time() - started
        task.cancel()
        await aio.close()
    # The loop ticked throughout: at least half the 5 ms sleeps that fit in the writes' time
    # (a fixed count failed whenever 30 writes took less than ~55 ms).
    assert ticks >= max(1, int(elapsed / 0.005 / 2)), (ticks, elapsed)
    assert max(gaps) < 0.25  # no write held the loop for long


async def test_watcher_wakes_on_an_outside_commit(
    store: GitStore, repo_path: Path, git: GitRunner
) -> None:
    aio = AsyncStore(store, poll_interval=0.05)
    await aio.start()
    try:
        rv = aio.head.resource_version
        waiter = asyncio.create_task(aio.wait_for_change(rv, within=5))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        write_files(
            repo_path, {"shop/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"}
        )
        git("add", "-A")
        git("commit", "-qm", "outside")
        assert await waiter is True
        events, _ = await aio.watch_events(rv)
        assert [(e.type, e.object.key.name) for e in events] == [("ADDED", "cm")]
        assert await aio.wait_for_change(aio.head.resource_version, within=0.1) is False
    finally:
        await aio.close()
