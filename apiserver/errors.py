"""Store errors as Kubernetes Status errors, named after the resource that was asked for."""

from __future__ import annotations

from apiserver.resources.info import GROUP
from kube import status
from store import errors as store_errors

_TYPE_PREFIXES = ("Invalid value: ", "Required value", "Forbidden: ")


def to_api_error(
    error: store_errors.StoreError,
    resource: str,
    kind: str,
    name: str,
    *,
    field_prefix: str = "spec.object",
) -> status.ApiError:
    """The Status a client should see for a store failure on `resource`/`name`."""
    gr = status.GroupResource(GROUP, resource)
    if isinstance(error, store_errors.NotFound):
        return status.NotFound(gr, name)
    if isinstance(error, store_errors.AlreadyExists):
        return status.AlreadyExists(gr, name)
    if isinstance(error, store_errors.Conflict):
        if "has been modified" in error.message:
            return status.Conflict(gr, name)
        return status.Conflict(gr, name, error.message)
    if isinstance(error, store_errors.Invalid):
        causes = field_errors(error, field_prefix)
        if not causes:
            causes = [status.FieldError.invalid(field_prefix, status.OMITTED, error.message)]
        return status.Invalid(status.GroupKind(GROUP, kind), name, causes)
    if isinstance(error, store_errors.Expired):
        return status.Expired(error.message)
    if isinstance(error, store_errors.Unavailable):
        return status.ServiceUnavailable(error.message, retry_after_seconds=1)
    return status.InternalError(error.message)


def field_errors(error: store_errors.Invalid, prefix: str) -> list[status.FieldError]:
    """The store's causes as Kubernetes field errors below `prefix` (e.g. spec.object)."""
    return [_field_error(c, prefix) for c in error.causes]


def _field_error(cause: store_errors.FieldCause, prefix: str) -> status.FieldError:
    try:
        kind = status.FieldErrorType(cause.type)
    except ValueError:
        kind = status.FieldErrorType.INVALID
    detail = cause.message
    for text in _TYPE_PREFIXES:
        if detail.startswith(text):
            detail = detail[len(text) :]
    field = f"{prefix}.{cause.field}" if cause.field else prefix
    return status.FieldError(kind, field, status.OMITTED, detail.strip())
