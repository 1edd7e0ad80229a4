"""May this user do this, in cluster mode: a SubjectAccessReview, as kube-apiserver's
delegated authorization asks it.

`request_attributes` derives what is being done from the method, path and query exactly as
k8s.io/apiserver's RequestInfoFactory does: `/apis/<group>/<version>/...` is a resource
request (verb from the method; GET without a name is list, or watch with `watch=true`, and
a `metadata.name=` field selector names the object; DELETE without a name is
deletecollection); everything else (`/apis`, `/apis/<group>`, `/openapi/v3`, `/version`)
is a non-resource request whose verb is the lowercased method. Discovery under
`/apis/<group>/<version>` with nothing after it is a non-resource request too, which is how
the aggregator's `system:aggregator` passes through `system:discovery`.

`SubjectAccessReviewer` answers allowed or not: members of `system:masters` without asking
(upstream's privileged-group authorizer), everyone else through a SubjectAccessReview
(authorization.k8s.io/v1) whose answer is cached briefly, allowed and denied answers with
their own time-to-live, in a bounded LRU. A review that fails is a 500, never an allow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubernetes_asyncio import client as kube_client

from apiserver.context import UserInfo
from apiserver.delegated.cache import ExpiringCache
from kube import status
from kube.selectors import SelectorError, parse_field_selector

log = logging.getLogger("gitplane.apiserver.delegated")

PRIVILEGED_GROUPS: Final = ("system:masters",)
_API_PREFIXES: Final = frozenset({"api", "apis"})
_GROUPLESS_PREFIXES: Final = frozenset({"api"})
_SPECIAL_VERBS: Final = frozenset({"proxy", "watch"})
_NAMESPACE_SUBRESOURCES: Final = frozenset({"status", "finalize"})
_METHOD_VERBS: Final = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclass(frozen=True)
class RequestAttributes:
    """authorizer.Attributes without the user: what the request does to what."""

    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> RequestAttributes:
    """RequestInfoFactory.NewRequestInfo for `/api` and `/apis` (no legacy `/watch` lists)."""
    non_resource = RequestAttributes(verb=method.lower(), path=path)
    parts = path.strip("/").split("/") if path.strip("/") else []
    if len(parts) < 3 or parts[0] not in _API_PREFIXES:
        return non_resource
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix not in _GROUPLESS_PREFIXES:
        if len(parts) < 3:
            return non_resource
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts and parts[0] in _SPECIAL_VERBS:
        if len(parts) < 2:
            raise status.BadRequest(f"unable to determine kind and namespace from url {path}")
        verb, parts, from_method = parts[0], parts[1:], False
    else:
        verb, from_method = _METHOD_VERBS.get(method.upper(), ""), True
    namespace = ""
    if parts and parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0] if parts else ""
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 and verb != "proxy" else ""
    if from_method and not name and verb == "get":
        verb, name = _list_or_watch(query)
    if from_method and not name and verb == "delete":
        verb = "deletecollection"
    return RequestAttributes(
        verb=verb,
        path=path,
        resource_request=True,
        api_group=group,
        api_version=version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
    )


def _list_or_watch(query: Mapping[str, str]) -> tuple[str, str]:
    watch = "watch" in query and query["watch"].lower() not in ("false", "0")
    name = ""
    try:
        selector = parse_field_selector(query.get("fieldSelector", ""), supported=None)
    except SelectorError:
        return ("watch" if watch else "list"), ""
    for requirement in selector.requirements:
        if requirement.field == "metadata.name" and requirement.equal:
            value = requirement.value
            if value not in (".", "..") and "/" not in value and "%" not in value:
                name = value
            break
    return ("watch" if watch else "list"), name


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def forbidden(user: UserInfo, attributes: RequestAttributes, reason: str) -> status.Forbidden:
    """responsewriters.Forbidden: kube-apiserver's 403 for this user and request."""
    return status.Forbidden.for_request(
        user.username,
        attributes.verb,
        group=attributes.api_group,
        resource=attributes.resource if attributes.resource_request else "",
        subresource=attributes.subresource,
        namespace=attributes.namespace,
        name=attributes.name,
        path=attributes.path,
        why=reason,
    )


def review_spec(user: UserInfo, attributes: RequestAttributes) -> Any:
    """The SubjectAccessReview spec kube-apiserver's webhook authorizer sends."""
    extra = {key: list(values) for key, values in user.extra.items()} or None
    spec = kube_client.V1SubjectAccessReviewSpec(
        user=user.username,
        uid=user.uid or None,
        groups=list(user.groups) or None,
        extra=extra,
    )
    if attributes.resource_request:
        spec.resource_attributes = kube_client.V1ResourceAttributes(
            namespace=attributes.namespace or None,
            verb=attributes.verb or None,
            group=attributes.api_group or None,
            version=attributes.api_version or None,
            resource=attributes.resource or None,
            subresource=attributes.subresource or None,
            name=attributes.name or None,
        )
    else:
        spec.non_resource_attributes = kube_client.V1NonResourceAttributes(
            path=attributes.path, verb=attributes.verb
        )
    return spec


_Key = tuple[str, str, tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...], RequestAttributes]


class SubjectAccessReviewer:
    def __init__(
        self,
        api_client: Callable[[], Any],
        *,
        allow_ttl: float = 10.0,
        deny_ttl: float = 10.0,
        max_entries: int = 8192,
        timeout: float = 10.0,
        privileged_groups: tuple[str, ...] = PRIVILEGED_GROUPS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api_client = api_client
        self._allow_ttl, self._deny_ttl, self._timeout = allow_ttl, deny_ttl, timeout
        self._privileged = frozenset(privileged_groups)
        self._allowed: ExpiringCache[_Key, Decision] = ExpiringCache(max_entries, clock=clock)
        self._denied: ExpiringCache[_Key, Decision] = ExpiringCache(max_entries, clock=clock)

    async def authorize(self, user: UserInfo, attributes: RequestAttributes) -> Decision:
        """Allowed or not; raises status.InternalError when the review itself fails."""
        if self._privileged.intersection(user.groups):
            return Decision(True)
        key: _Key = (
            user.username,
            user.uid,
            user.groups,
            tuple(sorted(user.extra.items())),
            attributes,
        )
        cached = self._allowed.get(key) or self._denied.get(key)
        if cached is not None:
            return cached
        decision = await self._review(user, attributes)
        if decision.allowed:
            self._allowed.put(key, decision, self._allow_ttl)
        else:
            self._denied.put(key, decision, self._deny_ttl)
        return decision

    async def _review(self, user: UserInfo, attributes: RequestAttributes) -> Decision:
        api = kube_client.AuthorizationV1Api(self._api_client())
        body = kube_client.V1SubjectAccessReview(
            api_version="authorization.k8s.io/v1",
            kind="SubjectAccessReview",
            spec=review_spec(user, attributes),
        )
        try:
            review = await api.create_subject_access_review(body, _request_timeout=self._timeout)
        except Exception as exc:
            log.warning("SubjectAccessReview failed: %s", getattr(exc, "reason", None) or exc)
            raise status.InternalError(
                f"authorization failed: SubjectAccessReview: {getattr(exc, 'reason', None) or exc}"
            ) from None
        result = review.status
        if result is None:
            return Decision(False)
        if result.evaluation_error:
            log.info("SubjectAccessReview evaluation error: %s", result.evaluation_error)
        reason = result.reason or ""
        if result.denied:
            return Decision(False, reason)
        return Decision(bool(result.allowed), reason)
