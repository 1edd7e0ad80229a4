"""The one loader refuses what Kubernetes' strict decoders refuse, and bounds what they bound."""

from __future__ import annotations

import json
import resource
import time

import pytest

from store.loader import MAX_DEPTH, LoadError, load_json, load_yaml


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs": each level a list of `width` aliases of the one before."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "".join(
        f"  {line}\n" for line in lines
    )


def test_an_alias_bomb_is_refused_at_once_without_memory() -> None:
    text = laughs(9)  # 9**9 strings if expanded: ~48 s and 2.7 GB once served
    assert len(text) < 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    with pytest.raises(LoadError, match="excessive aliasing"):
        load_yaml(text)
    assert time.process_time() - started < 1  # CPU, not wall time: a bound, not a benchmark
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_aliases_within_go_yamls_bound_still_load() -> None:
    doc = load_yaml(laughs(3))  # 729 strings: far below the bound
    assert doc["data"]["a2"][0] is doc["data"]["a2"][1]
    base = "base: &b {cpu: 100m, memory: 64Mi}\n" + "".join(f"r{i}: *b\n" for i in range(200))
    assert load_yaml(base)["r199"] == {"cpu": "100m", "memory": "64Mi"}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("a: 1\nb: 2\na: 3\n", 2, 'key "a" already set in map'),
        ("x:\n  stringData: {pw: V}\n  stringData: {}\n", 2, 'key "stringData" already set'),
        ("1: a\n'1': b\n", 1, 'key "1" already set'),
        ("v: .nan\n", 0, ".nan is not a number JSON can carry"),
        ("v: -.inf\n", 0, "-.inf is not a number JSON can carry"),
        ("v: 1.0e+999\n", 0, "1.0e+999 is not a number JSON can carry"),
        ("v: " + "9" * 5000 + "\n", 0, "value out of range"),
        ("v: !!binary aGVsbG8=\n", 0, "tag:yaml.org,2002:binary is not supported"),
        ("v: !!set {a, b}\n", 0, "tag:yaml.org,2002:set is not supported"),
        ("v: !Ref other\n", 0, "!Ref is not supported"),
        ("v: !!timestamp 2024-01-01\n", 0, "tag:yaml.org,2002:timestamp is not supported"),
        ("~: a\n", 0, "unsupported map key"),
        ("a: &x [*x]\n", 0, "recursive alias"),
        ("<<: [1, 2]\n", 0, "map merge requires map"),
    ],
)
def test_what_kubernetes_would_not_decode_is_refused_with_its_line(
    text: str, line: int, reason: str
) -> None:
    with pytest.raises(LoadError) as caught:
        load_yaml(text)
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_merge_keys_expand_and_explicit_keys_win() -> None:
    text = "base: &b {a: 1, b: 2}\nmore: &m {b: 3, c: 4}\nx:\n  <<: [*b, *m]\n  a: 0\n"
    assert load_yaml(text)["x"] == {"a": 0, "b": 2, "c": 4}
    secret = "<<: {apiVersion: v1, kind: Secret}\nmetadata: {name: s}\nstringData: {pw: V}\n"
    assert load_yaml(secret)["kind"] == "Secret"  # what Argo CD applies, every reader sees


def test_keys_are_strings_as_in_the_json_kubernetes_makes() -> None:
    assert load_yaml("1: a\ntrue: b\n2.5: c\n") == {"1": "a", "true": "b", "2.5": "c"}


def test_nesting_is_bounded_in_yaml_and_json() -> None:
    deep_ok = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert load_yaml(deep_ok) is not None
    assert load_json(deep_ok) is not None
    for depth in (MAX_DEPTH + 1, 999, 5000, 100_000):
        text = "[" * depth + "]" * depth
        with pytest.raises(LoadError, match="depth"):
            load_yaml(text)
        with pytest.raises(LoadError, match="depth"):
            load_json(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": NaN}', "NaN is not a number JSON can carry"),
        ('{"a": -Infinity}', "-Infinity is not a number JSON can carry"),
        ('{"a": 1e999}', "out of range"),
        ('{"a": 1, "a": 2}', 'key "a" already set in map'),
        ('{"a": ' + "9" * 5000 + "}", "value out of range"),
        ('{"a": ', "invalid JSON"),
    ],
)
def test_json_is_read_as_strictly(text: str, reason: str) -> None:
    with pytest.raises(LoadError) as caught:
        load_json(text)
    assert reason in caught.value.reason
    assert json.loads('{"ok": 1.5}') == load_json('{"ok": 1.5}')
