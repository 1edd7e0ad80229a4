"""The admission webhook as kube-apiserver calls it, with the configurations manifests/ installs.

storefront is labelled gitplane.io/managed=true and its Deployment `web` is declared in
Git (through the gitplane.io API, as alice); the Deployment itself is created the way a
reconciler would, by Argo CD's application controller. storefront-warn is the same, with
its Namespace declared in Git in warn mode. The reconcilers are impersonated by the admin
and bound to cluster-admin, as their installs bind them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.realcluster.conftest import GV, create_namespace, eventually, webhook_metrics

ENFORCED, WARNED = "storefront", "storefront-warn"
ARGOCD = "system:serviceaccount:argocd:argocd-application-controller"
FLUX = "system:serviceaccount:flux-system:kustomize-controller"
IMAGE = "nginx:1.27"


def deployment(namespace: str) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": IMAGE}]},
            },
        },
    }


def image_patch(image: str, **annotations: str) -> str:
    body: dict[str, object] = {
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}
    }
    if annotations:
        body["metadata"] = {"annotations": annotations}
    return json.dumps(body)


def patch(kubectl: Kubectl, namespace: str, body: str, *extra: str, check: bool = False):  # type: ignore[no-untyped-def]
    return kubectl(
        "patch", "deployment", "web", "-n", namespace, "--type=strategic", "-p", body, *extra,
        check=check,
    )  # fmt: skip


@pytest.fixture(scope="module")
def managed(cluster: ControlPlane, admin: Kubectl) -> Iterator[ControlPlane]:
    for namespace in (ENFORCED, WARNED):
        create_namespace(admin, namespace, bindings={"alice": "edit", "oncall": "edit"})
    for name, user in (("argocd", ARGOCD), ("flux", FLUX)):
        namespace, account = user.removeprefix("system:serviceaccount:").split(":")
        admin("create", "clusterrolebinding", f"{name}-reconciler", "--clusterrole=cluster-admin",
              f"--serviceaccount={namespace}:{account}")  # fmt: skip
    cluster.pki.kubeconfig(
        cluster.directory / "users" / "oncall.kubeconfig",
        cluster.server,
        cluster.pki.user("oncall", ("gitplane:break-glass",)),
        "oncall",
    )
    warn_namespace = {
        "apiVersion": GV,
        "kind": "ClusterManifest",
        "metadata": {"name": f"namespace.{WARNED}"},
        "spec": {
            "object": {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": WARNED, "annotations": {"gitplane.io/mode": "warn"}},
            }
        },
    }
    admin("apply", "-f", "-", input=yaml.safe_dump(warn_namespace))
    alice = cluster.user("alice")
    for namespace in (ENFORCED, WARNED):
        declared = {
            "apiVersion": GV,
            "kind": "Manifest",
            "metadata": {"name": "deployment.web", "namespace": namespace},
            "spec": {"object": deployment(namespace)},
        }
        alice("apply", "-f", "-", input=yaml.safe_dump(declared))
        # The reconciler creates it as Git says (before the namespace is managed or not,
        # it is admitted: matchConditions rule Argo CD out).
        admin("apply", f"--as={ARGOCD}", "-f", "-", input=json.dumps(deployment(namespace)))
        admin("label", "namespace", namespace, "gitplane.io/managed=true")
    # The webhook follows the remote (fetched every second here): wait until it judges
    # with the commit alice just pushed, using a dry run (never persisted).
    for namespace in (ENFORCED,):
        eventually(
            lambda ns=namespace: (
                "denied the request"
                in patch(alice, ns, image_patch("nginx:dry-run"), "--dry-run=server").stderr
            ),
            30,
            "the webhook knowing the declared Deployment",
        )
    eventually(
        lambda: (
            "Warning: gitplane:"
            in patch(alice, WARNED, image_patch("nginx:dry-run"), "--dry-run=server").stderr
        ),
        30,
        "the webhook knowing storefront-warn is in warn mode",
    )
    return cluster


def test_alice_edit_patch_scale_delete_are_denied_with_how_to_fix(managed: ControlPlane) -> None:
    alice = managed.user("alice")
    source = f"{ENFORCED}/deployment-web.yaml"
    edited = alice(
        "edit", "deployment", "web", "-n", ENFORCED, check=False,
        env={"KUBE_EDITOR": f"sed -i s#{IMAGE}#nginx:latest#"},
    )  # fmt: skip
    assert edited.returncode != 0
    # Mutating webhooks run first, and the mutating one judges by the same rules, so the
    # refusal kubectl prints names it.
    assert 'admission webhook "mutate.gitplane.io" denied the request' in edited.stderr
    assert f"gitplane: Deployment web in namespace {ENFORCED} is managed in Git ({source}" in (
        edited.stderr
    )
    assert (
        'spec.template.spec.containers[name=web].image: git "nginx:1.27", request "nginx:latest"'
        in (edited.stderr)
    )
    assert f"To change it, edit {source} in Git with a pull request" in edited.stderr

    patched = patch(alice, ENFORCED, image_patch("nginx:latest"))
    assert patched.returncode != 0
    assert "denied the request" in patched.stderr and f"edit {source} in Git" in patched.stderr

    scaled = alice("scale", "deployment", "web", "-n", ENFORCED, "--replicas=5", check=False)
    assert scaled.returncode != 0
    assert "denied the request" in scaled.stderr
    assert "spec.replicas: git 2, request 5" in scaled.stderr

    deleted = alice("delete", "deployment", "web", "-n", ENFORCED, "--wait=false", check=False)
    assert deleted.returncode != 0
    assert "denied the request" in deleted.stderr
    assert f"To delete it, remove it from {source} in Git" in deleted.stderr
    live = managed.kubectl.json("get", "deployment", "web", "-n", ENFORCED)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert live["spec"]["replicas"] == 2


def test_warn_mode_warns_and_marks_the_drift(managed: ControlPlane) -> None:
    alice = managed.user("alice")
    result = patch(alice, WARNED, image_patch("nginx:latest"), check=True)
    assert f"Warning: gitplane: Deployment {WARNED}/web differs from Git" in result.stderr
    assert 'Warning: gitplane: spec.template.spec.containers[name=web].image: git "nginx:1.27"' in (
        result.stderr
    )
    live = managed.kubectl.json("get", "deployment", "web", "-n", WARNED)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:latest"
    annotations = live["metadata"]["annotations"]
    assert annotations["gitplane.io/drift"] == "spec.template.spec.containers[name=web].image"


def _decisions(cluster: ControlPlane, namespace: str) -> float:
    return sum(
        n for labels, n in webhook_metrics(cluster).items() if f'namespace="{namespace}"' in labels
    )


def test_reconcilers_are_admitted_without_reaching_the_webhook(managed: ControlPlane) -> None:
    admin = managed.kubectl
    before = _decisions(managed, ENFORCED)
    patch(admin, ENFORCED, image_patch("nginx:1.28"), f"--as={ARGOCD}", check=True)
    scaled = admin("scale", "deployment", "web", "-n", ENFORCED, "--replicas=3", f"--as={FLUX}")
    assert "scaled" in scaled.stdout
    patch(admin, ENFORCED, image_patch(IMAGE), f"--as={FLUX}", check=True)
    admin("scale", "deployment", "web", "-n", ENFORCED, "--replicas=2", f"--as={ARGOCD}")
    assert _decisions(managed, ENFORCED) == before  # matchConditions: never sent
    # The count does move for a person's request (both webhooks see it).
    refused = patch(managed.user("alice"), ENFORCED, image_patch("nginx:latest"))
    assert "denied the request" in refused.stderr
    assert _decisions(managed, ENFORCED) >= before + 1


def test_break_glass(managed: ControlPlane) -> None:
    incident = "INC-4711 registry outage, pinning the cached image"
    body = image_patch("nginx:1.27-cached", **{"gitplane.io/break-glass": incident})
    refused = patch(managed.user("alice"), ENFORCED, body)
    assert "is not in the group 'gitplane:break-glass'" in refused.stderr
    oncall = managed.user("oncall")
    patch(oncall, ENFORCED, body, check=True)
    live = managed.kubectl.json("get", "deployment", "web", "-n", ENFORCED)
    annotations = live["metadata"]["annotations"]
    assert annotations["gitplane.io/break-glass"] == incident
    assert annotations["gitplane.io/break-glass-by"] == "oncall"
    assert "gitplane.io/break-glass-at" in annotations
    # Back as Git says, by the reconciler.
    patch(managed.kubectl, ENFORCED, image_patch(IMAGE), f"--as={ARGOCD}", check=True)


def test_webhook_down_fails_closed_for_people_only(managed: ControlPlane) -> None:
    managed.stop_pod("gitplane-webhook")
    try:
        refused = patch(managed.user("alice"), ENFORCED, image_patch("nginx:latest"))
        assert refused.returncode != 0
        assert 'failed calling webhook "mutate.gitplane.io"' in refused.stderr
        assert "connect: connection refused" in refused.stderr
        # Reconcilers and Kubernetes' own controllers are ruled out before the call.
        patch(managed.kubectl, ENFORCED, image_patch("nginx:1.28"), f"--as={ARGOCD}", check=True)
        patch(managed.kubectl, ENFORCED, image_patch(IMAGE), f"--as={FLUX}", check=True)
    finally:
        managed.start_pod("gitplane-webhook")
    denied = patch(managed.user("alice"), ENFORCED, image_patch("nginx:latest"), "--dry-run=server")
    assert "denied the request" in denied.stderr
