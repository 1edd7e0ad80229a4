"""Loading repositories written by people, and the read caches."""

from __future__ import annotations

from pathlib import Path

from store.keys import ObjectKey
from store.repo import GitStore
from tests.store.conftest import GitRunner, write_files
from tests.store.realistic_repo import FILES


def _realistic(repo_path: Path, git: GitRunner) -> GitStore:
    store = GitStore.init(repo_path)
    write_files(repo_path, FILES)
    git("add", "-A")
    git("commit", "-qm", "import desired state")
    store.refresh()
    return store


def test_realistic_repository_loads_every_object(repo_path: Path, git: GitRunner) -> None:
    store = _realistic(repo_path, git)
    keys = {o.key for o in store.list_objects().items}
    assert keys == {
        ObjectKey("apps", "Deployment", "shop", "web"),
        ObjectKey("", "Service", "shop", "web"),
        ObjectKey("", "ConfigMap", "shop", "web-config"),
        ObjectKey("", "Namespace", "", "shop"),  # cluster-scoped, though it lives in shop/
        ObjectKey("", "ServiceAccount", "shop", "web"),  # from a List
        ObjectKey("", "ServiceAccount", "shop", "worker"),
        ObjectKey("", "ConfigMap", "billing", "rates"),  # JSON
        ObjectKey("", "ConfigMap", "billing", "good-one"),
        ObjectKey("rbac.authorization.k8s.io", "ClusterRole", "", "system:shop-reader"),
    }
    config = store.get(ObjectKey("", "ConfigMap", "shop", "web-config"))
    # Timestamps stay strings, as they do when kubectl turns YAML into JSON.
    assert config.obj["data"]["startedAt"] == "2024-01-01"
    assert config.path == "shop/app.yaml"
    markers = [n for n, line in enumerate(FILES["shop/app.yaml"].splitlines(), 1) if line == "---"]
    assert config.line == markers[1]  # its document starts at the second `---`


def test_broken_document_is_reported_with_path_and_line(repo_path: Path, git: GitRunner) -> None:
    store = _realistic(repo_path, git)
    problems = store.problems()
    assert [(p.path, p.line) for p in problems] == [("billing/broken.yaml", 9)]
    assert "invalid YAML" in problems[0].message
    # The valid document of the same file still loads.
    assert store.get(ObjectKey("", "ConfigMap", "billing", "good-one")).line == 1


def test_namespace_listing_and_cluster_scope(repo_path: Path, git: GitRunner) -> None:
    store = _realistic(repo_path, git)
    assert sorted(o.key.name for o in store.list_objects("billing").items) == ["good-one", "rates"]
    assert {o.key.kind for o in store.list_objects("").items} == {"Namespace", "ClusterRole"}
    assert store.head.snapshot.namespaces() == ["billing", "shop"]


def test_second_list_of_unchanged_repo_parses_nothing(repo_path: Path, git: GitRunner) -> None:
    store = _realistic(repo_path, git)
    first = store.list_objects()
    parses = store._cache.parses
    again = GitStore(repo_path)  # a fresh store parses again ...
    assert len(again.list_objects().items) == len(first.items)
    store.refresh()
    assert len(store.list_objects().items) == len(first.items)
    assert store._cache.parses == parses  # ... this one did not


def test_one_changed_file_is_the_only_one_parsed(repo_path: Path, git: GitRunner) -> None:
    store = _realistic(repo_path, git)
    parses = store._cache.parses
    write_files(
        repo_path, {"billing/rates.json": FILES["billing/rates.json"].replace("0.2", "0.25")}
    )
    git("commit", "-qam", "raise VAT")
    store.refresh()
    assert store._cache.parses == parses + 1
    assert store.get(ObjectKey("", "ConfigMap", "billing", "rates")).obj["data"]["vat"] == "0.25"


def test_read_at_an_older_revision(repo_path: Path, git: GitRunner) -> None:
    store = _realistic(repo_path, git)
    first = store.head.commit_id
    assert first is not None
    git("rm", "-q", "billing/rates.json")
    git("commit", "-qm", "drop rates")
    store.refresh()
    key = ObjectKey("", "ConfigMap", "billing", "rates")
    assert key not in {o.key for o in store.list_objects().items}
    old = store.get(key, revision=first)
    assert old.obj["data"]["vat"] == "0.2"
    assert len(store.list_objects(revision=first).items) == 9


def test_bare_repository_is_served(tmp_path: Path, git: GitRunner, repo_path: Path) -> None:
    _realistic(repo_path, git)
    bare = tmp_path / "bare.git"
    GitRunner  # noqa: B018 - keep the import used for typing
    import subprocess

    subprocess.run(["git", "clone", "-q", "--bare", str(repo_path), str(bare)], check=True)
    store = GitStore(bare)
    assert store.bare
    assert len(store.list_objects().items) == 9


def test_layout_root_limits_what_is_read(repo_path: Path, git: GitRunner) -> None:
    from store.layout import Layout

    GitStore.init(repo_path)
    write_files(repo_path, {f"clusters/prod/{p}": t for p, t in FILES.items()})
    write_files(repo_path, {"elsewhere/shop/x.yaml": FILES["shop/namespace.yaml"]})
    git("add", "-A")
    git("commit", "-qm", "import")
    store = GitStore(repo_path, layout=Layout(root="clusters/prod"))
    paths = {o.path for o in store.list_objects().items}
    assert all(p.startswith("clusters/prod/") for p in paths)
    assert len(paths) == 6


def test_parse_cache_on_disk_spares_the_next_process(repo_path: Path, git: GitRunner) -> None:
    store = _realistic(repo_path, git)
    store.save_parse_cache()
    again = GitStore(repo_path)
    assert again._cache.parses == 0
    assert again.list_objects().items == store.list_objects().items
    assert again.problems() == store.problems()
    # A damaged cache file is ignored, never trusted.
    cache_file = repo_path / ".git" / "gitplane" / "parse-cache"
    cache_file.write_bytes(b"\x00garbage")
    third = GitStore(repo_path)
    assert (
        third._cache.parses == len(FILES) - 2
    )  # parsed again: all but README.md and kustomization
    assert third.list_objects().items == store.list_objects().items
