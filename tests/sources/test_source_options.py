"""Each source option as the reconciler reads it, with the real tools as the oracle: Argo
CD's kustomize options (the kustomization they amount to, built by kustomize itself),
Helm values, directory globs, Flux substitution from a Secret, and what is reported
rather than guessed."""

from __future__ import annotations

import base64
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import yaml

from sources.engine import Engine, Settings
from store.keys import ObjectKey
from store.repo import GitStore
from tests.sources import fixtures
from tests.sources.test_rendering import desired, in_namespace, served

KUBECTL = shutil.which("kubectl") or "kubectl"


def argo_app(name: str, path: str, namespace: str, block: str) -> str:
    return fixtures.application(name, path, namespace, block)


def test_argo_kustomize_options_are_the_kustomize_edits_argo_cd_makes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    options = """\
        kustomize:
          namePrefix: eu-
          nameSuffix: -blue
          images: ["registry.example.com/my-app=registry.example.com/my-app:2.0.0"]
          replicas: [{name: my-app, count: 7}]
          commonLabels: {team: payments}
          commonAnnotations: {owner: alice}
          patches:
          - target: {kind: Service}
            patch: |-
              - op: add
                path: /spec/sessionAffinity
                value: ClientIP
        """
    fixtures.commit_files(
        repo, {"argocd/eu.yaml": argo_app("eu", "my-app/overlays/prod", "eu", options)}, "eu"
    )
    state, _ = desired(repo, tmp_path / "work")
    # The oracle: the same options written into a copy of the overlay by hand, as the
    # kustomization `kustomize edit` would leave, built by kustomize itself.
    oracle_dir = repo / "my-app/overlays/eu-oracle"
    shutil.copytree(repo / "my-app/overlays/prod", oracle_dir)
    config = yaml.safe_load((oracle_dir / "kustomization.yaml").read_text())
    config.update(
        namePrefix="eu-",
        nameSuffix="-blue",
        commonLabels={"team": "payments"},
        commonAnnotations={"owner": "alice"},
    )
    config["images"] = [
        {
            "name": "registry.example.com/my-app",
            "newName": "registry.example.com/my-app",
            "newTag": "2.0.0",
        }
    ]
    config["replicas"] = [{"name": "my-app", "count": 7}]
    config["patches"] = [
        *config["patches"],
        {
            "target": {"kind": "Service"},
            "patch": "- op: add\n  path: /spec/sessionAffinity\n  value: ClientIP",
        },
    ]
    (oracle_dir / "kustomization.yaml").write_text(yaml.safe_dump(config))
    built = subprocess.run(
        [KUBECTL, "kustomize", str(oracle_dir)], capture_output=True, text=True, check=True
    ).stdout
    oracle = in_namespace([d for d in yaml.safe_load_all(built) if d], "eu", set())
    assert served(state, "eu") == oracle
    deployment = state.objects[ObjectKey("apps", "Deployment", "eu", "eu-my-app-blue")].obj
    assert deployment["spec"]["replicas"] == 7
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example.com/my-app:2.0.0"
    )


def test_helm_values_object_wins_over_value_files_and_parameters_over_both(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.argo_examples(repo)
    block = """\
        helm:
          valueFiles: [values-production.yaml]
          valuesObject: {replicaCount: 5, service: {port: 8080}}
          parameters: [{name: service.port, value: "9090"}]
        """
    fixtures.commit_files(
        repo,
        {"argocd/valued.yaml": argo_app("values", "helm-guestbook", "values", block)},
        "values",
    )
    state, _ = desired(repo, tmp_path / "work")
    objects = served(state, "values")
    assert objects[("Deployment", "values", "values")]["spec"]["replicas"] == 5
    service = objects[("Service", "values", "values")]["spec"]
    assert (service["type"], service["ports"][0]["port"]) == ("LoadBalancer", 9090)
    files = state.objects[ObjectKey("apps", "Deployment", "values", "values")].files
    assert files == (
        "helm-guestbook/templates/deployment.yaml",
        "helm-guestbook/values-production.yaml",
        "argocd/valued.yaml",
    )


def test_directory_recurse_include_and_exclude(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {0}}}\n"
    fixtures.commit_files(
        repo,
        {
            "apps/one.yaml": cm.format("one"),
            "apps/sub/two.yaml": cm.format("two"),
            "apps/sub/skip.yaml": cm.format("skip"),
            "apps/notes.txt": "not a manifest",
            "argocd/flat.yaml": argo_app("flat", "apps", "flat", ""),
            "argocd/deep.yaml": argo_app(
                "deep",
                "apps",
                "deep",
                "directory:\n  recurse: true\n  exclude: '{*skip*,nothing}'\n",
            ),
            "argocd/only.yaml": argo_app(
                "only", "apps", "only", "directory:\n  recurse: true\n  include: 'sub/*'\n"
            ),
        },
        "directories",
    )
    state, _ = desired(repo, tmp_path / "work")

    def names(namespace: str) -> list[str]:
        return sorted(k.name for k in state.objects if k.namespace == namespace)

    assert names("flat") == ["one"]
    assert names("deep") == ["one", "two"]
    assert names("only") == ["skip", "two"]


def test_flux_substitution_from_a_secret_and_its_opt_out(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.flux_example(repo)
    secret = base64.b64encode(b"s3cret-db").decode()
    fixtures.commit_files(
        repo,
        {
            "clusters/staging/db.yaml": f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: flux-system}}\ndata: {{host: {secret}}}\n",
            "infrastructure/configs/kustomization.yaml": "resources: [issuer.yaml, raw.yaml]\n",
            "infrastructure/configs/raw.yaml": textwrap.dedent("""\
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: raw
                  namespace: infra
                  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}
                data: {kept: "${cluster_domain}"}
                """),
            "clusters/staging/apps.yaml": (repo / "clusters/staging/apps.yaml")
            .read_text()
            .replace(
                "substituteFrom: [{kind: ConfigMap, name: cluster-vars}]",
                "substituteFrom: [{kind: ConfigMap, name: cluster-vars}, {kind: Secret, name: db}]\n    substitute: {region: us-east-1}",
            ),
        },
        "db host",
    )
    state, _ = desired(repo, tmp_path / "work", Settings(flux_paths=("clusters/staging",)))
    settings = state.objects[ObjectKey("", "ConfigMap", "infra", "cluster-settings")].obj["data"]
    assert settings == {"domain": "staging.example.com", "region": "us-east-1"}
    assert state.objects[ObjectKey("", "ConfigMap", "infra", "raw")].obj["data"] == {
        "kept": "${cluster_domain}"
    }


def test_what_cannot_be_rendered_offline_is_reported_never_guessed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    remote_chart = """\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: nginx, namespace: argocd}
        spec:
          source: {repoURL: https://charts.bitnami.com/bitnami, chart: nginx, targetRevision: 15.0.0}
          destination: {server: https://kubernetes.default.svc, namespace: web}
        """
    appset = "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: all, namespace: argocd}\nspec: {generators: []}\n"
    fixtures.commit_files(
        repo,
        {
            "argocd/nginx.yaml": remote_chart,
            "argocd/appset.yaml": appset,
            "argocd/branch.yaml": fixtures.application(
                "branch", "my-app/overlays/dev", "branch"
            ).replace("targetRevision: HEAD", "targetRevision: release-1"),
            "argocd/plugin.yaml": argo_app(
                "plugin", "my-app/overlays/dev", "plugin", "plugin: {name: kasane}\n"
            ),
            "remote/kustomization.yaml": "resources: [https://github.com/example/base//deploy?ref=v1]\n",
            "argocd/remote.yaml": argo_app("remote", "remote", "remote", ""),
        },
        "offline",
    )
    state, _ = desired(repo, tmp_path / "work")
    reasons = {r.source.ref.name: r.source.skipped or r.error for r in state.results.values()}
    assert reasons["nginx"] == "a chart from a Helm repository cannot be rendered offline"
    assert reasons["all"] == "ApplicationSets cannot be rendered offline"
    assert reasons["branch"] == "targetRevision release-1 is not the served branch main"
    assert reasons["plugin"] == "config management plugins cannot be rendered offline"
    assert reasons["remote"].startswith("remote bases cannot be rendered offline")
    assert not [k for k in state.objects if k.namespace in ("web", "branch", "plugin", "remote")]


def test_an_engine_reads_only_what_a_commit_changed(tmp_path: Path) -> None:
    """A commit elsewhere in the repository renders nothing and reads no closure."""
    repo = tmp_path / "repo"
    fixtures.base_and_overlays(repo)
    store = GitStore(repo, persist_parse_cache=False)
    engine = Engine(str(repo), tmp_path / "work")

    def docs() -> list[tuple[str, dict[str, Any]]]:
        declarations = store.refresh().snapshot.declarations.values()
        return [(e.path, e.obj) for entries in declarations for e in entries]

    first = engine.desired(store.head.commit_id, docs())
    fixtures.commit_files(repo, {"README.md": "# changed\n"}, "readme")
    second = engine.desired(store.refresh().commit_id, docs(), first)
    assert engine.renders == 3
    assert all(second.results[k] is first.results[k] for k in first.results)  # kept as they were
    info: Any = second
    assert info.destinations == {"my-app-dev", "my-app-staging", "my-app-prod"}


def test_sync_hooks_are_run_by_argo_cd_not_served_and_flux_applies_them(tmp_path: Path) -> None:
    """Argo CD runs hooks (its annotation or Helm's) at sync and does not keep them
    applied, whatever the tool; one with only a generateName is no problem. Flux's
    kustomize-controller applies every object it builds."""
    repo = tmp_path / "repo"
    fixtures.flux_example(repo)
    job = textwrap.dedent("""\
        apiVersion: batch/v1
        kind: Job
        metadata:
          {name}
          annotations: {{{hook}}}
        spec:
          template:
            spec:
              containers: [{{name: x, image: busybox}}]
              restartPolicy: Never
        """)
    fixtures.commit_files(
        repo,
        {
            "hooks/manifests.yaml": "---\n".join(
                [
                    job.format(
                        name="generateName: migrate-", hook="argocd.argoproj.io/hook: PreSync"
                    ),
                    job.format(name="name: seed", hook="helm.sh/hook: post-install"),
                    job.format(name="name: kept", hook="helm.sh/hook: crd-install"),
                    fixtures.SERVICE.replace("my-app", "web"),
                ]
            ),
            "argocd/hooks.yaml": argo_app("hooks", "hooks", "hooks", ""),
            "infrastructure/configs/kustomization.yaml": "resources: [issuer.yaml, seed.yaml]\n",
            "infrastructure/configs/seed.yaml": job.format(
                name="name: seed\n  namespace: infra", hook="helm.sh/hook: post-install"
            ),
        },
        "hooks",
    )
    state, _ = desired(repo, tmp_path / "work", Settings(flux_paths=("clusters/staging",)))
    served_here = sorted(k.name for k in state.objects if k.namespace == "hooks")
    assert served_here == ["kept", "web"]
    assert ObjectKey("batch", "Job", "infra", "seed") in state.objects
    assert not [p for p in state.problems if "hooks" in p[0]]
    store = GitStore(repo, persist_parse_cache=False)
    assert not [p for p in store.head.snapshot.problems if p.path == "hooks/manifests.yaml"]
