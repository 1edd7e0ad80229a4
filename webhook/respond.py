"""A Decision as the AdmissionResponse kube-apiserver expects."""

from __future__ import annotations

from kube.admission import AdmissionResponse, allowed_review, encode_review
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


def encode_answer(uid: str, decision: Decision, api_version: str, *, mutating: bool) -> bytes:
    """The AdmissionReview body answering with `decision`, as sent on the wire.

    A plain allowed answer (no warning, patch or audit annotation) is most of the
    traffic and comes from a template, without an AdmissionResponse or dicts.
    """
    if (
        decision.allowed
        and not decision.warnings
        and not decision.audit_annotations
        and not (mutating and decision.patch)
    ):
        return allowed_review(uid, api_version)
    return encode_review(to_response(uid, decision, mutating=mutating), api_version)
