"""A commit that breaks a file's YAML does not silently delete its objects: Argo CD and
Flux fail to sync it and the cluster keeps them, so they stay served, the breakage is a
problem that says so, writes to that file wait for a fix, and the fix is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.errors import Conflict
from store.history import History
from store.keys import ObjectKey
from store.model import Put
from store.repo import GitStore
from tests.store.conftest import ALICE, run_git

CONFIGMAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: "on"}\n'
KEY = ObjectKey("", "ConfigMap", "shop", "settings")


def commit(repo: Path, text: str, message: str) -> str:
    (repo / "shop").mkdir(exist_ok=True)
    (repo / "shop" / "app.yaml").write_text(text)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", message)
    return run_git(repo, "rev-parse", "HEAD").strip()


def test_a_broken_file_keeps_its_last_good_objects_until_fixed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    store = GitStore.init(repo)
    good = commit(repo, CONFIGMAP, "settings")
    store.refresh()
    broken = commit(repo, CONFIGMAP.replace('"on"}', "[on}"), "typo")
    store.refresh()
    assert store.get(KEY).obj["data"] == {"mode": "on"}  # still served
    problems = [str(p) for p in store.problems()]
    assert any(p.startswith("shop/app.yaml:") and "invalid YAML" in p for p in problems)
    assert any(
        f"its last good version ({store.head.snapshot.file('shop/app.yaml')[1].stale[:12]})" in p
        for p in problems
    )  # type: ignore[index]
    revision = History(store).revision(broken)
    assert revision.changes == ()  # nothing was deleted by the typo
    with pytest.raises(Conflict, match="does not load at the tip"):
        store.apply(
            [
                Put(
                    {
                        **{"apiVersion": "v1", "kind": "ConfigMap"},
                        "metadata": {"name": "settings", "namespace": "shop"},
                        "data": {"mode": "off"},
                    },
                    "shop",
                )
            ],
            ALICE,
        )
    commit(repo, CONFIGMAP.replace('"on"', "fixed"), "fix")
    store.refresh()
    assert store.get(KEY).obj["data"] == {"mode": "fixed"}
    assert store.problems() == []
    assert good
