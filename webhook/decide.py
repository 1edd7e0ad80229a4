"""The admission decision: a review and Git's desired state in, a Decision out.

Pure: no HTTP, no clock (`now` is passed), no logging. Both endpoints take the same
decision; only the mutating one also carries a patch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from kube.admission import AdmissionRequest
from webhook import messages
from webhook.annotate import (
    BREAK_GLASS,
    BREAK_GLASS_AT,
    BREAK_GLASS_BY,
    DRIFT,
    annotation_patch,
    annotations_of,
)
from webhook.config import MODES, WebhookConfig
from webhook.desired import Declared, DesiredState
from webhook.drift import FieldDrift, GroupKind, find_drift

# Kinds served with a `scale` subresource: the review carries an autoscaling/v1 Scale,
# so the parent kind has to come from the resource.
SCALE_PARENTS = {
    ("apps", "deployments"): "Deployment",
    ("apps", "replicasets"): "ReplicaSet",
    ("apps", "statefulsets"): "StatefulSet",
    ("", "replicationcontrollers"): "ReplicationController",
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # ignored|status|exempt|unmanaged|off|undeclared|allowed|warned|denied|break-glass
    result: str
    mode: str = "-"
    message: str = ""
    warnings: tuple[str, ...] = ()
    patch: tuple[dict[str, Any], ...] = ()
    audit_annotations: Mapping[str, str] = field(default_factory=dict)
    log: str = ""  # a line worth logging; field paths only, never values


# Answers that carry nothing but a result (and a mode), shared rather than rebuilt.
_IGNORED = Decision(True, "ignored")
_STATUS = Decision(True, "status")
_EXEMPT = Decision(True, "exempt")
_UNMANAGED = Decision(True, "unmanaged")
_NAMESPACE = GroupKind("", "Namespace")


@functools.lru_cache(maxsize=512)  # a cluster has a bounded set of kinds
def _group_kind(group: str, kind: str) -> GroupKind:
    return GroupKind(group, kind)


@functools.lru_cache(maxsize=64)
def _plain(result: str, mode: str) -> Decision:
    return Decision(True, result, mode)


class _Target(NamedTuple):
    group_kind: GroupKind | None  # None: a subresource whose parent kind is unknown
    lookup_namespace: str  # "" for cluster-scoped objects
    namespace: str  # the namespace whose policy applies ("" when cluster-scoped)
    name: str


def decide(
    request: AdmissionRequest,
    desired: DesiredState,
    config: WebhookConfig,
    *,
    mutating: bool,
    now: datetime,
) -> Decision:
    # Cheapest verdicts first: nothing below is computed for exempt identities,
    # status writes or namespaces Git does not manage.
    if request.operation == "CONNECT":
        return _IGNORED
    if request.sub_resource == "status":
        return _STATUS
    if config.is_exempt(request.user):
        return _EXEMPT
    target = _target(request)
    if target.namespace and not desired.is_managed(target.namespace):
        return _UNMANAGED
    mode, mode_warnings = _mode(desired, config, target.namespace)
    if mode == "off":
        return _plain("off", mode)
    declared = None
    if target.group_kind is not None and target.name:
        declared = desired.declared(
            target.group_kind.group, target.group_kind.kind, target.lookup_namespace, target.name
        )
    if declared is None and not _strict_applies(request, target, config):
        return _plain("undeclared", mode)
    return _judge(
        request,
        target,
        declared,
        config=config,
        mode=mode,
        extra_warnings=mode_warnings,
        mutating=mutating,
        now=now,
    )


@dataclass(frozen=True)
class _Case:
    """What _judge knows about one request against its declaration."""

    request: AdmissionRequest
    subject: messages.Subject
    drifts: list[FieldDrift]
    mode: str
    extra_warnings: tuple[str, ...]
    can_patch: bool  # mutating, and there is an object whose annotations can be set

    @property
    def paths(self) -> str:
        return ", ".join(d.path for d in self.drifts)

    def patch(self, set_: Mapping[str, str], remove: tuple[str, ...] = ()) -> tuple[Any, ...]:
        return _annotation_patch(self.request, self.can_patch, set_, remove)


def _judge(
    request: AdmissionRequest,
    target: _Target,
    declared: Declared | None,
    *,
    config: WebhookConfig,
    mode: str,
    extra_warnings: tuple[str, ...],
    mutating: bool,
    now: datetime,
) -> Decision:
    """Drift, break-glass and mode, for a declared object or one in a strict namespace."""
    drifts = _drifts(request, target, declared)
    operation = request.operation
    drifting = declared is None or operation == "DELETE" or bool(drifts)
    new_annotations = annotations_of(request.object)
    acted_on = annotations_of(request.old_object) if operation == "DELETE" else new_annotations
    reason = str(acted_on.get(BREAK_GLASS) or "")
    # Whether the request adds or changes the break-glass annotations, and whether its
    # user may: both are only worked out when an annotation is there to ask about.
    sets_break_glass = (
        (BREAK_GLASS in new_annotations)
        or (BREAK_GLASS_BY in new_annotations)
        or (BREAK_GLASS_AT in new_annotations)
    ) and _sets_break_glass(request)
    if not (reason or sets_break_glass):
        if not drifting:  # the common answer: a change that keeps the object as Git says
            if DRIFT not in new_annotations and not extra_warnings:
                return _plain("allowed", mode)
            can_patch = _can_patch(request, mutating)
            patch = _annotation_patch(request, can_patch, {}, (DRIFT,))
            return Decision(True, "allowed", mode, warnings=extra_warnings, patch=patch)
        member = False
    else:
        member = config.may_break_glass(request.user)

    case = _Case(
        request,
        _subject(request, target, declared),
        drifts,
        mode,
        extra_warnings,
        can_patch=_can_patch(request, mutating),
    )
    if reason and member and (drifting or sets_break_glass):
        return _break_glass(case, reason, now)
    if sets_break_glass and not member:
        subject = case.subject
        message = messages.break_glass_denial(
            subject, operation, request.user.username, config.break_glass_group
        )
        log = f"break-glass refused for {request.user.username} on {subject.ref}"
        if mode == "enforce":
            return Decision(False, "denied", mode, message, extra_warnings, log=log)
        warning = messages.short(message.splitlines()[0])
        return Decision(True, "warned", mode, warnings=(*extra_warnings, warning), log=log)
    if not drifting:
        patch = case.patch({}, remove=(DRIFT,)) if DRIFT in new_annotations else ()
        return Decision(True, "allowed", mode, warnings=extra_warnings, patch=patch)
    return _drifted(case, declared is None)


def _subject(
    request: AdmissionRequest, target: _Target, declared: Declared | None
) -> messages.Subject:
    return messages.Subject(
        target.group_kind.kind if target.group_kind else request.kind.kind,
        target.namespace,
        target.name,
        declared.path if declared else "",
        declared.revision if declared else "",
    )


def _can_patch(request: AdmissionRequest, mutating: bool) -> bool:
    """Mutating, and there is an object whose annotations can be set."""
    return mutating and request.operation in ("CREATE", "UPDATE") and not request.sub_resource


def _annotation_patch(
    request: AdmissionRequest,
    can_patch: bool,
    set_: Mapping[str, str],
    remove: tuple[str, ...] = (),
) -> tuple[Any, ...]:
    if not can_patch or request.object is None:
        return ()
    return tuple(annotation_patch(request.object, set_, remove))


def _break_glass(case: _Case, reason: str, now: datetime) -> Decision:
    """A member of the break-glass group bypasses Git; the object records who, when, why."""
    user = case.request.user.username
    stamp = {BREAK_GLASS_BY: user, BREAK_GLASS_AT: _rfc3339(now)}
    if case.drifts:
        stamp[DRIFT] = messages.drift_annotation(case.drifts)
    warning = f"gitplane: break-glass by {user} on {case.subject.ref}: {reason}"
    audit = f"{user}: {reason}"
    return Decision(
        True,
        "break-glass",
        case.mode,
        warnings=(*case.extra_warnings, messages.short(warning)),
        patch=case.patch(stamp),
        audit_annotations={"break-glass": messages.short(audit, messages.MAX_DRIFT_ANNOTATION)},
        log=(
            f"break-glass {case.request.operation} {case.subject.ref} by {user} "
            f"(reason: {reason!r}; drifting fields: {case.paths or '-'}; "
            f"dry-run: {case.request.dry_run})"
        ),
    )


def _drifted(case: _Case, undeclared: bool) -> Decision:
    """Denied in enforce mode; allowed with warnings and a drift annotation in warn mode."""
    request, subject, drifts = case.request, case.subject, case.drifts
    if undeclared:
        message = messages.undeclared_denial(subject, request.operation)
    else:
        message = messages.drift_denial(subject, request.operation, drifts)
    if case.mode == "enforce":
        why = "not declared in Git" if undeclared else case.paths or "declared in Git"
        return Decision(
            False,
            "denied",
            case.mode,
            message,
            case.extra_warnings,
            log=f"denied {request.operation} {subject.ref} by {request.user.username}: {why}",
        )
    if drifts:
        warnings = messages.drift_warnings(subject, drifts)
        annotation = messages.drift_annotation(drifts)
    else:
        warnings = [messages.short(message.splitlines()[0])]
        annotation = "(not declared in Git)"
    return Decision(
        True,
        "warned",
        case.mode,
        warnings=(*case.extra_warnings, *warnings),
        patch=case.patch({DRIFT: annotation}),
        audit_annotations={"drift": annotation},
    )


def _target(request: AdmissionRequest) -> _Target:
    name = request.name or str(((request.object or {}).get("metadata") or {}).get("name") or "")
    if request.sub_resource == "scale":
        resource = request.resource
        kind = SCALE_PARENTS.get((resource.group, resource.resource))
        # No scale parent is a Namespace.
        group_kind = _group_kind(resource.group, kind) if kind else None
        return _Target(group_kind, request.namespace, request.namespace, name)
    group_kind = _group_kind(request.kind.group, request.kind.kind)
    if group_kind == _NAMESPACE:
        # A Namespace is cluster-scoped but governed by its own policy.
        return _Target(group_kind, "", name, name)
    return _Target(group_kind, request.namespace, request.namespace, name)


def _strict_applies(request: AdmissionRequest, target: _Target, config: WebhookConfig) -> bool:
    """Strict namespaces refuse undeclared objects, but deleting one converges to Git,
    and subresources such as pods/eviction are actions rather than objects."""
    return (
        target.namespace in config.strict_namespaces
        and request.operation != "DELETE"
        and request.sub_resource in ("", "scale")
    )


def _mode(
    desired: DesiredState, config: WebhookConfig, namespace: str
) -> tuple[str, tuple[str, ...]]:
    declared_mode = desired.namespace_mode(namespace) if namespace else None
    if declared_mode is None:
        return config.default_mode, ()
    if declared_mode in MODES:
        return declared_mode, ()
    # A typo in Git must not switch protection off: fall back to the strictest mode.
    return "enforce", (
        messages.short(
            f"gitplane: namespace {namespace} declares unknown mode {declared_mode!r}; enforcing"
        ),
    )


def _drifts(
    request: AdmissionRequest, target: _Target, declared: Declared | None
) -> list[FieldDrift]:
    if declared is None or request.operation == "DELETE" or request.object is None:
        return []
    assert target.group_kind is not None  # a declaration was found under it
    if request.sub_resource == "scale":
        replicas = (declared.obj.get("spec") or {}).get("replicas")
        wanted: dict[str, Any] = {} if replicas is None else {"spec": {"replicas": replicas}}
        return find_drift(wanted, request.object, target.group_kind)
    return find_drift(declared.obj, request.object, target.group_kind)


def _sets_break_glass(request: AdmissionRequest) -> bool:
    """Whether this request adds or changes the break-glass annotations (removal is fine)."""
    if request.operation not in ("CREATE", "UPDATE"):
        return False
    new, old = annotations_of(request.object), annotations_of(request.old_object)
    return any(
        new.get(key) and new.get(key) != old.get(key)
        for key in (BREAK_GLASS, BREAK_GLASS_BY, BREAK_GLASS_AT)
    )


def _rfc3339(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
