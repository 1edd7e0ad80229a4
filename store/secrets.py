"""Secret values and Git: which values of a document must never be stored in plaintext.

One function, `secret_values`, decides it for every reader: the write path refuses
to commit a document that has any (store.commit_check), the API serves such documents
committed from outside with those values as `<redacted>`, revision diffs redact them,
`gitplane scan` and the plaintext metric count them. What may carry a Secret in Git
(docs/secrets.md):

- a Secret (core/v1; also the near-misses `kind: secret`, `apiVersion: core/v1` or
  `v1beta1`, which Kubernetes would refuse but a careless file may hold): no value in
  `data` or `stringData` unless the whole document is SOPS-encrypted (top-level `sops`
  with a `mac`, every value an `ENC[AES256_GCM,...]` string); no fields a Secret does
  not have (a value there would be stored as it is);
- a SealedSecret: values only in `spec.encryptedData`, each shaped as kubeseal seals
  (a 2-byte length equal to an RSA modulus size, a ciphertext that looks random, an
  AES-GCM part with its 16-byte tag); nothing in `data`, `stringData` or the template's
  `data`/`stringData`, which the controller would copy out unencrypted. gitplane cannot
  decrypt, so a value forged to look sealed is not caught;
- an ExternalSecret (or ClusterExternalSecret): its target template may only template
  values fetched from the store (`{{ .key }}`), never hold literal ones;
- any object: an annotation copying a whole object (`last-applied-configuration`) must
  not copy any of the above.

Nothing here ever returns, logs or formats a value: findings name the field.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from store.errors import FieldCause
from store.loader import LoadError, load_json

REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted (changed)>"
PLACEHOLDERS = (REDACTED, REDACTED_CHANGED)
VALUE_FIELDS = ("data", "stringData")
PLAINTEXT_MESSAGE = (
    "Forbidden: a Secret value must never be written to Git in plaintext; submit the Secret"
    " through the gitplane API server with sealing configured, or commit a SealedSecret,"
    " an ExternalSecret or a SOPS-encrypted Secret instead"
)
# Annotations that carry a whole copy of the object, values included.
COPY_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
)
SECRET_FIELDS = frozenset(
    {"apiVersion", "kind", "metadata", "type", "immutable", "data", "stringData", "sops"}
)
_B64 = r"[A-Za-z0-9+/=]"
SOPS_VALUE = re.compile(rf"^ENC\[AES256_GCM,data:{_B64}*,iv:{_B64}+,tag:{_B64}+,type:[a-z]+\]$")
# Every way a document can name a Secret-like kind spells "ecret", unless an escape in a
# quoted string hides it: text with neither cannot hold a secret value.
_MAY_HOLD_SECRET = re.compile(r"ecret|ECRET|\\", re.IGNORECASE)
# RSA modulus sizes kubeseal's controller keys come in (1024 to 4096 bits), and AES-GCM's tag.
SEALED_KEY_SIZES = frozenset({128, 256, 384, 512})
GCM_TAG_BYTES = 16

_PLAINTEXT = "a Secret value must never be written to Git in plaintext"
_UNKNOWN_FIELD = "is not a field of a Secret: a value there would be stored in plaintext"
_SEALED_PLAINTEXT = (
    "a SealedSecret keeps its values sealed in spec.encryptedData; the controller copies"
    " this field out unencrypted, so a value here would be stored in plaintext"
)
_NOT_SEALED = (
    "must be a value sealed by kubeseal: standard base64 of a 2-byte length equal to the"
    " RSA key size, the RSA ciphertext and the AES-GCM ciphertext"
)
_LITERAL_TEMPLATE = (
    "a literal value in an ExternalSecret's template would be stored in plaintext; template"
    " it from the values fetched from the secret store ({{ .key }})"
)
_COPIES_VALUES = "copies the object with its secret values, which would be stored in plaintext"


@dataclass(frozen=True)
class SecretValue:
    """A value of a document that may not be in Git as it is: where, and why (no value)."""

    path: tuple[str | int, ...]  # keys and list indexes from the document's root
    reason: str

    @property
    def field(self) -> str:
        """`stringData[password]`, `items[0].data[token]`, `spec.template.data[k]`."""
        return field_path(self.path)


def field_path(path: tuple[str | int, ...]) -> str:
    out = ""
    parent: str | int | None = None
    for step in path:
        if isinstance(step, int) or parent in (
            "data",
            "stringData",
            "encryptedData",
            "annotations",
        ):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else step
        parent = step
    return out


def may_hold_secret(text: str) -> bool:
    """False when `text` certainly holds no secret value (most files: then no walk)."""
    return _MAY_HOLD_SECRET.search(text) is not None


def secret_values(doc: Any) -> list[SecretValue]:
    """Every value of `doc` (a whole document, List items included) that must not be
    stored in plaintext, in document order."""
    found: list[SecretValue] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(doc, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            found += _values_of_object(value, path)
            stack.extend((v, (*path, k)) for k, v in reversed(value.items()) if isinstance(k, str))
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(value))))
    return found


def is_core_secret(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("apiVersion") == "v1" and obj.get("kind") == "Secret"


def is_secret_like(obj: Any) -> bool:
    """A Secret, or a near-miss spelling of one (`kind: secret`, `apiVersion: core/v1`)."""
    if not isinstance(obj, dict) or _kind(obj) != "secret":
        return False
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str):
        return True
    group = api_version.rpartition("/")[0]
    return group in ("", "core")


def has_sops_mac(obj: dict[str, Any]) -> bool:
    sops = obj.get("sops")
    return isinstance(sops, dict) and isinstance(sops.get("mac"), str) and bool(sops["mac"])


def is_sops_value(value: Any) -> bool:
    return isinstance(value, str) and SOPS_VALUE.match(value) is not None


def is_sealed_value(value: Any) -> bool:
    """Whether `value` is shaped as kubeseal's hybrid ciphertext (it is never decrypted)."""
    if not isinstance(value, str) or not value:
        return False
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) < 2:
        return False
    wrapped = int.from_bytes(raw[:2], "big")
    if wrapped not in SEALED_KEY_SIZES or len(raw) < 2 + wrapped + GCM_TAG_BYTES:
        return False
    # An RSA ciphertext is a number below the modulus, its bytes as good as random: about
    # 100 distinct byte values in 128 bytes, 220 in 512. Text padded to the size is not.
    distinct = len(set(raw[2 : 2 + wrapped]))
    return distinct >= 0.4 * min(wrapped, 256)


def plaintext_fields(obj: Any) -> list[str]:
    """Field paths (`data[password]`) of the values of `obj` that may not be in Git."""
    return [value.field for value in secret_values(obj)]


def plaintext_secret_problems(obj: Any) -> list[FieldCause]:
    """One cause per value of `obj` that may not be stored in plaintext."""
    return [
        FieldCause(value.field, f"Forbidden: {value.reason}", "FieldValueForbidden")
        for value in secret_values(obj)
    ]


def served_secret(obj: Any, holds_secret: bool = True) -> tuple[Any, list[str]]:
    """`obj` as the API may show it, and the fields hidden: every secret value (committed
    from outside: gitplane never writes one) reads `<redacted>`. `holds_secret` False
    (the parse found none) returns `obj` untouched without looking."""
    if not holds_secret:
        return obj, []
    values = secret_values(obj)
    if not values:
        return obj, []
    return redact(obj, values), [value.field for value in values]


def redact(obj: Any, values: list[SecretValue]) -> Any:
    """A copy of `obj` with each of `values` replaced by the placeholder."""
    served = copy.deepcopy(obj)
    for value in values:
        parent = served
        for step in value.path[:-1]:
            parent = parent[step]
        parent[value.path[-1]] = REDACTED
    return served


def redacted_fields(obj: Any) -> list[str]:
    """The secret values of `obj` that are the placeholder `served_secret` shows, not
    values: an object read from the API and sent back as it was."""
    found = []
    for value in secret_values(obj):
        current = obj
        for step in value.path:
            current = current[step]
        if current in PLACEHOLDERS:
            found.append(value.field)
    return found


def _kind(obj: dict[str, Any]) -> str | None:
    kind = obj.get("kind")
    return kind.lower() if isinstance(kind, str) else None


def _values_of_object(obj: dict[str, Any], path: tuple[str | int, ...]) -> list[SecretValue]:
    kind = _kind(obj)
    found: list[SecretValue] = []
    if kind == "secret" and is_secret_like(obj):
        found += _secret_values(obj, path, sops=not path and has_sops_mac(obj))
    elif kind == "sealedsecret":
        found += _sealed_secret_values(obj, path)
    elif kind in ("externalsecret", "clusterexternalsecret"):
        found += _external_secret_values(obj, path)
    found += _copy_annotation_values(obj, path, secret_like=kind == "secret")
    return found


def _secret_values(
    obj: dict[str, Any], path: tuple[str | int, ...], *, sops: bool
) -> list[SecretValue]:
    found: list[SecretValue] = []
    for field, values in obj.items():
        if field in ("data", "stringData"):
            found += _map_values(
                values, (*path, field), _PLAINTEXT, allowed=_sops if sops else None
            )
        elif field not in SECRET_FIELDS and not _empty(values):
            found.append(SecretValue((*path, str(field)), _UNKNOWN_FIELD))
    return found


def _sops(value: Any) -> bool:
    return is_sops_value(value)


def _sealed_secret_values(obj: dict[str, Any], path: tuple[str | int, ...]) -> list[SecretValue]:
    found: list[SecretValue] = []
    for field in VALUE_FIELDS:
        found += _map_values(obj.get(field), (*path, field), _SEALED_PLAINTEXT)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return found
    encrypted = spec.get("encryptedData")
    found += _map_values(encrypted, (*path, "spec", "encryptedData"), _NOT_SEALED, is_sealed_value)
    if not _empty(spec.get("data")) and not is_sealed_value(spec.get("data")):
        found.append(SecretValue((*path, "spec", "data"), _NOT_SEALED))
    template = spec.get("template")
    if isinstance(template, dict):
        for field in VALUE_FIELDS:
            where = (*path, "spec", "template", field)
            found += _map_values(template.get(field), where, _SEALED_PLAINTEXT)
    return found


def _external_secret_values(obj: dict[str, Any], path: tuple[str | int, ...]) -> list[SecretValue]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    where: tuple[str | int, ...] = (*path, "spec")
    if _kind(obj) == "clusterexternalsecret":
        spec = spec.get("externalSecretSpec")
        where = (*where, "externalSecretSpec")
    target = spec.get("target") if isinstance(spec, dict) else None
    template = target.get("template") if isinstance(target, dict) else None
    if not isinstance(template, dict):
        return []
    where = (*where, "target", "template")
    found = _map_values(template.get("data"), (*where, "data"), _LITERAL_TEMPLATE, _templated)
    sources = template.get("templateFrom")
    for index, source in enumerate(sources if isinstance(sources, list) else []):
        literal = source.get("literal") if isinstance(source, dict) else None
        if not _empty(literal) and not _templated(literal):
            found.append(SecretValue((*where, "templateFrom", index, "literal"), _LITERAL_TEMPLATE))
    return found


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _copy_annotation_values(
    obj: dict[str, Any], path: tuple[str | int, ...], *, secret_like: bool
) -> list[SecretValue]:
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        return []
    found = []
    for name in COPY_ANNOTATIONS:
        text = annotations.get(name)
        if not isinstance(text, str) or not (secret_like or may_hold_secret(text)):
            continue
        try:
            copied = load_json(text)
        except LoadError:
            leaks = secret_like  # unreadable: a Secret's copy may hold anything
        else:
            if secret_like and isinstance(copied, dict):  # a copy of this Secret, kind or not
                copied = {**copied, "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind")}
            leaks = bool(secret_values(copied)) or (secret_like and not isinstance(copied, dict))
        if leaks:
            found.append(SecretValue((*path, "metadata", "annotations", name), _COPIES_VALUES))
    return found


def _map_values(
    values: Any,
    path: tuple[str | int, ...],
    reason: str,
    allowed: Any = None,
) -> list[SecretValue]:
    """The values of a field holding a map of values; `allowed(value)` True lets one be."""
    if _empty(values):
        return []
    if not isinstance(values, dict):
        return [] if allowed is not None and allowed(values) else [SecretValue(path, reason)]
    return [
        SecretValue((*path, str(name)), reason)
        for name, value in values.items()
        if not _empty(value) and not (allowed is not None and allowed(value))
    ]


def _empty(value: Any) -> bool:
    return value is None or value in ("", {}, [])


def objects_of(doc: Any) -> Iterator[tuple[int | None, Any]]:
    """The objects of one document: the items of a `List`, else the document itself."""
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List"):
            yield from enumerate(doc["items"])
            return
    yield None, doc
