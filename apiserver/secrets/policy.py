"""What the API server does with each object submitted to be written to Git.

- A plain Secret (values in `data`/`stringData`): sealed into the SealedSecret kubeseal
  would make, which is stored (and answered) instead; without a sealing certificate,
  Invalid, saying how to configure sealing or what to submit instead. Its annotations
  must be well-known ones: the template keeps them unencrypted.
- A SealedSecret, an ExternalSecret or a SOPS-encrypted Secret: checked, stored as it is.
- Anything still holding a value that may not be in Git in plaintext (store.secrets,
  the rule the store applies to every file it commits): Invalid, naming each field.
- Anything else: unchanged.

Errors name fields, never values. The strategies call the policy on each declared object
(see ObjectTransformer); the store checks every file it commits again, whatever the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiserver.secrets.certificate import CertificateError, CertificateSource
from apiserver.secrets.references import (
    external_secret_errors,
    is_external_secret,
    is_sealed_secret,
    sealed_secret_errors,
    sops_secret_errors,
)
from apiserver.secrets.sealing import SealingError, is_template_annotation, seal
from apiserver.validation_hook import ObjectValidator
from kube import status
from store.secrets import (
    REDACTED,
    is_core_secret,
    plaintext_fields,
    redacted_fields,
    secret_values,
)

# (declared object, field path prefix such as "spec.object", namespace it goes to ("" when
# cluster-scoped)) -> the object to write instead. Raises status.Invalid (its `errors` are
# FieldErrors below the prefix) or another status.ApiError.
ObjectTransformer = Callable[[dict[str, Any], str, str], dict[str, Any]]

SECRET = status.GroupKind("", "Secret")
HOW_TO_SEAL = (
    "a plain Secret is never written to Git, and this server has no sealing certificate to"
    " seal it with: start the API server (or `gitplane up`) with --sealing-cert PATH (the"
    " sealed-secrets controller's certificate, from `kubeseal --fetch-cert`) or"
    " --sealing-controller, or submit a SealedSecret (made with kubeseal), an ExternalSecret"
    " or a SOPS-encrypted Secret instead"
)


UNSEALED_ANNOTATION = (
    "a Secret's annotations are copied into the SealedSecret's template unencrypted, so only"
    " well-known ones (kubernetes.io/, k8s.io/, sealedsecrets.bitnami.com/, Argo CD, Flux and"
    " Helm) are taken: remove this one, or put what it says in a value"
)
PLACEHOLDER = (
    "is the placeholder the API shows for a plaintext value committed from outside, not a"
    " value: give every value of the Secret (it is then sealed), or replace the Secret with a"
    " SealedSecret, an ExternalSecret or a SOPS-encrypted Secret"
)


class SecretPolicy:
    """The ObjectTransformer for Secrets; `certificates` None means sealing is not configured."""

    def __init__(self, certificates: CertificateSource | None = None) -> None:
        self.certificates = certificates

    def __call__(self, obj: dict[str, Any], path: str, namespace: str) -> dict[str, Any]:
        if placeholders := redacted_fields(obj):
            raise status.Invalid(
                _group_kind(obj),
                _name(obj),
                [
                    status.FieldError.invalid(f"{path}.{f}", REDACTED, PLACEHOLDER)
                    for f in placeholders
                ],
            )
        if is_sealed_secret(obj):
            _raise_if(errors=sealed_secret_errors(obj, path), obj=obj)
        elif is_external_secret(obj):
            _raise_if(errors=external_secret_errors(obj, path), obj=obj)
        elif is_core_secret(obj) and "sops" in obj:
            _raise_if(errors=sops_secret_errors(obj, path), obj=obj)
        elif is_core_secret(obj) and plaintext_fields(obj):
            obj = self._sealed(obj, path, namespace)
        # What the store refuses to commit, refused here with the fields named in full.
        _raise_if(
            errors=[
                status.FieldError.forbidden(f"{path}.{value.field}", value.reason)
                for value in secret_values(obj)
            ],
            obj=obj,
        )
        return obj

    def _sealed(self, obj: dict[str, Any], path: str, namespace: str) -> dict[str, Any]:
        if self.certificates is None:
            fields = plaintext_fields(obj)
            tops = sorted({f.split("[", 1)[0] for f in fields})
            raise status.Invalid(
                SECRET,
                _name(obj),
                [status.FieldError.forbidden(f"{path}.{top}", HOW_TO_SEAL) for top in tops],
            )
        _raise_if(errors=unsealed_annotation_errors(obj, path), obj=obj)
        try:
            certificate = self.certificates.current()
        except CertificateError as exc:
            raise status.ServiceUnavailable(
                f"cannot seal Secret {_name(obj)!r}: {exc}", retry_after_seconds=10
            ) from None
        try:
            return seal(obj, certificate.public_key, namespace)
        except SealingError as exc:
            raise status.Invalid(
                SECRET,
                _name(obj),
                [status.FieldError.invalid(f"{path}.{exc.field}", status.OMITTED, exc.message)],
            ) from None


def unsealed_annotation_errors(obj: dict[str, Any], path: str) -> list[status.FieldError]:
    """A Secret's annotations go into the SealedSecret's template unencrypted (kubeseal
    copies them): only well-known ones are taken, never a note that may hold a value."""
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        return []
    return [
        status.FieldError.forbidden(f"{path}.metadata.annotations[{name}]", UNSEALED_ANNOTATION)
        for name in annotations
        if not is_template_annotation(str(name))
    ]


def _raise_if(*, errors: list[status.FieldError], obj: dict[str, Any]) -> None:
    if errors:
        raise status.Invalid(_group_kind(obj), _name(obj), errors)


def _group_kind(obj: dict[str, Any]) -> status.GroupKind:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return status.GroupKind(group, str(obj.get("kind", "")))


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def secret_safe(validator: ObjectValidator) -> ObjectValidator:
    """`validator`, with Secret values kept out of its errors.

    Schema errors print the bad value (`Invalid value: "..."`); for a Secret's `data`
    and `stringData` fields the value is dropped, and so is any detail that quotes it.
    """

    def validate(obj: dict[str, Any], prefix: str) -> list[status.FieldError]:
        errors = validator(obj, prefix)
        if not errors or not is_core_secret(obj):
            return errors
        values = _value_texts(obj)
        guarded = tuple(f"{prefix}.{f}" if prefix else f for f in ("data", "stringData"))
        safe: list[status.FieldError] = []
        for error in errors:
            quoted = any(v in error.detail for v in values)
            if error.field.startswith(guarded) or quoted:
                detail = "" if quoted else error.detail
                safe.append(status.FieldError(error.type, error.field, status.OMITTED, detail))
            else:
                safe.append(error)
        return safe

    return validate


def _value_texts(obj: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for field in ("data", "stringData"):
        values = obj.get(field)
        if isinstance(values, dict):
            texts += [str(v) for v in values.values() if v is not None and str(v) != ""]
        elif values is not None:
            texts.append(str(values))
    return texts
