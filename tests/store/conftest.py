"""Real repositories for store tests, with the git CLI as an independent reader."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from store.model import Requester
from store.repo import GitStore

ALICE = Requester("alice", ("devs", "system:authenticated"))

GitRunner = Callable[..., str]


def run_git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    base = {
        "GIT_AUTHOR_NAME": "Person",
        "GIT_AUTHOR_EMAIL": "person@example.com",
        "GIT_COMMITTER_NAME": "Person",
        "GIT_COMMITTER_EMAIL": "person@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=False,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def init_bare(path: Path) -> Path:
    """A bare repository at `path`, its branch main, made by the git CLI."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def pack_objects(source: Path, ids: list[str], into: Path) -> str:
    """The objects `ids` of the repository `source` packed by `git pack-objects` into the
    object store of the repository `into`: the pack's name (its hash)."""
    return subprocess.run(
        ["git", "-C", str(source), "pack-objects", "-q", str(into / "objects" / "pack" / "pack")],
        input="\n".join(ids) + "\n", capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


@pytest.fixture
def moves(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The commits each compare-and-swap of the branch tried to move it to."""
    tried: list[str] = []
    move = GitStore._move_branch

    def counted(self: GitStore, base: str | None, commit_id: str, *rest: Any) -> bool:
        tried.append(commit_id)
        return move(self, base, commit_id, *rest)

    monkeypatch.setattr(GitStore, "_move_branch", counted)
    yield tried


def unreachable_commits(git: GitRunner) -> list[str]:
    found = git("fsck", "--unreachable", "--no-reflogs").splitlines()
    return [line for line in found if line.startswith("unreachable commit")]


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository on local disk, the remote replicas clone and push to."""
    return init_bare(tmp_path / "remote.git")


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    return tmp_path / "repo"


@pytest.fixture
def store(repo_path: Path) -> GitStore:
    return GitStore.init(repo_path, bare=False)


@pytest.fixture
def git(repo_path: Path) -> GitRunner:
    return lambda *args, **kw: run_git(repo_path, *args, **kw)


def deployment(
    name: str = "web", namespace: str = "shop", replicas: int = 2, **extra: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
            **extra,
        },
    }


def configmap(name: str, namespace: str = "shop", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": dict(data),
    }


def write_files(repo: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
