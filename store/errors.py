"""Typed store errors. No HTTP here: the API server maps each reason to a Kubernetes Status."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldCause:
    """One reason an object is invalid, with the field path it concerns."""

    field: str
    message: str
    type: str = "FieldValueInvalid"


class StoreError(Exception):
    """Base of every error the store raises on purpose."""

    reason = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StoreError):
    reason = "NotFound"


class AlreadyExists(StoreError):
    reason = "AlreadyExists"


class Conflict(StoreError):
    """The object (or the branch) changed since the caller looked, or a revert cannot apply."""

    reason = "Conflict"

    def __init__(self, message: str, objects: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.objects = objects


class Invalid(StoreError):
    reason = "Invalid"

    def __init__(self, message: str, causes: list[FieldCause] | None = None) -> None:
        super().__init__(message)
        self.causes: list[FieldCause] = list(causes or [])


class Expired(StoreError):
    """A resourceVersion that is no longer in the branch's history (rewritten or too old)."""

    reason = "Expired"


class Unavailable(StoreError):
    reason = "ServiceUnavailable"


@dataclass(frozen=True)
class Problem:
    """A document in the repository that could not be loaded as an object; reported, not fatal."""

    path: str
    line: int
    message: str
    details: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"
