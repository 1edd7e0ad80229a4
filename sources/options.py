"""Command-line options for what this gitplane guards, shared by every entry point, and
the desired-state store they open."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pygit2

from sources.argo import IN_CLUSTER_NAME, IN_CLUSTER_SERVER, Target
from sources.engine import Engine, Settings
from sources.history import RenderedHistory
from sources.view import RenderedStore
from store.repo import GitStore

log = logging.getLogger("gitplane.sources")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--repo-url",
        action="append",
        default=[],
        metavar="URL",
        help="a repoURL meaning this repository in Applications and GitRepositories"
        " (repeatable; the --remote URL counts too; with neither, any repoURL counts)",
    )
    add("--cluster-name", default=IN_CLUSTER_NAME, help="Argo CD destination name of this cluster")
    add(
        "--cluster-server",
        default=IN_CLUSTER_SERVER,
        help="Argo CD destination server of this cluster",
    )
    add(
        "--flux-path",
        action="append",
        default=[],
        metavar="PATH",
        help="only Flux Kustomizations declared under PATH (e.g. clusters/staging) apply here",
    )


def settings_from(args: Any, store: GitStore) -> Settings:
    urls = tuple(getattr(args, "repo_url", None) or ())
    remote = getattr(args, "remote", None)
    if remote:
        urls = (*urls, remote)
    target = Target(
        cluster_name=getattr(args, "cluster_name", IN_CLUSTER_NAME),
        cluster_server=getattr(args, "cluster_server", IN_CLUSTER_SERVER),
        branch=store.branch_ref.removeprefix("refs/heads/"),
        repo_urls=urls,
    )
    return Settings(target=target, flux_paths=tuple(getattr(args, "flux_path", None) or ()))


def desired_store(
    store: GitStore, settings: Settings | None = None
) -> tuple[RenderedStore, RenderedHistory]:
    """The store the servers serve: what the reconcilers apply, rendered from `store`
    (which a plain repository passes through as it is). Renders are cached beside the
    repository's own data, as the parse cache is."""
    workspace = Path(pygit2.Repository(store.path).path) / "gitplane" / "render"
    engine = Engine(
        store.path,
        workspace,
        settings or Settings(target=Target(branch=store.branch_ref.removeprefix("refs/heads/"))),
    )
    rendered = RenderedStore(store, engine)
    return rendered, RenderedHistory(rendered)
