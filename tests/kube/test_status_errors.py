"""Status bodies and messages must match kube-apiserver's byte for byte."""

from __future__ import annotations

import json

import pytest

from kube.status import (
    AlreadyExists,
    ApiError,
    ApplyConflict,
    BadRequest,
    Conflict,
    Expired,
    FieldError,
    Forbidden,
    Gone,
    GroupKind,
    GroupResource,
    InternalError,
    Invalid,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    RequestEntityTooLarge,
    ServiceUnavailable,
    StatusCause,
    Timeout,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    aggregate_message,
    as_api_error,
    go_quote,
    go_value,
    success_status,
)

MANIFESTS = GroupResource("gitplane.io", "manifests")
MANIFEST = GroupKind("gitplane.io", "Manifest")


def test_not_found_renders_the_exact_status_body() -> None:
    error = NotFound(MANIFESTS, "deployment.web")
    assert error.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'manifests.gitplane.io "deployment.web" not found',
        "reason": "NotFound",
        "details": {"name": "deployment.web", "group": "gitplane.io", "kind": "manifests"},
        "code": 404,
    }
    assert str(error) == error.message


def test_keys_come_in_go_struct_order() -> None:
    body = json.dumps(NotFound(MANIFESTS, "x").status(), separators=(",", ":"))
    assert body == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"manifests.gitplane.io \\"x\\" not found","reason":"NotFound",'
        '"details":{"name":"x","group":"gitplane.io","kind":"manifests"},"code":404}'
    )


def test_core_group_resource_has_no_group_and_omits_it() -> None:
    error = NotFound(GroupResource("", "pods"), "web")
    assert error.message == 'pods "web" not found'
    assert error.status()["details"] == {"name": "web", "kind": "pods"}


def test_already_exists_and_conflict_wording() -> None:
    assert AlreadyExists(MANIFESTS, "x").message == 'manifests.gitplane.io "x" already exists'
    assert AlreadyExists(MANIFESTS, "x").code == 409
    conflict = Conflict(MANIFESTS, "x")
    assert conflict.message == (
        'Operation cannot be fulfilled on manifests.gitplane.io "x": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    assert (conflict.code, conflict.reason) == (409, "Conflict")
    custom = Conflict(MANIFESTS, "x", "the branch moved")
    assert custom.message.endswith('"x": the branch moved')


def test_apply_conflict_carries_only_causes() -> None:
    cause = StatusCause("FieldManagerConflict", 'conflict with "kubectl"', ".spec.replicas")
    error = ApplyConflict([cause], "Apply failed with 1 conflict")
    assert isinstance(error, Conflict)
    assert error.status()["details"] == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kubectl"',
                "field": ".spec.replicas",
            }
        ]
    }


def test_invalid_lists_every_cause_with_field_paths() -> None:
    errors = [
        FieldError.invalid("spec.object.spec.replicas", "three", "must be an integer"),
        FieldError.required("metadata.name", "name or generateName is required"),
    ]
    error = Invalid(MANIFEST, "x", errors)
    assert error.message == (
        'Manifest.gitplane.io "x" is invalid: [spec.object.spec.replicas: Invalid value: '
        '"three": must be an integer, metadata.name: Required value: name or generateName is '
        "required]"
    )
    body = error.status()
    assert (body["code"], body["reason"]) == (422, "Invalid")
    assert body["details"] == {
        "name": "x",
        "group": "gitplane.io",
        "kind": "Manifest",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": 'Invalid value: "three": must be an integer',
                "field": "spec.object.spec.replicas",
            },
            {
                "reason": "FieldValueRequired",
                "message": "Required value: name or generateName is required",
                "field": "metadata.name",
            },
        ],
    }


def test_invalid_with_one_error_has_no_brackets_and_with_none_no_colon() -> None:
    one = Invalid(MANIFEST, "x", [FieldError.forbidden("metadata.namespace", "not allowed")])
    assert one.message == (
        'Manifest.gitplane.io "x" is invalid: metadata.namespace: Forbidden: not allowed'
    )
    assert Invalid(MANIFEST, "x", []).message == 'Manifest.gitplane.io "x" is invalid'


def test_aggregate_drops_duplicate_messages() -> None:
    error = FieldError.required("a")
    assert aggregate_message([error, error]) == "a: Required value"
    assert aggregate_message([]) == ""


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (FieldError.invalid("f", 3, "too big"), "f: Invalid value: 3: too big"),
        (FieldError.invalid("f", 1.5, "x"), "f: Invalid value: 1.5: x"),
        (FieldError.invalid("f", 1e6, "x"), "f: Invalid value: 1e+06: x"),
        (FieldError.invalid("f", True, "x"), "f: Invalid value: true: x"),
        (FieldError.invalid("f", None, "x"), "f: Invalid value: null: x"),
        (
            FieldError.type_invalid("f", "s", "must be integer"),
            'f: Invalid value: "s": must be integer',
        ),
        (FieldError.required("f"), "f: Required value"),
        (FieldError.forbidden("f", "no"), "f: Forbidden: no"),
        (FieldError.duplicate("f", "a"), 'f: Duplicate value: "a"'),
        (FieldError.not_found("f", "a"), 'f: Not found: "a"'),
        (
            FieldError.not_supported("f", "x", ["A", "B"]),
            'f: Unsupported value: "x": supported values: "A", "B"',
        ),
        (FieldError.too_long("f", 10), "f: Too long: must have at most 10 bytes"),
        (FieldError.too_many("f", 5, 3), "f: Too many: 5: must have at most 3 items"),
        (FieldError.internal("f", "boom"), "f: Internal error: boom"),
        (FieldError.invalid("f", ["a", "b"], "x"), 'f: Invalid value: []string{"a", "b"}: x'),
    ],
)
def test_field_error_text_matches_go(error: FieldError, text: str) -> None:
    assert str(error) == text


def test_go_quote_escapes_like_strconv_quote() -> None:
    assert go_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert go_quote("tab\tnl\n") == '"tab\\tnl\\n"'
    assert go_quote("\x00\x7f") == '"\\x00\\x7f"'
    assert go_quote("héllo ✓") == '"héllo ✓"'
    assert go_quote("\u00a0") == '"\\u00a0"'
    assert go_value({"b": 1, "a": "x"}) == 'map[string]interface {}{"a":"x", "b":1}'


def test_forbidden_messages_follow_the_authorization_filter() -> None:
    namespaced = Forbidden.for_request(
        "alice", "list", group="gitplane.io", resource="manifests", namespace="default"
    )
    assert namespaced.message == (
        'manifests.gitplane.io is forbidden: User "alice" cannot list resource "manifests" '
        'in API group "gitplane.io" in the namespace "default"'
    )
    named = Forbidden.for_request(
        "bob", "get", group="gitplane.io", resource="clustermanifests", name="ns.x"
    )
    assert named.message == (
        'clustermanifests.gitplane.io "ns.x" is forbidden: User "bob" cannot get resource '
        '"clustermanifests" in API group "gitplane.io" at the cluster scope'
    )
    assert named.status()["details"] == {
        "name": "ns.x",
        "group": "gitplane.io",
        "kind": "clustermanifests",
    }
    sub = Forbidden.for_request(
        "bob", "update", group="g", resource="r", subresource="status", namespace="n", why="no"
    )
    assert 'cannot update resource "r/status"' in sub.message
    assert sub.message.endswith(": no")
    path = Forbidden.for_request("bob", "get", path="/metrics")
    assert path.message == 'forbidden: User "bob" cannot get path "/metrics"'
    assert (path.code, path.reason) == (403, "Forbidden")


def test_errors_without_details_omit_the_key() -> None:
    for error in (Unauthorized(), BadRequest("bad"), Expired("old"), Gone("gone")):
        assert "details" not in error.status()
    assert Unauthorized().message == "Unauthorized"


@pytest.mark.parametrize(
    ("error", "code", "reason", "message"),
    [
        (BadRequest("nope"), 400, "BadRequest", "nope"),
        (Unauthorized(), 401, "Unauthorized", "Unauthorized"),
        (
            MethodNotAllowed(GroupResource("gitplane.io", "revisions"), "create"),
            405,
            "MethodNotAllowed",
            'create is not supported on resources of kind "revisions.gitplane.io"',
        ),
        (
            NotAcceptable.for_media_types(["application/json", "application/yaml"]),
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml",
        ),
        (
            UnsupportedMediaType.for_media_types(["application/json"]),
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json",
        ),
        (
            Expired.too_old_resource_version(3, 10),
            410,
            "Expired",
            "too old resource version: 3 (10)",
        ),
        (Gone("gone"), 410, "Gone", "gone"),
        (
            RequestEntityTooLarge.over_limit(3145728),
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        ),
        (TooManyRequests("slow down", 2), 429, "TooManyRequests", "slow down"),
        (
            InternalError("disk on fire"),
            500,
            "InternalError",
            "Internal error occurred: disk on fire",
        ),
        (
            ServiceUnavailable("repository locked", 5),
            503,
            "ServiceUnavailable",
            "repository locked",
        ),
        (Timeout("commit took too long", 1), 504, "Timeout", "Timeout: commit took too long"),
    ],
)
def test_code_reason_and_message(error: ApiError, code: int, reason: str, message: str) -> None:
    body = error.status()
    assert (body["code"], body["reason"], body["message"]) == (code, reason, message)
    assert (error.code, error.reason) == (code, reason)


def test_retry_after_travels_in_details_and_header() -> None:
    error = ServiceUnavailable("busy", retry_after_seconds=7)
    assert error.status()["details"] == {"retryAfterSeconds": 7}
    assert error.headers() == {"Retry-After": "7"}
    assert ServiceUnavailable("busy").headers() == {}
    assert "details" not in ServiceUnavailable("busy").status()
    assert TooManyRequests("x", 3).headers() == {"Retry-After": "3"}
    assert Timeout("x").status()["details"] == {}


def test_internal_error_keeps_the_cause_text() -> None:
    error = InternalError(RuntimeError("boom"))
    assert error.status()["details"] == {"causes": [{"message": "boom"}]}


def test_as_api_error_wraps_anything_else() -> None:
    not_found = NotFound(MANIFESTS, "x")
    assert as_api_error(not_found) is not_found
    wrapped = as_api_error(KeyError("k"))
    assert isinstance(wrapped, InternalError)
    assert wrapped.message == "Internal error occurred: 'k'"


def test_success_status_for_delete() -> None:
    assert success_status(MANIFESTS, "deployment.web", uid="123") == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": "deployment.web",
            "group": "gitplane.io",
            "kind": "manifests",
            "uid": "123",
        },
    }


def test_api_errors_are_exceptions() -> None:
    with pytest.raises(NotFound) as caught:
        raise NotFound(MANIFESTS, "x")
    assert isinstance(caught.value, ApiError)
