"""Watches over the store's change feed, as kube-apiserver serves them.

From resourceVersion "" or "0" (or with sendInitialEvents) the current state comes first
as ADDED events; then every change after the version, in commit order. Bookmarks carry
the version reached when nothing matched for a while.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from apiserver.resources.base import JSONObject, ListResult, WatchItem
from kube import status
from kube.watch import ListOptions
from store import errors as store_errors
from store.aio import AsyncStore
from store.model import StoredObject

BOOKMARK_EVERY = 15.0  # seconds without an event before a bookmark (when allowed)

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
            converted = convert(event.object)
            if converted is not None:
                items.append(WatchItem(event.type, converted))
        return items, reached

    return feed_watch(store, options, changes_since, initial_list, bookmark_every=bookmark_every)


async def feed_watch(
    store: AsyncStore,
    options: ListOptions,
    changes_since: ChangesSince,
    initial_list: Callable[[], Awaitable[ListResult]],
    *,
    bookmark_every: float = BOOKMARK_EVERY,
) -> AsyncIterator[WatchItem]:
    """A watch over whatever `changes_since` makes of the commits after a version."""
    rv = options.resource_version
    if options.sends_initial_events or rv in ("", "0"):
        listed = await initial_list()
        for obj in listed.items:
            yield WatchItem("ADDED", obj)
        rv = listed.resource_version
        if options.sends_initial_events:
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
        moved = await store.wait_for_change(rv, within=bookmark_every)
        if not moved and options.allow_watch_bookmarks:
            yield WatchItem("BOOKMARK", resource_version=rv)
