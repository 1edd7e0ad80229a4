"""Flux Kustomizations over ExternalArtifacts that an ArtifactGenerator (source-watcher)
lays out from this repository, as Flux's own example repository now does: the copy
operations as source-watcher's builder performs them, the build as kustomize makes it
from the artifact's layout (the oracle: the same layout copied by hand), provenance in
the repository's files, and what cannot be laid out offline reported."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml

from sources.artifacts import lay_out
from sources.engine import Settings
from sources.gittree import GitTree
from sources.model import RenderError
from sources.options import desired_store
from store.errors import Invalid
from store.keys import ObjectKey
from store.model import Put, Requester
from store.repo import GitStore
from tests.sources import fixtures
from tests.sources.test_rendering import desired

KUBECTL = shutil.which("kubectl") or "kubectl"


def generator(env: str, extra: str = "") -> str:
    return (
        textwrap.dedent(f"""\
        apiVersion: source.extensions.fluxcd.io/v1beta1
        kind: ArtifactGenerator
        metadata: {{name: flux-system, namespace: flux-system}}
        spec:
          sources:
          - {{alias: monorepo, kind: GitRepository, name: flux-system}}
          artifacts:
          - name: apps
            originRevision: "@monorepo"
            copy:
            - {{from: "@monorepo/apps/base/**", to: "@artifact/base/"}}
            - {{from: "@monorepo/apps/{env}/**", to: "@artifact/{env}/"}}
        """)
        + extra
    )


def artifact_repo(repo: Path) -> None:
    """Flux's example layout with the apps delivered through an ExternalArtifact."""
    fixtures.flux_example(repo)
    files: dict[str, str | None] = {}
    for env in ("staging", "production"):
        apps = (repo / f"clusters/{env}/apps.yaml").read_text()
        files[f"clusters/{env}/apps.yaml"] = apps.replace(
            f"path: ./apps/{env}\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system}}",
            f"path: ./{env}\n  prune: true\n  sourceRef: {{kind: ExternalArtifact, name: apps}}",
        )
        files[f"clusters/{env}/artifacts.yaml"] = generator(env)
    fixtures.commit_files(repo, files, "apps through an ExternalArtifact")


def tree_of(repo: Path) -> GitTree:
    git = pygit2.Repository(str(repo))
    return GitTree(git, str(git.head.peel(pygit2.Commit).tree.id))


def test_copy_operations_lay_files_out_as_source_watcher_does(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.commit_files(
        repo,
        {
            "deploy/app.yaml": "a: 1\n",
            "deploy/sub/more.yaml": "b: 1\n",
            "deploy/testdata/fixture.yaml": "c: 1\n",
            "configs/one.yaml": "d: 1\n",
            "configs/two.yml": "e: 1\n",
            "configs/sub/three.yaml": "f: 1\n",
            "envs/prod/configmap.yaml": "g: 1\n",
            "README.md": "h\n",
        },
        "layout",
    )
    copy = [
        {"from": "@repo/deploy/**", "to": "@artifact/backend/", "exclude": ["**/testdata/**"]},
        {"from": "@repo/configs/", "to": "@artifact/apps/", "exclude": ["sub/**"]},
        {"from": "@repo/configs/*.yaml", "to": "@artifact/flat/"},
        {"from": "@repo/envs/prod/configmap.yaml", "to": "@artifact/env.yaml"},
        {"from": "@repo/README.md", "to": "@artifact/apps"},  # apps/ exists: into it
        {"from": "@repo/envs/prod/configmap.yaml", "to": "@artifact/backend/app.yaml"},
    ]
    laid = lay_out(tree_of(repo), {"aliases": ["repo"], "copy": copy})
    assert laid.origin == {
        "backend/app.yaml": "envs/prod/configmap.yaml",  # a later copy overwrites
        "backend/sub/more.yaml": "deploy/sub/more.yaml",
        "apps/configs/one.yaml": "configs/one.yaml",
        "apps/configs/two.yml": "configs/two.yml",
        "apps/README.md": "README.md",
        "flat/configs/one.yaml": "configs/one.yaml",  # other globs keep the matched path
        "env.yaml": "envs/prod/configmap.yaml",
    }
    assert laid.read("env.yaml") == b"g: 1\n" and laid.is_dir("backend/sub")
    with pytest.raises(RenderError, match="no files match"):
        lay_out(
            tree_of(repo),
            {"aliases": ["repo"], "copy": [{"from": "@repo/nope/*", "to": "@artifact/"}]},
        )
    with pytest.raises(RenderError, match="no source has alias other"):
        lay_out(
            tree_of(repo),
            {"aliases": ["repo"], "copy": [{"from": "@other/deploy/**", "to": "@artifact/"}]},
        )
    with pytest.raises(RenderError, match="leaves the repository"):
        lay_out(
            tree_of(repo),
            {"aliases": ["repo"], "copy": [{"from": "@repo/../etc/passwd", "to": "@artifact/"}]},
        )


def hand_laid_build(repo: Path, env: str, work: Path) -> list[dict[str, Any]]:
    """The oracle: the artifact copied by hand as its generator says, built by kustomize."""
    artifact = work / "artifact"
    shutil.copytree(repo / "apps/base", artifact / "base")
    shutil.copytree(repo / f"apps/{env}", artifact / env)
    built = subprocess.run(
        [KUBECTL, "kustomize", str(artifact / env)], capture_output=True, text=True, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(built) if d]


@pytest.mark.parametrize("env", ["staging", "production"])
def test_each_cluster_builds_its_own_artifact_as_kustomize_does(tmp_path: Path, env: str) -> None:
    repo = tmp_path / "repo"
    artifact_repo(repo)
    state, _ = desired(repo, tmp_path / "work", Settings(flux_paths=(f"clusters/{env}",)))
    apps = next(r for r in state.results.values() if r.source.ref.name == "apps")
    assert apps.ok, apps.error
    served = {(r.obj["kind"], r.obj["metadata"]["name"]): r.obj for r in apps.objects}
    oracle = {(o["kind"], o["metadata"]["name"]): o for o in hand_laid_build(repo, env, tmp_path)}
    assert served == oracle
    release = state.objects[
        ObjectKey("helm.toolkit.fluxcd.io", "HelmRelease", "podinfo", "podinfo")
    ]
    assert release.obj["spec"]["values"]["host"] == f"podinfo.{env}"
    # Provenance is the repository's files, not the artifact's.
    assert release.files == (
        "apps/base/podinfo/release.yaml",
        "apps/base/podinfo/kustomization.yaml",
        f"apps/{env}/kustomization.yaml",
    )


def test_without_a_flux_path_each_kustomization_uses_its_own_clusters_generator(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    artifact_repo(repo)
    state, _ = desired(repo, tmp_path / "work")
    paths = sorted(
        (r.source.ref.declared_in, r.source.path, r.ok)
        for r in state.results.values()
        if r.source.ref.name == "apps"
    )
    assert paths == [
        ("clusters/production/apps.yaml", "production", True),
        ("clusters/staging/apps.yaml", "staging", True),
    ]


def test_a_commit_re_renders_only_what_its_artifact_copies(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    artifact_repo(repo)
    settings = Settings(flux_paths=("clusters/staging",))
    first, engine = desired(repo, tmp_path / "work", settings)
    renders = engine.renders
    fixtures.commit_files(repo, {"apps/production/podinfo-values.yaml": "{}\n"}, "production only")
    desired(repo, tmp_path / "work", settings, engine, first)
    assert engine.renders == renders
    values = (
        (repo / "apps/staging/podinfo-values.yaml")
        .read_text()
        .replace("podinfo.staging", "podinfo.stg")
    )
    fixtures.commit_files(repo, {"apps/staging/podinfo-values.yaml": values}, "staging")
    second, _ = desired(repo, tmp_path / "work", settings, engine, first)
    assert engine.renders == renders + 2  # the artifact's Kustomization, then its HelmRelease
    release = second.objects[
        ObjectKey("helm.toolkit.fluxcd.io", "HelmRelease", "podinfo", "podinfo")
    ]
    assert release.obj["spec"]["values"]["host"] == "podinfo.stg"


def test_what_cannot_be_laid_out_offline_is_reported(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    artifact_repo(repo)
    oci = generator("staging").replace(
        "- {alias: monorepo, kind: GitRepository, name: flux-system}",
        "- {alias: monorepo, kind: OCIRepository, name: flux-system}",
    )
    fixtures.commit_files(repo, {"clusters/staging/artifacts.yaml": oci}, "oci")
    state, _ = desired(repo, tmp_path / "work", Settings(flux_paths=("clusters/staging",)))
    apps = next(r for r in state.results.values() if r.source.ref.name == "apps")
    assert apps.source.skipped == (
        "ExternalArtifact flux-system/apps copies from OCIRepository flux-system, which cannot"
        " be read offline"
    )
    fixtures.commit_files(repo, {"clusters/staging/artifacts.yaml": None}, "no generator")
    state, _ = desired(repo, tmp_path / "work2", Settings(flux_paths=("clusters/staging",)))
    apps = next(r for r in state.results.values() if r.source.ref.name == "apps")
    assert apps.source.skipped == (
        "ExternalArtifact flux-system/apps is made by no ArtifactGenerator here"
    )


def test_a_path_pattern_makes_one_artifact_per_directory(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    artifact_repo(repo)
    per_app = textwrap.dedent("""\
        apiVersion: source.extensions.fluxcd.io/v1beta1
        kind: ArtifactGenerator
        metadata: {name: per-app, namespace: flux-system}
        spec:
          sources:
          - {alias: monorepo, kind: GitRepository, name: flux-system}
          pathPattern: "@monorepo/apps/base/{app}"
          artifacts:
          - name: "{app}-base"
            copy:
            - {from: "@monorepo/apps/base/{app}/**", to: "@artifact/"}
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: podinfo-base, namespace: flux-system}
        spec:
          path: ./
          sourceRef: {kind: ExternalArtifact, name: podinfo-base}
        """)
    fixtures.commit_files(repo, {"clusters/staging/per-app.yaml": per_app}, "per app")
    state, _ = desired(repo, tmp_path / "work", Settings(flux_paths=("clusters/staging",)))
    base = next(r for r in state.results.values() if r.source.ref.name == "podinfo-base")
    assert base.ok, base.error
    assert sorted(r.obj["kind"] for r in base.objects) == ["HelmRelease", "Namespace"]
    assert base.objects[0].files[0].startswith("apps/base/podinfo/")


def test_a_write_to_an_artifacts_object_is_refused_naming_the_generator(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    artifact_repo(repo)
    store = GitStore(repo, persist_parse_cache=False)
    rendered, _ = desired_store(store, Settings(flux_paths=("clusters/staging",)))
    key = ObjectKey("helm.toolkit.fluxcd.io", "HelmRelease", "podinfo", "podinfo")
    obj = json.loads(json.dumps(rendered.current.desired.objects[key].obj))
    obj["spec"]["values"]["replicaCount"] = 5
    head = store.head.commit_id
    with pytest.raises(Invalid) as refused:
        rendered.apply([Put(obj, "podinfo", "update")], Requester("alice", ()))
    assert "ExternalArtifact flux-system/apps" in str(refused.value)
    assert "clusters/staging/artifacts.yaml" in str(refused.value)
    assert store.refresh().commit_id == head
