from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kube.meta import (
    MAX_GENERATED_NAME_LENGTH,
    SYSTEM_FIELDS,
    carry_over_system_fields,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    format_timestamp,
    generate_name,
    label_key_errors,
    label_value_errors,
    list_metadata,
    name_is_dns_label,
    name_is_dns_subdomain,
    parse_timestamp,
    partial_object_metadata,
    partial_object_metadata_list,
    strip_system_fields,
    validate_object_meta,
)

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize("name", ["a", "web", "my-name", "123-abc", "a" * 63])
def test_valid_dns_labels(name: str) -> None:
    assert dns1123_label_errors(name) == []


def test_dns_label_errors_use_kubernetes_wording() -> None:
    assert dns1123_label_errors("Web") == [LABEL_MSG]
    assert dns1123_label_errors("-a") == [LABEL_MSG]
    assert dns1123_label_errors("a.b") == ["must not contain dots"]
    assert dns1123_label_errors("a" * 64) == ["must be no more than 63 characters"]


def test_dns_subdomain() -> None:
    assert dns1123_subdomain_errors("deployment.web") == []
    assert dns1123_subdomain_errors("a" * 253) == []
    assert dns1123_subdomain_errors("a" * 254) == ["must be no more than 253 characters"]
    assert dns1123_subdomain_errors("Deployment.web") == [SUBDOMAIN_MSG]
    assert dns1123_subdomain_errors("a..b") == [SUBDOMAIN_MSG]
    assert dns1123_subdomain_errors("") == [SUBDOMAIN_MSG]


def test_label_keys() -> None:
    assert label_key_errors("app") == []
    assert label_key_errors("app.kubernetes.io/name") == []
    assert label_key_errors("My_Key.1") == []
    assert label_key_errors("a@b") == [NAME_PART_MSG]
    assert label_key_errors("/name") == ["prefix part must be non-empty"]
    assert label_key_errors("example.com/") == ["name part must be non-empty", NAME_PART_MSG]
    assert label_key_errors("a/b/c")[0].startswith("a valid label key must consist of")
    assert label_key_errors("a/b/c")[0].endswith(
        "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    )
    assert label_key_errors("x" * 64) == ["name part must be no more than 63 bytes"]
    assert label_key_errors("Bad_Prefix/x")[0].startswith("prefix part a lowercase RFC 1123")


def test_label_values() -> None:
    assert label_value_errors("") == []
    assert label_value_errors("v1.2_3-a") == []
    assert label_value_errors("x" * 64) == ["must be no more than 63 bytes"]
    (message,) = label_value_errors("a b")
    assert message.startswith("a valid label must be an empty string or consist of")


def test_generate_name_prefix_may_end_in_a_dash() -> None:
    assert name_is_dns_subdomain("web-", True) == []
    assert name_is_dns_subdomain("web-", False) == [SUBDOMAIN_MSG]
    assert name_is_dns_label("ns-", True) == []


def test_generate_name_appends_five_safe_characters() -> None:
    name = generate_name("web-")
    assert name.startswith("web-")
    assert len(name) == 9
    assert all(ch in "bcdfghjklmnpqrstvwxz2456789" for ch in name[4:])
    fixed = itertools.cycle("bcd")
    assert generate_name("x-", lambda _: next(fixed)) == "x-bcdbc"
    long = generate_name("a" * 80)
    assert len(long) == 63
    assert long.startswith("a" * MAX_GENERATED_NAME_LENGTH)


def test_timestamps_are_rfc3339_utc_seconds() -> None:
    moment = datetime(2024, 5, 1, 14, 0, 7, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2024-05-01T12:00:07Z"
    assert parse_timestamp("2024-05-01T12:00:07Z") == datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)
    assert parse_timestamp("2024-05-01T14:00:07+02:00") == datetime(
        2024, 5, 1, 12, 0, 7, tzinfo=UTC
    )
    assert parse_timestamp("2024-05-01T12:00:07.5Z").microsecond == 500000
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2024, 1, 1))
    for bad in ("2024-05-01", "yesterday", "2024-05-01 12:00:00Z"):
        with pytest.raises(ValueError, match="RFC 3339"):
            parse_timestamp(bad)


def test_strip_system_fields_keeps_desired_state_only() -> None:
    metadata = {
        "name": "x",
        "labels": {"a": "b"},
        "uid": "u",
        "resourceVersion": "7",
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "generation": 3,
        "managedFields": [],
        "deletionTimestamp": "2024-01-02T00:00:00Z",
        "selfLink": "/x",
    }
    assert strip_system_fields(metadata) == {"name": "x", "labels": {"a": "b"}}
    assert "uid" in metadata  # input untouched
    assert set(SYSTEM_FIELDS) >= set(metadata) - {"name", "labels"}


def test_carry_over_restores_stored_system_fields_but_keeps_client_resource_version() -> None:
    old = {"name": "x", "uid": "u1", "creationTimestamp": "T0", "generation": 4}
    new = {
        "name": "x",
        "resourceVersion": "9",
        "creationTimestamp": "forged",
        "generation": 99,
        "deletionTimestamp": "forged",
        "selfLink": "/x",
    }
    assert carry_over_system_fields(new, old) == {
        "name": "x",
        "resourceVersion": "9",
        "uid": "u1",
        "creationTimestamp": "T0",
        "generation": 4,
    }
    assert carry_over_system_fields({"uid": "mine"}, old)["uid"] == "mine"


def _messages(metadata: Mapping[str, object], *, namespaced: bool = True) -> list[str]:
    return [str(error) for error in validate_object_meta(metadata, namespaced=namespaced)]


def test_validate_object_meta_accepts_a_good_object() -> None:
    metadata = {"name": "deployment.web", "namespace": "default", "labels": {"app": "web"}}
    assert _messages(metadata) == []
    assert _messages({"name": "ns.default"}, namespaced=False) == []


def test_validate_object_meta_reports_every_problem() -> None:
    errors = _messages(
        {
            "generateName": "Bad-",
            "namespace": "Not_A_Label",
            "labels": {"a@b": "ok", "k": "bad value"},
            "annotations": {"Example.com/Key": "fine", "x/y/z": "bad"},
        }
    )
    assert errors[0].startswith('metadata.generateName: Invalid value: "Bad-": a lowercase RFC')
    assert errors[1] == "metadata.name: Required value: name or generateName is required"
    assert errors[2].startswith('metadata.namespace: Invalid value: "Not_A_Label": a lowercase')
    assert errors[3] == f'metadata.labels: Invalid value: "a@b": {NAME_PART_MSG}'
    assert errors[4].startswith('metadata.labels: Invalid value: "bad value": a valid label')
    assert errors[5].startswith('metadata.annotations: Invalid value: "x/y/z": a valid label key')
    assert len(errors) == 6


def test_validate_object_meta_scope_rules() -> None:
    assert _messages({"name": "x"}) == ["metadata.namespace: Required value"]
    assert _messages({"name": "x", "namespace": "d"}, namespaced=False) == [
        "metadata.namespace: Forbidden: not allowed on this type"
    ]
    assert _messages({"name": "x", "namespace": "d", "generation": -1}) == [
        "metadata.generation: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_annotations_have_a_total_size_limit() -> None:
    big = {"a": "x" * (256 * 1024)}
    assert _messages({"name": "x", "namespace": "d", "annotations": big}) == [
        "metadata.annotations: Too long: must have at most 262144 bytes"
    ]


def test_partial_object_metadata() -> None:
    obj = {"kind": "Manifest", "apiVersion": "gitplane.io/v1alpha1", "metadata": {"name": "x"}}
    assert partial_object_metadata(obj) == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"name": "x"},
    }
    listed = partial_object_metadata_list(
        [obj], resource_version="5", continue_token="c", remaining_item_count=2
    )
    assert listed == {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "5", "continue": "c", "remainingItemCount": 2},
        "items": [partial_object_metadata(obj)],
    }
    assert partial_object_metadata_list([])["items"] == []
    assert list_metadata() == {}
    assert list_metadata(remaining_item_count=0) == {"remainingItemCount": 0}
