from __future__ import annotations

import pytest

from kube.selectors import (
    FieldSelector,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    escape_field_value,
    label_selector_from_set,
    object_fields,
    parse_field_selector,
    parse_label_selector,
)

WEB = {"app": "web", "tier": "front", "replicas": "3", "empty": ""}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app=db", False),
        ("app in (web,db)", True),
        ("app in (db)", False),
        ("app notin (db)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),
        ("missing in (web)", False),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("app=web, tier in (front, back) ,!missing", True),
        ("empty=", True),
        ("empty in ()", True),
        ("app in (in, notin, web)", True),
        ("replicas>2", True),
        ("replicas>3", False),
        ("replicas<4", True),
        ("app>1", False),
        ("missing<1", False),
        ("  app  =  web  ", True),
    ],
)
def test_label_selector_matching(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(WEB) is matches


def test_empty_selector_matches_objects_without_labels() -> None:
    assert parse_label_selector("").empty
    assert parse_label_selector("").matches(None)
    assert not parse_label_selector("a").matches(None)
    assert parse_label_selector("!a").matches(None)


def test_requirements_are_sorted_by_key_with_sorted_unique_values() -> None:
    selector = parse_label_selector("z=1,a in (c,b,c),m")
    assert selector.requirements == (
        Requirement("a", Operator.IN, ("b", "c")),
        Requirement("m", Operator.EXISTS),
        Requirement("z", Operator.EQUALS, ("1",)),
    )
    assert str(selector) == "a in (b,c),m,z=1"
    assert str(parse_label_selector("!x,y!=2,w==3,v notin (a),n>5,o<6")) == (
        "n>5,o<6,v notin (a),w==3,!x,y!=2"
    )


def test_empty_values_in_sets_are_the_empty_string() -> None:
    (requirement,) = parse_label_selector("x in (foo,,baz)").requirements
    assert requirement.values == ("", "baz", "foo")
    (requirement,) = parse_label_selector("x in (,a)").requirements
    assert requirement.values == ("", "a")
    (requirement,) = parse_label_selector("x notin ()").requirements
    assert requirement.values == ("",)


def test_requires_exact_match() -> None:
    selector = parse_label_selector("app=web,tier in (a,b),solo in (x)")
    assert selector.requires_exact_match("app") == "web"
    assert selector.requires_exact_match("solo") == "x"
    assert selector.requires_exact_match("tier") is None
    assert selector.requires_exact_match("other") is None


def test_from_set() -> None:
    selector = label_selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert label_selector_from_set({}) == LabelSelector()


KEY_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?"
    "[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("a in", "unable to parse requirement: found '' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a==(b)", "unable to parse requirement: found '(', expected: identifier"),
        ("!!a", "unable to parse requirement: found '!', expected: identifier"),
        ("a@b=c", f'unable to parse requirement: <nil>: Invalid value: "a@b": {KEY_MSG}'),
        ("a=b@", f'unable to parse requirement: values[0][a]: Invalid value: "b@": {VALUE_MSG}'),
        (
            "a>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a in (x@,y@)",
            f'unable to parse requirement: [values[0][a]: Invalid value: "x@": {VALUE_MSG}, '
            f'values[1][a]: Invalid value: "y@": {VALUE_MSG}]',
        ),
    ],
)
def test_label_selector_errors_read_as_kubernetes(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(selector)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


# --- field selectors ---------------------------------------------------------------------------

OBJ = {"metadata": {"name": "deployment.web", "namespace": "default"}}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("metadata.name=deployment.web", True),
        ("metadata.name==deployment.web", True),
        ("metadata.name!=deployment.web", False),
        ("metadata.namespace!=kube-system", True),
        ("metadata.name=deployment.web,metadata.namespace=default", True),
        ("metadata.name=deployment.web,metadata.namespace=other", False),
        ("metadata.name=", False),
        (",metadata.name=deployment.web,", True),
    ],
)
def test_field_selector_matching(selector: str, matches: bool) -> None:
    assert parse_field_selector(selector).matches(object_fields(OBJ)) is matches


def test_field_selector_values_may_be_escaped() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert selector.requires_exact_match("metadata.name") == "a,b=c\\d"
    assert str(selector) == r"metadata.name=a\,b\=c\\d"
    assert escape_field_value("x,y") == r"x\,y"
    assert selector.matches({"metadata.name": "a,b=c\\d"})


def test_field_selector_exact_match_and_empty() -> None:
    selector = parse_field_selector("metadata.namespace!=a,metadata.name=x")
    assert selector.requires_exact_match("metadata.name") == "x"
    assert selector.requires_exact_match("metadata.namespace") is None
    assert FieldSelector().empty and not selector.empty
    assert str(selector) == "metadata.name=x,metadata.namespace!=a"


def test_pluggable_fields() -> None:
    supported = {"metadata.name", "spec.kind"}
    selector = parse_field_selector("spec.kind=Deployment", supported)
    assert selector.matches({"spec.kind": "Deployment"})
    assert parse_field_selector("anything=1", None).matches({"anything": "1"})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("spec.x=1", "field label not supported: spec.x"),
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=1,b", "invalid selector: 'a=1,b'; can't understand 'b'"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name!==b", "invalid field selector: unescaped character in value: 61"),
        (r"metadata.name=a\x", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(selector)
    assert str(caught.value) == message


def test_object_fields_tolerates_missing_metadata() -> None:
    assert object_fields({}) == {"metadata.name": "", "metadata.namespace": ""}
