"""`gitplane example LAYOUT DIR`: a GitOps repository in one of the layouts our users have,
to try gitplane on before pointing it at your own.

- `overlays`: my-app/base plus overlays dev, staging and prod, one Argo CD Application
  each (destination my-app-<env>), as our docs recommend;
- `argo`: the shapes of Argo CD's example apps: a directory app, a kustomize app with a
  namePrefix, a local Helm chart with per-environment values, app-of-apps, multi-source;
- `flux`: Flux's kustomize + Helm example: clusters/staging and clusters/production,
  apps with a base and overlays patching a HelmRelease whose chart is in the repository,
  postBuild substitution from a ConfigMap.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2

IN_CLUSTER = "https://kubernetes.default.svc"
REPO_URL = "https://git.example.com/team/gitops.git"
LAYOUTS = ("overlays", "argo", "flux")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "example",
        help="write an example GitOps repository",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("layout", choices=LAYOUTS)
    parser.add_argument("dir", help="where to create the repository (must not exist)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists():
        print(f"gitplane example: {target} exists; give a new directory")
        return 2
    make = {"overlays": base_and_overlays, "argo": argo_examples, "flux": flux_example}[args.layout]
    commit = make(target, commit_files=_commit)
    print(f"{args.layout} example in {target} (commit {commit[:12]})")
    print(f"serve it with: gitplane up --dir {target}-up --repo {target}")
    return 0


def _commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write files and commit them, as a person would (no git CLI needed)."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        pygit2.init_repository(str(repo), initial_head="main")
    git = pygit2.Repository(str(repo))
    for path, text in files.items():
        target = repo / path
        if text is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
    git.index.add_all()
    git.index.write()
    tree = git.index.write_tree()
    who = pygit2.Signature("gitplane example", "example@gitplane.invalid")
    parents = [] if git.head_is_unborn else [git.head.target]
    made = git.create_commit("HEAD", who, who, message, tree, parents)
    return str(made)


def application(
    name: str, path: str, namespace: str, extra: str = "", server: str = IN_CLUSTER
) -> str:
    return f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {REPO_URL}
    targetRevision: HEAD
    path: {path}
{textwrap.indent(textwrap.dedent(extra), "    ") if extra else ""}  destination:
    server: {server}
    namespace: {namespace}
"""


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-app
  labels: {app: my-app}
spec:
  replicas: 1
  selector: {matchLabels: {app: my-app}}
  template:
    metadata: {labels: {app: my-app}}
    spec:
      containers:
      - name: app
        image: registry.example.com/my-app:1.0.0
        ports: [{containerPort: 8080, name: http}]
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: my-app}
spec:
  selector: {app: my-app}
  ports: [{port: 80, targetPort: http}]
"""


def base_and_overlays(
    repo: Path, commit_files: Callable[[Path, dict[str, str | None], str], str] = _commit
) -> str:
    files: dict[str, str | None] = {
        "my-app/base/deployment.yaml": DEPLOYMENT,
        "my-app/base/service.yaml": SERVICE,
        "my-app/base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
        "README.md": "# team gitops\n",
    }
    for env, replicas, tag in (
        ("dev", 1, "1.1.0-rc1"),
        ("staging", 2, "1.0.1"),
        ("prod", 3, "1.0.0"),
    ):
        files[f"my-app/overlays/{env}/kustomization.yaml"] = f"""\
            resources: [../../base, configmap.yaml]
            images:
            - name: registry.example.com/my-app
              newTag: "{tag}"
            patches:
            - path: replicas.yaml
            """
        files[f"my-app/overlays/{env}/replicas.yaml"] = f"""\
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: my-app}}
            spec: {{replicas: {replicas}}}
            """
        files[f"my-app/overlays/{env}/configmap.yaml"] = f"""\
            apiVersion: v1
            kind: ConfigMap
            metadata: {{name: my-app-settings}}
            data: {{environment: {env}}}
            """
        files[f"argocd/my-app-{env}.yaml"] = application(
            f"my-app-{env}", f"my-app/overlays/{env}", f"my-app-{env}"
        )
    return commit_files(repo, files, "my-app: base and three overlays")


CHART = {
    "helm-guestbook/Chart.yaml": "apiVersion: v2\nname: helm-guestbook\nversion: 0.1.0\n",
    "helm-guestbook/values.yaml": (
        "replicaCount: 1\n"
        "image: {repository: gcr.io/heptio-images/ks-guestbook-demo, tag: '0.1'}\n"
        "service: {type: ClusterIP, port: 80}\n"
    ),
    "helm-guestbook/values-production.yaml": "service: {type: LoadBalancer}\n",
    "helm-guestbook/templates/_helpers.tpl": (
        '{{- define "helm-guestbook.fullname" -}}{{ .Release.Name }}{{- end -}}\n'
    ),
    "helm-guestbook/templates/deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ include "helm-guestbook.fullname" . }}
          labels: {app: helm-guestbook, release: {{ .Release.Name }}}
        spec:
          replicas: {{ .Values.replicaCount }}
          selector: {matchLabels: {app: helm-guestbook}}
          template:
            metadata: {labels: {app: helm-guestbook}}
            spec:
              containers:
              - name: guestbook
                image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        """,
    "helm-guestbook/templates/service.yaml": """\
        apiVersion: v1
        kind: Service
        metadata: {name: {{ include "helm-guestbook.fullname" . }}}
        spec:
          type: {{ .Values.service.type }}
          ports: [{port: {{ .Values.service.port }}}]
          selector: {app: helm-guestbook}
        """,
    "helm-guestbook/templates/hook.yaml": """\
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: {{ .Release.Name }}-migrate
          annotations: {helm.sh/hook: pre-install}
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: migrate, image: busybox}]
        """,
}


def argo_examples(
    repo: Path, commit_files: Callable[[Path, dict[str, str | None], str], str] = _commit
) -> str:
    files: dict[str, str | None] = {
        "guestbook/guestbook-ui-deployment.yaml": DEPLOYMENT.replace("my-app", "guestbook-ui"),
        "guestbook/guestbook-ui-svc.yaml": SERVICE.replace("my-app", "guestbook-ui"),
        "kustomize-guestbook/guestbook-ui-deployment.yaml": DEPLOYMENT.replace(
            "my-app", "guestbook-ui"
        ),
        "kustomize-guestbook/guestbook-ui-svc.yaml": SERVICE.replace("my-app", "guestbook-ui"),
        "kustomize-guestbook/kustomization.yaml": (
            "namePrefix: kustomize-\n"
            "resources: [guestbook-ui-deployment.yaml, guestbook-ui-svc.yaml]\n"
        ),
        **CHART,
        "apps/Chart.yaml": "apiVersion: v2\nname: applications\nversion: 0.1.0\n",
        "apps/values.yaml": """\
            applications:
            - {name: guestbook, namespace: guestbook}
            - {name: kustomize-guestbook, namespace: kustomize-guestbook}
            """,
        "apps/templates/applications.yaml": f"""\
            {{{{- range .Values.applications }}}}
            ---
            apiVersion: argoproj.io/v1alpha1
            kind: Application
            metadata:
              name: example.{{{{ .name }}}}
              namespace: argocd
            spec:
              project: default
              source:
                repoURL: {REPO_URL}
                targetRevision: HEAD
                path: {{{{ .name }}}}
              destination:
                server: {IN_CLUSTER}
                namespace: {{{{ .namespace }}}}
            {{{{- end }}}}
            """,
        "environments/production/values.yaml": "replicaCount: 3\n",
        "argocd/apps.yaml": application("apps", "apps", "argocd"),
        "argocd/helm-guestbook.yaml": application(
            "helm-guestbook",
            "helm-guestbook",
            "helm-guestbook",
            "helm:\n  valueFiles: [values-production.yaml]\n",
        ),
        "argocd/multi-source.yaml": f"""\
            apiVersion: argoproj.io/v1alpha1
            kind: Application
            metadata: {{name: guestbook-prod, namespace: argocd}}
            spec:
              project: default
              sources:
              - repoURL: {REPO_URL}
                path: helm-guestbook
                targetRevision: HEAD
                helm:
                  releaseName: prod
                  valueFiles: [$values/environments/production/values.yaml]
                  parameters: [{{name: image.tag, value: "0.2"}}]
              - repoURL: {REPO_URL}
                targetRevision: HEAD
                ref: values
              destination: {{server: {IN_CLUSTER}, namespace: guestbook-prod}}
            """,
        "argocd/elsewhere.yaml": application(
            "elsewhere", "guestbook", "guestbook", server="https://other.example.com"
        ),
    }
    return commit_files(repo, files, "argo example apps")


PODINFO_CHART = {
    "charts/podinfo/Chart.yaml": "apiVersion: v2\nname: podinfo\nversion: 6.7.0\n",
    "charts/podinfo/values.yaml": "replicaCount: 1\nhost: podinfo.local\nredis: {enabled: false}\n",
    "charts/podinfo/templates/deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: {{ .Release.Name }}, labels: {host: "{{ .Values.host }}"}}
        spec:
          replicas: {{ .Values.replicaCount }}
          selector: {matchLabels: {app: podinfo}}
          template:
            metadata: {labels: {app: podinfo}}
            spec: {containers: [{name: podinfo, image: "ghcr.io/stefanprodan/podinfo:6.7.0"}]}
        """,
}


def flux_example(
    repo: Path, commit_files: Callable[[Path, dict[str, str | None], str], str] = _commit
) -> str:
    files: dict[str, str | None] = {
        **PODINFO_CHART,
        "apps/base/podinfo/kustomization.yaml": (
            "namespace: podinfo\nresources: [namespace.yaml, release.yaml]\n"
        ),
        "apps/base/podinfo/namespace.yaml": (
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: podinfo}\n"
        ),
        "apps/base/podinfo/release.yaml": """\
            apiVersion: helm.toolkit.fluxcd.io/v2
            kind: HelmRelease
            metadata: {name: podinfo, namespace: podinfo}
            spec:
              interval: 50m
              releaseName: podinfo
              chart:
                spec:
                  chart: ./charts/podinfo
                  sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}
              values:
                redis: {enabled: true}
            """,
        "infrastructure/configs/kustomization.yaml": "resources: [issuer.yaml]\n",
        "infrastructure/configs/issuer.yaml": """\
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: cluster-settings, namespace: infra}
            data: {domain: "${cluster_domain}", region: "${region:=eu-west-1}"}
            """,
    }
    for env, replicas in (("staging", 1), ("production", 3)):
        files[f"apps/{env}/kustomization.yaml"] = """\
            resources: [../base/podinfo]
            patches:
            - path: podinfo-values.yaml
              target: {kind: HelmRelease}
            """
        files[f"apps/{env}/podinfo-values.yaml"] = f"""\
            apiVersion: helm.toolkit.fluxcd.io/v2
            kind: HelmRelease
            metadata: {{name: podinfo, namespace: podinfo}}
            spec:
              values:
                replicaCount: {replicas}
                host: podinfo.{env}
            """
        files[f"clusters/{env}/flux-system/gotk-sync.yaml"] = f"""\
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata: {{name: flux-system, namespace: flux-system}}
            spec: {{interval: 1m, ref: {{branch: main}}, url: {REPO_URL}}}
            ---
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {{name: flux-system, namespace: flux-system}}
            spec:
              interval: 10m
              path: ./clusters/{env}
              prune: true
              sourceRef: {{kind: GitRepository, name: flux-system}}
            """
        files[f"clusters/{env}/flux-system/kustomization.yaml"] = "resources: [gotk-sync.yaml]\n"
        files[f"clusters/{env}/settings.yaml"] = f"""\
            apiVersion: v1
            kind: ConfigMap
            metadata: {{name: cluster-vars, namespace: flux-system}}
            data: {{cluster_domain: {env}.example.com}}
            """
        files[f"clusters/{env}/apps.yaml"] = f"""\
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {{name: apps, namespace: flux-system}}
            spec:
              interval: 10m
              path: ./apps/{env}
              prune: true
              sourceRef: {{kind: GitRepository, name: flux-system}}
            ---
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {{name: infra-configs, namespace: flux-system}}
            spec:
              interval: 1h
              path: ./infrastructure/configs
              prune: true
              sourceRef: {{kind: GitRepository, name: flux-system}}
              postBuild:
                substituteFrom: [{{kind: ConfigMap, name: cluster-vars}}]
            """
    return commit_files(repo, files, "flux example")
