"""`/metrics` (Prometheus text) and `/readyz`: what the store and its remote look like now.

Values are read from the store when scraped, so nothing is updated on the request path.
`/readyz` answers anyone with check names and ok/stale only; `/metrics` needs a client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from store.aio import AsyncStore


class StoreCollector(Collector):
    def __init__(self, store: AsyncStore) -> None:
        self.store = store
        self._plaintext: tuple[str | None, int] = ("", 0)  # (commit, count), kept per commit

    def plaintext_secrets(self) -> int:
        """Secrets declared with plaintext values (pushed from outside gitplane)."""
        head = self.store.head
        if self._plaintext[0] != head.commit_id:
            count = sum(1 for entry in head.snapshot.entries() if entry.decl.holds_secret)
            self._plaintext = (head.commit_id, count)
        return self._plaintext[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        head = self.store.head
        yield GaugeMetricFamily(
            "gitplane_store_objects",
            "Objects declared at the branch tip.",
            value=head.snapshot.count(),
        )
        yield GaugeMetricFamily(
            "gitplane_store_problems",
            "Documents in the repository that could not be loaded as objects.",
            value=len(head.snapshot.problems),
        )
        yield GaugeMetricFamily(
            "gitplane_plaintext_secrets",
            "Secrets declared in Git with plaintext values (counted, never shown).",
            value=self.plaintext_secrets(),
        )
        yield GaugeMetricFamily(
            "gitplane_store_history_rewrites",
            "Times the branch was found rewritten since start.",
            value=head.epoch,
        )
        phases = source_phases(self.store.store)
        if phases:
            sources = GaugeMetricFamily(
                "gitplane_sources",
                "Sources (Applications, Kustomizations, HelmReleases) by how they render.",
                labels=["phase"],
            )
            for phase in ("Rendered", "Stale", "Failed", "Skipped"):
                sources.add_metric([phase], phases.get(phase, 0))
            yield sources
        remote = self.store.store.remote
        if remote is None:
            return
        yield GaugeMetricFamily(
            "gitplane_remote_stale",
            "1 while the Git remote cannot be reached.",
            value=1 if remote.stale_since is not None else 0,
        )
        yield GaugeMetricFamily(
            "gitplane_remote_stale_since_timestamp_seconds",
            "When the remote became unreachable (0 when it is reachable).",
            value=remote.stale_since or 0,
        )
        yield GaugeMetricFamily(
            "gitplane_remote_last_success_timestamp_seconds",
            "Last fetch or push that worked.",
            value=remote.last_success or 0,
        )


def source_phases(store: Any) -> dict[str, int]:
    """How many sources render, are stale, fail or are skipped (empty: no sources)."""
    results = store.results() if getattr(store, "rendering", False) else []
    phases: dict[str, int] = {}
    for result in results:
        phase = (
            "Skipped"
            if result.source.skipped
            else "Stale"
            if result.stale
            else "Failed"
            if result.error
            else "Rendered"
        )
        phases[phase] = phases.get(phase, 0) + 1
    return phases


def routes(store: AsyncStore) -> list[web.RouteDef]:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), content_type="text/plain", charset="utf-8"
        )

    async def ready(request: web.Request) -> web.Response:
        # Anyone may ask (kubelet probes carry no credentials), so, as kube-apiserver's
        # healthz does, only check names and their state are told: the commit, the object
        # count and the remote's error are for /metrics (authenticated) and the log.
        lines = ["[+]store ok"]
        remote = store.store.remote
        if remote is not None and remote.stale_since is not None:
            lines.append("[!]remote stale: reason withheld (serving the last fetch)")
        elif remote is not None:
            lines.append("[+]remote ok")
        phases = source_phases(store.store)
        if phases.get("Stale") or phases.get("Failed"):
            # Served still (the last good render), so ready: said, not failed.
            lines.append("[!]sources: some do not render (serving their last good render)")
        elif phases:
            lines.append("[+]sources ok")
        text = "\n".join(lines) + "\nreadyz check passed\n"
        return web.Response(text=text if "verbose" in request.query else "ok")

    return [web.get("/metrics", metrics), web.get("/readyz", ready)]
