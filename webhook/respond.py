"""A Decision as the AdmissionResponse kube-apiserver expects."""

from __future__ import annotations

from kube.admission import AdmissionResponse
from webhook.decide import Decision


def to_response(uid: str, decision: Decision, *, mutating: bool) -> AdmissionResponse:
    """Validating answers may not carry a patch, so it is dropped unless mutating."""
    return AdmissionResponse(
        uid=uid,
        allowed=decision.allowed,
        code=200 if decision.allowed else 403,
        reason="" if decision.allowed else "Forbidden",
        message=decision.message,
        warnings=decision.warnings,
        patch=list(decision.patch) if mutating and decision.patch else None,
        audit_annotations=decision.audit_annotations,
    )
