"""Checks for the kinds that keep a Secret in Git without its values.

- SealedSecret (bitnami.com/v1alpha1): values sealed for the controller (see sealing.py);
  checked to be well-formed, never decrypted.
- ExternalSecret (external-secrets.io/v1, and the legacy v1beta1): a reference to a
  secret store; checked for a store reference, something to fetch and valid keys.
- A SOPS-encrypted Secret: kept as it is, never decrypted; every value must be encrypted.

Every function returns every error found, with its field path and never a value.
"""

from __future__ import annotations

import re
from typing import Any

from apiserver.secrets.sealing import API_VERSION as SEALED_SECRET_API_VERSION
from kube.status import OMITTED, FieldError, go_quote
from store.secrets import has_sops_mac, is_sealed_value, is_sops_value

EXTERNAL_SECRET_VERSIONS = ("external-secrets.io/v1", "external-secrets.io/v1beta1")
STORE_KINDS = ("SecretStore", "ClusterSecretStore")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_MAX_KEY = 253
_GCM_TAG = 16


def secret_key_errors(key: object) -> list[str]:
    """Kubernetes' IsConfigMapKey: the rule for the keys of a Secret's data."""
    if not isinstance(key, str) or not key:
        return ["must be a non-empty string"]
    errors = []
    if len(key) > _MAX_KEY:
        errors.append(f"must be no more than {_MAX_KEY} characters")
    if not _KEY.match(key):
        errors.append(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
            " (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is"
            " '[-._a-zA-Z0-9]+')"
        )
    if key in (".", "..") or key.startswith(".."):
        errors.append("must not be '.' or '..' or start with '..'")
    return errors


def is_sealed_secret(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("apiVersion") == SEALED_SECRET_API_VERSION
        and obj.get("kind") == "SealedSecret"
    )


def is_external_secret(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("apiVersion") in EXTERNAL_SECRET_VERSIONS
        and obj.get("kind") == "ExternalSecret"
    )


def sealed_secret_errors(obj: dict[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [FieldError.required(f"{path}.spec", "a SealedSecret needs spec.encryptedData")]
    if spec.get("data") is not None:
        errors.append(
            FieldError.forbidden(
                f"{path}.spec.data",
                "the single-blob format is deprecated and not unsealed by default;"
                " seal again with kubeseal (spec.encryptedData)",
            )
        )
    encrypted = spec.get("encryptedData")
    where = f"{path}.spec.encryptedData"
    if not isinstance(encrypted, dict) or not encrypted:
        if not (spec.get("data") is not None and encrypted is None):
            errors.append(FieldError.required(where, "the sealed values, by key"))
        return errors
    for key, value in encrypted.items():
        field = f"{where}[{key}]"
        errors += [FieldError.invalid(field, key, m) for m in secret_key_errors(key)]
        if not is_sealed_value(value):
            errors.append(
                FieldError.invalid(
                    field,
                    OMITTED,
                    "must be a value sealed by kubeseal: standard base64 of a 2-byte length"
                    " equal to the RSA key size, the RSA ciphertext and the AES-GCM ciphertext",
                )
            )
    template = spec.get("template")
    if template is not None and not isinstance(template, dict):
        errors.append(
            FieldError.type_invalid(f"{path}.spec.template", OMITTED, "must be an object")
        )
    elif isinstance(template, dict):
        meta = template.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            errors.append(
                FieldError.type_invalid(
                    f"{path}.spec.template.metadata", OMITTED, "must be an object"
                )
            )
    return errors


def external_secret_errors(obj: dict[str, Any], path: str) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [FieldError.required(f"{path}.spec", "an ExternalSecret needs a spec")]
    errors: list[FieldError] = []
    errors += _store_ref_errors(spec.get("secretStoreRef"), f"{path}.spec.secretStoreRef")
    data, data_from = spec.get("data"), spec.get("dataFrom")
    if not data and not data_from:
        errors.append(
            FieldError.required(f"{path}.spec.data", "an ExternalSecret must set data or dataFrom")
        )
    if data is not None and not isinstance(data, list):
        errors.append(FieldError.type_invalid(f"{path}.spec.data", OMITTED, "must be a list"))
    elif data:
        errors += _data_errors(data, f"{path}.spec.data")
    if data_from is not None and not isinstance(data_from, list):
        errors.append(FieldError.type_invalid(f"{path}.spec.dataFrom", OMITTED, "must be a list"))
    elif data_from:
        for index, source in enumerate(data_from):
            if not isinstance(source, dict) or not (
                source.get("extract") or source.get("find") or source.get("sourceRef")
            ):
                errors.append(
                    FieldError.required(
                        f"{path}.spec.dataFrom[{index}]", "one of extract, find or sourceRef"
                    )
                )
    return errors


def _store_ref_errors(ref: object, where: str) -> list[FieldError]:
    if not isinstance(ref, dict):
        return [FieldError.required(where, "the SecretStore or ClusterSecretStore to read from")]
    errors: list[FieldError] = []
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        errors.append(FieldError.required(f"{where}.name"))
    kind = ref.get("kind", "SecretStore")
    if kind not in STORE_KINDS:
        errors.append(FieldError.not_supported(f"{where}.kind", kind, STORE_KINDS))
    return errors


def _data_errors(data: list[Any], where: str) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        field = f"{where}[{index}]"
        if not isinstance(item, dict):
            errors.append(FieldError.type_invalid(field, OMITTED, "must be an object"))
            continue
        key = item.get("secretKey")
        if key is None:
            errors.append(FieldError.required(f"{field}.secretKey"))
        else:
            errors += [
                FieldError.invalid(f"{field}.secretKey", key, m) for m in secret_key_errors(key)
            ]
            if isinstance(key, str):
                if key in seen:
                    errors.append(FieldError.duplicate(f"{field}.secretKey", key))
                seen.add(key)
        remote = item.get("remoteRef")
        has_source = isinstance(item.get("sourceRef"), dict)
        missing_key = not isinstance(remote, dict) or not remote.get("key")
        if missing_key and not has_source:
            errors.append(
                FieldError.required(f"{field}.remoteRef.key", "the key in the secret store")
            )
    return errors


def sops_secret_errors(obj: dict[str, Any], path: str) -> list[FieldError]:
    """A Secret that carries SOPS metadata must be encrypted throughout (never decrypted)."""
    errors: list[FieldError] = []
    if not has_sops_mac(obj):
        errors.append(
            FieldError.required(f"{path}.sops.mac", "SOPS metadata must carry the document's mac")
        )
    for field in ("data", "stringData"):
        values = obj.get(field)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if value is None or value == "" or is_sops_value(value):
                continue
            errors.append(
                FieldError.forbidden(
                    f"{path}.{field}[{key}]",
                    "a SOPS-encrypted Secret must have every value encrypted"
                    f" ({go_quote('ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]')})",
                )
            )
    return errors
