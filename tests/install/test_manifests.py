"""manifests/ rendered by the real `kubectl kustomize`, every object checked against the
Kubernetes schemas (strict: unknown fields are errors) and against what the servers do."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import celpy
import kubernetes_validate
import pytest
import yaml
from celpy import celtypes
from celpy.adapter import json_to_cel

from apiserver.resources.info import ALL as GITPLANE_RESOURCES
from tests.install.render import (
    GIT_SSH,
    GIT_TOKEN,
    MANIFESTS,
    NAMESPACE,
    Install,
    Obj,
    Rendered,
    gitplane_certs,
    kustomize,
)
from webhook.__main__ import parser as webhook_parser
from webhook.__main__ import settings as webhook_settings
from webhook.__main__ import webhook_config
from webhook.config import DEFAULT_EXEMPT_USERS, WebhookConfig
from webhook.desired import InMemoryDesiredState
from webhook.server import make_app

# The oldest Kubernetes these manifests claim (matchConditions are GA in 1.30) and the newest
# schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
DEPLOYMENTS = ("gitplane-apiserver", "gitplane-webhook")
REPO = "/var/lib/gitplane/repo"
REMOTE = "ssh://git@git.example.com/acme/gitops.git"


def schema_errors(objects: list[Obj], version: str) -> list[str]:
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except (
            kubernetes_validate.ValidationError,
            kubernetes_validate.SchemaNotFoundError,
        ) as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc}")
    return errors


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_for_kubernetes(
    base: Rendered, install: Install, version: str
) -> None:
    assert schema_errors(base.objects, version) == []
    assert schema_errors(install.rendered.objects, version) == []


def test_validation_is_strict_enough_to_catch_a_typo(base: Rendered) -> None:
    """Unknown fields and wrong types fail; enums (sideEffects...) are not in the schemas,
    which is why the tests below check those values themselves."""
    broken = copy.deepcopy(base.one("Deployment", "gitplane-webhook"))
    broken["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    assert schema_errors([broken], KUBERNETES_VERSIONS[-1])
    webhooks = copy.deepcopy(base.one("ValidatingWebhookConfiguration", "gitplane"))
    webhooks["webhooks"][0]["clientConfig"]["service"]["port"] = "443"  # a string
    assert schema_errors([webhooks], KUBERNETES_VERSIONS[-1])


def test_what_the_base_installs(base: Rendered) -> None:
    assert sorted((o["kind"], o["metadata"]["name"]) for o in base.objects) == sorted(
        [
            ("Namespace", NAMESPACE),
            ("ServiceAccount", "gitplane-apiserver"),
            ("ServiceAccount", "gitplane-webhook"),
            ("ClusterRoleBinding", "gitplane-apiserver:system:auth-delegator"),
            ("RoleBinding", "gitplane-apiserver:extension-apiserver-authentication-reader"),
            ("ClusterRole", "gitplane:aggregate-to-view"),
            ("ClusterRole", "gitplane:aggregate-to-edit"),
            ("ClusterRole", "gitplane:clustermanifests-viewer"),
            ("ConfigMap", "gitplane-config"),
            ("Deployment", "gitplane-apiserver"),
            ("Service", "gitplane-apiserver"),
            ("PodDisruptionBudget", "gitplane-apiserver"),
            ("Deployment", "gitplane-webhook"),
            ("Service", "gitplane-webhook"),
            ("PodDisruptionBudget", "gitplane-webhook"),
            ("APIService", "v1alpha1.gitplane.io"),
            ("ValidatingWebhookConfiguration", "gitplane"),
            ("MutatingWebhookConfiguration", "gitplane"),
            ("NetworkPolicy", "default-deny"),
            ("NetworkPolicy", "gitplane-apiserver"),
            ("NetworkPolicy", "gitplane-webhook"),
        ]
    )
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", "APIService"}
    cluster_scoped |= {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
    for obj in base.objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gitplane"
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in obj["metadata"]
        elif obj["kind"] != "RoleBinding":  # the one in kube-system
            assert obj["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_pods_run_unprivileged(base: Rendered, name: str) -> None:
    pod = base.one("Deployment", name)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER (test_dockerfile)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["enableServiceLinks"] is False
    for container in base.containers(name):
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["runAsNonRoot"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["image"] == "gitplane:0.1.0"
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}, container["name"]
        # A read-only root needs a writable /tmp.
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    namespace = base.one("Namespace", NAMESPACE)["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"


def _probe(container: Obj, kind: str) -> tuple[str, str, str]:
    get = container[kind]["httpGet"]
    return get["path"], get["port"], get["scheme"]


def test_probes_are_https_on_the_servers_health_paths(base: Rendered) -> None:
    apiserver = base.containers("gitplane-apiserver")[-1]
    assert _probe(apiserver, "readinessProbe") == ("/readyz", "https", "HTTPS")
    assert _probe(apiserver, "livenessProbe") == ("/livez", "https", "HTTPS")
    assert _probe(apiserver, "startupProbe") == ("/readyz", "https", "HTTPS")
    webhook = base.containers("gitplane-webhook")[-1]
    assert _probe(webhook, "readinessProbe") == ("/readyz", "https", "HTTPS")
    assert _probe(webhook, "livenessProbe") == ("/healthz", "https", "HTTPS")
    # The webhook really serves those paths.
    app_paths = _webhook_routes()
    assert {"/readyz", "/healthz", "/validate", "/mutate"} <= app_paths


def _webhook_routes() -> set[str]:
    app = make_app(InMemoryDesiredState(), WebhookConfig())
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


@pytest.mark.parametrize(
    ("name", "port"), [("gitplane-apiserver", 8443), ("gitplane-webhook", 9443)]
)
def test_services_reach_the_serving_port(base: Rendered, name: str, port: int) -> None:
    container = base.containers(name)[-1]
    assert container["ports"] == [{"name": "https", "containerPort": port, "protocol": "TCP"}]
    assert f"{port}" in container["args"]
    service = base.one("Service", name)["spec"]
    assert service["type"] == "ClusterIP"  # kube-apiserver dials the ClusterIP
    assert service["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]
    pod_labels = base.one("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= pod_labels.items()


def test_apiserver_command(base: Rendered) -> None:
    container = base.containers("gitplane-apiserver")[-1]
    assert container["command"] == ["python", "-m", "apiserver"]
    assert container["args"] == [
        "--cluster", "--repo", REPO, "--remote", "$(GITPLANE_REMOTE)", "--branch", "$(GITPLANE_BRANCH)",
        "--cert-file", "/etc/gitplane/tls/tls.crt", "--key-file", "/etc/gitplane/tls/tls.key",
        "--port", "8443",
    ]  # fmt: skip
    # The entry point accepts them (it is written beside these manifests), once kubelet
    # has expanded the remote's variables.
    entry = pytest.importorskip("apiserver.__main__")
    parsed = entry.parser().parse_args(_expanded(container["args"]))
    assert (parsed.cluster, parsed.repo, parsed.port) == (True, REPO, 8443)
    assert (parsed.remote, parsed.branch) == (REMOTE, "main")
    assert (parsed.cert_file, parsed.key_file) == (
        "/etc/gitplane/tls/tls.crt",
        "/etc/gitplane/tls/tls.key",
    )


def test_webhook_command_and_config_are_what_the_webhook_accepts(
    base: Rendered, tmp_path: Path
) -> None:
    container = base.containers("gitplane-webhook")[-1]
    assert container["command"] == ["python", "-m", "webhook"]
    args = container["args"]
    config_path = args[args.index("--config") + 1]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert config_path.startswith("/etc/gitplane/config/")
    configmap = base.one("ConfigMap", "gitplane-config")
    # Parse the real args with the webhook's own parser, the file as the pod sees it.
    local_config = tmp_path / "webhook.yaml"
    local_config.write_text(configmap["data"][Path(config_path).name])
    local_args = [str(local_config) if a == config_path else a for a in _expanded(args)]
    values = webhook_settings(webhook_parser().parse_args(local_args))
    assert values["repo"] == REPO
    assert (values["remote"], values["branch"]) == (REMOTE, "main")
    assert values["port"] == 9443
    assert values["cert-file"] == "/etc/gitplane/tls/tls.crt"
    assert values["key-file"] == "/etc/gitplane/tls/tls.key"
    assert webhook_config(values) == WebhookConfig()  # the shipped settings are the defaults
    assert mounts["/etc/gitplane/tls"]["readOnly"] is True
    assert mounts["/etc/gitplane/config"]["readOnly"] is True


def test_each_replica_clones_the_remote_into_an_emptydir(base: Rendered) -> None:
    """No shared volume: the remote (the team's GitOps repository) is the truth, each pod
    keeps its own clone, so replicas can run on any nodes without ReadWriteMany storage."""
    assert base.all("PersistentVolumeClaim") == []
    for name in DEPLOYMENTS:
        pod = base.one("Deployment", name)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["repo"] == {"name": "repo", "emptyDir": {"sizeLimit": "2Gi"}}
        assert "initContainers" not in pod  # the server clones on start
        (server,) = pod["containers"]
        repo_mount = next(m for m in server["volumeMounts"] if m["name"] == "repo")
        assert repo_mount == {"name": "repo", "mountPath": "/var/lib/gitplane"}
        env = {e["name"]: e["valueFrom"]["configMapKeyRef"] for e in server["env"]}
        assert env == {
            "GITPLANE_REMOTE": {"name": "gitplane-config", "key": "remote"},
            "GITPLANE_BRANCH": {"name": "gitplane-config", "key": "branch"},
        }
    config = base.one("ConfigMap", "gitplane-config")["data"]
    # No default remote: until an overlay sets it, kubelet refuses to start the pods
    # (couldn't find key remote) rather than serve a repository that dies with the pod.
    assert "remote" not in config
    assert config["branch"] == "main"


def test_git_credentials_come_from_a_secret_reference(base: Rendered) -> None:
    for name in DEPLOYMENTS:
        pod = base.one("Deployment", name)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["git-credentials"]["secret"] == {
            "secretName": "gitplane-git-credentials",
            "optional": True,  # a remote reached without credentials needs none
            "defaultMode": 0o440,
        }
        mount = next(
            m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "git-credentials"
        )
        assert mount == {
            "name": "git-credentials",
            "mountPath": "/etc/gitplane/git",
            "readOnly": True,
        }
        assert volumes["tls"]["secret"]["secretName"] == f"{name}-tls"
    assert not base.all("Secret")  # no credentials or keys in the manifests themselves


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_two_replicas_with_a_disruption_budget(base: Rendered, name: str) -> None:
    deployment = base.one("Deployment", name)["spec"]
    assert deployment["replicas"] == 2
    assert deployment["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    budget = base.one("PodDisruptionBudget", name)["spec"]
    assert budget["minAvailable"] == 1
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pod_labels = deployment["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    assert deployment["selector"] == budget["selector"]


def test_apiserver_rbac_is_delegated_authn_and_authz(base: Rendered) -> None:
    subject = [{"kind": "ServiceAccount", "name": "gitplane-apiserver", "namespace": NAMESPACE}]
    delegator = base.one("ClusterRoleBinding", "gitplane-apiserver:system:auth-delegator")
    assert delegator["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"
    }  # fmt: skip
    assert delegator["subjects"] == subject
    reader = base.one("RoleBinding", "gitplane-apiserver:extension-apiserver-authentication-reader")
    assert reader["metadata"]["namespace"] == "kube-system"
    assert reader["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "extension-apiserver-authentication-reader",
    }
    assert reader["subjects"] == subject
    pod = base.one("Deployment", "gitplane-apiserver")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gitplane-apiserver"


def test_webhook_has_no_api_access(base: Rendered) -> None:
    account = base.one("ServiceAccount", "gitplane-webhook")
    assert account["automountServiceAccountToken"] is False
    pod = base.one("Deployment", "gitplane-webhook")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gitplane-webhook"
    assert pod["automountServiceAccountToken"] is False
    for binding in [*base.all("RoleBinding"), *base.all("ClusterRoleBinding")]:
        assert all(s["name"] != "gitplane-webhook" for s in binding["subjects"])


def _grants(role: Obj) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert rule["apiGroups"] == ["gitplane.io"]
        for resource in rule["resources"]:
            grants.setdefault(resource, set()).update(rule["verbs"])
    return grants


def test_gitplane_roles_aggregate_into_view_edit_admin(base: Rendered) -> None:
    view = base.one("ClusterRole", "gitplane:aggregate-to-view")
    edit = base.one("ClusterRole", "gitplane:aggregate-to-edit")
    prefix = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k for k, v in view["metadata"]["labels"].items() if v == "true"} == {
        prefix + "view",
        prefix + "edit",
        prefix + "admin",
    }
    assert {k for k, v in edit["metadata"]["labels"].items() if v == "true"} == {
        prefix + "edit",
        prefix + "admin",
    }
    read = {"get", "list", "watch"}
    assert _grants(view) == {
        "manifests": read,
        "revisions": read,
        "reverts": {"get", "list"},  # the API serves no watch on them
        "rollbacks": {"get", "list"},
    }
    assert _grants(edit) == {
        "manifests": {"create", "update", "patch", "delete"},
        "reverts": {"create"},
        "rollbacks": {"create"},
        "changesets": {"create"},
    }
    cluster = base.one("ClusterRole", "gitplane:clustermanifests-viewer")
    assert prefix + "view" not in cluster["metadata"].get("labels", {})
    assert _grants(cluster) == {"clustermanifests": read, "sources": {"get", "list"}}
    # Every verb granted is one the API server serves for that resource (and it is namespaced
    # exactly where the aggregated roles, meant for RoleBindings, use it).
    served = {r.plural: r for r in GITPLANE_RESOURCES}
    for role in (view, edit, cluster):
        for resource, verbs in _grants(role).items():
            assert verbs <= set(served[resource].verbs), (resource, verbs)
            assert served[resource].namespaced is (role is not cluster)


def test_apiservice(base: Rendered, install: Install) -> None:
    spec = base.one("APIService", "v1alpha1.gitplane.io")["spec"]
    assert spec == {
        "group": "gitplane.io",
        "version": "v1alpha1",
        "groupPriorityMinimum": 1000,
        "versionPriority": 15,
        "service": {"name": "gitplane-apiserver", "namespace": NAMESPACE, "port": 443},
    }
    installed = install.rendered.one("APIService", "v1alpha1.gitplane.io")["spec"]
    assert installed["caBundle"]
    assert "insecureSkipTLSVerify" not in installed


@pytest.mark.parametrize(
    ("kind", "name", "path"),
    [
        ("ValidatingWebhookConfiguration", "validate.gitplane.io", "/validate"),
        ("MutatingWebhookConfiguration", "mutate.gitplane.io", "/mutate"),
    ],
)
def test_webhook_configuration(base: Rendered, kind: str, name: str, path: str) -> None:
    (webhook,) = base.one(kind, "gitplane")["webhooks"]
    assert webhook["name"] == name
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert webhook["sideEffects"] == "None"
    assert webhook["timeoutSeconds"] == 5
    assert webhook["failurePolicy"] == "Fail"
    assert webhook["clientConfig"] == {
        "service": {"name": "gitplane-webhook", "namespace": NAMESPACE, "path": path, "port": 443}
    }
    assert webhook["namespaceSelector"] == {
        "matchExpressions": [
            {"key": "gitplane.io/managed", "operator": "In", "values": ["true"]},
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["kube-system", NAMESPACE],
            },
        ]
    }
    assert webhook["rules"] == [
        {
            "apiGroups": ["*"],
            "apiVersions": ["*"],
            "resources": ["*", "*/scale"],
            "operations": ["CREATE", "UPDATE", "DELETE"],
            "scope": "Namespaced",
        }
    ]
    assert "objectSelector" not in webhook


def _request(
    username: str,
    group: str = "apps",
    resource: str = "deployments",
    groups: list[str] | None = None,
) -> dict[str, Any]:
    user: dict[str, Any] = {"username": username}
    if groups is not None:
        user["groups"] = groups
    return {
        "userInfo": user,
        "resource": {"group": group, "version": "v1", "resource": resource},
        "operation": "UPDATE",
        "namespace": "shop",
    }


def _called(webhook: Obj, request: dict[str, Any]) -> bool:
    """kube-apiserver calls the webhook only when every matchCondition is true."""
    env = celpy.Environment()
    activation = {"request": json_to_cel(request)}
    results = []
    for condition in webhook["matchConditions"]:
        program = env.program(env.compile(condition["expression"]))
        result = program.evaluate(activation)
        assert isinstance(result, celtypes.BoolType), (condition["name"], result)
        results.append(bool(result))
    return all(results)


@pytest.mark.parametrize("kind", ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"])
def test_match_conditions_skip_exempt_identities(base: Rendered, kind: str) -> None:
    (webhook,) = base.one(kind, "gitplane")["webhooks"]
    names = [c["name"] for c in webhook["matchConditions"]]
    assert len(names) == len(set(names)) <= 64
    # People and CI are judged, whatever they write.
    assert _called(webhook, _request("alice", groups=["devs", "system:authenticated"]))
    assert _called(webhook, _request("ci-bot", group="", resource="configmaps"))
    assert _called(webhook, _request("system:serviceaccount:shop:deployer"))
    # The GitOps reconcilers, Kubernetes' controllers and nodes are not even sent.
    for user in (
        "system:serviceaccount:argocd:argocd-application-controller",
        "system:serviceaccount:flux-system:kustomize-controller",
        "system:serviceaccount:flux-system:helm-controller",
        "system:serviceaccount:kube-system:replicaset-controller",
        "system:kube-controller-manager",
        "system:kube-scheduler",
        "system:node:worker-1",
    ):
        assert not _called(webhook, _request(user, group="", resource="pods")), user
    # Events and Leases never are desired state.
    assert not _called(webhook, _request("alice", group="coordination.k8s.io", resource="leases"))
    assert not _called(webhook, _request("alice", group="", resource="events"))
    assert not _called(webhook, _request("alice", group="events.k8s.io", resource="events"))


def test_match_conditions_cover_the_webhooks_own_exemptions(base: Rendered) -> None:
    (webhook,) = base.one("ValidatingWebhookConfiguration", "gitplane")["webhooks"]
    for user in DEFAULT_EXEMPT_USERS:
        if user.startswith(f"system:serviceaccount:{NAMESPACE}:"):
            continue  # gitplane's own pods live in an excluded namespace and write nowhere else
        assert not _called(webhook, _request(user.replace("*", "any"))), user


def test_network_policies(base: Rendered) -> None:
    deny = base.one("NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    expected = {
        "gitplane-apiserver": (
            8443,
            {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443), ("TCP", 22)},
        ),
        "gitplane-webhook": (9443, {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 22)}),
    }
    for name, (serving, egress) in expected.items():
        policy = base.one("NetworkPolicy", name)["spec"]
        assert policy["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        assert policy["ingress"] == [{"ports": [{"port": serving, "protocol": "TCP"}]}]
        allowed = {(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]}
        assert allowed == egress


def _with_remote(tmp_path: Path, component: Path, remote: str) -> Rendered:
    """An admin's overlay: manifests/, a credentials component and the remote's URL."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base, component = (os.path.relpath(p, overlay) for p in (MANIFESTS, component))
    patch = [{"op": "add", "path": "/data/remote", "value": remote}]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [base],
        "components": [component],
        "patches": [
            {"target": {"kind": "ConfigMap", "name": "gitplane-config"}, "patch": json.dumps(patch)}
        ],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    out = tmp_path / "out"
    assert gitplane_certs("--out", str(out), "--manifests", str(overlay)) == 0
    return Rendered(kustomize(out))


@pytest.mark.parametrize(
    ("component", "remote", "flags", "keys"),
    [
        (
            GIT_SSH,
            "ssh://git@git.example.com/acme/gitops.git",
            {"--git-ssh-key": "ssh-privatekey", "--git-known-hosts": "known_hosts"},
            {"ssh-privatekey", "known_hosts"},
        ),
        (
            GIT_TOKEN,
            "https://git.example.com/acme/gitops.git",
            {"--git-token-file": "token"},
            {"token"},
        ),
    ],
)
def test_credential_components(
    tmp_path: Path, component: Path, remote: str, flags: dict[str, str], keys: set[str]
) -> None:
    rendered = _with_remote(tmp_path, component, remote)
    assert rendered.one("ConfigMap", "gitplane-config")["data"]["remote"] == remote
    for name in DEPLOYMENTS:
        pod = rendered.one("Deployment", name)["spec"]["template"]["spec"]
        (server,) = pod["containers"]
        given = dict(a.split("=", 1) for a in server["args"] if a.startswith("--git-"))
        files = {flag: path for flag, path in given.items() if path.startswith("/")}
        assert files == {flag: f"/etc/gitplane/git/{key}" for flag, key in flags.items()}
        assert {Path(p).name for p in files.values()} == keys
        # The Secret is now required: without it the pod waits instead of failing to push.
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["git-credentials"]["secret"]["optional"] is False
    if component == GIT_TOKEN:
        assert rendered.one("ConfigMap", "gitplane-config")["data"]["git-username"] == "git"
    assert schema_errors(rendered.objects, KUBERNETES_VERSIONS[-1]) == []


def _expanded(args: list[str]) -> list[str]:
    """The arguments as kubelet passes them once gitplane-config sets the remote."""
    values = {"$(GITPLANE_REMOTE)": REMOTE, "$(GITPLANE_BRANCH)": "main"}
    return [values.get(a, a) for a in args]
