"""Semantic comparison of an object with Git: what counts as drift and what does not."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from webhook_reviews import edited, git_deployment, live_deployment, secret_git, secret_live

from webhook.drift import ABSENT, REDACTED, FieldDrift, GroupKind, find_drift

DEPLOYMENT = GroupKind("apps", "Deployment")
SERVICE = GroupKind("", "Service")
CONTAINER = "spec.template.spec.containers"


def paths(
    declared: dict[str, Any], actual: dict[str, Any], kind: GroupKind = DEPLOYMENT
) -> list[str]:
    return [d.path for d in find_drift(declared, actual, kind)]


def test_server_defaults_metadata_and_status_are_not_drift() -> None:
    assert find_drift(git_deployment(), live_deployment(), DEPLOYMENT) == []


def test_reports_each_changed_field_with_both_values() -> None:
    live = edited(live_deployment(), {"spec.replicas": 5, f"{CONTAINER}.0.image": "nginx:1.27.0"})
    assert find_drift(git_deployment(), live, DEPLOYMENT) == [
        FieldDrift("spec.replicas", 3, 5),
        FieldDrift(f"{CONTAINER}[name=web].image", "nginx:1.25.3", "nginx:1.27.0"),
    ]


def test_named_lists_match_by_merge_key_not_position() -> None:
    live = live_deployment()
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["env"].reverse()
    sidecar = {"name": "istio-proxy", "image": "istio/proxyv2:1.22"}
    live["spec"]["template"]["spec"]["containers"].insert(0, sidecar)
    assert paths(git_deployment(), live) == []


def test_changed_env_value_is_found_by_name() -> None:
    live = edited(live_deployment(), {f"{CONTAINER}.0.env.1.value": "16"})
    assert find_drift(git_deployment(), live, DEPLOYMENT) == [
        FieldDrift(f"{CONTAINER}[name=web].env[name=WORKERS].value", "4", "16")
    ]


def test_missing_named_item_is_drift() -> None:
    live = live_deployment()
    live["spec"]["template"]["spec"]["containers"][0]["env"].pop(0)
    [drift] = find_drift(git_deployment(), live, DEPLOYMENT)
    assert drift.path == f"{CONTAINER}[name=web].env[name=LOG_LEVEL]"
    assert drift.git_value == {"name": "LOG_LEVEL", "value": "info"}
    assert drift.request_value is ABSENT


def test_container_ports_match_by_port_and_protocol() -> None:
    git = edited(
        git_deployment(),
        {f"{CONTAINER}.0.ports": [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53}]},
    )
    live = edited(
        live_deployment(),
        {
            f"{CONTAINER}.0.ports": [
                {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"},
                {"containerPort": 53, "protocol": "UDP"},
            ]
        },
    )
    assert paths(git, live) == []
    del live["spec"]["template"]["spec"]["containers"][0]["ports"][1]
    assert paths(git, live) == [f"{CONTAINER}[name=web].ports[containerPort=53,protocol=UDP]"]


def test_service_ports_are_keyed_and_int_or_string_target_ports_compare_by_meaning() -> None:
    git = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": "8080"}, {"port": 443}],
        },
    }
    live = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "uid": "u"},
        "spec": {
            "clusterIP": "10.96.4.2",
            "clusterIPs": ["10.96.4.2"],
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "selector": {"app": "web"},
            "ports": [
                {"port": 443, "protocol": "TCP", "targetPort": 443},
                {"port": 80, "protocol": "TCP", "targetPort": 8080},
            ],
        },
    }
    assert paths(git, live, SERVICE) == []
    live["spec"]["ports"][1]["targetPort"] = "http"
    assert paths(git, live, SERVICE) == ["spec.ports[port=80].targetPort"]


def test_other_lists_compare_by_position() -> None:
    git = edited(git_deployment(), {f"{CONTAINER}.0.args": ["--port", "80"]})
    live = edited(live_deployment(), {f"{CONTAINER}.0.args": ["--port", "81"]})
    assert paths(git, live) == [f"{CONTAINER}[name=web].args[1]"]
    live = edited(live_deployment(), {f"{CONTAINER}.0.args": ["--port", "80", "--debug"]})
    [drift] = find_drift(git, live, DEPLOYMENT)
    assert (drift.path, drift.git_value, drift.request_value) == (
        f"{CONTAINER}[name=web].args",
        ["--port", "80"],
        ["--port", "80", "--debug"],
    )


def test_network_policy_ports_are_atomic_so_an_added_port_is_drift() -> None:
    kind = GroupKind("networking.k8s.io", "NetworkPolicy")
    git = {"spec": {"ingress": [{"ports": [{"port": 80}]}]}}
    live = {
        "spec": {
            "ingress": [
                {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 22, "protocol": "TCP"}]}
            ]
        }
    }
    assert paths(git, live, kind) == ["spec.ingress[0].ports"]


@pytest.mark.parametrize(
    ("git", "live"),
    [
        ({"cpu": 0.5}, {"cpu": "500m"}),
        ({"cpu": "1"}, {"cpu": "1000m"}),
        ({"memory": "1Gi"}, {"memory": "1073741824"}),
        ({"memory": "1e3"}, {"memory": "1k"}),
        ({"memory": 1000}, {"memory": "1k"}),
    ],
)
def test_quantities_compare_by_amount(git: dict[str, Any], live: dict[str, Any]) -> None:
    declared = {"spec": {"resources": {"limits": git}}}
    actual = {"spec": {"resources": {"limits": live}}}
    assert paths(declared, actual) == []


def test_different_quantities_are_drift() -> None:
    assert paths(
        {"spec": {"hard": {"requests.memory": "1Gi"}}},
        {"spec": {"hard": {"requests.memory": "1G"}}},
    ) == ["spec.hard[requests.memory]"]


def test_quantity_spelling_outside_resource_fields_is_still_compared_as_text() -> None:
    git = {"spec": {"env": [{"name": "RATIO", "value": "0.5"}]}}
    live = {"spec": {"env": [{"name": "RATIO", "value": "500m"}]}}
    assert paths(git, live) == ["spec.env[name=RATIO].value"]


@pytest.mark.parametrize(
    ("git", "live", "drift"),
    [
        ("25%", "25%", False),
        (1, "1", False),
        ("1", 1, False),
        ("25%", "30%", True),
        (1, 2, True),
    ],
)
def test_int_or_string_fields(git: Any, live: Any, drift: bool) -> None:
    declared = {"spec": {"strategy": {"rollingUpdate": {"maxSurge": git}}}}
    actual = {"spec": {"strategy": {"rollingUpdate": {"maxSurge": live}}}}
    assert bool(paths(declared, actual)) is drift


def test_booleans_are_not_numbers_when_a_leaf_differs() -> None:
    # Nested inside an otherwise identical map, True == 1 passes the fast path; typed
    # fields never hold both, since kube-apiserver decodes objects by their schema.
    assert paths({"paused": True}, {"paused": 1}) == ["paused"]
    assert paths({"spec": {"paused": True, "replicas": 2}}, {"spec": {"paused": 1}}) == [
        "spec.paused",
        "spec.replicas",
    ]


def test_zero_values_match_absence_because_the_server_omits_them() -> None:
    git = {
        "spec": {"template": {"spec": {"hostNetwork": False, "volumes": [], "nodeSelector": {}}}}
    }
    assert paths(git, {"spec": {"template": {"spec": {}}}}) == []
    assert paths({"spec": {"paused": True}}, {"spec": {}}) == ["spec.paused"]


def test_null_in_git_declares_nothing() -> None:
    assert paths({"spec": {"replicas": None}}, {"spec": {"replicas": 7}}) == []


def test_system_annotations_are_ignored_but_declared_ones_are_compared() -> None:
    git = {
        "metadata": {
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "team": "payments",
            }
        }
    }
    live = {
        "metadata": {
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"other": 1}',
                "team": "search",
            }
        }
    }
    assert paths(git, live) == ["metadata.annotations.team"]


def test_type_mismatch_is_drift() -> None:
    assert paths(
        {"spec": {"selector": {"matchLabels": {"a": "b"}}}}, {"spec": {"selector": "a=b"}}
    ) == ["spec.selector"]


def test_secret_string_data_compares_with_data_and_is_redacted() -> None:
    secret = GroupKind("", "Secret")
    same = secret_live(base64.b64encode(b"hunter2-in-git").decode())
    assert find_drift(secret_git(), same, secret) == []
    other = secret_live(base64.b64encode(b"other").decode())
    assert find_drift(secret_git(), other, secret) == [
        FieldDrift("data.password", REDACTED, REDACTED)
    ]


def test_secret_base64_line_wrapping_is_not_drift() -> None:
    secret = GroupKind("", "Secret")
    value = base64.b64encode(b"x" * 90).decode()
    wrapped = value[:60] + "\n" + value[60:]
    git = {"kind": "Secret", "data": {"blob": wrapped}}
    assert find_drift(git, {"kind": "Secret", "data": {"blob": value}}, secret) == []
