"""Kubernetes resource.Quantity: exact parsing, comparison and canonical form.

Follows k8s.io/apimachinery/pkg/api/resource/quantity.go. Values are kept as
Fractions so `0.5`, `500m` and `5e-1` are the same number and nothing is lost to
floating point. Like Kubernetes, precision below one nano is rounded up (away from
zero), so `0.1n` means `1n`.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Literal

Format = Literal["BinarySI", "DecimalSI", "DecimalExponent"]

_NUMBER = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?")
_EXPONENT = re.compile(r"[eE]([+-]?\d+)")
_DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX = {exp: suffix for suffix, exp in _DECIMAL_SI.items()}
_BINARY_SUFFIX = {exp: suffix for suffix, exp in _BINARY_SI.items()}
_NANO = Fraction(1, 10**9)
_MAX_BINARY = Fraction(2**63 - 1)
# Far beyond any resource amount, and small enough that exact arithmetic stays cheap.
_MAX_DIGITS = 64
_MAX_EXPONENT = 64


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity."""


def parse(value: str | int | float) -> Fraction:
    """The exact value of a quantity given as a string or as a YAML/JSON number."""
    return parse_with_format(value)[0]


def parse_with_format(value: str | int | float) -> tuple[Fraction, Format]:
    """The exact value and the suffix family Kubernetes keeps for re-serialising it."""
    if isinstance(value, bool):
        raise QuantityError(f"quantity must be a string or a number, not {value!r}")
    if isinstance(value, int):
        return _parse_int(value)
    if isinstance(value, float):
        # repr() is the shortest text that round-trips, i.e. what the YAML said.
        value = repr(value)
    if not isinstance(value, str):
        raise QuantityError(f"quantity must be a string or a number, not {type(value).__name__}")
    return _parse_text(value)


@functools.lru_cache(maxsize=1024)  # `cpu: 1`, `memory: 1073741824`: a few numbers recur
def _parse_int(value: int) -> tuple[Fraction, Format]:
    return Fraction(value), "DecimalSI"


@functools.lru_cache(maxsize=4096)  # clusters repeat a handful of spellings: 250m, 1Gi...
def _parse_text(value: str) -> tuple[Fraction, Format]:
    text = value.strip()
    number = _NUMBER.match(text)
    if number is None or not (number.group(2) or number.group(3)):
        raise QuantityError(f"{value!r} is not a quantity: it must start with a number")
    sign, whole, fraction = number.group(1), number.group(2), number.group(3) or ""
    if len(whole) + len(fraction) > _MAX_DIGITS:
        raise QuantityError(f"{value[:40]!r}... is not a quantity: too many digits")
    amount = Fraction(
        int(whole or "0") * 10 ** len(fraction) + int(fraction or "0"), 10 ** len(fraction)
    )
    suffix = text[number.end() :]
    fmt: Format
    if suffix in _DECIMAL_SI:
        amount *= Fraction(10) ** _DECIMAL_SI[suffix]
        fmt = "DecimalSI"
    elif suffix in _BINARY_SI:
        amount *= 2 ** _BINARY_SI[suffix]
        fmt = "BinarySI"
    elif (exponent := _EXPONENT.fullmatch(suffix)) is not None:
        power = int(exponent.group(1)) if len(exponent.group(1)) < 6 else _MAX_EXPONENT + 1
        if abs(power) > _MAX_EXPONENT:  # exact arithmetic on 1e999999999 would never end
            raise QuantityError(f"{value!r} is not a quantity: exponent out of range")
        amount *= Fraction(10) ** power
        fmt = "DecimalExponent"
    else:
        raise QuantityError(f"{value!r} is not a quantity: unknown suffix {suffix!r}")
    amount = _round_up_to_nano(amount)
    if fmt == "BinarySI":
        amount = min(amount, _MAX_BINARY)
        if 0 < amount < 1:
            fmt = "DecimalSI"
    return (-amount if sign == "-" else amount), fmt


def equal(a: str | int | float, b: str | int | float) -> bool:
    """Whether two quantities are the same amount (`1Gi` == `1073741824`)."""
    if isinstance(a, str | int | float) and isinstance(b, str | int | float):
        return _equal_remembered(a, b)
    return parse(a) == parse(b)  # raises QuantityError for what is not a quantity


# Manifests repeat a few dozen quantities ("250m", "512Mi", 1): remember the answers,
# typed so that 1 and "1" (or 1 and 1.0) are separate entries.
@functools.lru_cache(maxsize=4096, typed=True)
def _equal_remembered(a: str | int | float, b: str | int | float) -> bool:
    return parse(a) == parse(b)


def canonical(value: str | int | float) -> str:
    """The string kube-apiserver would store for this quantity (`1.5` -> `1500m`)."""
    amount, fmt = parse_with_format(value)
    if amount == 0:
        return "0"
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if fmt == "BinarySI" and amount >= 1024 and amount.denominator == 1:
        mantissa, exponent = int(amount), 0
        while mantissa % 1024 == 0 and exponent < 60:
            mantissa //= 1024
            exponent += 10
        return f"{sign}{mantissa}{_BINARY_SUFFIX.get(exponent, '')}"
    mantissa, exponent = _decimal_mantissa(amount)
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    suffix = _DECIMAL_SUFFIX.get(exponent)
    return f"{sign}{mantissa}{suffix if suffix is not None else f'e{exponent}'}"


def _round_up_to_nano(amount: Fraction) -> Fraction:
    nanos = amount / _NANO
    if nanos.denominator == 1:
        return amount
    whole = -(-nanos.numerator // nanos.denominator)
    return whole * _NANO


def _decimal_mantissa(amount: Fraction) -> tuple[int, int]:
    """Integer mantissa and the largest exponent (a multiple of 3) that loses nothing."""
    exponent = -9
    mantissa = int(amount / _NANO)  # exact: amounts are whole nanos
    while mantissa % 1000 == 0:
        mantissa //= 1000
        exponent += 3
    return mantissa, exponent
