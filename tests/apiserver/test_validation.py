"""Offline validation of declared objects: built-in kinds against the official schemas (every
error, with Kubernetes field paths), generic checks for the rest, unknown fields per
fieldValidation, and the cost of it."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from typing import Any

import pytest

from apiserver.validation import (
    FieldValidation,
    field_path,
    object_validator,
    strict_decoding_message,
    validate_object,
    warm_up,
)
from kube.status import FieldErrorType, GroupKind, Invalid

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "name": "http"}],
                        "env": [
                            {"name": "MODE", "value": "prod"},
                            {
                                "name": "TOKEN",
                                "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}},
                            },
                        ],
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "64Mi"},
                            "limits": {"cpu": 1, "memory": "128Mi"},
                        },
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
                    }
                ],
                "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
            },
        },
    },
}


def _deployment(**spec_changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["spec"].update(spec_changes)
    return obj


def _messages(obj: Any, prefix: str = "spec.object", mode: str = "Strict") -> list[str]:
    return [str(error) for error in validate_object(obj, prefix, mode).errors]


def test_replicas_three_is_invalid_at_its_full_field_path() -> None:
    result = validate_object(_deployment(replicas="three"), "spec.object")
    assert result.schema_checked
    (error,) = result.errors
    assert error.type is FieldErrorType.TYPE_INVALID
    assert error.field == "spec.object.spec.replicas"
    assert (
        str(error) == 'spec.object.spec.replicas: Invalid value: "three": must be of type integer'
    )
    status = Invalid(GroupKind("gitplane.io", "Manifest"), "deployment.web", result.errors).status()
    assert status["code"] == 422
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "three": must be of type integer',
            "field": "spec.object.spec.replicas",
        }
    ]


def test_every_error_is_reported_with_list_indexes_and_map_keys() -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    container = obj["spec"]["template"]["spec"]["containers"][0]
    del container["name"]
    container["ports"][0]["containerPort"] = "80"
    container["resources"]["limits"]["cpu"] = [1]
    obj["spec"]["template"]["metadata"]["labels"]["tier"] = 3
    obj["spec"]["template"]["spec"]["restartPolicy"] = 7
    obj["spec"]["paused"] = "no"
    containers = "spec.object.spec.template.spec.containers[0]"
    assert sorted(_messages(obj)) == sorted(
        [
            f"{containers}.name: Required value",
            f'{containers}.ports[0].containerPort: Invalid value: "80": must be of type integer',
            f"{containers}.resources.limits[cpu]: Invalid value: []interface {{}}{{1}}: "
            "must be of type number or string",
            "spec.object.spec.template.metadata.labels[tier]: Invalid value: 3: "
            "must be of type string",
            "spec.object.spec.template.spec.restartPolicy: Invalid value: 7: must be of type string",
            'spec.object.spec.paused: Invalid value: "no": must be of type boolean',
        ]
    )


def test_the_prefix_is_a_parameter() -> None:
    assert _messages(_deployment(replicas="x"), "spec.put[2]") == [
        'spec.put[2].spec.replicas: Invalid value: "x": must be of type integer'
    ]
    assert _messages(_deployment(replicas="x"), "") == [
        'spec.replicas: Invalid value: "x": must be of type integer'
    ]


def test_integer_overflow_is_invalid() -> None:
    assert _messages(_deployment(replicas=2**40)) == [
        "spec.object.spec.replicas: Invalid value: 1099511627776: "
        "must fit in a 32-bit signed integer"
    ]


def test_nulls_are_accepted_as_the_go_decoder_does() -> None:
    obj = _deployment(replicas=None)
    obj["metadata"]["creationTimestamp"] = None
    obj["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = None
    assert _messages(obj) == []


# --- unknown fields ---------------------------------------------------------------------------


def _with_unknown_fields() -> dict[str, Any]:
    obj = _deployment(replica=3)
    obj["metadata"]["lables"] = {"a": "b"}
    return obj


def test_unknown_fields_are_errors_in_strict_mode() -> None:
    result = validate_object(_with_unknown_fields(), "spec.object", FieldValidation.STRICT)
    assert sorted(result.unknown_fields) == [
        "spec.object.metadata.lables",
        "spec.object.spec.replica",
    ]
    assert sorted(map(str, result.errors)) == [
        "spec.object.metadata.lables: Forbidden: unknown field",
        "spec.object.spec.replica: Forbidden: unknown field",
    ]
    assert result.warnings == ()
    assert strict_decoding_message(["spec.object.spec.replica"]) == (
        'strict decoding error: unknown field "spec.object.spec.replica"'
    )


def test_unknown_fields_are_warnings_in_warn_mode() -> None:
    result = validate_object(_with_unknown_fields(), "spec.object", "Warn")
    assert result.ok
    assert sorted(result.warnings) == [
        'unknown field "spec.object.metadata.lables"',
        'unknown field "spec.object.spec.replica"',
    ]


def test_unknown_fields_are_ignored_in_ignore_mode() -> None:
    result = validate_object(_with_unknown_fields(), "spec.object", "Ignore")
    assert result.ok
    assert result.warnings == ()
    assert len(result.unknown_fields) == 2


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="Lenient"):
        validate_object(DEPLOYMENT, "", "Lenient")


# --- kinds ----------------------------------------------------------------------------------

VALID_BUILT_INS: list[dict[str, Any]] = [
    DEPLOYMENT,
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "b"}},
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "type": "Opaque",
        "stringData": {"a": "b"},
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "creationTimestamp": None},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "system:gitplane:reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {
            "rules": [
                {
                    "host": "web.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    },
    {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox", "args": ["date"]}],
                        }
                    }
                }
            },
        },
    },
    {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}},
    },
    {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    },
]


@pytest.mark.parametrize("obj", VALID_BUILT_INS, ids=lambda o: str(o["kind"]))
def test_valid_built_in_objects_pass(obj: dict[str, Any]) -> None:
    result = validate_object(obj, "spec.object")
    assert result.schema_checked
    assert result.errors == ()
    assert result.unknown_fields == ()


def test_custom_resources_get_generic_checks_only() -> None:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"anything": {"goes": [1, "two"]}},
    }
    result = validate_object(widget, "spec.object")
    assert not result.schema_checked
    assert result.ok


def test_a_custom_group_sharing_a_first_label_is_not_taken_for_a_built_in() -> None:
    # The package names schemas by the group's first label: apps.example.com/v1 -> apps-v1.
    impostor = {
        "apiVersion": "apps.example.com/v1",
        "kind": "Deployment",
        "metadata": {"name": "w"},
        "spec": {"replicas": "many"},
    }
    result = validate_object(impostor, "spec.object")
    assert not result.schema_checked
    assert result.ok


def test_kind_cannot_reach_outside_the_schema_directory() -> None:
    sneaky = {"apiVersion": "v1", "kind": "../../../etc/passwd", "metadata": {"name": "x"}}
    assert not validate_object(sneaky).schema_checked


# --- generic checks ---------------------------------------------------------------------------


def test_generic_checks_report_every_missing_piece() -> None:
    assert _messages({"kind": "Widget", "metadata": {}}) == [
        "spec.object.apiVersion: Required value",
        "spec.object.metadata.name: Required value: name is required",
    ]
    assert _messages({"apiVersion": "example.com/v1"}) == [
        "spec.object.kind: Required value",
        "spec.object.metadata: Required value",
    ]
    assert _messages("not an object") == [
        'spec.object: Invalid value: "not an object": must be a Kubernetes object (a JSON object)'
    ]


def test_generic_type_checks_apply_to_custom_resources() -> None:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": 5, "labels": {"a": 1}},
    }
    assert _messages(widget) == [
        "spec.object.metadata.name: Invalid value: 5: must be of type string",
        "spec.object.metadata.labels[a]: Invalid value: 1: must be of type string",
    ]
    assert _messages({**widget, "apiVersion": "Example.com/v1/x"})[0] == (
        'spec.object.apiVersion: Invalid value: "Example.com/v1/x": '
        "must be <version> or <group>/<version>"
    )


def test_names_follow_each_kinds_rule() -> None:
    bad_deployment = copy.deepcopy(DEPLOYMENT)
    bad_deployment["metadata"].update(name="Web_1", namespace="Apps")
    bad_deployment["metadata"]["labels"] = {"bad key!": "v"}
    fields = [error.field for error in validate_object(bad_deployment, "spec.object").errors]
    assert fields == [
        "spec.object.metadata.name",
        "spec.object.metadata.namespace",
        "spec.object.metadata.labels",
    ]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1web"}}
    assert "a DNS-1035 label must consist of" in _messages(service)[0]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}
    assert _messages(namespace) == [
        'spec.object.metadata.name: Invalid value: "a.b": must not contain dots'
    ]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "a/b"},
    }
    assert _messages(role) == [
        "spec.object.metadata.name: Invalid value: \"a/b\": may not contain '/'"
    ]


def test_object_validator_has_the_hook_shape() -> None:
    strict, warn = object_validator("Strict"), object_validator(FieldValidation.WARN)
    assert sorted(e.field for e in strict(_with_unknown_fields(), "spec.object")) == [
        "spec.object.metadata.lables",
        "spec.object.spec.replica",
    ]
    assert warn(_with_unknown_fields(), "spec.object") == []


def test_field_paths_tell_properties_from_map_keys() -> None:
    assert (
        field_path(
            "p",
            ["spec", "items", 0, "name"],
            ["properties", "spec", "properties", "items", "items", "properties", "name", "type"],
        )
        == "p.spec.items[0].name"
    )
    assert (
        field_path(
            "",
            ["limits", "cpu"],
            ["properties", "limits", "additionalProperties", "oneOf", 1, "type"],
        )
        == "limits[cpu]"
    )
    assert (
        field_path(
            "", ["properties", "x"], ["properties", "properties", "additionalProperties", "type"]
        )
        == "properties[x]"
    )


# --- cost -------------------------------------------------------------------------------------


def test_schemas_load_on_first_use_not_at_import(capsys: pytest.CaptureFixture[str]) -> None:
    probe = (
        "import sys, time, apiserver.validation as v;"
        "print('jsonschema' in sys.modules, v._definitions.cache_info().currsize);"
        "t = time.perf_counter(); v.warm_up(); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded, cached, first_use = out.stdout.split()
    assert (loaded, cached) == ("False", "0")
    with capsys.disabled():
        print(
            f"\n  validation: first use (import jsonschema, load schemas) {float(first_use) * 1000:.0f} ms"
        )


def test_validating_a_deployment_is_cheap_once_warm(capsys: pytest.CaptureFixture[str]) -> None:
    warm_up()
    rounds = 300
    started = time.perf_counter()
    for _ in range(rounds):
        assert validate_object(DEPLOYMENT, "spec.object").ok
    each = (time.perf_counter() - started) / rounds
    with capsys.disabled():
        print(f"\n  validation: one Deployment {each * 1e6:.0f} µs")
    assert each < 0.02  # measured about 1 ms; generous for slow CI machines
