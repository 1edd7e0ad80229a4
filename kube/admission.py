"""admission.k8s.io AdmissionReview wire shapes: parse a request, render a response.

Shapes follow staging/src/k8s.io/api/admission/v1/types.go. Parsing checks only
what a webhook relies on and names the offending field, so a malformed review can
be answered with a precise 400 instead of a traceback.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii  # what json.dumps uses for str
from typing import Any, Literal, cast

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
JSONObject = dict[str, Any]


class AdmissionReviewError(ValueError):
    """The body is not an AdmissionReview request this webhook can decide."""


@dataclass(frozen=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str


@dataclass(frozen=True)
class GroupVersionResource:
    group: str
    version: str
    resource: str


@dataclass(frozen=True)
class UserInfo:
    username: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class AdmissionRequest:
    uid: str
    kind: GroupVersionKind
    resource: GroupVersionResource
    operation: Operation
    user: UserInfo
    name: str = ""
    namespace: str = ""
    sub_resource: str = ""
    object: JSONObject | None = None
    old_object: JSONObject | None = None
    dry_run: bool = False
    api_version: str = API_VERSIONS[0]


@dataclass(frozen=True)
class AdmissionResponse:
    uid: str
    allowed: bool
    code: int = 200
    reason: str = ""
    message: str = ""
    warnings: tuple[str, ...] = ()
    patch: list[JSONObject] | None = None  # JSON Patch operations; mutating answers only
    audit_annotations: Mapping[str, str] = field(default_factory=dict)


def parse_review(body: object) -> AdmissionRequest:
    """The request inside a decoded AdmissionReview, or AdmissionReviewError."""
    review = _object(body, "body")
    api_version = review.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise AdmissionReviewError(
            f"apiVersion must be one of {', '.join(API_VERSIONS)}, got {api_version!r}"
        )
    if review.get("kind") != "AdmissionReview":
        raise AdmissionReviewError(f"kind must be AdmissionReview, got {review.get('kind')!r}")
    req = _object(review.get("request"), "request")
    uid = _string(req, "uid", "request", required=True)
    operation = _string(req, "operation", "request", required=True)
    if operation not in OPERATIONS:
        raise AdmissionReviewError(
            f"request.operation must be one of {', '.join(OPERATIONS)}, got {operation!r}"
        )
    if operation in ("CREATE", "UPDATE") and not isinstance(req.get("object"), dict):
        raise AdmissionReviewError(
            f"request.object must be a JSON object for {operation}, got {_type(req.get('object'))}"
        )
    dry_run = req.get("dryRun", False)
    if not isinstance(dry_run, bool) and dry_run is not None:
        raise AdmissionReviewError("request.dryRun must be a boolean")
    return AdmissionRequest(
        uid=uid,
        kind=_gvk(req.get("kind"), "request.kind"),
        resource=_gvr(req.get("resource"), "request.resource"),
        operation=cast(Operation, operation),  # checked against OPERATIONS above
        user=_user(req.get("userInfo"), "request.userInfo"),
        name=_string(req, "name", "request"),
        namespace=_string(req, "namespace", "request"),
        sub_resource=_string(req, "subResource", "request"),
        object=_optional_object(req.get("object"), "request.object"),
        old_object=_optional_object(req.get("oldObject"), "request.oldObject"),
        dry_run=bool(dry_run),
        api_version=api_version,
    )


def render_review(response: AdmissionResponse, api_version: str = API_VERSIONS[0]) -> JSONObject:
    """The AdmissionReview body answering a request; apiVersion echoes the request's."""
    body: JSONObject = {"uid": response.uid, "allowed": response.allowed}
    if not response.allowed:
        body["status"] = {
            "code": response.code,
            "reason": response.reason,
            "message": response.message,
        }
    if response.warnings:
        body["warnings"] = list(response.warnings)
    if response.patch:
        raw = json.dumps(response.patch, separators=(",", ":")).encode()
        body["patch"] = base64.b64encode(raw).decode("ascii")
        body["patchType"] = "JSONPatch"
    if response.audit_annotations:
        body["auditAnnotations"] = dict(response.audit_annotations)
    return {"apiVersion": api_version, "kind": "AdmissionReview", "response": body}


def encode_review(response: AdmissionResponse, api_version: str = API_VERSIONS[0]) -> bytes:
    """render_review as the JSON bytes sent; the common plain "allowed" from a template."""
    if response.allowed and not (response.warnings or response.patch or response.audit_annotations):
        return allowed_review(response.uid, api_version)
    return json.dumps(render_review(response, api_version)).encode()


def allowed_review(uid: str, api_version: str = API_VERSIONS[0]) -> bytes:
    """The bytes json.dumps(render_review(AdmissionResponse(uid, True), api_version)) gives,
    without building the dicts: most reviews are answered with exactly this."""
    head = _ALLOWED_HEADS.get(api_version)
    if head is None:
        head = _allowed_head(api_version)
    return head + encode_basestring_ascii(uid).encode() + b', "allowed": true}}'


def _allowed_head(api_version: str) -> bytes:
    return (
        f'{{"apiVersion": {encode_basestring_ascii(api_version)}, "kind": "AdmissionReview", '
        '"response": {"uid": '
    ).encode()


_ALLOWED_HEADS = {version: _allowed_head(version) for version in API_VERSIONS}


def _object(value: object, where: str) -> JSONObject:
    if not isinstance(value, dict):
        raise AdmissionReviewError(f"{where} must be a JSON object, got {_type(value)}")
    return value


def _optional_object(value: object, where: str) -> JSONObject | None:
    return None if value is None else _object(value, where)


def _string(obj: JSONObject, key: str, where: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, str) and (value or not required):
        return value
    need = "a non-empty string" if required else "a string"
    got = "an empty string" if value == "" else _type(value)
    raise AdmissionReviewError(f"{where}.{key} must be {need}, got {got}")


def _gvk(value: object, where: str) -> GroupVersionKind:
    if type(value) is dict:
        group, version, kind = value.get("group", ""), value.get("version", ""), value.get("kind")
        if type(group) is str and type(version) is str and type(kind) is str and kind:
            return _cached_gvk(group, version, kind)
    obj = _object(value, where)  # the slow path names what is wrong
    return GroupVersionKind(
        _string(obj, "group", where),
        _string(obj, "version", where),
        _string(obj, "kind", where, required=True),
    )


def _gvr(value: object, where: str) -> GroupVersionResource:
    if type(value) is dict:
        group, version = value.get("group", ""), value.get("version", "")
        resource = value.get("resource")
        if type(group) is str and type(version) is str and type(resource) is str and resource:
            return _cached_gvr(group, version, resource)
    obj = _object(value, where)
    return GroupVersionResource(
        _string(obj, "group", where),
        _string(obj, "version", where),
        _string(obj, "resource", where, required=True),
    )


# A cluster serves a bounded set of kinds and resources: build each once.
_cached_gvk = functools.lru_cache(maxsize=1024)(GroupVersionKind)
_cached_gvr = functools.lru_cache(maxsize=1024)(GroupVersionResource)


def _user(value: object, where: str) -> UserInfo:
    obj = _object(value, where)
    groups = obj.get("groups") or []
    if not isinstance(groups, list):
        raise AdmissionReviewError(f"{where}.groups must be a list of strings")
    for group in groups:
        if not isinstance(group, str):
            raise AdmissionReviewError(f"{where}.groups must be a list of strings")
    extra = obj.get("extra") or {}
    if not isinstance(extra, dict):
        raise AdmissionReviewError(f"{where}.extra must map strings to lists of strings")
    extras: dict[str, tuple[str, ...]] = {}
    for key, values in extra.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise AdmissionReviewError(f"{where}.extra must map strings to lists of strings")
        extras[key] = tuple(values)
    return UserInfo(
        username=_string(obj, "username", where),
        uid=_string(obj, "uid", where),
        groups=tuple(groups),
        extra=extras,
    )


def _type(value: object) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
