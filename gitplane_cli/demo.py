"""`gitplane demo`: the store at work on a fresh repository, narrated."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from store.history import History
from store.model import Requester
from store.repo import GitStore

ALICE = Requester("alice", ("team-shop",))
BOB = Requester("bob", ("team-shop",))


def _deployment(image: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def run(directory: Path) -> int:
    repo = directory / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    store = GitStore.init(repo)
    history = History(store)
    print(f"desired state in {repo}\n")
    first = store.create(_deployment("nginx:1.27", 2), ALICE, message="shop: first web deployment")
    store.update(_deployment("nginx:1.28", 2), BOB, message="shop: nginx 1.28")
    bump = store.update(_deployment("nginx:1.28", 5), ALICE)
    print("after three writes (one commit each, authored by the Kubernetes user):")
    _git(repo, "log", "--format=  %h %an: %s")
    assert bump.commit_id is not None and first.commit_id is not None
    history.revert(bump.commit_id, "shop", BOB)
    print("\nrevert of the replicas change, in namespace shop only:")
    _git(repo, "log", "-1", "--format=  %h %an: %s")
    _git(repo, "show", "--format=", "HEAD")
    history.rollback(first.commit_id, "shop", ALICE)
    print("rollback of shop to the first revision:")
    _git(repo, "log", "-1", "--format=  %h %an: %s")
    web = store.list_objects("shop").items[0]
    print(
        f"\nshop/web now runs {web.obj['spec']['template']['spec']['containers'][0]['image']}"
        f" (resourceVersion {web.resource_version}, file {web.path})"
    )
    print(f"\ntry: git -C {repo} log --stat    |    gitplane log --repo {repo} -n shop")
    return 0


def _git(repo: Path, *args: str) -> None:
    out = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    print(out.stdout, end="")
