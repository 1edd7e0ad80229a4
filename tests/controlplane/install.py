"""gitplane installed the way docs/install.md installs it: `gitplane certs`, then
`kubectl apply -k`, of manifests/ through the overlay kept in tests/controlplane/overlay.

The one layer made per environment, DIR/install/site, adds the git-token component (the
servers reach the remote over HTTP with the token of the Secret gitplane-git-credentials)
and sets what only the environment knows: the remote's URL (the team's GitOps repository,
DIR/repo, served by tests/controlplane/git_http.py) in gitplane-config, and
the ports picked for the two servers (their `--port` argument, containerPort, Service
port, the APIService's port and the webhook URLs). The webhook's serving certificate is
issued again by the same CA with 127.0.0.1 added, since kube-apiserver calls it by URL.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from gitplane_cli.certs import WEBHOOK_SERVICE, write_install
from pki.authority import CertificateAuthority
from pki.issue import issue_serving_certificate, service_hostnames
from tests.controlplane.kubectl import Kubectl, kubectl_binary
from tests.controlplane.processes import HarnessError, run

OVERLAY = Path(__file__).resolve().parent / "overlay"
GIT_TOKEN = Path(__file__).resolve().parents[2] / "manifests" / "components" / "git-token"
NAMESPACE = "gitplane-system"
APISERVER = "gitplane-apiserver"
WEBHOOK = "gitplane-webhook"
DEFAULT_PORTS = {APISERVER: "8443", WEBHOOK: "9443"}

Obj = dict[str, Any]


def seed_repository(path: Path) -> None:
    """The team's GitOps repository as it exists before gitplane: bare, one commit."""
    run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)])
    with tempfile.TemporaryDirectory() as work:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Platform Team",
            "GIT_AUTHOR_EMAIL": "platform@example.com",
            "GIT_COMMITTER_NAME": "Platform Team",
            "GIT_COMMITTER_EMAIL": "platform@example.com",
        }
        run(["git", "clone", "--quiet", str(path), work], env=env)
        Path(work, "README.md").write_text("Desired state of the cluster, synced by Argo CD.\n")
        run(["git", "-C", work, "add", "README.md"], env=env)
        run(["git", "-C", work, "commit", "--quiet", "-m", "Start the GitOps repository"], env=env)
        run(["git", "-C", work, "push", "--quiet", "origin", "HEAD:main"], env=env)


def _render(directory: Path) -> list[Obj]:
    rendered = run([kubectl_binary(), "kustomize", str(directory)], what="kubectl kustomize")
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def _port_patches(objects: list[Obj], ports: dict[str, int]) -> list[Obj]:
    patches: list[Obj] = []
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Deployment" and name in ports:
            container = obj["spec"]["template"]["spec"]["containers"][0]
            index = container["args"].index("--port") + 1
            if container["args"][index] != DEFAULT_PORTS[name]:
                raise HarnessError(f"{name}: expected --port {DEFAULT_PORTS[name]} in its args")
            ops = [
                {"op": "replace", "path": f"/spec/template/spec/containers/0/args/{index}",
                 "value": str(ports[name])},
                {"op": "replace", "path": "/spec/template/spec/containers/0/ports/0/containerPort",
                 "value": ports[name]},
            ]  # fmt: skip
            patches.append({"target": {"kind": kind, "name": name}, "patch": yaml.safe_dump(ops)})
        elif kind == "Service" and name in ports:
            ops = [{"op": "replace", "path": "/spec/ports/0/port", "value": ports[name]}]
            patches.append({"target": {"kind": kind, "name": name}, "patch": yaml.safe_dump(ops)})
        elif kind == "APIService":
            ops = [{"op": "replace", "path": "/spec/service/port", "value": ports[APISERVER]}]
            patches.append({"target": {"kind": kind, "name": name}, "patch": yaml.safe_dump(ops)})
        elif kind.endswith("WebhookConfiguration"):
            ops = [
                {
                    "op": "replace",
                    "path": f"/webhooks/{i}/clientConfig/url",
                    "value": hook["clientConfig"]["url"].replace(
                        f":{DEFAULT_PORTS[WEBHOOK]}/", f":{ports[WEBHOOK]}/"
                    ),
                }
                for i, hook in enumerate(obj["webhooks"])
            ]
            patches.append({"target": {"kind": kind, "name": name}, "patch": yaml.safe_dump(ops)})
    return patches


def write_site(directory: Path, remote: str, ports: dict[str, int]) -> Path:
    site = directory / "site"
    site.mkdir(parents=True, exist_ok=True)
    remote_patch = [{"op": "add", "path": "/data/remote", "value": remote}]
    document = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(OVERLAY, site)],
        # The remote is reached over HTTP with a token, as a forge is (docs/install.md).
        "components": [os.path.relpath(GIT_TOKEN, site)],
        "patches": [
            {
                "target": {"kind": "ConfigMap", "name": "gitplane-config"},
                "patch": yaml.safe_dump(remote_patch),
            },
            *_port_patches(_render(OVERLAY), ports),
        ],
    }
    (site / "kustomization.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return site


def make_install(directory: Path, remote: str, ports: dict[str, int]) -> Path:
    """DIR/install: `gitplane certs --manifests DIR/install/site --out DIR/install`."""
    site = write_site(directory, remote, ports)
    write_install(directory, namespace=NAMESPACE, manifests=site)
    ca = CertificateAuthority.load(directory / "ca.crt", directory / "ca.key")
    hosts = [*service_hostnames(WEBHOOK_SERVICE, NAMESPACE), "127.0.0.1"]
    webhook = issue_serving_certificate(
        ca, hosts, common_name=f"{WEBHOOK_SERVICE}.{NAMESPACE}.svc", valid_for=timedelta(days=2)
    )
    webhook.save(directory / WEBHOOK_SERVICE / "tls.crt", directory / WEBHOOK_SERVICE / "tls.key")
    return directory


def apply(admin: Kubectl, directory: Path) -> str:
    return admin("apply", "-k", str(directory), timeout=120).stdout


def installed_deployments(admin: Kubectl) -> list[Obj]:
    listed = admin.json("get", "deployments", "-n", NAMESPACE)
    return sorted(listed["items"], key=lambda d: d["metadata"]["name"])
