"""Watches over the store's change feed, as kube-apiserver serves them.

From resourceVersion "" or "0" (or with sendInitialEvents) the current state comes first
as ADDED events; then every change after the version, in commit order. Bookmarks carry
the version reached when nothing matched for a while.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

from apiserver.resources.base import JSONObject, ListResult, WatchItem
from kube import status
from kube.watch import ListOptions
from store import errors as store_errors
from store import timeline
from store.aio import AsyncStore
from store.model import StoredObject, WatchEvent

BOOKMARK_EVERY = 15.0  # seconds without an event before a bookmark (when allowed)
FUTURE_WAIT = 3.0  # seconds a watch from a future version waits (the cacher's blockTimeout)

# The events after a resource version and the version they lead to (store errors:
# Expired for a version the branch no longer has, Invalid for one that is not a version).
ChangesSince = Callable[[str], Awaitable[tuple[list[WatchItem], str]]]


def store_watch(
    store: AsyncStore,
    options: ListOptions,
    convert: Callable[[StoredObject], JSONObject | None],
    initial_list: Callable[[], Awaitable[ListResult]],
    *,
    bookmark_every: float = BOOKMARK_EVERY,
) -> AsyncIterator[WatchItem]:
    """A watch over objects: each change converted (None: not watched)."""

    async def changes_since(rv: str) -> tuple[list[WatchItem], str]:
        events, reached = await store.watch_events(rv)
        items = []
        for event in events:
            item = _filtered(event, convert)
            if item is not None:
                items.append(item)
        return items, reached

    return feed_watch(store, options, changes_since, initial_list, bookmark_every=bookmark_every)


async def _reached(
    store: AsyncStore, rv: str, current: Callable[[], str], is_later: Callable[[str, str], bool]
) -> None:
    """Wait for a version newer than the store's, as kube-apiserver's watch cache does
    (up to FUTURE_WAIT), then fail with its "Too large resource version" Timeout, which
    makes client-go list again. Versions are numbers that grow along the branch."""
    if not rv.isdigit():
        return  # not a version at all: changes_since says so
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FUTURE_WAIT
    while is_later(rv, current()):
        remaining = deadline - loop.time()
        if remaining <= 0 or not await store.wait_for_change(current(), remaining, current):
            if is_later(rv, current()):
                raise too_large_resource_version(rv, current())
            return


def too_large_resource_version(rv: str, current: str) -> status.ApiError:
    """storage.NewTooLargeResourceVersionError: 504 Timeout, retry after 1 s."""
    error = status.Timeout(f"Too large resource version: {rv}, current: {current}", 1)
    assert error.details is not None
    error.details = replace(
        error.details,
        causes=(status.StatusCause("ResourceVersionTooLarge", "Too large resource version"),),
    )
    return error


def _filtered(
    event: WatchEvent, convert: Callable[[StoredObject], JSONObject | None]
) -> WatchItem | None:
    """The event a watch with a selector sees, as kube-apiserver's cacheWatcher decides it
    from the old and the new object: one that starts to match is ADDED, one that stops
    matching is DELETED (its last matching state, at the event's version)."""
    now = convert(event.object)
    if event.type != "MODIFIED" or event.previous is None:
        return WatchItem(event.type, now) if now is not None else None
    before = convert(event.previous._replace(resource_version=event.object.resource_version))
    if now is not None:
        return WatchItem("MODIFIED" if before is not None else "ADDED", now)
    return WatchItem("DELETED", before) if before is not None else None


async def feed_watch(
    store: AsyncStore,
    options: ListOptions,
    changes_since: ChangesSince,
    initial_list: Callable[[], Awaitable[ListResult]],
    *,
    bookmark_every: float = BOOKMARK_EVERY,
    current_version: Callable[[], str] | None = None,
    is_later: Callable[[str, str], bool] = timeline.is_later,
) -> AsyncIterator[WatchItem]:
    """A watch over whatever `changes_since` makes of the commits after a version
    (`current_version`: the version the feed is at; the store's tip's by default)."""
    rv = options.resource_version
    current = current_version or (lambda: store.head.resource_version)
    if not options.sends_initial_events and rv not in ("", "0"):
        await _reached(store, rv, current, is_later)
    if options.sends_initial_events or rv in ("", "0"):
        listed = await initial_list()
        for obj in listed.items:
            yield WatchItem("ADDED", obj)
        rv = listed.resource_version
        if options.sends_initial_events and options.allow_watch_bookmarks:
            # Only when asked for: kubectl's `get NAME -w` printed a bookmark as a row.
            yield WatchItem("BOOKMARK", resource_version=rv, initial_events_end=True)
    while True:
        try:
            items, reached = await changes_since(rv)
        except store_errors.Expired as exc:
            raise status.Expired(f"too old resource version: {rv} ({exc.message})") from None
        except store_errors.Invalid as exc:
            raise status.BadRequest(exc.message) from None
        for item in items:
            yield item
        rv = reached
        moved = await store.wait_for_change(rv, within=bookmark_every, current=current)
        if not moved and options.allow_watch_bookmarks:
            yield WatchItem("BOOKMARK", resource_version=rv)
