"""admission.k8s.io AdmissionReview wire shapes: parse a request, render a response.

Shapes follow staging/src/k8s.io/api/admission/v1/types.go. Parsing checks only
what a webhook relies on and names the offending field, so a malformed review can
be answered with a precise 400 instead of a traceback.

Two ways in: `decode_review` takes the body's bytes and is the webhook's hot path
(msgspec checks the envelope's types in C and leaves oldObject undecoded until it
is read); `parse_review` takes already-decoded JSON and is the reference, which
also writes every error message.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii  # what json.dumps uses for str
from typing import Any, Literal, cast

import msgspec

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
    dry_run: bool = False
    api_version: str = API_VERSIONS[0]
    # oldObject as decoded JSON, or its undecoded bytes (checked to hold a JSON object)
    old_object_source: JSONObject | msgspec.Raw | None = field(
        default=None, repr=False, compare=False
    )

    @functools.cached_property
    def old_object(self) -> JSONObject | None:
        """Decoded on first use: only DELETE and break-glass decisions read it."""
        source = self.old_object_source
        if isinstance(source, msgspec.Raw):
            decoded: JSONObject = msgspec.json.decode(source)
            return decoded
        return source


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
        dry_run=bool(dry_run),
        api_version=api_version,
        old_object_source=_optional_object(req.get("oldObject"), "request.oldObject"),
    )


def decode_review(body: bytes) -> AdmissionRequest:
    """The request inside an AdmissionReview's bytes: AdmissionReviewError when it is
    not one, ValueError when the body is not JSON.

    Reviews as kube-apiserver sends them take the typed fast path; anything it does
    not accept goes through parse_review, which names what is wrong (or accepts what
    the fast path is stricter about, such as `"name": null`).
    """
    try:
        wire = _REVIEW_DECODER.decode(body)
    except msgspec.MsgspecError:
        wire = None
    request = _from_wire(wire) if wire is not None else None
    if request is None:
        return parse_review(json.loads(body))
    return request


class _WireGroupVersionKind(msgspec.Struct):
    group: str = ""
    version: str = ""
    kind: str = ""


class _WireGroupVersionResource(msgspec.Struct):
    group: str = ""
    version: str = ""
    resource: str = ""


class _WireUserInfo(msgspec.Struct):
    username: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = {}


_NULL = msgspec.Raw(b"null")


class _WireRequest(msgspec.Struct, rename="camel"):
    uid: str
    kind: _WireGroupVersionKind
    resource: _WireGroupVersionResource
    operation: str
    user_info: _WireUserInfo
    name: str = ""
    namespace: str = ""
    sub_resource: str = ""
    object: dict[str, Any] | None = None
    old_object: msgspec.Raw = _NULL
    dry_run: bool = False


class _WireReview(msgspec.Struct, rename="camel"):
    api_version: str
    kind: str
    request: _WireRequest


_REVIEW_DECODER = msgspec.json.Decoder(_WireReview)


def _from_wire(review: _WireReview) -> AdmissionRequest | None:
    """The request, or None where parse_review has to say what is wrong."""
    req = review.request
    old = req.old_object
    old_source: msgspec.Raw | None = None
    if bytes(memoryview(old)[:1]) == b"{":
        old_source = old
    elif old != _NULL:
        return None
    operation = req.operation
    if (
        review.api_version not in API_VERSIONS
        or review.kind != "AdmissionReview"
        or not req.uid
        or operation not in OPERATIONS
        or (req.object is None and operation in ("CREATE", "UPDATE"))
        or not req.kind.kind
        or not req.resource.resource
    ):
        return None
    kind, resource, user = req.kind, req.resource, req.user_info
    return AdmissionRequest(
        uid=req.uid,
        kind=_cached_gvk(kind.group, kind.version, kind.kind),
        resource=_cached_gvr(resource.group, resource.version, resource.resource),
        operation=cast(Operation, operation),  # checked against OPERATIONS above
        user=UserInfo(user.username, user.uid, user.groups, user.extra),
        name=req.name,
        namespace=req.namespace,
        sub_resource=req.sub_resource,
        object=req.object,
        dry_run=req.dry_run,
        api_version=review.api_version,
        old_object_source=old_source,
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
