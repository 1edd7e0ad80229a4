"""Offline validation of a Kubernetes object before it is written to Git.

Every object gets the generic checks (apiVersion, kind, metadata.name and its name rule,
namespace, labels, annotations). Built-in kinds are also checked against the official
Kubernetes schemas that the `kubernetes-validate` package ships (the newest it has, 1.37 =
kubectl's release), and EVERY error is reported with its field path, as kube-apiserver does.

The package's own `validate()` is not used: it re-reads the 1.8 MB definitions file on every
call and stops at the first error. Its schema files are used directly instead, loaded on
first use (never at import) and compiled once per kind. The "strict" variant of the schemas
(additionalProperties: false everywhere) is used, so one pass finds type errors and unknown
fields together; unknown fields are then reported according to `fieldValidation`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from apiserver.validation_hook import ObjectValidator
from kube.kinds import builtin_kind_errors
from kube.meta import (
    dns1123_label_errors,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_annotations,
    validate_labels,
)
from kube.schemas import schema_directory
from kube.status import FieldError, go_quote
from store.documents import is_list

if TYPE_CHECKING:  # imported on first validation: jsonschema costs ~100 ms to import
    from jsonschema import FormatChecker, ValidationError
    from jsonschema.protocols import Validator
    from referencing import Resource

JSONObject = dict[str, Any]


class FieldValidation(StrEnum):
    """The `fieldValidation` query parameter: what to do with unknown fields."""

    STRICT = "Strict"
    WARN = "Warn"
    IGNORE = "Ignore"


@dataclass(frozen=True)
class ValidationResult:
    """`errors` make the request Invalid (422); `warnings` go in `Warning:` headers.

    In Strict mode unknown fields are among `errors`; `unknown_fields` always lists them
    (full paths), for a caller that prefers upstream's 400 (`strict_decoding_message`)."""

    errors: tuple[FieldError, ...] = ()
    unknown_fields: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    schema_checked: bool = False  # False: a kind without a built-in schema (generic checks)

    @property
    def ok(self) -> bool:
        return not self.errors


def unknown_field_warning(path: str) -> str:
    """kube-apiserver's warning text for an unknown field in Warn mode."""
    return f"unknown field {go_quote(path)}"


def strict_decoding_message(unknown_fields: Sequence[str]) -> str:
    """kube-apiserver's BadRequest message for unknown fields in Strict mode."""
    return "strict decoding error: " + ", ".join(map(unknown_field_warning, unknown_fields))


def validate_object(
    obj: object,
    prefix: str = "",
    field_validation: FieldValidation | str = FieldValidation.STRICT,
) -> ValidationResult:
    """Every problem with `obj`; field paths start with `prefix` (e.g. `spec.object`)."""
    mode = FieldValidation(field_validation)
    if not isinstance(obj, Mapping):
        detail = "must be a Kubernetes object (a JSON object)"
        return ValidationResult((FieldError.type_invalid(prefix or "<root>", obj, detail),))
    if is_list(obj):
        detail = "a List holds several objects, not one: declare each of its items"
        return ValidationResult((FieldError.invalid(_join(prefix, "kind"), obj["kind"], detail),))
    validator = schema_validator(obj.get("apiVersion"), obj.get("kind"))
    errors = generic_errors(obj, prefix, check_types=validator is None)
    errors += builtin_kind_errors(obj.get("apiVersion"), obj.get("kind"), prefix)
    unknown: list[str] = []
    if validator is not None:
        schema_errors, unknown = _schema_errors(validator, obj, prefix)
        errors += schema_errors
    warnings: tuple[str, ...] = ()
    if mode is FieldValidation.STRICT:
        errors += [FieldError.forbidden(path, "unknown field") for path in unknown]
    elif mode is FieldValidation.WARN:
        warnings = tuple(unknown_field_warning(path) for path in unknown)
    return ValidationResult(tuple(errors), tuple(unknown), warnings, validator is not None)


def object_validator(
    field_validation: FieldValidation | str = FieldValidation.STRICT,
) -> ObjectValidator:
    """`validate_object` shaped as apiserver.validation_hook.ObjectValidator (errors only)."""
    mode = FieldValidation(field_validation)

    def validate(obj: dict[str, Any], prefix: str) -> list[FieldError]:
        return list(validate_object(obj, prefix, mode).errors)

    return validate


# --- generic checks (every kind, CRDs included) ----------------------------------------------

_DNS1035_LABEL: Final = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_RBAC_GROUP: Final = "rbac.authorization.k8s.io"
_RBAC_KINDS: Final = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _dns1035_label(name: str, _prefix: bool) -> list[str]:
    # Service names (apimachinery NameIsDNS1035Label): must start with a letter.
    errors = ["must be no more than 63 characters"] if len(name) > 63 else []
    if not _DNS1035_LABEL.fullmatch(name):
        errors.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character "
            "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
            "'[a-z]([-a-z0-9]*[a-z0-9])?')"
        )
    return errors


def _path_segment_name(name: str, _prefix: bool) -> list[str]:
    # RBAC object names (path.IsValidPathSegmentName): anything usable in a URL path segment.
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in name]


def _name_rule(api_version: str, kind: str) -> Callable[[str, bool], list[str]]:
    group = api_version.rpartition("/")[0]
    if group == "" and kind == "Namespace":
        return name_is_dns_label
    if group == "" and kind == "Service":
        return _dns1035_label
    if group == _RBAC_GROUP and kind in _RBAC_KINDS:
        return _path_segment_name
    return name_is_dns_subdomain


def _api_version_errors(value: str, path: str) -> list[FieldError]:
    group, _, version = value.rpartition("/")
    errors: list[FieldError] = []
    if "/" in group or (group and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", group)):
        errors.append(FieldError.invalid(path, value, "must be <version> or <group>/<version>"))
    elif not _DNS1035_LABEL.fullmatch(version):  # what a CRD allows as a version name
        errors.append(FieldError.invalid(path, value, "version must be a DNS-1035 label"))
    return errors


def _string_map_errors(value: object, path: str) -> list[FieldError]:
    if not isinstance(value, Mapping):
        return [FieldError.type_invalid(path, value, "must be of type object")]
    return [
        FieldError.type_invalid(f"{path}[{key}]", item, "must be of type string")
        for key, item in value.items()
        if not isinstance(item, str)
    ]


def generic_errors(obj: Mapping[str, Any], prefix: str, *, check_types: bool) -> list[FieldError]:
    """What any Kubernetes object must satisfy. Type errors are left to the schema when
    there is one (`check_types=False`), so they are not reported twice."""
    errors: list[FieldError] = []
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    for key, value in (("apiVersion", api_version), ("kind", kind)):
        path = _join(prefix, key)
        if value is None or value == "":
            errors.append(FieldError.required(path))
        elif not isinstance(value, str):
            errors.append(FieldError.type_invalid(path, value, "must be of type string"))
    if isinstance(api_version, str) and api_version:
        errors += _api_version_errors(api_version, _join(prefix, "apiVersion"))
    metadata_path = _join(prefix, "metadata")
    metadata = obj.get("metadata")
    if metadata is None:
        return [*errors, FieldError.required(metadata_path)]
    if not isinstance(metadata, Mapping):
        return [*errors, FieldError.type_invalid(metadata_path, metadata, "must be of type object")]
    name, namespace = metadata.get("name"), metadata.get("namespace")
    name_path, namespace_path = f"{metadata_path}.name", f"{metadata_path}.namespace"
    if name is None or name == "":
        # Objects in Git need a name: generateName cannot be honoured there.
        errors.append(FieldError.required(name_path, "name is required"))
    elif not isinstance(name, str):
        if check_types:
            errors.append(FieldError.type_invalid(name_path, name, "must be of type string"))
    else:
        rule = _name_rule(api_version if isinstance(api_version, str) else "", str(kind or ""))
        errors += [FieldError.invalid(name_path, name, msg) for msg in rule(name, False)]
    if isinstance(namespace, str) and namespace:
        errors += [
            FieldError.invalid(namespace_path, namespace, msg)
            for msg in dns1123_label_errors(namespace)
        ]
    elif namespace not in (None, "") and check_types:
        errors.append(FieldError.type_invalid(namespace_path, namespace, "must be of type string"))
    for key, check in (("labels", validate_labels), ("annotations", validate_annotations)):
        value, path = metadata.get(key), f"{metadata_path}.{key}"
        if value is None:
            continue
        type_errors = _string_map_errors(value, path)
        if type_errors:
            errors += type_errors if check_types else []
            continue
        errors += check(value, path)
    return errors


# --- built-in schemas ---------------------------------------------------------------------------


@cache
def _definitions() -> Resource[Any]:
    from referencing import Resource  # noqa: PLC0415 - lazy, see TYPE_CHECKING above

    # The one big file (about 1.8 MB); every kind's schema refers into it.
    text = (schema_directory() / "_definitions.json").read_text()
    return Resource.from_contents(json.loads(text))


def _schema_file_name(api_version: str, kind: str) -> str:
    # The package's naming: rbac.authorization.k8s.io/v1 -> rbac-v1; v1 stays v1.
    group, _, version = api_version.rpartition("/")
    group_version = f"{group.split('.')[0]}-{version}" if group else version
    return f"{kind.lower()}-{group_version}.json"


@cache
def _compiled(api_version: str, kind: str) -> Validator | None:
    from jsonschema import Draft202012Validator, FormatChecker  # noqa: PLC0415 - lazy
    from referencing import Registry, Resource  # noqa: PLC0415 - lazy

    path = schema_directory() / _schema_file_name(api_version, kind)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    group, _, version = api_version.rpartition("/")
    # File names drop all but the first label of the group (apps.example.com/v1 would read
    # apps-v1): only a schema declaring exactly this group/version/kind applies.
    if {"group": group, "version": version, "kind": kind} not in schema.get(
        "x-kubernetes-group-version-kind", []
    ):
        return None
    definitions = _definitions()
    registry: Registry[Any] = Registry().with_resources(
        [(schema["$id"], Resource.from_contents(schema)), (definitions.id() or "", definitions)]
    )
    validator: Validator = Draft202012Validator(
        schema, registry=registry, format_checker=_integer_formats(FormatChecker(formats=()))
    )
    return validator


_INTEGER_BITS: Final = {"int32": 32, "int64": 64}


def _integer_formats(checker: FormatChecker) -> FormatChecker:
    """Only the integer widths: Go's decoder rejects a number that overflows its field
    (dates and the like are not checked, nor does kube-apiserver's schema check them)."""
    for name, bits in _INTEGER_BITS.items():
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1)

        def fits(value: object, low: int = low, high: int = high) -> bool:
            return not isinstance(value, int) or low <= value < high

        checker.checks(name)(fits)
    return checker


_KIND: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def schema_validator(api_version: object, kind: object) -> Validator | None:
    """The compiled schema of a built-in kind, or None (unknown kind, CRD, bad input)."""
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        return None
    # Both end up in a file name: nothing that could step out of the schema directory.
    if not _KIND.fullmatch(kind) or not re.fullmatch(r"([a-z0-9.\-]+/)?[a-z0-9]+", api_version):
        return None
    return _compiled(api_version, kind)


def warm_up(kinds: Iterable[tuple[str, str]] = (("apps/v1", "Deployment"),)) -> None:
    """Load the definitions and compile these kinds now (e.g. in a thread at start-up) so the
    first request does not pay for it."""
    for api_version, kind in kinds:
        validator = schema_validator(api_version, kind)
        if validator is not None:
            validator.is_valid({})


# --- schema errors -> field errors --------------------------------------------------------------

# Keywords whose next schema-path element is an argument, not a step into the instance.
_SKIP_ARGUMENT: Final = frozenset({"oneOf", "anyOf", "allOf", "prefixItems", "patternProperties"})


def field_path(
    prefix: str, instance_path: Sequence[str | int], schema_path: Sequence[str | int]
) -> str:
    """Kubernetes field path: `.name` for properties, `[i]` for items, `[key]` for map keys.

    The schema path tells a property (`properties`, name) from a map key
    (`additionalProperties` / `patternProperties`), which the instance path alone cannot."""
    out = prefix
    steps = list(instance_path)
    keywords = list(schema_path)
    i = 0
    while i < len(keywords) and steps:
        keyword = keywords[i]
        if keyword == "properties":
            out = _join(out, str(steps.pop(0)))
            i += 2
            continue
        if keyword in ("items", "additionalProperties", "patternProperties"):
            out += f"[{steps.pop(0)}]"
        i += 2 if keyword in _SKIP_ARGUMENT else 1
    for step in steps:  # not expected; keep the path complete anyway
        out = out + f"[{step}]" if isinstance(step, int) else _join(out, step)
    return out


def _types(schema_type: object) -> list[str]:
    types = schema_type if isinstance(schema_type, list) else [schema_type]
    return [str(t) for t in types if t != "null"]


def _one_of_types(error: ValidationError) -> list[str]:
    types: list[str] = []
    for option in error.validator_value if isinstance(error.validator_value, list) else []:
        if isinstance(option, Mapping):
            types += [t for t in _types(option.get("type")) if t not in types]
    return types


def _convert(error: ValidationError, prefix: str) -> tuple[list[FieldError], list[str]]:
    """One jsonschema error as Kubernetes field errors, plus the unknown fields it names."""
    path = field_path(prefix, list(error.absolute_path), list(error.absolute_schema_path))
    value, keyword = error.instance, error.validator
    listed = error.validator_value if isinstance(error.validator_value, list) else []
    if keyword == "additionalProperties":
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extra = [
            key
            for key in (value if isinstance(value, Mapping) else {})
            if key not in known and not any(re.search(p, key) for p in patterns)
        ]
        return [], [_join(path, key) for key in extra]
    if keyword == "type":
        expected = " or ".join(_types(error.validator_value))
        return [FieldError.type_invalid(path, value, f"must be of type {expected}")], []
    if keyword in ("oneOf", "anyOf"):
        if value is None:  # int-or-string and quantity allow null under both options
            return [], []
        expected = " or ".join(sorted(_one_of_types(error))) or "one of the allowed forms"
        return [FieldError.type_invalid(path, value, f"must be of type {expected}")], []
    if keyword == "required":
        present = value if isinstance(value, Mapping) else {}
        missing = [name for name in listed if name not in present]
        return [FieldError.required(_join(path, name)) for name in missing], []
    if keyword == "format" and error.validator_value in _INTEGER_BITS:
        bits = _INTEGER_BITS[str(error.validator_value)]
        return [FieldError.invalid(path, value, f"must fit in a {bits}-bit signed integer")], []
    if keyword == "enum":
        # apiVersion/kind enums cannot fail: the schema was chosen by them.
        allowed = [str(v) for v in listed if v is not None]
        return [FieldError.not_supported(path, value, allowed)], []
    return [FieldError.invalid(path, value, error.message)], []


def _schema_errors(
    validator: Validator, obj: Mapping[str, Any], prefix: str
) -> tuple[list[FieldError], list[str]]:
    errors: list[FieldError] = []
    unknown: list[str] = []
    for error in validator.iter_errors(obj):
        found, extra = _convert(error, prefix)
        errors += found
        unknown += extra
    return errors, unknown
