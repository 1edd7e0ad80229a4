"""`gitplane up` as a user runs it: a subprocess, plain kubectl, the webhook beside it."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from gitplane_cli.up import _next_steps
from sources.options import desired_store
from store.repo import GitStore
from tests.sources import fixtures

MANIFEST = """\
apiVersion: gitplane.io/v1alpha1
kind: Manifest
metadata: {name: deployment.web, namespace: shop}
spec:
  object:
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: "nginx:1.27"}]
"""


def _review(image: str, username: str = "alice") -> dict[str, object]:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": str(uuid.uuid4())},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "web",
            "namespace": "shop",
            "operation": "UPDATE",
            "userInfo": {"username": username, "groups": ["system:authenticated"]},
            "object": deployment,
            "oldObject": deployment,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions"},
        },
    }


@pytest.fixture
def running_up(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "HOME": str(tmp_path), "KUBECACHEDIR": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitplane_cli.main",
            "up",
            "--dir",
            str(tmp_path / "gp"),
            "--api-port",
            "0",
            "--webhook-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    endpoints = tmp_path / "gp" / "endpoints.json"
    deadline = time.monotonic() + 30
    while not endpoints.exists():
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "gitplane up did not start in 30 s"
        time.sleep(0.1)
    try:
        yield process, json.loads(endpoints.read_text()), env
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(20)


def test_up_serves_kubectl_and_the_webhook_from_one_repository(running_up, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    process, endpoints, env = running_up
    kubectl = ["kubectl", f"--kubeconfig={endpoints['kubeconfig']}"]
    applied = subprocess.run(
        [*kubectl, "apply", "-f", "-"],
        input=MANIFEST,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    listed = subprocess.run(
        [*kubectl, "get", "manifests", "-A"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "deployment.web" in listed
    log = subprocess.run(
        ["git", "-C", endpoints["repo"], "log", "--format=%an %s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log.startswith("gitplane-admin create apps/v1 Deployment shop/web")

    context = ssl.create_default_context(cafile=endpoints["ca"])
    url = f"https://127.0.0.1:{endpoints['webhook']}/validate"

    def decide(review: dict[str, object]) -> dict[str, object]:
        request = urllib.request.Request(
            url, data=json.dumps(review).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.loads(response.read())["response"]  # type: ignore[no-any-return]

    deadline = time.monotonic() + 10
    drift = decide(_review("nginx:latest"))
    while drift["allowed"] and time.monotonic() < deadline:  # the webhook polls the branch
        time.sleep(0.1)
        drift = decide(_review("nginx:latest"))
    assert drift["allowed"] is False
    assert "shop/deployment-web.yaml" in drift["status"]["message"]  # type: ignore[index]
    assert decide(_review("nginx:1.27"))["allowed"] is True  # equals Git
    assert decide(
        _review("nginx:latest", "system:serviceaccount:argocd:argocd-application-controller")
    )["allowed"]

    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0


def test_the_next_steps_fit_the_repository(tmp_path: Path) -> None:
    """A first contact is told what to try on its own repository: its sources and the
    namespace they apply most to, else its busiest namespace, else a first object."""

    def steps(repo: Path) -> str:
        rendered, _ = desired_store(GitStore(repo, persist_parse_cache=False))
        return _next_steps(rendered, repo)

    overlays = tmp_path / "overlays"
    fixtures.base_and_overlays(overlays)
    assert "kubectl get sources" in steps(overlays)
    assert "kubectl -n my-app-" in steps(overlays) and "namespace: shop" not in steps(overlays)
    plain = tmp_path / "plain"
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {0}}}\n"
    fixtures.commit_files(
        plain,
        {"web/a.yaml": cm.format("a"), "web/b.yaml": cm.format("b"), "db/c.yaml": cm.format("c")},
        "plain",
    )
    assert "kubectl -n web get revisions" in steps(plain) and "get sources" not in steps(plain)
    empty = tmp_path / "empty"
    fixtures.commit_files(empty, {"README.md": "# nothing yet\n"}, "empty")
    assert "namespace: shop" in steps(empty)
