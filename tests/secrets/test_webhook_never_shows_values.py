"""The webhook's decisions about Secrets (pure, no HTTP): fields named, values never shown."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import pytest

from kube.admission import parse_review
from webhook.config import WebhookConfig
from webhook.decide import decide
from webhook.desired import InMemoryDesiredState

GIT_VALUE = "password-declared-in-git"
LIVE_VALUE = "password-typed-into-kubectl"
SECRET_GVK = {"group": "", "version": "v1", "kind": "Secret"}
SECRET_GVR = {"group": "", "version": "v1", "resource": "secrets"}
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def secret(namespace: str, **fields: Any) -> dict[str, Any]:
    meta = {"name": "db", "namespace": namespace, "annotations": {"note": "x"}}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta, **fields}


def review(operation: str, obj: dict[str, Any] | None, old: dict[str, Any] | None) -> Any:
    source = obj or old
    assert source is not None
    return parse_review(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": str(uuid.uuid4()),
                "kind": SECRET_GVK,
                "resource": SECRET_GVR,
                "requestKind": SECRET_GVK,
                "requestResource": SECRET_GVR,
                "name": "db",
                "namespace": source["metadata"]["namespace"],
                "operation": operation,
                "userInfo": {"username": "alice", "groups": ["devs"]},
                "object": obj,
                "oldObject": old,
                "dryRun": False,
            },
        }
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("mode", ["enforce", "warn"])
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE", "DELETE"])
@pytest.mark.parametrize("git_field", ["data", "stringData"])
def test_no_decision_text_holds_a_secret_value(mode: str, operation: str, git_field: str) -> None:
    namespace = f"ns-{mode}"
    state = InMemoryDesiredState()
    state.put(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "annotations": {"gitplane.io/mode": mode}},
        },
        f"{namespace}/namespace.yaml",
        "abc1234",
    )
    git_values = {"password": GIT_VALUE if git_field == "stringData" else b64(GIT_VALUE)}
    state.put(secret(namespace, **{git_field: git_values}), f"{namespace}/db.yaml", "abc1234")
    live = secret(namespace, data={"password": b64(LIVE_VALUE), "extra": b64(LIVE_VALUE)})
    obj, old = {
        "CREATE": (live, None),
        "UPDATE": (live, secret(namespace, data={"password": b64(GIT_VALUE)})),
        "DELETE": (None, live),
    }[operation]
    texts = []
    for mutating in (False, True):
        decision = decide(
            review(operation, obj, old), state, WebhookConfig(), mutating=mutating, now=NOW
        )
        texts.append(
            json.dumps(
                [
                    decision.message,
                    decision.warnings,
                    decision.log,
                    decision.patch,
                    dict(decision.audit_annotations),
                ],
                default=str,
            )
        )
    text = "\n".join(texts)
    if operation != "DELETE":
        assert "data.password" in text  # the field is named...
    for value in (GIT_VALUE, LIVE_VALUE, b64(GIT_VALUE), b64(LIVE_VALUE)):
        assert value not in text  # ...its value never is
