"""kube.bodies' bounds on decoded values, without a server: depth along every path of
shared objects, cycles, numbers, and what JSON cannot hold."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kube import status
from kube.bodies import MAX_DEPTH, check_value, decode_json, decode_yaml


def chain(levels: int, leaf: Any = "leaf") -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def test_depth_counts_every_path_through_shared_objects() -> None:
    shared = chain(150)
    check_value({"a": shared, "b": [shared]})  # 152 deep
    with pytest.raises(ValueError, match="exceeded max depth of 200"):
        check_value({"a": shared, "b": chain(60, shared)})  # shallow first, deep later


def test_a_cycle_is_too_deep() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="exceeded max depth"):
        check_value({"a": loop})


def test_shared_objects_are_walked_once_per_level() -> None:
    value: Any = ["x"] * 10
    for _ in range(40):  # 10**40 paths, 40 distinct lists
        value = [value] * 10
    started = time.perf_counter()
    check_value(value)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    "value",
    [{1, 2}, b"bytes", (1, 2), 2**1024, -(2**1100), {"k": {(1, 2): "tuple key"}}],
    ids=["set", "bytes", "tuple", "2**1024", "-2**1100", "tuple key"],
)
def test_values_json_or_kubernetes_cannot_hold_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        check_value({"v": value})


def test_numbers_that_round_to_a_float64_are_kept() -> None:
    check_value({"big": 2**1023, "int key": {10**300: "x"}, "float": 1.5, "bool": True})


def test_decoding_stops_at_max_depth_with_kubernetes_wording() -> None:
    assert decode_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(status.BadRequest) as raised:
        decode_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert raised.value.message == (
        "couldn't get version/kind; json parse error: exceeded max depth of 200"
    )
    with pytest.raises(status.BadRequest) as raised:
        decode_yaml("- " * (MAX_DEPTH + 1) + "x")
    assert raised.value.message == "error converting YAML to JSON: yaml: exceeded max depth of 200"
