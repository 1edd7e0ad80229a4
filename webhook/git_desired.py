"""The webhook's desired state read from the Git store's branch tip.

Lookups read the store's published snapshot (no I/O); the store's poller (or the API
server's writes, in the same process) move that snapshot forward as commits arrive.
"""

from __future__ import annotations

import logging

from aiohttp import web

from sources.engine import Settings
from sources.options import desired_store
from store.aio import AsyncStore, DesiredStore
from store.keys import ObjectKey
from store.repo import GitStore
from webhook.config import WebhookConfig
from webhook.desired import Declared, mode_of
from webhook.server import make_app

log = logging.getLogger("gitplane.webhook")


class GitDesiredState:
    """The webhook's DesiredState over a store: a GitStore, or what the reconcilers apply
    (sources.view.RenderedStore), whose managed namespaces are the sources' destinations."""

    def __init__(self, store: DesiredStore) -> None:
        self.store = store

    def declared(self, group: str, kind: str, namespace: str, name: str) -> Declared | None:
        head = self.store.head
        key = ObjectKey(group, kind, namespace, name)
        entry = head.snapshot.get(key)
        if entry is None:
            return None
        meta = head.meta.get(namespace, key)
        return Declared(entry.obj, entry.path, meta.commit_id[:12] if meta else "")

    def is_managed(self, namespace: str) -> bool:
        snapshot = self.store.head.snapshot
        destinations = getattr(self.store, "destinations", None)
        if destinations is not None and namespace in destinations():
            return True
        return bool(namespace) and (
            bool(snapshot.objects.inner(namespace))
            or snapshot.get(ObjectKey("", "Namespace", "", namespace)) is not None
        )

    def namespace_mode(self, namespace: str) -> str | None:
        entry = self.store.head.snapshot.get(ObjectKey("", "Namespace", "", namespace))
        return mode_of(entry.obj) if entry is not None else None


def make_git_app(
    store: GitStore,
    config: WebhookConfig,
    *,
    fetch_interval: float = 15.0,
    settings: Settings | None = None,
) -> web.Application:
    """The webhook over what the reconcilers apply from `store`, with the poller that
    keeps it at the branch tip (fetching the remote, if the store has one) for as long
    as the app runs."""
    rendered, _ = desired_store(store, settings)
    log.info("declared: %d objects", rendered.head.snapshot.count())
    app = make_app(GitDesiredState(rendered), config)
    follow = AsyncStore(rendered, fetch_interval=fetch_interval)

    async def start_following(_: web.Application) -> None:
        await follow.start()

    async def stop_following(_: web.Application) -> None:
        await follow.close()

    app.on_startup.insert(0, start_following)
    app.on_cleanup.append(stop_following)
    return app
