"""ObjectMeta helpers: name rules, generateName, timestamps, system fields, metadata-only views.

Validation messages are Kubernetes' own (k8s.io/apimachinery/pkg/api/validate/content and
pkg/api/validation/objectmeta.go), so an Invalid error reads as it would from kube-apiserver.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from kube.status import FieldError

JSONObject = dict[str, Any]

META_API_VERSION: Final = "meta.k8s.io/v1"

# --- names ----------------------------------------------------------------------------------------

DNS1123_LABEL_MAX_LENGTH: Final = 63
DNS1123_SUBDOMAIN_MAX_LENGTH: Final = 253
LABEL_VALUE_MAX_LENGTH: Final = 63
TOTAL_ANNOTATION_SIZE_LIMIT: Final = 256 * 1024

_DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT: Final = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_LABEL_KEY_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT: Final = "(" + _LABEL_KEY_FMT + ")?"

_DNS1123_LABEL: Final = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN: Final = re.compile(_DNS1123_SUBDOMAIN_FMT)
_LABEL_KEY_NAME: Final = re.compile(_LABEL_KEY_FMT)
_LABEL_VALUE: Final = re.compile(_LABEL_VALUE_FMT)

_DNS1123_LABEL_MSG: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_LABEL_KEY_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    # Upstream appends "', " after every example and joins with " or " (hence "',  or '").
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len_error(length: int, unit: str = "bytes") -> str:
    # Upstream's DNS checks (util/validation) still say "characters"; label checks
    # (api/validate/content) say "bytes".
    return f"must be no more than {length} {unit}"


def _byte_len(value: str) -> int:
    return len(value.encode())


def dns1123_label_errors(value: str) -> list[str]:
    """IsDNS1123Label: why `value` is not a DNS label, or [] when it is."""
    errors = []
    if _byte_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(_max_len_error(DNS1123_LABEL_MAX_LENGTH, "characters"))
    if not _DNS1123_LABEL.fullmatch(value):
        if _DNS1123_SUBDOMAIN.fullmatch(value):
            errors.append("must not contain dots")
        else:
            errors.append(
                _regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc")
            )
    return errors


def dns1123_subdomain_errors(value: str, *, unit: str = "characters") -> list[str]:
    """IsDNS1123Subdomain: why `value` is not a DNS subdomain, or [] when it is."""
    errors = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(_max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH, unit))
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def label_key_errors(value: str) -> list[str]:
    """IsLabelKey (a "qualified name"): optional DNS-subdomain prefix, '/', and a name."""
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend(
                "prefix part " + msg for msg in dns1123_subdomain_errors(prefix, unit="bytes")
            )
    else:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif _byte_len(name) > DNS1123_LABEL_MAX_LENGTH:
        errors.append("name part " + _max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _LABEL_KEY_NAME.fullmatch(name):
        errors.append(
            "name part "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """IsLabelValue: empty, or up to 63 alphanumerics with '-', '_', '.' inside."""
    errors = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(_max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errors


NameRule = Callable[[str, bool], list[str]]
"""ValidateNameFunc: (name, is_generate_name_prefix) -> messages."""


def _mask_trailing_dash(name: str) -> str:
    # A generateName prefix may end in '-': the random suffix makes the full name valid.
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """The usual object-name rule (NameIsDNSSubdomain)."""
    return dns1123_subdomain_errors(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """The namespace-name rule (NameIsDNSLabel)."""
    return dns1123_label_errors(_mask_trailing_dash(name) if prefix else name)


# --- generateName -------------------------------------------------------------------------------

_RANDOM_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"  # utilrand: no vowels, no look-alikes
_RANDOM_LENGTH: Final = 5
MAX_GENERATED_NAME_LENGTH: Final = 63 - _RANDOM_LENGTH


def generate_name(base: str, choose: Callable[[str], str] = secrets.choice) -> str:
    """names.SimpleNameGenerator: `base` cut to 58 characters plus 5 random ones."""
    suffix = "".join(choose(_RANDOM_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return base[:MAX_GENERATED_NAME_LENGTH] + suffix


# --- timestamps -----------------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """metav1.Time on the wire: RFC 3339 in UTC, whole seconds (`2024-05-01T12:00:00Z`)."""
    if moment.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp (with `Z` or an offset) as an aware datetime; ValueError if not."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", text):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))


# --- system fields --------------------------------------------------------------------------------

SYSTEM_FIELDS: Final = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)
"""ObjectMeta fields the server owns; what a client sends there is not taken as desired state."""

# On update these keep the stored values whatever the client sent (rest.BeforeUpdate);
# resourceVersion is not among them: the client's value is the optimistic-lock precondition.
_CARRIED_ON_UPDATE: Final = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def strip_system_fields(metadata: Mapping[str, Any]) -> JSONObject:
    """A copy of `metadata` without server-owned fields (for create, and for what Git stores)."""
    return {key: value for key, value in metadata.items() if key not in SYSTEM_FIELDS}


def carry_over_system_fields(new: Mapping[str, Any], old: Mapping[str, Any]) -> JSONObject:
    """A copy of `new` with the stored object's system fields put back (rest.BeforeUpdate)."""
    merged = {key: value for key, value in new.items() if key not in ("selfLink", "managedFields")}
    for key in _CARRIED_ON_UPDATE:
        if key == "uid" and merged.get("uid"):
            continue  # a client-sent uid is a precondition, checked by the caller
        if key in old:
            merged[key] = old[key]
        else:
            merged.pop(key, None)
    return merged


# --- validation ----------------------------------------------------------------------------------


def validate_object_meta(
    metadata: Mapping[str, Any],
    *,
    namespaced: bool,
    name_rule: NameRule = name_is_dns_subdomain,
    path: str = "metadata",
) -> list[FieldError]:
    """ValidateObjectMetaAccessor: every problem with name, namespace, labels and annotations."""
    errors: list[FieldError] = []
    generate = _string(metadata.get("generateName"))
    if generate:
        errors += [
            FieldError.invalid(f"{path}.generateName", generate, msg)
            for msg in name_rule(generate, True)
        ]
    name = _string(metadata.get("name"))
    if not name:
        errors.append(FieldError.required(f"{path}.name", "name or generateName is required"))
    else:
        errors += [FieldError.invalid(f"{path}.name", name, msg) for msg in name_rule(name, False)]
    namespace = _string(metadata.get("namespace"))
    if namespaced:
        if not namespace:
            errors.append(FieldError.required(f"{path}.namespace"))
        else:
            errors += [
                FieldError.invalid(f"{path}.namespace", namespace, msg)
                for msg in name_is_dns_label(namespace, False)
            ]
    elif namespace:
        errors.append(FieldError.forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = metadata.get("generation")
    if isinstance(generation, int) and generation < 0:
        errors.append(
            FieldError.invalid(
                f"{path}.generation", generation, "must be greater than or equal to 0"
            )
        )
    errors += validate_labels(_string_map(metadata.get("labels")), f"{path}.labels")
    errors += validate_annotations(_string_map(metadata.get("annotations")), f"{path}.annotations")
    return errors


def validate_labels(labels: Mapping[str, str], path: str = "metadata.labels") -> list[FieldError]:
    errors: list[FieldError] = []
    for key in sorted(labels):
        errors += [FieldError.invalid(path, key, msg) for msg in label_key_errors(key)]
        value = labels[key]
        errors += [FieldError.invalid(path, value, msg) for msg in label_value_errors(value)]
    return errors


def validate_annotations(
    annotations: Mapping[str, str], path: str = "metadata.annotations"
) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in sorted(annotations):
        # Annotation keys follow the label-key rule except that case does not matter.
        errors += [FieldError.invalid(path, key, msg) for msg in label_key_errors(key.lower())]
    total = sum(_byte_len(key) + _byte_len(value) for key, value in annotations.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(FieldError.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errors


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(key): item if isinstance(item, str) else str(item) for key, item in value.items()}


# --- metadata-only views ----------------------------------------------------------------------


def list_metadata(
    resource_version: str = "",
    continue_token: str = "",
    remaining_item_count: int | None = None,
) -> JSONObject:
    """metav1.ListMeta with its empty fields left out, as Go serialises it."""
    out: JSONObject = {}
    if resource_version:
        out["resourceVersion"] = resource_version
    if continue_token:
        out["continue"] = continue_token
    if remaining_item_count is not None:
        out["remainingItemCount"] = remaining_item_count
    return out


def partial_object_metadata(
    obj: Mapping[str, Any], api_version: str = META_API_VERSION
) -> JSONObject:
    """The object reduced to its metadata (meta.AsPartialObjectMetadata)."""
    metadata = obj.get("metadata")
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": api_version,
        "metadata": dict(metadata) if isinstance(metadata, Mapping) else {},
    }


def partial_object_metadata_list(
    objects: Iterable[Mapping[str, Any]],
    *,
    resource_version: str = "",
    continue_token: str = "",
    remaining_item_count: int | None = None,
    api_version: str = META_API_VERSION,
) -> JSONObject:
    """A list answered as metadata only (asPartialObjectMetadataList)."""
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": api_version,
        "metadata": list_metadata(resource_version, continue_token, remaining_item_count),
        "items": [partial_object_metadata(obj, api_version) for obj in objects],
    }
