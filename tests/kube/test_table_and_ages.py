from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kube.status import BadRequest
from kube.table import (
    AGE_COLUMN,
    NAME_COLUMN,
    Column,
    IncludeObject,
    Row,
    build_table,
    human_duration,
    parse_include_object,
    translate_timestamp_since,
)

S, M, H, D = 1, 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        # cases from apimachinery's duration_test.go, plus each boundary
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),
        (-1, "0s"),
        (0, "0s"),
        (0.9, "0s"),
        (1, "1s"),
        (5, "5s"),
        (70, "70s"),
        (119, "119s"),
        (2 * M, "2m"),
        (190, "3m10s"),
        (3 * M + 2, "3m2s"),
        (9 * M + 59, "9m59s"),
        (10 * M, "10m"),
        (10 * M + 30, "10m"),
        (70 * M, "70m"),
        (179 * M + 59, "179m"),
        (3 * H, "3h"),
        (3 * H + 4 * M, "3h4m"),
        (7 * H + 59 * M, "7h59m"),
        (8 * H, "8h"),
        (47 * H, "47h"),
        (48 * H, "2d"),
        (49 * H, "2d1h"),
        (5 * D, "5d"),
        (7 * D + 23 * H, "7d23h"),
        (8 * D, "8d"),
        (8 * D + 2 * H, "8d"),
        (367 * D, "367d"),
        (729 * D, "729d"),
        (730 * D, "2y"),
        (730 * D + 25 * H, "2y1d"),
        (365 * 8 * D - H, "7y364d"),
        (365 * 8 * D + 2 * H, "8y"),
        (365 * 20 * D, "20y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text
    assert human_duration(timedelta(seconds=seconds)) == text


def test_translate_timestamp_since() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert translate_timestamp_since("2024-05-01T11:56:58Z", now) == "3m2s"
    assert translate_timestamp_since(now - timedelta(days=5), now) == "5d"
    assert translate_timestamp_since(None, now) == "<unknown>"
    assert translate_timestamp_since("", now) == "<unknown>"
    assert translate_timestamp_since(datetime.now(UTC)) == "0s"


MANIFEST = {
    "kind": "Manifest",
    "apiVersion": "gitplane.io/v1alpha1",
    "metadata": {"name": "deployment.web", "namespace": "default", "resourceVersion": "7"},
    "spec": {"object": {"kind": "Deployment"}},
}
COLUMNS = [NAME_COLUMN, Column("Kind", description="kind"), Column("Path", priority=1), AGE_COLUMN]


def test_table_with_metadata_rows() -> None:
    table = build_table(
        COLUMNS,
        [Row(["deployment.web", "Deployment", "default/web.yaml", "5d"], MANIFEST)],
        resource_version="7",
        continue_token="next",
        remaining_item_count=3,
    )
    assert table == {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "7", "continue": "next", "remainingItemCount": 3},
        "columnDefinitions": [
            {
                "name": "Name",
                "type": "string",
                "format": "name",
                "description": NAME_COLUMN.description,
                "priority": 0,
            },
            {"name": "Kind", "type": "string", "format": "", "description": "kind", "priority": 0},
            {"name": "Path", "type": "string", "format": "", "description": "", "priority": 1},
            {
                "name": "Age",
                "type": "string",
                "format": "",
                "description": AGE_COLUMN.description,
                "priority": 0,
            },
        ],
        "rows": [
            {
                "cells": ["deployment.web", "Deployment", "default/web.yaml", "5d"],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": MANIFEST["metadata"],
                },
            }
        ],
    }


def test_include_object_variants_and_v1beta1() -> None:
    rows = [Row(["x"], MANIFEST)]
    full = build_table([NAME_COLUMN], rows, include_object=IncludeObject.OBJECT)
    assert full["rows"][0]["object"] == MANIFEST
    none = build_table([NAME_COLUMN], rows, include_object=IncludeObject.NONE)
    assert none["rows"][0] == {"cells": ["x"], "object": None}
    beta = build_table([NAME_COLUMN], rows, api_version="meta.k8s.io/v1beta1")
    assert beta["apiVersion"] == "meta.k8s.io/v1beta1"
    assert beta["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_later_watch_events_omit_headers_and_empty_tables_have_rows() -> None:
    table = build_table([NAME_COLUMN], [], include_headers=False)
    assert table["columnDefinitions"] is None
    assert table["rows"] == []
    assert table["metadata"] == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, IncludeObject.METADATA),
        ("", IncludeObject.METADATA),
        ("Metadata", IncludeObject.METADATA),
        ("Object", IncludeObject.OBJECT),
        ("None", IncludeObject.NONE),
    ],
)
def test_parse_include_object(value: str | None, expected: IncludeObject) -> None:
    assert parse_include_object(value) is expected


def test_bad_include_object_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_include_object("object")
    assert caught.value.message == (
        'Unable to convert to Table as requested: includeObject: Invalid value: "object": '
        "must be 'Metadata', 'Object', 'None', or empty"
    )
