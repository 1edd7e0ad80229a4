"""Symbolic links and submodules in the tree: never documents, never written through.

The links are made and committed by the git CLI, as someone pushing a crafted
repository would; their targets are outside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitplane_cli.main import main
from store.errors import Invalid, NotFound
from store.history import History
from store.keys import ObjectKey
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, configmap

PLANTED = ObjectKey("", "ConfigMap", "shop", "planted")
# A link's target is any text: this one reads as a ConfigMap when taken for YAML.
TARGET_AS_YAML = "{apiVersion: v1, kind: ConfigMap, metadata: {name: planted, namespace: shop}}"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "settings.yaml").write_text("untouched: true\n")
    return directory


def _commit_links(repo: Path, git: GitRunner, links: dict[str, str]) -> str:
    for path, target in links.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, repo / path)
    git("add", *links)
    git("commit", "-qm", "links")
    return git("rev-parse", "HEAD")


def test_a_symlinked_namespace_directory_is_never_written_through(
    store: GitStore, repo_path: Path, git: GitRunner, outside: Path
) -> None:
    head = _commit_links(repo_path, git, {"evil": str(outside)})
    store.refresh()
    with pytest.raises(Invalid) as refused:
        store.create(configmap("planted", namespace="evil"), ALICE)
    assert [c.field for c in refused.value.causes] == ["metadata.namespace"]
    assert "'evil' is a symbolic link" in refused.value.causes[0].message
    assert sorted(p.name for p in outside.iterdir()) == ["settings.yaml"]
    assert git("rev-parse", "HEAD") == head
    assert [str(p) for p in store.problems()] == [
        f"evil:1: symlink: not a document (it points at {str(outside)!r})"
    ]


def test_a_symlink_entry_is_not_a_document_and_is_not_written_to(
    store: GitStore, repo_path: Path, git: GitRunner, outside: Path
) -> None:
    store.create(configmap("real"), ALICE)
    head = _commit_links(
        repo_path,
        git,
        {
            "shop/configmap-planted.yaml": TARGET_AS_YAML,
            "shop/linked.yaml": str(outside / "settings.yaml"),
        },
    )
    store.refresh()
    with pytest.raises(NotFound):
        store.get(PLANTED)
    assert [o.key.name for o in store.list_objects("shop").items] == ["real"]
    assert [str(p).split(" (")[0] for p in store.problems()] == [
        "shop/configmap-planted.yaml:1: symlink: not a document",
        "shop/linked.yaml:1: symlink: not a document",
    ]
    # A new ConfigMap `planted` goes to shop/configmap-planted.yaml: the link's path.
    with pytest.raises(Invalid) as refused:
        store.create(configmap("planted", note="x"), ALICE)
    assert "'shop/configmap-planted.yaml' is a symbolic link" in refused.value.causes[0].message
    assert git("rev-parse", "HEAD") == head
    assert git("ls-tree", "HEAD", "shop/configmap-planted.yaml").startswith("120000 ")
    assert (outside / "settings.yaml").read_text() == "untouched: true\n"


def test_a_submodule_entry_is_not_a_document(store: GitStore, git: GitRunner) -> None:
    store.create(configmap("real"), ALICE)
    head = git("rev-parse", "HEAD").strip()
    git("update-index", "--add", "--cacheinfo", f"160000,{head},shop/vendor")
    git("commit", "-qm", "a submodule")
    store.refresh()
    assert [str(p) for p in store.problems()] == [
        "shop/vendor:1: submodule: not a document (gitplane does not read submodules)"
    ]
    store.create(configmap("other"), ALICE)
    assert git("ls-tree", "HEAD", "shop/vendor").startswith("160000 ")


def _changed_lines(diff: str, sign: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] == sign and line[:3] != sign * 3]


def test_a_link_in_history_is_not_read_as_a_document(
    store: GitStore, repo_path: Path, git: GitRunner
) -> None:
    store.create(configmap("planted", value="1"), ALICE)
    file = repo_path / "shop" / "configmap-planted.yaml"
    text = file.read_text()
    file.unlink()
    linked = _commit_links(repo_path, git, {"shop/configmap-planted.yaml": TARGET_AS_YAML})
    file.unlink()
    file.write_text(text)
    git("commit", "-qam", "a document again")
    store.refresh()
    history = History(store)
    # The document became a link: it went, nothing came (the link's text is no object)...
    went = history.diff(linked)
    assert _changed_lines(went, "-") and not _changed_lines(went, "+")
    # ...and came back from nothing.
    came = history.diff(git("rev-parse", "HEAD").strip())
    assert _changed_lines(came, "+") and not _changed_lines(came, "-")


def test_gitplane_check_reports_links(
    store: GitStore,
    repo_path: Path,
    git: GitRunner,
    outside: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _commit_links(repo_path, git, {"evil": str(outside), "shop/a.yaml": TARGET_AS_YAML})
    assert main(["check", "--repo", str(repo_path)]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in printed] == [
        "evil:1: symlink: not a document",
        "shop/a.yaml:1: symlink: not a document",
    ]
