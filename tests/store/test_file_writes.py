"""FileWrite: a file set as it is (an overlay's kustomization, a values file), through the
same commit path as objects: compare-and-swap on the file, the Secret check, no links."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from store.errors import Conflict, Invalid
from store.model import FileWrite
from store.repo import GitStore
from tests.store.conftest import ALICE, run_git


@pytest.fixture
def store(tmp_path: Path) -> GitStore:
    return GitStore.init(tmp_path / "repo", bare=True)


def show(store: GitStore, path: str) -> str:
    return subprocess.run(
        ["git", "-C", store.path, "show", f"main:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_a_file_is_written_removed_and_checked_against_what_it_was(store: GitStore) -> None:
    made = store.apply(
        [FileWrite("app/overlays/prod/kustomization.yaml", "resources: [../../base]\n", "")], ALICE
    )
    assert (
        made.commit_id
        and show(store, "app/overlays/prod/kustomization.yaml") == "resources: [../../base]\n"
    )
    blob = subprocess.run(
        ["git", "-C", store.path, "rev-parse", "main:app/overlays/prod/kustomization.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with pytest.raises(Conflict, match="changed since"):
        store.apply([FileWrite("app/overlays/prod/kustomization.yaml", "x: 1\n", "0" * 40)], ALICE)
    with pytest.raises(Conflict):  # it exists now: "" said it did not
        store.apply([FileWrite("app/overlays/prod/kustomization.yaml", "x: 1\n", "")], ALICE)
    store.apply(
        [
            FileWrite(
                "app/overlays/prod/kustomization.yaml",
                "namePrefix: p-\nresources: [../../base]\n",
                blob,
            )
        ],
        ALICE,
    )
    assert "namePrefix: p-" in show(store, "app/overlays/prod/kustomization.yaml")
    store.apply([FileWrite("app/overlays/prod/kustomization.yaml", None)], ALICE)
    listed = run_git(Path(store.path), "ls-tree", "-r", "--name-only", "main")
    assert "kustomization.yaml" not in listed


def test_a_file_write_passes_the_one_commit_check(store: GitStore) -> None:
    leak = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {pw: hunter2-value}\n"
    with pytest.raises(Invalid, match="plaintext"):
        store.apply([FileWrite("values/secret.yaml", leak)], ALICE)
    with pytest.raises(Invalid, match="does not load back"):
        store.apply([FileWrite("values/dup.yaml", "a: 1\na: 2\n")], ALICE)
    with pytest.raises(Invalid, match="cannot be written"):
        store.apply([FileWrite("x" * 300 + "/v.yaml", "a: 1\n")], ALICE)
    assert store.refresh().commit_id is None
