"""Objects and AdmissionReviews shaped as kube-apiserver sends them.

The review mirrors staging/src/k8s.io/api/testdata/HEAD/admission.k8s.io.v1.AdmissionReview.json;
the live Deployment carries what the API server adds to a manifest: defaults,
metadata written by the server, status.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from webhook.desired import InMemoryDesiredState

REVISION = "3f2a9c1"
ALICE = {"username": "alice@example.com", "uid": "a1", "groups": ["devs", "system:authenticated"]}
ONCALL = {
    "username": "bob@example.com",
    "uid": "b1",
    "groups": ["gitplane:break-glass", "system:authenticated"],
}
ARGOCD = {
    "username": "system:serviceaccount:argocd:argocd-application-controller",
    "uid": "c1",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"],
}

DEPLOYMENT_GVK = {"group": "apps", "version": "v1", "kind": "Deployment"}
DEPLOYMENT_GVR = {"group": "apps", "version": "v1", "resource": "deployments"}


def namespace(name: str, mode: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if mode is not None:
        meta["annotations"] = {"gitplane.io/mode": mode}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def git_deployment(ns: str = "team-a", name: str = "web") -> dict[str, Any]:
    """The Deployment as written in Git: no defaults, no status."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25.3",
                            "ports": [{"containerPort": 80}],
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "WORKERS", "value": "4"},
                            ],
                            "resources": {
                                "requests": {"cpu": 0.5, "memory": "256Mi"},
                                "limits": {"memory": "1Gi"},
                            },
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80}},
                        }
                    ],
                },
            },
        },
    }


def live_deployment(ns: str = "team-a", name: str = "web") -> dict[str, Any]:
    """The same Deployment as kube-apiserver holds it after defaulting."""
    return {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": "5b1f1d4e-8c2a-4f0e-9d7e-2a0c6f1b9e11",
            "resourceVersion": "48213",
            "generation": 4,
            "creationTimestamp": "2025-01-14T09:12:44Z",
            "labels": {"app": name},
            "annotations": {
                "deployment.kubernetes.io/revision": "4",
                "kubectl.kubernetes.io/last-applied-configuration": '{"apiVersion":"apps/v1"}\n',
            },
            "managedFields": [
                {
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": "2025-01-14T09:12:44Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {}},
                }
            ],
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25.3",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "WORKERS", "value": "4"},
                            ],
                            "resources": {
                                "limits": {"memory": "1Gi"},
                                "requests": {"cpu": "500m", "memory": "256Mi"},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"},
                                "timeoutSeconds": 1,
                                "periodSeconds": 10,
                                "successThreshold": 1,
                                "failureThreshold": 3,
                            },
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "imagePullPolicy": "IfNotPresent",
                        }
                    ],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "securityContext": {},
                    "schedulerName": "default-scheduler",
                },
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 4,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "lastUpdateTime": "2025-01-14T09:13:01Z",
                    "lastTransitionTime": "2025-01-14T09:13:01Z",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                }
            ],
        },
    }


def edited(obj: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy with fields replaced, by dotted path with list indices as numbers:
    edited(d, {"spec.replicas": 5, "spec.template.spec.containers.0.image": "x"})."""
    out = copy.deepcopy(obj)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return out


def annotated(obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].setdefault("annotations", {}).update(annotations)
    return out


def scale(replicas: int, ns: str = "team-a", name: str = "web") -> dict[str, Any]:
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": "5b1f1d4e-8c2a-4f0e-9d7e-2a0c6f1b9e11",
            "resourceVersion": "48213",
            "creationTimestamp": "2025-01-14T09:12:44Z",
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": 3, "selector": "app=web"},
    }


def review(
    operation: str,
    obj: dict[str, Any] | None,
    old: dict[str, Any] | None = None,
    *,
    user: dict[str, Any] | None = None,
    gvk: dict[str, str] | None = None,
    gvr: dict[str, str] | None = None,
    sub_resource: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    dry_run: bool = False,
    api_version: str = "admission.k8s.io/v1",
) -> dict[str, Any]:
    """An AdmissionReview request with every field kube-apiserver fills in."""
    source = obj if obj is not None else old
    assert source is not None
    meta = source.get("metadata", {})
    gvk = gvk or DEPLOYMENT_GVK
    gvr = gvr or DEPLOYMENT_GVR
    options_kind = {
        "CREATE": "CreateOptions",
        "UPDATE": "UpdateOptions",
        "DELETE": "DeleteOptions",
        "CONNECT": None,
    }[operation]
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": meta.get("name", "") if name is None else name,
        "namespace": meta.get("namespace", "") if namespace is None else namespace,
        "operation": operation,
        "userInfo": user or ALICE,
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": (
            {"kind": options_kind, "apiVersion": "meta.k8s.io/v1"} if options_kind else None
        ),
    }
    if sub_resource:
        request["subResource"] = sub_resource
        request["requestSubResource"] = sub_resource
    return {"kind": "AdmissionReview", "apiVersion": api_version, "request": request}


def secret_git() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "db", "namespace": "team-a"},
        "stringData": {"password": "hunter2-in-git"},
    }


def secret_live(password_b64: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": "db",
            "namespace": "team-a",
            "uid": "u-2",
            "resourceVersion": "77",
            "creationTimestamp": "2025-01-14T09:12:44Z",
        },
        "data": {"password": password_b64},
    }


def desired_state() -> InMemoryDesiredState:
    """team-a (no mode: the default applies), warned (warn), paused (off), locked (strict
    in the test config, enforce); each declares the web Deployment."""
    state = InMemoryDesiredState()
    for ns, mode in (
        ("team-a", None),
        ("warned", "warn"),
        ("paused", "off"),
        ("locked", "enforce"),
        ("typo", "enforcing"),
    ):
        state.put(namespace(ns, mode), f"namespaces/{ns}.yaml", REVISION)
        state.put(git_deployment(ns), f"apps/{ns}/web.yaml", REVISION)
    state.put(secret_git(), "apps/team-a/db-secret.yaml", REVISION)
    return state
