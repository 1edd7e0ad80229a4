"""Kubernetes `Status` errors, typed by reason, rendered byte-for-byte as kube-apiserver does.

Constructors and message wording follow k8s.io/apimachinery/pkg/api/errors/errors.go, and
field errors follow pkg/util/validation/field/errors.go, so kubectl prints exactly what it
prints for a built-in API. JSON keys and omissions follow metav1.Status's struct tags: empty
detail fields are left out, and a cause's type travels under the key "reason".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Final

JSONObject = dict[str, Any]

OPTIMISTIC_LOCK_MESSAGE: Final = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


@dataclass(frozen=True)
class GroupResource:
    """A resource qualified by its API group; prints as `manifests.gitplane.io`."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass(frozen=True)
class GroupKind:
    """A kind qualified by its API group; prints as `Manifest.gitplane.io`."""

    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


# --- Go formatting, so messages read exactly as kube-apiserver's -------------------------------

_GO_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def go_quote(value: str) -> str:
    """Go's `%q` / strconv.Quote: printable Unicode kept, the rest escaped."""
    out = ['"']
    for ch in value:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _go_float(value: float) -> str:
    """Go's `%v` for float64: shortest digits, exponent form outside [1e-4, 1e6)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    # repr() yields the shortest digits that round-trip, as Go's strconv does.
    _, digit_tuple, exp = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exp, int)
    exponent = len(digit_tuple) - 1 + exp
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    if exponent < -4 or exponent >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, frac = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1 :]
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def _go_sharp_v(value: object) -> str:
    """Go's `%#v` for values decoded from JSON (interface{} trees)."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        items = ", ".join(f"{go_quote(str(k))}:{_go_sharp_v(v)}" for k, v in sorted(value.items()))
        return f"map[string]interface {{}}{{{items}}}"
    if isinstance(value, list | tuple):
        element = "string" if value and all(isinstance(v, str) for v in value) else "interface {}"
        return f"[]{element}{{{', '.join(_go_sharp_v(v) for v in value)}}}"
    return go_quote(str(value))


def go_value(value: object) -> str:
    """How field.Error prints a bad value: quoted strings, plain scalars, `null` for nil."""
    # Scalars print as %#v prints them; only nil differs.
    return "null" if value is None else _go_sharp_v(value)


# --- field errors ------------------------------------------------------------------------------


class FieldErrorType(StrEnum):
    """field.ErrorType; the value is the cause type clients see."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"

    @property
    def text(self) -> str:
        return _FIELD_ERROR_TEXT[self]


_FIELD_ERROR_TEXT: Final = {
    FieldErrorType.NOT_FOUND: "Not found",
    FieldErrorType.REQUIRED: "Required value",
    FieldErrorType.DUPLICATE: "Duplicate value",
    FieldErrorType.INVALID: "Invalid value",
    FieldErrorType.NOT_SUPPORTED: "Unsupported value",
    FieldErrorType.FORBIDDEN: "Forbidden",
    FieldErrorType.TOO_LONG: "Too long",
    FieldErrorType.TOO_MANY: "Too many",
    FieldErrorType.INTERNAL: "Internal error",
    FieldErrorType.TYPE_INVALID: "Invalid value",
}

# These types never print their bad value (field.Error.ErrorBody).
_VALUELESS: Final = frozenset(
    {
        FieldErrorType.REQUIRED,
        FieldErrorType.FORBIDDEN,
        FieldErrorType.TOO_LONG,
        FieldErrorType.INTERNAL,
    }
)


class _Omitted:
    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Final = _Omitted()
"""A bad value that must not be printed (field's omitValue)."""


@dataclass(frozen=True)
class FieldError:
    """One validation failure at a field path, as field.Error."""

    type: FieldErrorType
    field: str
    bad_value: object = OMITTED
    detail: str = ""

    def body(self) -> str:
        """The message without the field path (field.Error.ErrorBody)."""
        if self.type in _VALUELESS or isinstance(self.bad_value, _Omitted):
            text = self.type.text
        else:
            text = f"{self.type.text}: {go_value(self.bad_value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def as_cause(self) -> StatusCause:
        return StatusCause(reason=self.type.value, message=self.body(), field=self.field)

    @classmethod
    def invalid(cls, field: str, value: object, detail: str) -> FieldError:
        return cls(FieldErrorType.INVALID, field, value, detail)

    @classmethod
    def type_invalid(cls, field: str, value: object, detail: str) -> FieldError:
        return cls(FieldErrorType.TYPE_INVALID, field, value, detail)

    @classmethod
    def required(cls, field: str, detail: str = "") -> FieldError:
        return cls(FieldErrorType.REQUIRED, field, "", detail)

    @classmethod
    def forbidden(cls, field: str, detail: str) -> FieldError:
        return cls(FieldErrorType.FORBIDDEN, field, "", detail)

    @classmethod
    def duplicate(cls, field: str, value: object) -> FieldError:
        return cls(FieldErrorType.DUPLICATE, field, value)

    @classmethod
    def not_found(cls, field: str, value: object) -> FieldError:
        return cls(FieldErrorType.NOT_FOUND, field, value)

    @classmethod
    def not_supported(cls, field: str, value: object, supported: Sequence[str]) -> FieldError:
        detail = ("supported values: " + ", ".join(map(go_quote, supported))) if supported else ""
        return cls(FieldErrorType.NOT_SUPPORTED, field, value, detail)

    @classmethod
    def too_long(cls, field: str, max_bytes: int) -> FieldError:
        return cls(FieldErrorType.TOO_LONG, field, OMITTED, f"must have at most {max_bytes} bytes")

    @classmethod
    def too_many(cls, field: str, actual: int, maximum: int) -> FieldError:
        detail = f"must have at most {maximum} items" if maximum >= 0 else "has too many items"
        return cls(FieldErrorType.TOO_MANY, field, actual if actual >= 0 else OMITTED, detail)

    @classmethod
    def internal(cls, field: str, message: str) -> FieldError:
        return cls(FieldErrorType.INTERNAL, field, None, message)


def aggregate_message(errors: Iterable[object]) -> str:
    """errs.ToAggregate().Error(): duplicates dropped, one alone, several as `[a, b]`."""
    seen: list[str] = []
    for error in errors:
        text = str(error)
        if text not in seen:
            seen.append(text)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]" if seen else ""


# --- Status ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusCause:
    """metav1.StatusCause; `reason` is the cause type (json key "reason")."""

    reason: str = ""
    message: str = ""
    field: str = ""

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        for key, value in (
            ("reason", self.reason),
            ("message", self.message),
            ("field", self.field),
        ):
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class StatusDetails:
    """metav1.StatusDetails. `kind` holds the resource name for resource errors, as upstream."""

    name: str = ""
    group: str = ""
    kind: str = ""
    uid: str = ""
    causes: tuple[StatusCause, ...] = ()
    retry_after_seconds: int = 0

    def to_json(self) -> JSONObject:
        out: JSONObject = {}
        for key, value in (
            ("name", self.name),
            ("group", self.group),
            ("kind", self.kind),
            ("uid", self.uid),
        ):
            if value:
                out[key] = value
        if self.causes:
            out["causes"] = [cause.to_json() for cause in self.causes]
        if self.retry_after_seconds:
            out["retryAfterSeconds"] = self.retry_after_seconds
        return out


def _resource_details(resource: GroupResource, name: str = "") -> StatusDetails:
    return StatusDetails(name=name, group=resource.group, kind=resource.resource)


class ApiError(Exception):
    """An error with a Kubernetes reason and HTTP code; `status()` is the response body."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(self, message: str, details: StatusDetails | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def status(self) -> JSONObject:
        body: JSONObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
        }
        if self.message:
            body["message"] = self.message
        body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details.to_json()
        body["code"] = self.code
        return body

    def headers(self) -> dict[str, str]:
        """Response headers kube-apiserver sends with this error (Retry-After)."""
        if self.details is not None and self.details.retry_after_seconds > 0:
            return {"Retry-After": str(self.details.retry_after_seconds)}
        return {}


class NotFound(ApiError):
    code = 404
    reason = "NotFound"

    def __init__(self, resource: GroupResource, name: str) -> None:
        super().__init__(
            f"{resource} {go_quote(name)} not found", _resource_details(resource, name)
        )


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"

    def __init__(self, resource: GroupResource, name: str) -> None:
        message = f"{resource} {go_quote(name)} already exists"
        super().__init__(message, _resource_details(resource, name))


class Conflict(ApiError):
    """A stale resourceVersion or another concurrent change (NewConflict)."""

    code = 409
    reason = "Conflict"

    def __init__(
        self, resource: GroupResource, name: str, why: str = OPTIMISTIC_LOCK_MESSAGE
    ) -> None:
        message = f"Operation cannot be fulfilled on {resource} {go_quote(name)}: {why}"
        super().__init__(message, _resource_details(resource, name))


class ApplyConflict(Conflict):
    """Server-side apply field-manager conflicts (NewApplyConflict): causes only, no name."""

    def __init__(self, causes: Sequence[StatusCause], message: str) -> None:
        ApiError.__init__(self, message, StatusDetails(causes=tuple(causes)))


class Invalid(ApiError):
    code = 422
    reason = "Invalid"

    def __init__(self, kind: GroupKind, name: str, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        summary = aggregate_message(self.errors)
        message = f"{kind} {go_quote(name)} is invalid"
        if summary:
            message += f": {summary}"
        details = StatusDetails(
            name=name,
            group=kind.group,
            kind=kind.kind,
            causes=tuple(error.as_cause() for error in self.errors),
        )
        super().__init__(message, details)


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    """401; kube-apiserver's authentication filter says just "Unauthorized"."""

    code = 401
    reason = "Unauthorized"

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message or "not authorized")


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"

    def __init__(self, resource: GroupResource | None, name: str, why: str) -> None:
        if resource is None or (not resource.group and not resource.resource):
            message = f"forbidden: {why}"
        elif not name:
            message = f"{resource} is forbidden: {why}"
        else:
            message = f"{resource} {go_quote(name)} is forbidden: {why}"
        resource = resource or GroupResource("", "")
        super().__init__(message, _resource_details(resource, name))

    @classmethod
    def for_request(
        cls,
        user: str,
        verb: str,
        *,
        group: str = "",
        resource: str = "",
        subresource: str = "",
        namespace: str = "",
        name: str = "",
        path: str = "",
        why: str = "",
    ) -> Forbidden:
        """The authorization filter's denial (responsewriters.Forbidden / forbiddenMessage)."""
        if not resource:
            text = f"User {go_quote(user)} cannot {verb} path {go_quote(path)}"
        else:
            target = f"{resource}/{subresource}" if subresource else resource
            text = (
                f"User {go_quote(user)} cannot {verb} resource {go_quote(target)}"
                f" in API group {go_quote(group)}"
            )
            text += (
                f" in the namespace {go_quote(namespace)}" if namespace else " at the cluster scope"
            )
        if why:
            text = f"{text}: {why}"
        return cls(GroupResource(group, resource) if resource else None, name, text)


class MethodNotAllowed(ApiError):
    """405. `allowed`: the methods the target does take, sent as the `Allow` header that
    RFC 9110 requires on a 405 (the API server's status middleware fills it in for the
    resource when the raiser could not know it)."""

    code = 405
    reason = "MethodNotAllowed"

    def __init__(
        self, resource: GroupResource, action: str, allowed: Sequence[str] | None = None
    ) -> None:
        message = f"{action} is not supported on resources of kind {go_quote(str(resource))}"
        super().__init__(message, _resource_details(resource))
        self.allowed = tuple(allowed) if allowed is not None else None

    @classmethod
    def for_route(cls, allowed: Sequence[str]) -> MethodNotAllowed:
        """A path that takes no such method at all (NewGenericServerResponse's wording)."""
        error = cls(GroupResource("", ""), "", allowed)
        error.message = "the server does not allow this method on the requested resource"
        error.details = StatusDetails()
        return error

    def headers(self) -> dict[str, str]:
        if self.allowed is None:
            return super().headers()
        return {**super().headers(), "Allow": ", ".join(self.allowed)}


class NotAcceptable(ApiError):
    code = 406
    reason = "NotAcceptable"

    @classmethod
    def for_media_types(cls, accepted: Sequence[str]) -> NotAcceptable:
        return cls(f"only the following media types are accepted: {', '.join(accepted)}")


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"

    @classmethod
    def for_media_types(cls, accepted: Sequence[str]) -> UnsupportedMediaType:
        return cls(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted)
        )


class Expired(ApiError):
    """410 with reason Expired: a resourceVersion or continue token that is too old."""

    code = 410
    reason = "Expired"

    @classmethod
    def too_old_resource_version(cls, requested: int | str, oldest: int | str) -> Expired:
        """The watch cache's wording for a watch from before the retained history."""
        return cls(f"too old resource version: {requested} ({oldest})")


class Gone(ApiError):
    """410 with reason Gone (the older NewGone); some clients still match on it."""

    code = 410
    reason = "Gone"


class RequestEntityTooLarge(ApiError):
    code = 413
    reason = "RequestEntityTooLarge"

    def __init__(self, message: str) -> None:
        super().__init__(f"Request entity too large: {message}")

    @classmethod
    def over_limit(cls, limit_bytes: int) -> RequestEntityTooLarge:
        return cls(f"limit is {limit_bytes}")


class RequestHeaderFieldsTooLarge(ApiError):
    """431: the request line and headers are over kube-apiserver's MaxHeaderBytes (1 MiB).

    net/http answers this one itself, in plain text; metav1 has no reason for it, so it is
    named after the HTTP status, as RequestEntityTooLarge is."""

    code = 431
    reason = "RequestHeaderFieldsTooLarge"

    def __init__(self, message: str) -> None:
        super().__init__(f"Request header fields too large: {message}")

    @classmethod
    def over_limit(cls, limit_bytes: int) -> RequestHeaderFieldsTooLarge:
        return cls(f"limit is {limit_bytes}")


class TooManyRequests(ApiError):
    code = 429
    reason = "TooManyRequests"

    def __init__(self, message: str, retry_after_seconds: int = 0) -> None:
        super().__init__(message, StatusDetails(retry_after_seconds=retry_after_seconds))


class InternalError(ApiError):
    code = 500
    reason = "InternalError"

    def __init__(self, error: BaseException | str) -> None:
        text = str(error)
        super().__init__(
            f"Internal error occurred: {text}", StatusDetails(causes=(StatusCause(message=text),))
        )


class ServiceUnavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"

    def __init__(self, message: str, retry_after_seconds: int = 0) -> None:
        details = (
            StatusDetails(retry_after_seconds=retry_after_seconds) if retry_after_seconds else None
        )
        super().__init__(message, details)


class Timeout(ApiError):
    code = 504
    reason = "Timeout"

    def __init__(self, message: str, retry_after_seconds: int = 0) -> None:
        super().__init__(
            f"Timeout: {message}", StatusDetails(retry_after_seconds=retry_after_seconds)
        )


def as_api_error(error: BaseException) -> ApiError:
    """An ApiError as is; anything else becomes a 500 InternalError carrying its text."""
    return error if isinstance(error, ApiError) else InternalError(error)


def success_status(resource: GroupResource, name: str, uid: str = "") -> JSONObject:
    """The body of a successful DELETE when the deleted object is not returned (finalizeDelete)."""
    details = StatusDetails(name=name, group=resource.group, kind=resource.resource, uid=uid)
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details.to_json(),
    }
