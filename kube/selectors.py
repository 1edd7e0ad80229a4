"""Label and field selectors: kube-apiserver's grammar, matching rules and error messages.

The label-selector lexer and parser are a port of k8s.io/apimachinery/pkg/labels/selector.go
(including its quirks), and field selectors follow pkg/fields/selector.go, so a selector that
kube-apiserver rejects is rejected here with the same text. Callers answer SelectorError with a
400 BadRequest carrying str(error).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum, auto
from typing import Final

from kube.meta import label_key_errors, label_value_errors
from kube.status import FieldError, aggregate_message


class SelectorError(ValueError):
    """A selector kube-apiserver would reject; str() is its message."""


class Operator(StrEnum):
    """selection.Operator."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_BINARY_OPERATORS: Final = "in, notin, =, ==, !=, gt, lt"


@dataclass(frozen=True)
class Requirement:
    """One condition on one label key; values are sorted and unique, as upstream stores them."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        match self.operator:
            case Operator.IN | Operator.EQUALS | Operator.DOUBLE_EQUALS:
                return present and value in self.values
            case Operator.NOT_IN | Operator.NOT_EQUALS:
                return not present or value not in self.values
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.GREATER_THAN | Operator.LESS_THAN:
                if not present or len(self.values) != 1:
                    return False
                have, want = _int64(value), _int64(self.values[0])
                if have is None or want is None:
                    return False
                return have > want if self.operator is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(self.values)
        if self.operator in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {self.operator.value} ({values})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(
            self.operator, self.operator.value
        )
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """Requirements that must all hold; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def requires_exact_match(self, key: str) -> str | None:
        """The single value `key` must have, if the selector pins it (RequiresExactMatch)."""
        for requirement in self.requirements:
            if requirement.key != key:
                continue
            exact = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
            if requirement.operator in exact and len(requirement.values) == 1:
                return requirement.values[0]
            return None
        return None

    def __str__(self) -> str:
        return ",".join(map(str, self.requirements))


def parse_label_selector(text: str) -> LabelSelector:
    """labels.Parse: the full grammar (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
    `a`, `!a`, `a>1`, `a<1`, comma-separated). Raises SelectorError with upstream's message."""
    requirements = _Parser(text).parse()
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def label_selector_from_set(labels: Mapping[str, str]) -> LabelSelector:
    """The selector that matches exactly these labels (SelectorFromSet)."""
    return LabelSelector(
        tuple(Requirement(key, Operator.EQUALS, (labels[key],)) for key in sorted(labels))
    )


# --- lexer -------------------------------------------------------------------------------------


class _Token(Enum):
    ERROR = auto()
    END = auto()
    CLOSED_PAR = auto()
    COMMA = auto()
    DOES_NOT_EXIST = auto()
    DOUBLE_EQUALS = auto()
    EQUALS = auto()
    GREATER_THAN = auto()
    IDENTIFIER = auto()
    IN = auto()
    LESS_THAN = auto()
    NOT_EQUALS = auto()
    NOT_IN = auto()
    OPEN_PAR = auto()


_LITERALS: Final = {
    ")": _Token.CLOSED_PAR,
    ",": _Token.COMMA,
    "!": _Token.DOES_NOT_EXIST,
    "==": _Token.DOUBLE_EQUALS,
    "=": _Token.EQUALS,
    ">": _Token.GREATER_THAN,
    "in": _Token.IN,
    "<": _Token.LESS_THAN,
    "!=": _Token.NOT_EQUALS,
    "notin": _Token.NOT_IN,
    "(": _Token.OPEN_PAR,
}
_SPECIAL: Final = frozenset("=!(),><")
_WHITESPACE: Final = frozenset(" \t\r\n")
_OPERATOR_TOKENS: Final = {
    _Token.IN: Operator.IN,
    _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Token.GREATER_THAN: Operator.GREATER_THAN,
    _Token.LESS_THAN: Operator.LESS_THAN,
    _Token.NOT_IN: Operator.NOT_IN,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
}


def _lex(text: str) -> list[tuple[_Token, str]]:
    items: list[tuple[_Token, str]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(text):
            items.append((_Token.END, ""))
            return items
        if text[pos] in _SPECIAL:
            # Longest run of specials that still spells a token ("!=", "==").
            end, last = pos, None
            while end < len(text) and text[end] in _SPECIAL:
                token = _LITERALS.get(text[pos : end + 1])
                if token is None and last is not None:
                    break
                if token is not None:
                    last = (token, text[pos : end + 1])
                end += 1
            if last is None:
                items.append((_Token.ERROR, f"error expected: keyword found '{text[pos:end]}'"))
                pos = end
            else:
                items.append(last)
                pos += len(last[1])
            continue
        end = pos
        while end < len(text) and text[end] not in _SPECIAL and text[end] not in _WHITESPACE:
            end += 1
        word = text[pos:end]
        items.append((_LITERALS.get(word, _Token.IDENTIFIER), word))
        pos = end


# --- parser -----------------------------------------------------------------------------------


class _Parser:
    """labels.Parser: recursive descent over the scanned tokens, upstream's messages."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def _peek(self, values: bool = True) -> tuple[_Token, str]:
        return self._as_value(self.items[self.position], values)

    def _take(self, values: bool = True) -> tuple[_Token, str]:
        self.position += 1
        return self._as_value(self.items[self.position - 1], values)

    @staticmethod
    def _as_value(item: tuple[_Token, str], values: bool) -> tuple[_Token, str]:
        # In value position "in" and "notin" are plain identifiers ("x in (in)").
        token, literal = item
        if values and token in (_Token.IN, _Token.NOT_IN):
            return _Token.IDENTIFIER, literal
        return token, literal

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._peek()
            if token in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                try:
                    requirements.append(self._requirement())
                except SelectorError as error:
                    raise SelectorError(f"unable to parse requirement: {error}") from None
                token, literal = self._take()
                if token is _Token.END:
                    return requirements
                if token is not _Token.COMMA:
                    raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
                following, literal = self._peek()
                if following not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                    raise SelectorError(f"found '{literal}', expected: identifier after ','")
            elif token is _Token.END:
                return requirements
            else:
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_inferred_operator()
        if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            return _new_requirement(key, operator, [])
        operator = self._operator()
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self._value_set()
        else:
            values = self._exact_value()
        return _new_requirement(key, operator, sorted(values))

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        operator: Operator | None = None
        token, literal = self._take()
        if token is _Token.DOES_NOT_EXIST:
            operator = Operator.DOES_NOT_EXIST
            token, literal = self._take()
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        if messages := label_key_errors(literal):
            # Upstream validates the key against a nil field path, hence "<nil>".
            raise SelectorError(str(FieldError.invalid("<nil>", literal, "; ".join(messages))))
        if self._peek()[0] in (_Token.END, _Token.COMMA) and operator is None:
            operator = Operator.EXISTS
        return literal, operator

    def _operator(self) -> Operator:
        token, literal = self._take(values=False)
        if token not in _OPERATOR_TOKENS:
            raise SelectorError(f"found '{literal}', expected: {_BINARY_OPERATORS}")
        return _OPERATOR_TOKENS[token]

    def _value_set(self) -> set[str]:
        token, literal = self._take()
        if token is not _Token.OPEN_PAR:
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self._peek()
        if token in (_Token.IDENTIFIER, _Token.COMMA):
            values = self._identifier_list()
            if self._take()[0] is not _Token.CLOSED_PAR:
                # Upstream reports the token seen before the list, not after it.
                raise SelectorError(f"found '{literal}', expected: ')'")
            return values
        if token is _Token.CLOSED_PAR:
            self._take()
            return {""}
        raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")

    def _identifier_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            token, literal = self._take()
            if token is _Token.IDENTIFIER:
                values.add(literal)
                following, next_literal = self._peek()
                if following is _Token.CLOSED_PAR:
                    return values
                if following is not _Token.COMMA:
                    raise SelectorError(f"found '{next_literal}', expected: ',' or ')'")
            elif token is _Token.COMMA:
                # Empty values between commas are the empty string: "(,a)", "(a,)", "(a,,b)".
                if not values:
                    values.add("")
                following = self._peek()[0]
                if following is _Token.CLOSED_PAR:
                    values.add("")
                    return values
                if following is _Token.COMMA:
                    values.add("")
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._peek()[0] in (_Token.END, _Token.COMMA):
            return {""}
        token, literal = self._take()
        if token is _Token.IDENTIFIER:
            return {literal}
        raise SelectorError(f"found '{literal}', expected: identifier")


def _new_requirement(key: str, operator: Operator, values: list[str]) -> Requirement:
    """labels.NewRequirement's checks, with its field paths."""
    errors: list[FieldError] = []
    if messages := label_key_errors(key):
        errors.append(FieldError.invalid("key", key, "; ".join(messages)))
    if operator in (Operator.IN, Operator.NOT_IN) and not values:
        detail = "for 'in', 'notin' operators, values set can't be empty"
        errors.append(FieldError.invalid("values", values, detail))
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(values) != 1:
            detail = "for 'Gt', 'Lt' operators, exactly one value is required"
            errors.append(FieldError.invalid("values", values, detail))
        errors += [
            FieldError.invalid(
                f"values[{i}]", value, "for 'Gt', 'Lt' operators, the value must be an integer"
            )
            for i, value in enumerate(values)
            if _int64(value) is None
        ]
    for i, value in enumerate(values):
        if messages := label_value_errors(value):
            errors.append(FieldError.invalid(f"values[{i}][{key}]", value, "; ".join(messages)))
    if errors:
        raise SelectorError(aggregate_message(errors))
    return Requirement(key, operator, tuple(values))


_INT64: Final = re.compile(r"[+-]?[0-9]+")


def _int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None where Go would fail."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


# --- field selectors -------------------------------------------------------------------------

DEFAULT_SELECTABLE_FIELDS: Final = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    equal: bool
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        # An absent field reads as "" (fields.Set.Get).
        return (fields.get(self.field, "") == self.value) == self.equal

    def __str__(self) -> str:
        return f"{self.field}{'=' if self.equal else '!='}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(requirement.matches(fields) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def requires_exact_match(self, field: str) -> str | None:
        for requirement in self.requirements:
            if requirement.field == field and requirement.equal:
                return requirement.value
        return None

    def __str__(self) -> str:
        return ",".join(map(str, self.requirements))


def parse_field_selector(
    text: str, supported: Collection[str] | None = DEFAULT_SELECTABLE_FIELDS
) -> FieldSelector:
    """fields.ParseSelector plus the server's field-label check (skipped when `supported` is
    None). Raises SelectorError."""
    requirements = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, raw = split
        requirements.append(FieldRequirement(field, operator != "!=", _unescape(raw)))
    for requirement in requirements:
        if supported is not None and requirement.field not in supported:
            raise SelectorError(f"field label not supported: {requirement.field}")
    return FieldSelector(tuple(requirements))


def object_fields(obj: Mapping[str, object]) -> dict[str, str]:
    """The default selectable fields of an object: its name and namespace."""
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    return {
        "metadata.name": str(metadata.get("name") or ""),
        "metadata.namespace": str(metadata.get("namespace") or ""),
    }


def escape_field_value(value: str) -> str:
    """fields.EscapeValue: backslash-escape `\\`, `,` and `=`."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(text: str) -> list[str]:
    # Commas split terms unless backslash-escaped.
    if not text:
        return []
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The first operator wins; "!=" and "==" are tried before "=" at each position.
    for i in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, i):
                return term[:i], operator, term[i + len(operator) :]
    return None


def _unescape(value: str) -> str:
    if not any(ch in value for ch in "\\,="):
        return value
    out, escaped = [], False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            # Upstream formats the rune with %v, which prints its code point.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)
