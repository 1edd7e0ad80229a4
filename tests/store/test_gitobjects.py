"""Lookups over Git history, checked against the git CLI's own answer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest

from store.gitobjects import descends_from
from tests.store.conftest import run_git


def is_ancestor(repo: Path, ancestor: str, commit_id: str) -> bool:
    result = subprocess.run(
        ["git", "-C", str(repo), "merge-base", "--is-ancestor", ancestor, commit_id],
        check=False,
    )
    return result.returncode == 0


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """main: a - b - c - m, where m merges side (a - s1 - s2) with side as first parent."""
    repo = tmp_path / "repo"
    run_git(tmp_path, "init", "-q", "-b", "main", str(repo))
    ids: dict[str, str] = {}

    def commit(name: str) -> None:
        run_git(repo, "commit", "-q", "--allow-empty", "-m", name)
        ids[name] = run_git(repo, "rev-parse", "HEAD").strip()

    commit("a")
    commit("b")
    commit("c")
    run_git(repo, "checkout", "-q", "-b", "side", ids["a"])
    commit("s1")
    commit("s2")
    run_git(repo, "merge", "-q", "--no-ff", "-m", "m", "main")  # first parent: s2
    ids["m"] = run_git(repo, "rev-parse", "HEAD").strip()
    return repo, ids


@pytest.mark.parametrize(
    ("commit_id", "ancestor", "steps"),
    [
        ("c", "a", 64),  # first parents
        ("m", "s1", 64),  # first parents through the merge
        ("m", "b", 64),  # only through the merge's second parent
        ("c", "a", 1),  # further than the walk goes
        ("b", "c", 64),  # a descendant is not an ancestor
        ("s2", "b", 64),  # another branch
        ("c", "c", 64),  # a commit is in its own history
    ],
)
def test_descends_from_agrees_with_git(
    history: tuple[Path, dict[str, str]], commit_id: str, ancestor: str, steps: int
) -> None:
    repo, ids = history
    found = descends_from(pygit2.Repository(str(repo)), ids[commit_id], ids[ancestor], steps)
    assert found == is_ancestor(repo, ids[ancestor], ids[commit_id])
