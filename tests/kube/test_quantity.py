"""kube.quantity against the behaviour of k8s.io/apimachinery's resource.Quantity."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kube import quantity


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("0", Fraction(0)),
        ("1", Fraction(1)),
        ("0.5", Fraction(1, 2)),
        ("500m", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("1.", Fraction(1)),
        ("+2", Fraction(2)),
        ("-1.5", Fraction(-3, 2)),
        ("1k", Fraction(1000)),
        ("1M", Fraction(10**6)),
        ("1E", Fraction(10**18)),
        ("1Ki", Fraction(1024)),
        ("1Gi", Fraction(1073741824)),
        ("1.5Gi", Fraction(1610612736)),
        ("1e3", Fraction(1000)),
        ("1E3", Fraction(1000)),
        ("5e-1", Fraction(1, 2)),
        ("1e+2", Fraction(100)),
        ("100n", Fraction(1, 10**7)),
        ("3u", Fraction(3, 10**6)),
        (0.5, Fraction(1, 2)),
        (2, Fraction(2)),
        (1e-05, Fraction(1, 100000)),
    ],
)
def test_parse(text: str | float, amount: Fraction) -> None:
    assert quantity.parse(text) == amount


def test_sub_nano_precision_rounds_up_away_from_zero() -> None:
    assert quantity.parse("0.1n") == Fraction(1, 10**9)
    assert quantity.parse("1.1n") == Fraction(2, 10**9)
    assert quantity.parse("-0.1n") == Fraction(-1, 10**9)


@pytest.mark.parametrize(
    "text", ["", "abc", "1K", "1 Gi", "1Gib", "1e", "1e1.5", "--1", "Mi", "1mi", True, None, [1]]
)
def test_rejects_what_kubernetes_rejects(text: object) -> None:
    with pytest.raises(quantity.QuantityError):
        quantity.parse(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["1e999999999", "1e-100", "9" * 5000, "0." + "1" * 100])
def test_refuses_amounts_that_would_make_exact_arithmetic_crawl(text: str) -> None:
    with pytest.raises(quantity.QuantityError):
        quantity.parse(text)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("0.5", "500m", True),
        ("1Gi", "1073741824", True),
        ("1e3", "1k", True),
        ("1Gi", "1G", False),
        ("100Mi", "100M", False),
        (1, "1000m", True),
    ],
)
def test_equal(a: str | int, b: str, same: bool) -> None:
    assert quantity.equal(a, b) is same


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        # examples from the resource.Quantity documentation and its tests
        ("1.5", "1500m"),
        ("1.5Gi", "1536Mi"),
        ("0.1m", "100u"),  # the docs say 1m, but the code rounds at nano precision
        ("1000", "1k"),
        ("1024Mi", "1Gi"),
        ("0.5Gi", "512Mi"),
        ("1e3", "1e3"),
        ("1000m", "1"),
        ("100Mi", "100Mi"),
        ("1100Ki", "1100Ki"),
        ("0.5Ki", "512"),
        ("12e6", "12e6"),
        ("-1.5", "-1500m"),
        ("0", "0"),
        ("1000E", "1e21"),
        (0.25, "250m"),
    ],
)
def test_canonical(text: str | float, canonical: str) -> None:
    assert quantity.canonical(text) == canonical
