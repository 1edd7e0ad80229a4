"""Deleting a namespace in the cluster must not delete its desired state from Git.

What the namespace controller does (pkg/controller/namespace/deletion/
namespaced_resources_deleter.go, deleteAllContent): it takes every namespaced resource that
discovery lists with the `delete` verb (here only `manifests`), then for each one

1. DELETEs the collection if discovery lists `deletecollection` (ours does not, so it is
   skipped), otherwise LISTs the namespace (metadata only) and DELETEs each item, treating
   404 NotFound and 405 MethodNotAllowed as "nothing to do";
2. LISTs again: an empty list finishes that resource; items with finalizers mean "wait and
   retry"; items without finalizers are an error ("unexpected items still remain in
   namespace") that leaves the namespace Terminating with NamespaceDeletionContentFailure.

Left alone, step 1 would commit the deletion of every Manifest of the namespace to Git (the
desired state the namespace is later recreated from), and refusing with 403 would hang the
namespace. So, for the namespace controller's own identity
(`system:serviceaccount:kube-system:namespace-controller`, kube-controller-manager's
`--use-service-account-credentials`, the default of kubeadm, kind and managed clusters):

- a namespaced LIST of a gitplane.io resource answers an empty list (with the current
  resourceVersion, in whatever format was asked). The controller only ever acts on a
  namespace that is being deleted, so "nothing of gitplane lives in this namespace" is the
  truth it needs: Git's desired state is not cluster content to be cleaned up;
- a DELETE (item or collection) answers 405 MethodNotAllowed without reaching the store,
  which the controller treats as "not supported", should it ever send one.

Step 2 then sees an empty list and the namespace finishes terminating, with Git untouched.
Every other identity sees and deletes Manifests as usual, and the controller's request is
authorized by SubjectAccessReview first like any other.

`system:kube-controller-manager` (all controllers sharing one identity, without service
account credentials) gets the DELETE refusal too, so Git stays intact; its lists are left
alone because the garbage collector and the quota controller list and watch with that
identity, so in such a cluster a namespace holding Manifests stays Terminating until its
Manifests are deleted by someone else. Telling the two apart would need the namespace's
phase from the cluster; that is not done.

The resources do not simply drop `delete` from discovery: `kubectl delete` and RBAC
aggregation rely on it, and the garbage collector only watches deletable resources.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from apiserver.context import UserInfo
from apiserver.delegated.authorize import RequestAttributes
from apiserver.resources.info import GROUP
from kube import status

NAMESPACE_CONTROLLER: Final = "system:serviceaccount:kube-system:namespace-controller"
KUBE_CONTROLLER_MANAGER: Final = "system:kube-controller-manager"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class NamespaceTeardown:
    def __init__(
        self,
        *,
        empty_lists_for: frozenset[str] = frozenset({NAMESPACE_CONTROLLER}),
        refuse_deletes_from: frozenset[str] = frozenset(
            {NAMESPACE_CONTROLLER, KUBE_CONTROLLER_MANAGER}
        ),
    ) -> None:
        self.empty_lists_for = empty_lists_for
        self.refuse_deletes_from = refuse_deletes_from

    async def handle(
        self,
        request: web.Request,
        user: UserInfo,
        attributes: RequestAttributes,
        handler: Handler,
    ) -> web.StreamResponse:
        if not attributes.resource_request or attributes.api_group != GROUP:
            return await handler(request)
        verb = attributes.verb
        if verb in ("delete", "deletecollection") and user.username in self.refuse_deletes_from:
            raise status.MethodNotAllowed(status.GroupResource(GROUP, attributes.resource), verb)
        if verb == "list" and attributes.namespace and user.username in self.empty_lists_for:
            return await handler(_matching_nothing(request, attributes.namespace))
        return await handler(request)


def _matching_nothing(request: web.Request, namespace: str) -> web.Request:
    """The same list request with a field selector no object of `namespace` matches, so the
    generic handler answers an empty list in the format and at the version asked for."""
    nothing = f"metadata.namespace!={namespace}"
    selector = request.query.get("fieldSelector", "")
    combined = f"{selector},{nothing}" if selector else nothing
    return request.clone(rel_url=request.rel_url.update_query(fieldSelector=combined))
