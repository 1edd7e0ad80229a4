"""The engine renders what the reconcilers apply, with the real kustomize and Helm as the
oracle: every object served equals what the tool itself renders for that source, run
here straight on a checkout, with the destination namespace applied."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sources.argo import Target
from sources.engine import DesiredState, Engine, Settings
from store.keys import ObjectKey
from store.repo import GitStore
from tests.sources import fixtures

KUBECTL = shutil.which("kubectl") or "kubectl"
HELM = shutil.which("helm") or "helm"


def desired(
    repo: Path,
    work: Path,
    settings: Settings | None = None,
    engine: Engine | None = None,
    previous: DesiredState | None = None,
) -> tuple[DesiredState, Engine]:
    store = GitStore(repo, persist_parse_cache=False)
    documents = [
        (e.path, e.obj) for entries in store.head.snapshot.declarations.values() for e in entries
    ]
    engine = engine or Engine(str(repo), work, settings)
    return engine.desired(store.head.commit_id, documents, previous), engine


def tool(*command: str, cwd: Path) -> list[dict[str, Any]]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def in_namespace(
    objects: list[dict[str, Any]], namespace: str, cluster: set[str]
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """What Argo CD applies of a tool's output: namespaced objects in the destination."""
    placed = {}
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if obj["kind"] not in cluster and not meta.get("namespace"):
            meta["namespace"] = namespace
        placed[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
    return placed


def served(state: DesiredState, namespace: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (k.kind, k.namespace, k.name): r.obj
        for k, r in state.objects.items()
        if k.namespace == namespace
    }


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"


def test_each_overlay_is_served_in_its_destination_as_kustomize_builds_it(
    tmp_path: Path, work: Path
) -> None:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    state, _ = desired(repo, work)
    for env in ("dev", "staging", "prod"):
        oracle = in_namespace(
            tool(KUBECTL, "kustomize", f"my-app/overlays/{env}", cwd=repo), f"my-app-{env}", set()
        )
        assert served(state, f"my-app-{env}") == oracle
    assert not [k for k in state.objects if k.namespace == "my-app"]  # the base alone: nowhere
    prod = state.objects[ObjectKey("apps", "Deployment", "my-app-prod", "my-app")]
    assert prod.files == ("my-app/base/deployment.yaml", "my-app/overlays/prod/kustomization.yaml")
    assert prod.path == "my-app/overlays/prod/kustomization.yaml"  # where a change goes
    assert prod.obj["spec"]["replicas"] == 3
    assert prod.obj["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.0.0")
    application = state.objects[ObjectKey("argoproj.io", "Application", "argocd", "my-app-prod")]
    assert application.files == ("argocd/my-app-prod.yaml",)  # served where it is applied


def test_argo_examples_directory_kustomize_helm_app_of_apps_and_multi_source(
    tmp_path: Path, work: Path
) -> None:
    repo = tmp_path / "repo"
    fixtures.argo_examples(repo)
    state, _ = desired(repo, work)
    names = {k.name for k in state.objects if k.namespace == "kustomize-guestbook"}
    assert names == {"kustomize-guestbook-ui"}  # namePrefix, as Argo CD applies it
    assert served(state, "kustomize-guestbook") == in_namespace(
        tool(KUBECTL, "kustomize", "kustomize-guestbook", cwd=repo), "kustomize-guestbook", set()
    )
    assert {k.name for k in state.objects if k.namespace == "guestbook"} == {
        "guestbook-ui"
    }  # via app-of-apps
    oracle = tool(
        HELM,
        "template",
        ".",
        "--name-template",
        "helm-guestbook",
        "--namespace",
        "helm-guestbook",
        "--values",
        "values-production.yaml",
        cwd=repo / "helm-guestbook",
    )
    hooks = [o for o in oracle if "helm.sh/hook" in (o["metadata"].get("annotations") or {})]
    assert [h["kind"] for h in hooks] == ["Job"]  # a hook: run by a sync, not kept applied
    kept = [o for o in oracle if o not in hooks]
    assert served(state, "helm-guestbook") == in_namespace(kept, "helm-guestbook", set())
    prod = served(state, "guestbook-prod")
    deployment = prod[("Deployment", "guestbook-prod", "prod")]
    assert deployment["spec"]["replicas"] == 3  # $values/environments/production/values.yaml
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        ":0.2"
    )  # a parameter
    skipped = {
        str(r.source.ref): r.source.skipped for r in state.results.values() if r.source.skipped
    }
    assert skipped == {
        "Application argocd/elsewhere": "the destination is another cluster (https://other.example.com)"
    }


def test_flux_kustomizations_and_a_helmrelease_from_this_repository(
    tmp_path: Path, work: Path
) -> None:
    repo = tmp_path / "repo"
    fixtures.flux_example(repo)
    state, _ = desired(repo, work, Settings(flux_paths=("clusters/staging",)))
    assert state.conflicts == []
    release = state.objects[
        ObjectKey("helm.toolkit.fluxcd.io", "HelmRelease", "podinfo", "podinfo")
    ]
    assert release.obj["spec"]["values"] == {
        "redis": {"enabled": True},
        "replicaCount": 1,
        "host": "podinfo.staging",
    }
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(release.obj["spec"]["values"]))
    oracle = tool(
        HELM,
        "template",
        ".",
        "--name-template",
        "podinfo",
        "--namespace",
        "podinfo",
        "--values",
        str(values),
        cwd=repo / "charts/podinfo",
    )
    assert {
        k: v for k, v in served(state, "podinfo").items() if k[0] == "Deployment"
    } == in_namespace(oracle, "podinfo", set())
    settings = state.objects[ObjectKey("", "ConfigMap", "infra", "cluster-settings")]
    assert settings.obj["data"] == {"domain": "staging.example.com", "region": "eu-west-1"}
    both, _ = desired(repo, tmp_path / "both")
    assert {str(c.key) for c in both.conflicts} >= {
        "Deployment.apps podinfo/podinfo"
    }  # two clusters' releases meet


def test_bad_sources_are_reported_on_the_source_and_others_still_render(
    tmp_path: Path, work: Path
) -> None:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    fixtures.commit_files(
        repo,
        {
            "my-app/overlays/dev/kustomization.yaml": "resources: [../../base, missing.yaml]\n",
            "broken-chart/Chart.yaml": "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
            "broken-chart/templates/x.yaml": "kind: {{ .Values.nope.deeper }}\n",
            "argocd/broken-chart.yaml": fixtures.application(
                "broken-chart", "broken-chart", "broken"
            ),
            "argocd/nowhere.yaml": fixtures.application("nowhere", "does/not/exist", "nowhere"),
            "argocd/twice.yaml": fixtures.application(
                "twice", "my-app/overlays/prod", "my-app-prod"
            ),
        },
        "break things",
    )
    state, _ = desired(repo, work)
    errors = {r.source.ref.name: r.error for r in state.results.values() if r.error}
    assert "missing.yaml" in errors["my-app-dev"] and errors["my-app-dev"].startswith("kustomize:")
    assert errors["broken-chart"].startswith("helm:") and "nope" in errors["broken-chart"]
    assert errors["nowhere"] == "path does/not/exist does not exist in the repository"
    assert served(state, "my-app-staging")  # the others render
    conflicts = {(str(c.key), c.served_from.name, c.also_from.name) for c in state.conflicts}
    assert ("Deployment.apps my-app-prod/my-app", "my-app-prod", "twice") in conflicts


def test_a_failing_commit_keeps_the_last_good_render_marked_stale(
    tmp_path: Path, work: Path
) -> None:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    good, engine = desired(repo, work)
    fixtures.commit_files(
        repo, {"my-app/overlays/prod/kustomization.yaml": "resources: [nope/]\n"}, "break prod"
    )
    broken, _ = desired(repo, work, engine=engine, previous=good)
    prod = next(r for r in broken.results.values() if r.source.ref.name == "my-app-prod")
    assert prod.stale and prod.error.startswith("kustomize:")
    assert served(broken, "my-app-prod") == served(good, "my-app-prod")


def test_a_commit_re_renders_only_the_sources_it_touched(tmp_path: Path, work: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    _, engine = desired(repo, work)
    assert engine.renders == 3
    desired(repo, work, engine=engine)
    assert engine.renders == 3  # same commit: all from the cache
    fixtures.commit_files(
        repo,
        {
            "my-app/overlays/dev/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: my-app}\nspec: {replicas: 5}\n"
        },
        "dev: 5",
    )
    state, _ = desired(repo, work, engine=engine)
    assert engine.renders == 4
    assert (
        state.objects[ObjectKey("apps", "Deployment", "my-app-dev", "my-app")].obj["spec"][
            "replicas"
        ]
        == 5
    )
    fixtures.commit_files(
        repo,
        {"my-app/base/service.yaml": fixtures.SERVICE.replace("port: 80", "port: 8080")},
        "base",
    )
    desired(repo, work, engine=engine)
    assert engine.renders == 7  # the base is read by all three
    restarted, fresh = desired(repo, work)  # a new process: renders come from the disk cache
    assert fresh.renders == 0 and len(restarted.objects) == len(state.objects)


def test_a_cluster_scoped_custom_kind_from_a_crd_in_the_repository(
    tmp_path: Path, work: Path
) -> None:
    repo = tmp_path / "repo"
    fixtures.commit_files(
        repo,
        {
            "platform/crd.yaml": """\
                apiVersion: apiextensions.k8s.io/v1
                kind: CustomResourceDefinition
                metadata: {name: widgets.example.com}
                spec:
                  group: example.com
                  scope: Cluster
                  names: {kind: Widget, plural: widgets}
                  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
                """,
            "platform/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
            "platform/class.yaml": "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: gc}\n",
            "argocd/platform.yaml": fixtures.application("platform", "platform", "platform"),
        },
        "platform",
    )
    state, _ = desired(repo, work)
    keys = {(k.kind, k.namespace) for k in state.objects}
    assert ("Widget", "") in keys  # cluster-scoped: its CRD says so
    assert ("CustomResourceDefinition", "") in keys
    assert ("GatewayClass", "") in keys  # the Gateway API's, known without its CRD


def test_targets_match_cluster_branch_and_repository(tmp_path: Path, work: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    target = Target(repo_urls=("https://other.example.com/x.git",))
    state, _ = desired(repo, work, Settings(target=target))
    assert not [k for k in state.objects if k.namespace.startswith("my-app-")]
    reasons = {r.source.skipped for r in state.results.values()}
    assert reasons == {f"repoURL {fixtures.REPO_URL} is not this repository"}
    same = Target(repo_urls=("git@git.example.com:team/gitops",))  # the same repository
    state, _ = desired(repo, tmp_path / "w2", Settings(target=same))
    assert [k for k in state.objects if k.namespace == "my-app-prod"]
