from __future__ import annotations

import base64
import json

import pytest

from kube.status import BadRequest, Expired, Invalid
from kube.watch import (
    INITIAL_EVENTS_END_ANNOTATION,
    INITIAL_EVENTS_LIST_BLUEPRINT_ANNOTATION,
    EventType,
    ListOptions,
    bookmark,
    encode_event,
    error_event,
    parse_list_options,
    watch_event,
)

OBJ = {"kind": "Manifest", "apiVersion": "gitplane.io/v1alpha1", "metadata": {"name": "ü"}}


def test_events_are_one_compact_json_object_per_line() -> None:
    frame = encode_event(EventType.ADDED, OBJ)
    assert frame.endswith(b"\n")
    assert frame.count(b"\n") == 1
    assert frame.startswith(b'{"type":"ADDED","object":{"kind":"Manifest"')
    assert json.loads(frame) == {"type": "ADDED", "object": OBJ}
    assert "ü".encode() in frame
    assert watch_event(EventType.DELETED, OBJ) == {"type": "DELETED", "object": OBJ}


def test_bookmark_carries_only_type_and_resource_version() -> None:
    assert bookmark("Manifest", "gitplane.io/v1alpha1", "42") == {
        "kind": "Manifest",
        "apiVersion": "gitplane.io/v1alpha1",
        "metadata": {"resourceVersion": "42"},
    }


def test_initial_events_end_bookmark() -> None:
    blueprint = {"kind": "ManifestList", "apiVersion": "gitplane.io/v1alpha1", "items": []}
    mark = bookmark(
        "Manifest", "gitplane.io/v1alpha1", "42", initial_events_end=True, list_blueprint=blueprint
    )
    annotations = mark["metadata"]["annotations"]
    assert annotations[INITIAL_EVENTS_END_ANNOTATION] == "true"
    decoded = base64.b64decode(annotations[INITIAL_EVENTS_LIST_BLUEPRINT_ANNOTATION])
    assert json.loads(decoded) == blueprint
    plain_end = bookmark("Manifest", "gitplane.io/v1alpha1", "42", initial_events_end=True)
    assert plain_end["metadata"]["annotations"] == {INITIAL_EVENTS_END_ANNOTATION: "true"}


def test_error_event_carries_a_410_status() -> None:
    event = error_event(Expired.too_old_resource_version(3, 9))
    assert event == {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "too old resource version: 3 (9)",
            "reason": "Expired",
            "code": 410,
        },
    }


def test_plain_list() -> None:
    assert parse_list_options({}) == ListOptions()
    options = parse_list_options(
        {
            "limit": "500",
            "continue": "tok",
            "labelSelector": "app=web",
            "fieldSelector": "metadata.name=x",
        }
    )
    assert (options.limit, options.continue_token) == (500, "tok")
    assert options.label_selector.matches({"app": "web"})
    assert options.field_selector.requires_exact_match("metadata.name") == "x"
    assert not options.watch and not options.sends_initial_events


def test_legacy_watch_becomes_a_watch_list_request() -> None:
    for resource_version in ("", "0"):
        options = parse_list_options({"watch": "true", "resourceVersion": resource_version})
        assert options.send_initial_events is True
        assert options.resource_version_match == "NotOlderThan"
        assert options.sends_initial_events
    resumed = parse_list_options({"watch": "1", "resourceVersion": "17"})
    assert resumed.send_initial_events is None and resumed.resource_version_match == ""
    assert not resumed.sends_initial_events
    legacy = parse_list_options({"watch": "true"}, watch_list=False)
    assert legacy.send_initial_events is None


def test_watch_list_request_as_client_go_sends_it() -> None:
    options = parse_list_options(
        {
            "watch": "true",
            "sendInitialEvents": "true",
            "resourceVersionMatch": "NotOlderThan",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "300",
        }
    )
    assert options.sends_initial_events and options.allow_watch_bookmarks
    assert options.timeout_seconds == 300


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("", True), ("yes", True), ("1", True), ("0", False), ("False", False)],
)
def test_booleans_decode_as_apimachinery_does(value: str, expected: bool) -> None:
    assert parse_list_options({"watch": value, "resourceVersion": "5"}).watch is expected


def _invalid(query: dict[str, str]) -> Invalid:
    with pytest.raises(Invalid) as caught:
        parse_list_options(query)
    assert caught.value.code == 422
    assert caught.value.status()["details"]["kind"] == "ListOptions"
    assert caught.value.status()["details"]["group"] == "meta.k8s.io"
    return caught.value


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"watch": "true", "sendInitialEvents": "true"},
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ),
        (
            {"watch": "true", "sendInitialEvents": "true", "resourceVersionMatch": "Exact"},
            'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: '
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, "
            'resourceVersionMatch: Unsupported value: "Exact": supported values: "NotOlderThan"]',
        ),
        (
            {"watch": "true", "resourceVersion": "5", "resourceVersionMatch": "NotOlderThan"},
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ),
        (
            {
                "watch": "true",
                "sendInitialEvents": "false",
                "resourceVersionMatch": "NotOlderThan",
                "continue": "c",
            },
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            "resourceVersionMatch is forbidden when continue is provided",
        ),
        (
            {"sendInitialEvents": "true"},
            'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
            "sendInitialEvents is forbidden for list",
        ),
        (
            {"resourceVersionMatch": "NotOlderThan"},
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            {"resourceVersion": "0", "resourceVersionMatch": "Exact"},
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ),
        (
            {"resourceVersion": "3", "resourceVersionMatch": "Newest"},
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: '
            '"Newest": supported values: "Exact", "NotOlderThan", ""',
        ),
    ],
)
def test_forbidden_combinations_are_invalid(query: dict[str, str], message: str) -> None:
    assert _invalid(query).message == message


def test_invalid_causes_name_the_field() -> None:
    error = _invalid({"sendInitialEvents": "true"})
    assert error.status()["details"]["causes"] == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: sendInitialEvents is forbidden for list",
            "field": "sendInitialEvents",
        }
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "ten"}, 'strconv.ParseInt: parsing "ten": invalid syntax'),
        ({"limit": "1.5"}, 'strconv.ParseInt: parsing "1.5": invalid syntax'),
        ({"timeoutSeconds": ""}, 'strconv.ParseInt: parsing "": invalid syntax'),
        (
            {"timeoutSeconds": "99999999999999999999"},
            'strconv.ParseInt: parsing "99999999999999999999": value out of range',
        ),
        ({"labelSelector": "a in"}, "unable to parse requirement: found '' expected: '('"),
        ({"fieldSelector": "spec.x=1"}, "field label not supported: spec.x"),
        (
            {"fieldSelector": "nonsense"},
            "invalid selector: 'nonsense'; can't understand 'nonsense'",
        ),
        (
            {"continue": "tok", "resourceVersion": "12"},
            "specifying resource version is not allowed when using continue",
        ),
    ],
)
def test_malformed_parameters_are_bad_requests(query: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_list_options(query)
    assert caught.value.message == message
    assert caught.value.code == 400


def test_validation_comes_before_the_field_label_check() -> None:
    # kube-apiserver validates the options before it converts field labels.
    _invalid({"sendInitialEvents": "true", "fieldSelector": "spec.x=1"})


def test_selectable_fields_are_pluggable() -> None:
    options = parse_list_options(
        {"fieldSelector": "spec.kind=Deployment"},
        selectable_fields={"metadata.name", "spec.kind"},
    )
    assert options.field_selector.matches({"spec.kind": "Deployment"})


def test_continue_with_resource_version_zero_is_allowed() -> None:
    assert parse_list_options({"continue": "t", "resourceVersion": "0"}).continue_token == "t"
