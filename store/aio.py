"""The one async boundary: blocking libgit2 work runs in threads, never on the event loop.

Reads of the branch tip come from the published in-memory snapshot and are cheap;
anything that may parse or touch Git runs in a reader pool; every write runs in one
writer thread, so writes from this process queue instead of racing each other. Writes
that queue while one is in flight go together in the next batch: one commit each, one
push for all of them.
A poller notices commits made by other processes and wakes watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from store.bookkeeping import Bookkeeping, Record
from store.errors import Problem, StoreError
from store.history import History, Revision, RevisionPage
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
from store.repo import CommitInfo, HeadState, View

log = logging.getLogger(__name__)
T = TypeVar("T")


class DesiredStore(Protocol):
    """What the servers read and write through: a GitStore, or the rendered view of one
    (sources.view.RenderedStore), which serves what the reconcilers apply."""

    @property
    def head(self) -> HeadState: ...

    @property
    def remote(self) -> Any: ...

    @property
    def branch_ref(self) -> str: ...

    def on_change(self, callback: Any) -> None: ...

    def refresh(self) -> HeadState: ...

    def sync(self) -> HeadState: ...

    def get(self, key: ObjectKey, revision: str | None = None) -> StoredObject: ...

    def view(self, revision: str | None = None) -> View: ...

    def list_objects(
        self, namespace: str | None = None, revision: str | None = None
    ) -> ObjectList: ...

    def watch_events(self, since_rv: str) -> tuple[list[WatchEvent], str]: ...

    def commit_info(self, commit_id: str) -> CommitInfo: ...

    def problems(self, revision: str | None = None) -> list[Problem]: ...

    def apply(
        self,
        operations: Sequence[Operation],
        who: Requester,
        *,
        message: str | None = None,
        request_id: str | None = None,
        trailers: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> WriteResult: ...

    def apply_batch(self, requests: Sequence[WriteRequest]) -> list[WriteResult | StoreError]: ...

    def save_parse_cache(self) -> None: ...


class AsyncStore:
    def __init__(
        self,
        store: DesiredStore,
        *,
        history: Any = None,
        poll_interval: float = 0.25,
        fetch_interval: float = 15.0,
        readers: int = 4,
    ) -> None:
        self.store = store
        # A rendered store brings its own history (sources.history.RenderedHistory).
        self.history = history or History(store)  # type: ignore[arg-type]
        self.poll_interval = poll_interval
        self.fetch_interval = fetch_interval
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="gitplane-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="gitplane-write")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._moved = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._queued: list[tuple[WriteRequest, asyncio.Future[WriteResult]]] = []
        self._batcher: asyncio.Task[None] | None = None
        self.bookkeeping: Bookkeeping | None = None
        store.on_change(self._tip_moved)

    def keep_bookkeeping(self, bookkeeping: Bookkeeping) -> None:
        """Serve `bookkeeping` beside the branch: its changes wake watchers too."""
        self.bookkeeping = bookkeeping
        bookkeeping.on_change(lambda: self._tip_moved(self.store.head))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._moved = asyncio.Event()
        self._poller = asyncio.create_task(self._poll(), name="gitplane-store-poller")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self._readers.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True, cancel_futures=True)

    @property
    def head(self) -> HeadState:
        return self.store.head

    # ---- reads ---------------------------------------------------------------------

    async def get(self, key: ObjectKey, revision: str | None = None) -> StoredObject:
        if revision is None:
            return self.store.get(key)  # from the published snapshot: no I/O
        return await self._read(self.store.get, key, revision)

    async def view(self, revision: str | None = None) -> View:
        if revision is None:
            return self.store.view()  # the published tip: no I/O
        return await self._read(self.store.view, revision)

    async def list_objects(
        self, namespace: str | None = None, revision: str | None = None
    ) -> ObjectList:
        return await self._read(self.store.list_objects, namespace, revision)

    async def watch_events(self, since_rv: str) -> tuple[list[WatchEvent], str]:
        return await self._read(self.store.watch_events, since_rv)

    async def revisions(
        self, namespace: str | None = None, limit: int = 50, continue_token: str | None = None
    ) -> RevisionPage:
        return await self._read(self.history.revisions, namespace, limit, continue_token)

    async def revisions_since(
        self, since_rv: str, namespace: str | None = None
    ) -> tuple[list[Revision], str]:
        return await self._read(self.history.revisions_since, since_rv, namespace)

    async def revision(self, revision: str, namespace: str | None = None) -> Revision:
        return await self._read(self.history.revision, revision, namespace)

    async def operations(self, namespace: str, operation: str) -> list[Revision]:
        """Past reverts or rollbacks of a namespace, read from commit trailers."""
        return await self._read(self.history.operations, namespace, operation)

    async def diff(self, revision: str, namespace: str | None = None) -> str:
        return await self._read(self.history.diff, revision, namespace)

    async def refresh(self) -> HeadState:
        return await self._read(self.store.refresh)

    # ---- writes --------------------------------------------------------------------

    async def apply(
        self,
        operations: Sequence[Operation],
        who: Requester,
        *,
        message: str | None = None,
        request_id: str | None = None,
        trailers: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        if dry_run:
            return await self._write(
                self.store.apply,
                operations,
                who,
                message=message,
                request_id=request_id,
                trailers=trailers,
                dry_run=True,
            )
        done: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queued.append((WriteRequest(operations, who, message, request_id, trailers), done))
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._write_batches(), name="gitplane-writes")
        return await done

    async def _write_batches(self) -> None:
        """Hand the queued writes to the writer thread, all that queued in one batch."""
        while self._queued:
            batch, self._queued = self._queued, []
            results: list[WriteResult | BaseException]
            try:
                results = [*await self._write(self.store.apply_batch, [r for r, _ in batch])]
            except Exception as exc:  # every waiter gets it: none is left hanging
                results = [exc] * len(batch)
            for (_, done), result in zip(batch, results, strict=True):
                if done.done():  # its caller went away; the write stands
                    continue
                if isinstance(result, BaseException):
                    done.set_exception(result)
                else:
                    done.set_result(result)

    async def bookkeep(self, key: ObjectKey, record: Record | None, who: Requester,
                       **kwargs: Any) -> str:  # fmt: skip
        """Bookkeeping.write in the writer thread, after any write queued before it."""
        assert self.bookkeeping is not None
        return await self._write(self.bookkeeping.write, key, record, who, **kwargs)

    async def revert(
        self, revision: str, namespace: str, who: Requester, **kwargs: Any
    ) -> WriteResult:
        return await self._write(self.history.revert, revision, namespace, who, **kwargs)

    async def rollback(
        self, revision: str, namespace: str, who: Requester, **kwargs: Any
    ) -> WriteResult:
        return await self._write(self.history.rollback, revision, namespace, who, **kwargs)

    # ---- change notification ------------------------------------------------------

    async def wait_for_change(
        self,
        resource_version: str,
        within: float | None = None,
        current: Callable[[], str] | None = None,
    ) -> bool:
        """Wait until the tip (or `current()`, a version that bookkeeping moves too) is no
        longer at `resource_version`; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        at = current or (lambda: self.store.head.resource_version)
        while at() == resource_version:
            moved = self._moved
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(moved.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def _tip_moved(self, state: HeadState) -> None:
        # Called from whichever thread advanced the store.
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def sync(self) -> HeadState:
        """Fetch from the remote now (a push-event hook) and catch up with its branch."""
        return await self._read(self.store.sync)

    async def _poll(self) -> None:
        """Pick up commits that other processes (or people) made to the branch, and with a
        remote, fetch it every `fetch_interval` seconds."""
        loop = asyncio.get_running_loop()
        next_fetch = loop.time() + self.fetch_interval
        while True:
            await asyncio.sleep(self.poll_interval)
            fetch = self.store.remote is not None and loop.time() >= next_fetch
            try:
                await self._read(self.store.sync if fetch else self.store.refresh)
                if self.bookkeeping is not None:
                    await self._read(self.bookkeeping.refresh)
            except StoreError as exc:  # an unreachable remote: reads go on from the last fetch
                log.info("%s", exc.message)
            except Exception:  # keep polling; the next round may work
                log.exception("could not read branch %s", self.store.branch_ref)
            if fetch:
                next_fetch = loop.time() + self.fetch_interval

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, functools.partial(fn, *args)
        )

    async def _write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._writer, functools.partial(fn, *args, **kwargs)
        )
