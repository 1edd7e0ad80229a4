"""Saying what does not render: problems are logged at start and as they appear."""

from __future__ import annotations

import logging

from sources.view import RenderedStore
from store.repo import HeadState

log = logging.getLogger("gitplane.sources")


def report_problems(store: RenderedStore) -> None:
    """Log every problem now, and each new one when a commit brings it (a pushed YAML
    error says so, rather than the object silently going away)."""
    seen: set[str] = set()

    def report(_: HeadState | None = None) -> None:
        current = {str(problem) for problem in store.problems()}
        for problem in sorted(current - seen):
            log.warning("%s", problem)
        seen.clear()
        seen.update(current)

    if store.rendering:
        if not store.engine.settings.target.repo_urls:
            log.info("no --repo-url or --remote given: every repoURL counts as this repository")
        for result in store.results():
            where = result.source.destination or "-"
            state = result.source.skipped or result.error or f"{len(result.objects)} objects"
            log.info(
                "source %s (%s %s) -> %s: %s",
                result.source.ref,
                result.source.tool,
                result.source.path or ".",
                where,
                state,
            )
    report()
    store.on_change(report)
