"""Every admission decision, over real HTTPS with reviews shaped as kube-apiserver sends them."""

from __future__ import annotations

import base64
import copy
import json
import logging
from typing import Any

import jsonpatch
import pytest
from webhook_reviews import (
    ALICE,
    ARGOCD,
    ONCALL,
    REVISION,
    annotated,
    desired_state,
    edited,
    git_deployment,
    live_deployment,
    namespace,
    review,
    scale,
    secret_git,
    secret_live,
)

from webhook.config import WebhookConfig
from webhook.desired import InMemoryDesiredState

SCALE_GVK = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
SECRET = {
    "gvk": {"group": "", "version": "v1", "kind": "Secret"},
    "gvr": {"group": "", "version": "v1", "resource": "secrets"},
}
CONFIGMAP = {
    "gvk": {"group": "", "version": "v1", "kind": "ConfigMap"},
    "gvr": {"group": "", "version": "v1", "resource": "configmaps"},
}
NAMESPACE = {
    "gvk": {"group": "", "version": "v1", "kind": "Namespace"},
    "gvr": {"group": "", "version": "v1", "resource": "namespaces"},
}
BREAK_GLASS = {"gitplane.io/break-glass": "INC-4711: roll back bad image"}


def drifted(ns: str = "team-a") -> dict[str, Any]:
    """A `kubectl edit` that changes the image and scales up."""
    return edited(
        live_deployment(ns),
        {"spec.replicas": 5, "spec.template.spec.containers.0.image": "nginx:1.27.0"},
    )


def response(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = body["response"]
    return out


def patched(obj: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(answer["patch"]))
    result: dict[str, Any] = jsonpatch.apply_patch(obj, ops)
    return result


def configmap(ns: str = "team-a", name: str = "scratch") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": {"k": "v"},
    }


async def test_update_matching_git_is_allowed_and_echoes_uid(webhook: Any) -> None:
    sent = review("UPDATE", live_deployment(), live_deployment())
    status, body = await webhook.post("/validate", sent)
    assert status == 200
    assert body["apiVersion"] == "admission.k8s.io/v1"
    assert body["kind"] == "AdmissionReview"
    assert response(body) == {"uid": sent["request"]["uid"], "allowed": True}


async def test_drift_is_denied_with_an_actionable_message(webhook: Any) -> None:
    status, body = await webhook.post("/validate", review("UPDATE", drifted(), live_deployment()))
    answer = response(body)
    assert status == 200
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 403
    assert answer["status"]["reason"] == "Forbidden"
    message = answer["status"]["message"]
    assert "namespace team-a" in message
    assert f"apps/team-a/web.yaml @ {REVISION}" in message
    assert "spec.replicas: git 3, request 5" in message
    assert (
        'spec.template.spec.containers[name=web].image: git "nginx:1.25.3", request "nginx:1.27.0"'
    ) in message
    assert "kubectl -n team-a apply" in message
    assert "manifests.gitplane.io" in message
    assert "pull request" in message
    assert "patch" not in answer


async def test_long_values_are_truncated_in_the_message(webhook: Any) -> None:
    long_image = "registry.example.com/" + "x" * 300 + ":1"
    obj = edited(live_deployment(), {"spec.template.spec.containers.0.image": long_image})
    _, body = await webhook.post("/validate", review("UPDATE", obj, live_deployment()))
    message = response(body)["status"]["message"]
    assert long_image not in message
    assert '"registry.example.com/xxx' in message


async def test_change_that_converges_to_git_is_allowed(webhook: Any) -> None:
    _, body = await webhook.post("/validate", review("UPDATE", live_deployment(), drifted()))
    assert response(body)["allowed"] is True


async def test_fields_git_does_not_declare_may_change(serve: Any) -> None:
    # Git leaves replicas to an HPA; kubectl rollout restart stamps the pod template.
    state = desired_state()
    manifest = git_deployment()
    del manifest["spec"]["replicas"]
    state.put(manifest, "apps/team-a/web.yaml", REVISION)
    webhook = await serve(state)
    obj = edited(
        live_deployment(),
        {
            "spec.replicas": 12,
            "spec.template.metadata.annotations": {
                "kubectl.kubernetes.io/restartedAt": "2025-03-01T11:59:00Z"
            },
            "spec.template.spec.containers.0.imagePullPolicy": "Always",
        },
    )
    _, body = await webhook.post("/validate", review("UPDATE", obj, live_deployment()))
    assert response(body)["allowed"] is True


async def test_create_of_declared_object_must_equal_git(webhook: Any) -> None:
    fresh = live_deployment()
    del fresh["status"]
    _, same = await webhook.post("/validate", review("CREATE", fresh))
    assert response(same)["allowed"] is True

    _, other = await webhook.post("/validate", review("CREATE", drifted()))
    answer = response(other)
    assert answer["allowed"] is False
    assert "the object being created differs from Git" in answer["status"]["message"]


async def test_delete_of_declared_object_is_drift(webhook: Any) -> None:
    sent = review("DELETE", None, live_deployment())
    assert sent["request"]["object"] is None
    _, body = await webhook.post("/validate", sent)
    answer = response(body)
    assert answer["allowed"] is False
    message = answer["status"]["message"]
    assert "deleting it would remove an object Git declares" in message
    assert "remove it from apps/team-a/web.yaml in Git" in message
    assert "kubectl -n team-a delete" in message


async def test_delete_of_undeclared_object_is_allowed(webhook: Any) -> None:
    _, body = await webhook.post(
        "/validate", review("DELETE", None, configmap("locked"), **CONFIGMAP)
    )
    assert response(body)["allowed"] is True


async def test_connect_is_ignored(webhook: Any) -> None:
    exec_options = {
        "kind": "PodExecOptions",
        "apiVersion": "v1",
        "stdin": True,
        "command": ["sh"],
        "container": "web",
        "metadata": {"name": "web-5d4f", "namespace": "locked"},
    }
    sent = review(
        "CONNECT",
        exec_options,
        gvk={"group": "", "version": "v1", "kind": "PodExecOptions"},
        gvr={"group": "", "version": "v1", "resource": "pods"},
        sub_resource="exec",
        name="web-5d4f",
        namespace="locked",
    )
    _, body = await webhook.post("/validate", sent)
    assert response(body)["allowed"] is True
    _, _, metrics = await webhook.get("/metrics")
    assert (
        'gitplane_webhook_decisions_total{endpoint="validate",mode="-",namespace="locked",'
        'result="ignored"} 1.0' in metrics
    )


async def test_status_subresource_is_always_allowed(webhook: Any) -> None:
    obj = edited(drifted(), {"status.readyReplicas": 1})
    _, body = await webhook.post(
        "/validate", review("UPDATE", obj, live_deployment(), sub_resource="status")
    )
    assert response(body)["allowed"] is True


@pytest.mark.parametrize(("replicas", "allowed"), [(3, True), (5, False)])
async def test_scale_compares_replicas_with_git(webhook: Any, replicas: int, allowed: bool) -> None:
    sent = review("UPDATE", scale(replicas), scale(3), gvk=SCALE_GVK, sub_resource="scale")
    _, body = await webhook.post("/validate", sent)
    answer = response(body)
    assert answer["allowed"] is allowed
    if not allowed:
        assert "spec.replicas: git 3, request 5" in answer["status"]["message"]
        assert "Deployment web in namespace team-a" in answer["status"]["message"]


async def test_scale_is_free_when_git_leaves_replicas_out(serve: Any) -> None:
    state = desired_state()
    manifest = git_deployment()
    del manifest["spec"]["replicas"]
    state.put(manifest, "apps/team-a/web.yaml", REVISION)
    webhook = await serve(state)
    sent = review("UPDATE", scale(9), scale(3), gvk=SCALE_GVK, sub_resource="scale")
    _, body = await webhook.post("/validate", sent)
    assert response(body)["allowed"] is True


@pytest.mark.parametrize(
    "user",
    [
        ARGOCD,
        {"username": "system:serviceaccount:flux-system:kustomize-controller", "groups": []},
        {"username": "system:serviceaccount:flux-system:helm-controller", "groups": []},
        {"username": "system:kube-controller-manager", "groups": []},
        {"username": "system:kube-scheduler", "groups": []},
        {"username": "system:serviceaccount:kube-system:deployment-controller", "groups": []},
        {"username": "system:node:worker-3", "groups": ["system:nodes"]},
        {"username": "someone-else", "groups": ["system:nodes"]},
        {"username": "system:serviceaccount:gitplane-system:gitplane-apiserver", "groups": []},
        {"username": "system:serviceaccount:gitplane-system:gitplane-webhook", "groups": []},
        {"username": "system:serviceaccount:ci:deploy-bot-7", "groups": []},  # configured glob
    ],
    ids=lambda user: user["username"],
)
async def test_exempt_identities_may_drift(serve: Any, user: dict[str, Any]) -> None:
    config = WebhookConfig.with_additions(exempt_users=["system:serviceaccount:ci:deploy-bot-*"])
    webhook = await serve(config=config)
    _, body = await webhook.post(
        "/validate", review("UPDATE", drifted(), live_deployment(), user=user)
    )
    assert response(body)["allowed"] is True


@pytest.mark.parametrize(
    "username",
    [
        "system:serviceaccount:kube-system-evil:deployer",  # not kube-system
        "system:serviceaccount:ci:deploy-bot",  # the glob needs a suffix after the dash
        "system:nodes",
    ],
)
async def test_lookalike_identities_are_not_exempt(serve: Any, username: str) -> None:
    config = WebhookConfig.with_additions(exempt_users=["system:serviceaccount:ci:deploy-bot-*"])
    webhook = await serve(config=config)
    user = {"username": username, "groups": ["system:authenticated"]}
    _, body = await webhook.post(
        "/validate", review("UPDATE", drifted(), live_deployment(), user=user)
    )
    assert response(body)["allowed"] is False


async def test_unmanaged_namespace_is_allowed(webhook: Any) -> None:
    _, body = await webhook.post(
        "/validate", review("UPDATE", drifted("elsewhere"), live_deployment("elsewhere"))
    )
    assert response(body)["allowed"] is True


async def test_undeclared_object_in_managed_namespace_is_allowed(webhook: Any) -> None:
    _, body = await webhook.post("/validate", review("CREATE", configmap(), **CONFIGMAP))
    assert response(body)["allowed"] is True


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
async def test_strict_namespace_refuses_undeclared_objects(webhook: Any, operation: str) -> None:
    old = configmap("locked") if operation == "UPDATE" else None
    _, body = await webhook.post(
        "/validate", review(operation, configmap("locked"), old, **CONFIGMAP)
    )
    answer = response(body)
    assert answer["allowed"] is False
    message = answer["status"]["message"]
    assert "namespace locked is strict" in message
    assert "ConfigMap scratch is not declared" in message
    assert "kubectl -n locked apply" in message


async def test_mode_off_allows_drift(webhook: Any) -> None:
    _, body = await webhook.post(
        "/validate", review("UPDATE", drifted("paused"), live_deployment("paused"))
    )
    assert response(body) == {"uid": response(body)["uid"], "allowed": True}


async def test_warn_mode_allows_with_warnings_and_annotates(webhook: Any) -> None:
    obj = drifted("warned")
    sent = review("UPDATE", obj, live_deployment("warned"))
    _, validated = await webhook.post("/validate", sent)
    _, mutated = await webhook.post("/mutate", sent)
    for answer in (response(validated), response(mutated)):
        assert answer["allowed"] is True
        assert answer["auditAnnotations"] == {
            "drift": "spec.replicas, spec.template.spec.containers[name=web].image"
        }
        warnings = answer["warnings"]
        assert all(len(w) < 120 for w in warnings)
        assert any("spec.replicas: git 3, request 5" in w for w in warnings)
        assert any("warn mode" in w for w in warnings)
    assert "patch" not in response(validated)
    result = patched(obj, response(mutated))
    assert (
        result["metadata"]["annotations"]["gitplane.io/drift"]
        == "spec.replicas, spec.template.spec.containers[name=web].image"
    )
    # the patch touches annotations only
    del result["metadata"]["annotations"]["gitplane.io/drift"]
    assert result == obj


async def test_warn_mode_removes_a_stale_drift_annotation(webhook: Any) -> None:
    obj = annotated(live_deployment("warned"), {"gitplane.io/drift": "spec.replicas"})
    _, body = await webhook.post("/mutate", review("UPDATE", obj, obj))
    result = patched(obj, response(body))
    assert "gitplane.io/drift" not in result["metadata"]["annotations"]


async def test_default_mode_is_configurable(serve: Any) -> None:
    webhook = await serve(config=WebhookConfig.with_additions(default_mode="warn"))
    _, body = await webhook.post("/validate", review("UPDATE", drifted(), live_deployment()))
    assert response(body)["allowed"] is True
    assert response(body)["warnings"]


async def test_namespace_annotation_in_git_overrides_the_default(serve: Any) -> None:
    webhook = await serve(config=WebhookConfig.with_additions(default_mode="off"))
    _, body = await webhook.post(
        "/validate", review("UPDATE", drifted("locked"), live_deployment("locked"))
    )
    assert response(body)["allowed"] is False


async def test_unknown_mode_in_git_enforces_and_says_so(webhook: Any) -> None:
    _, body = await webhook.post(
        "/validate", review("UPDATE", drifted("typo"), live_deployment("typo"))
    )
    answer = response(body)
    assert answer["allowed"] is False
    assert answer["warnings"] == [
        "gitplane: namespace typo declares unknown mode 'enforcing'; enforcing"
    ]


async def test_changing_the_namespace_mode_out_of_band_is_drift(serve: Any) -> None:
    state = desired_state()
    state.put(namespace("team-a", "enforce"), "namespaces/team-a.yaml", REVISION)
    webhook = await serve(state)
    live = namespace("team-a", "enforce")
    live["metadata"].update(
        uid="ns-1", resourceVersion="10", labels={"kubernetes.io/metadata.name": "team-a"}
    )
    live["spec"] = {"finalizers": ["kubernetes"]}
    live["status"] = {"phase": "Active"}
    sent = review(
        "UPDATE",
        annotated(live, {"gitplane.io/mode": "off"}),
        live,
        namespace="team-a",
        **NAMESPACE,
    )
    _, body = await webhook.post("/validate", sent)
    answer = response(body)
    assert answer["allowed"] is False
    assert (
        'metadata.annotations[gitplane.io/mode]: git "enforce", request "off"'
        in answer["status"]["message"]
    )


async def test_break_glass_by_a_member_is_allowed_and_recorded(
    webhook: Any, caplog: pytest.LogCaptureFixture
) -> None:
    obj = annotated(drifted(), BREAK_GLASS)
    sent = review("UPDATE", obj, live_deployment(), user=ONCALL)
    with caplog.at_level(logging.INFO, logger="gitplane.webhook"):
        _, validated = await webhook.post("/validate", sent)
        _, mutated = await webhook.post("/mutate", sent)
    for answer in (response(validated), response(mutated)):
        assert answer["allowed"] is True
        assert answer["auditAnnotations"] == {
            "break-glass": "bob@example.com: INC-4711: roll back bad image"
        }
    assert "patch" not in response(validated)
    annotations = patched(obj, response(mutated))["metadata"]["annotations"]
    assert annotations["gitplane.io/break-glass-by"] == "bob@example.com"
    assert annotations["gitplane.io/break-glass-at"] == "2025-03-01T12:00:00Z"
    assert annotations["gitplane.io/break-glass"] == "INC-4711: roll back bad image"
    logged = [r.getMessage() for r in caplog.records if "break-glass" in r.getMessage()]
    assert any(
        "bob@example.com" in line and "Deployment team-a/web" in line and "INC-4711" in line
        for line in logged
    )


async def test_break_glass_without_membership_is_denied(webhook: Any) -> None:
    obj = annotated(drifted(), BREAK_GLASS)
    _, body = await webhook.post("/validate", review("UPDATE", obj, live_deployment(), user=ALICE))
    answer = response(body)
    assert answer["allowed"] is False
    assert "is not in the group 'gitplane:break-glass'" in answer["status"]["message"]


async def test_break_glass_annotation_alone_needs_membership(webhook: Any) -> None:
    obj = annotated(live_deployment(), BREAK_GLASS)
    _, body = await webhook.post("/validate", review("UPDATE", obj, live_deployment(), user=ALICE))
    assert response(body)["allowed"] is False


async def test_break_glass_group_is_configurable(serve: Any) -> None:
    webhook = await serve(config=WebhookConfig.with_additions(break_glass_group="sre"))
    user = {"username": "carol", "groups": ["sre"]}
    obj = annotated(drifted(), BREAK_GLASS)
    _, body = await webhook.post("/validate", review("UPDATE", obj, live_deployment(), user=user))
    assert response(body)["allowed"] is True
    _, refused = await webhook.post(
        "/validate", review("UPDATE", obj, live_deployment(), user=ONCALL)
    )
    assert response(refused)["allowed"] is False


async def test_break_glass_delete(webhook: Any) -> None:
    old = annotated(live_deployment(), BREAK_GLASS)
    _, body = await webhook.post("/validate", review("DELETE", None, old, user=ONCALL))
    assert response(body)["allowed"] is True
    _, plain = await webhook.post(
        "/validate", review("DELETE", None, live_deployment(), user=ONCALL)
    )
    assert response(plain)["allowed"] is False


async def test_dry_run_is_decided_identically(webhook: Any) -> None:
    cases = [
        review("UPDATE", drifted(), live_deployment()),
        review("UPDATE", drifted("warned"), live_deployment("warned")),
        review("UPDATE", annotated(drifted(), BREAK_GLASS), live_deployment(), user=ONCALL),
    ]
    for sent in cases:
        dry = copy.deepcopy(sent)
        dry["request"]["dryRun"] = True
        for path in ("/validate", "/mutate"):
            _, real = await webhook.post(path, sent)
            _, rehearsed = await webhook.post(path, dry)
            assert response(real) == response(rehearsed)


@pytest.mark.parametrize("ns", ["team-a", "warned"])
async def test_secret_values_never_leave_the_webhook(
    serve: Any, caplog: pytest.LogCaptureFixture, ns: str
) -> None:
    state = desired_state()
    declared = secret_git()
    declared["metadata"]["namespace"] = ns
    state.put(declared, f"apps/{ns}/db-secret.yaml", REVISION)
    webhook = await serve(state)
    live_value = base64.b64encode(b"live-password-XYZ").decode()
    git_value = base64.b64encode(b"hunter2-in-git").decode()
    obj, old = secret_live(live_value), secret_live(git_value)
    for o in (obj, old):
        o["metadata"]["namespace"] = ns
    with caplog.at_level(logging.DEBUG):
        _, validated = await webhook.post("/validate", review("UPDATE", obj, old, **SECRET))
        _, mutated = await webhook.post("/mutate", review("UPDATE", obj, old, **SECRET))
    assert response(validated)["allowed"] is (ns == "warned")
    text = json.dumps([validated, mutated]) + caplog.text
    for secret in ("live-password-XYZ", "hunter2-in-git", live_value, git_value):
        assert secret not in text
    assert "data.password" in text
    assert "(redacted)" in text


async def test_secret_matching_git_string_data_is_allowed(webhook: Any) -> None:
    same = secret_live(base64.b64encode(b"hunter2-in-git").decode())
    _, body = await webhook.post("/validate", review("UPDATE", same, same, **SECRET))
    assert response(body)["allowed"] is True


async def test_v1beta1_reviews_are_answered_in_kind(webhook: Any) -> None:
    sent = review("UPDATE", drifted(), live_deployment(), api_version="admission.k8s.io/v1beta1")
    _, body = await webhook.post("/validate", sent)
    assert body["apiVersion"] == "admission.k8s.io/v1beta1"
    assert response(body)["allowed"] is False


async def test_a_failing_desired_state_fails_closed(serve: Any) -> None:
    class Broken(InMemoryDesiredState):
        def is_managed(self, namespace: str) -> bool:
            raise RuntimeError("store unavailable")

    webhook = await serve(Broken())
    status, body = await webhook.post("/validate", review("UPDATE", drifted(), live_deployment()))
    assert status == 200
    answer = response(body)
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 500
    assert "failed to decide" in answer["status"]["message"]


async def test_warnings_stay_under_120_characters_with_long_values(webhook: Any) -> None:
    long_image = "registry.example.com/" + "very-long-path/" * 20 + "web:1"
    obj = edited(
        live_deployment("warned"),
        {"spec.template.spec.containers.0.image": long_image, "spec.replicas": 99},
    )
    _, body = await webhook.post("/validate", review("UPDATE", obj, live_deployment("warned")))
    warnings = response(body)["warnings"]
    assert len(warnings) == 3
    assert all(len(w) < 120 for w in warnings)
    assert any(
        w.startswith("gitplane: spec.template.spec.containers[name=web].image") for w in warnings
    )


async def test_cluster_scoped_declared_objects_are_protected(serve: Any) -> None:
    state = desired_state()
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "viewer"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    state.put(role, "cluster/viewer.yaml", REVISION)
    webhook = await serve(state)
    rbac = {
        "gvk": {"group": "rbac.authorization.k8s.io", "version": "v1", "kind": "ClusterRole"},
        "gvr": {"group": "rbac.authorization.k8s.io", "version": "v1", "resource": "clusterroles"},
    }
    widened = edited(role, {"rules.0.verbs": ["get", "list", "delete"]})
    _, body = await webhook.post("/validate", review("UPDATE", widened, role, **rbac))
    answer = response(body)
    assert answer["allowed"] is False
    assert (
        "ClusterRole viewer is managed in Git (cluster/viewer.yaml" in answer["status"]["message"]
    )
    other = {**role, "metadata": {"name": "someone-elses"}}
    _, body = await webhook.post("/validate", review("UPDATE", other, other, **rbac))
    assert response(body)["allowed"] is True
