"""kube.admission: parsing AdmissionReview requests and rendering responses."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from kube.admission import (
    AdmissionRequest,
    AdmissionResponse,
    AdmissionReviewError,
    GroupVersionKind,
    GroupVersionResource,
    decode_review,
    parse_review,
    render_review,
)

# staging/src/k8s.io/api/testdata/HEAD/admission.k8s.io.v1.AdmissionReview.json, request part
FIXTURE: dict[str, Any] = {
    "kind": "AdmissionReview",
    "apiVersion": "admission.k8s.io/v1",
    "request": {
        "uid": "uidValue",
        "kind": {"group": "groupValue", "version": "versionValue", "kind": "kindValue"},
        "resource": {"group": "groupValue", "version": "versionValue", "resource": "resourceValue"},
        "subResource": "subResourceValue",
        "requestKind": {"group": "groupValue", "version": "versionValue", "kind": "kindValue"},
        "requestResource": {
            "group": "groupValue",
            "version": "versionValue",
            "resource": "resourceValue",
        },
        "requestSubResource": "requestSubResourceValue",
        "name": "nameValue",
        "namespace": "namespaceValue",
        "operation": "UPDATE",
        "userInfo": {
            "username": "usernameValue",
            "uid": "uidValue",
            "groups": ["groupsValue"],
            "extra": {"extraKey": ["extraValue"]},
        },
        "object": {
            "apiVersion": "example.com/v1",
            "kind": "CustomType",
            "spec": {"replicas": 1},
            "status": {"available": 1},
        },
        "oldObject": {
            "apiVersion": "example.com/v1",
            "kind": "CustomType",
            "spec": {"replicas": 1},
            "status": {"available": 1},
        },
        "dryRun": True,
        "options": {
            "apiVersion": "example.com/v1",
            "kind": "CustomType",
            "spec": {"replicas": 1},
            "status": {"available": 1},
        },
    },
}


def from_bytes(body: Any) -> AdmissionRequest:
    """decode_review, the webhook's way in, on `body` as it comes off the wire."""
    return decode_review(json.dumps(body).encode())


BOTH_WAYS_IN = pytest.mark.parametrize("parse", [parse_review, from_bytes])


@BOTH_WAYS_IN
def test_parses_every_field_of_the_upstream_fixture(parse: Any) -> None:
    request = parse(copy.deepcopy(FIXTURE))
    assert request.uid == "uidValue"
    assert request.kind == GroupVersionKind("groupValue", "versionValue", "kindValue")
    assert request.resource == GroupVersionResource("groupValue", "versionValue", "resourceValue")
    assert request.sub_resource == "subResourceValue"
    assert (request.name, request.namespace, request.operation) == (
        "nameValue",
        "namespaceValue",
        "UPDATE",
    )
    assert request.user.username == "usernameValue"
    assert request.user.groups == ("groupsValue",)
    assert request.user.extra == {"extraKey": ("extraValue",)}
    assert request.object == FIXTURE["request"]["object"]
    assert request.old_object == FIXTURE["request"]["oldObject"]
    assert request.dry_run is True
    assert request.api_version == "admission.k8s.io/v1"


@BOTH_WAYS_IN
def test_cluster_scoped_delete_without_optional_fields(parse: Any) -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u",
            "kind": {"group": "", "version": "v1", "kind": "Namespace"},
            "resource": {"group": "", "version": "v1", "resource": "namespaces"},
            "operation": "DELETE",
            "userInfo": {"username": "alice"},
            "object": None,
            "oldObject": {"kind": "Namespace"},
        },
    }
    request = parse(review)
    assert request.object is None
    assert request.old_object == {"kind": "Namespace"}
    assert (request.namespace, request.sub_resource, request.dry_run) == ("", "", False)
    assert request.user.groups == ()


def test_the_fast_path_gives_what_the_reference_gives_and_leaves_old_object_undecoded() -> None:
    body = json.dumps(FIXTURE).encode()
    fast, reference = decode_review(body), parse_review(json.loads(body))
    assert "old_object" not in vars(fast)  # not decoded until read
    assert fast == reference
    assert fast.old_object == reference.old_object == FIXTURE["request"]["oldObject"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        # What the typed fast path does not take but parse_review does, read the same way.
        ("name", None, ""),
        ("dryRun", None, False),
        ("object", {"spec": {"big": 2**70, "nan": float("nan")}}, None),
    ],
)
def test_what_the_fast_path_refuses_goes_the_reference_way(
    field: str, value: Any, expected: Any
) -> None:
    review = broken(f"request.{field}", value)
    request = from_bytes(review)
    if field == "object":
        assert request.object is not None
        assert request.object["spec"]["big"] == 2**70
    else:
        assert getattr(request, {"name": "name", "dryRun": "dry_run"}[field]) == expected


def test_a_body_that_is_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Expecting"):
        decode_review(b'{"apiVersion": ')


def broken(path: str, value: Any) -> dict[str, Any]:
    review = copy.deepcopy(FIXTURE)
    node = review
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return review


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body must be a JSON object, got a list"),
        (broken("apiVersion", "admission.k8s.io/v2"), "apiVersion must be one of"),
        (broken("kind", "Review"), "kind must be AdmissionReview, got 'Review'"),
        (broken("request", KeyError), "request must be a JSON object, got nothing"),
        (broken("request.uid", KeyError), "request.uid must be a non-empty string, got nothing"),
        (broken("request.uid", ""), "request.uid must be a non-empty string, got an empty string"),
        (broken("request.operation", "PATCH"), "request.operation must be one of CREATE"),
        (broken("request.kind", "Deployment"), "request.kind must be a JSON object, got a string"),
        (broken("request.kind.kind", KeyError), "request.kind.kind must be a non-empty string"),
        (broken("request.resource", None), "request.resource must be a JSON object"),
        (broken("request.namespace", 7), "request.namespace must be a string, got a number"),
        (broken("request.userInfo.groups", "admins"), "request.userInfo.groups must be a list"),
        (broken("request.userInfo.extra", {"k": "v"}), "request.userInfo.extra must map strings"),
        (
            broken("request.object", []),
            "request.object must be a JSON object for UPDATE, got a list",
        ),
        (broken("request.oldObject", 3), "request.oldObject must be a JSON object, got a number"),
        (broken("request.dryRun", "yes"), "request.dryRun must be a boolean"),
        (broken("request.object", None), "request.object must be a JSON object for UPDATE"),
    ],
)
@BOTH_WAYS_IN
def test_malformed_reviews_name_the_field(parse: Any, body: Any, message: str) -> None:
    with pytest.raises(AdmissionReviewError) as caught:
        parse(body)
    assert message in str(caught.value)


def test_render_allowed_is_minimal() -> None:
    assert render_review(AdmissionResponse(uid="u", allowed=True)) == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u", "allowed": True},
    }


def test_render_denial_with_everything() -> None:
    patch = [{"op": "add", "path": "/metadata/annotations/a~1b", "value": "c"}]
    body = render_review(
        AdmissionResponse(
            uid="u",
            allowed=False,
            code=403,
            reason="Forbidden",
            message="no",
            warnings=("careful",),
            patch=patch,
            audit_annotations={"drift": "spec.replicas"},
        ),
        "admission.k8s.io/v1beta1",
    )
    response = body["response"]
    assert body["apiVersion"] == "admission.k8s.io/v1beta1"
    assert response["status"] == {"code": 403, "reason": "Forbidden", "message": "no"}
    assert response["warnings"] == ["careful"]
    assert json.loads(base64.b64decode(response["patch"])) == patch
    assert response["patchType"] == "JSONPatch"
    assert response["auditAnnotations"] == {"drift": "spec.replicas"}
