"""Revision (read-only), Revert and Rollback: history and its undo as resources.

Reverts and rollbacks are not stored anywhere but in Git: each is the commit it made,
found again through its trailers (`Gitplane-Operation`, `Gitplane-Name`).
"""

from __future__ import annotations

from apiserver.context import RequestContext
from apiserver.errors import to_api_error
from apiserver.resources.base import JSONObject, ListResult, VerbsNotServed
from apiserver.resources.info import GROUP, GROUP_VERSION, REVERTS, ResourceInfo
from apiserver.resources.manifests import manifest_name, timestamp
from kube import status
from kube.table import translate_timestamp_since
from kube.watch import ListOptions
from store import errors as store_errors
from store.aio import AsyncStore
from store.history import Revision

NAME_TRAILER = "Gitplane-Name"


def _changes(revision: Revision) -> list[JSONObject]:
    return [
        {
            "type": c.type,
            "kind": c.key.kind,
            "group": c.key.group,
            "name": c.key.name,
            "manifest": manifest_name(c.key),
        }
        for c in revision.changes
    ]


class RevisionStrategy(VerbsNotServed):
    """Commits that changed a namespace, newest first; `get` also shows the diff."""

    def __init__(self, store: AsyncStore, info: ResourceInfo) -> None:
        self.store = store
        self.info = info

    async def get(self, ctx: RequestContext, namespace: str, name: str) -> JSONObject:
        try:
            revision = await self.store.revision(name, namespace)
            diff = await self.store.diff(revision.id, namespace)
        except store_errors.Invalid:
            raise status.NotFound(status.GroupResource(GROUP, self.info.plural), name) from None
        except store_errors.StoreError as exc:
            raise to_api_error(exc, self.info.plural, self.info.kind, name) from None
        if not revision.changes:
            raise status.NotFound(status.GroupResource(GROUP, self.info.plural), name)
        return self._to_api(revision, namespace, diff)

    async def list_objects(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> ListResult:
        limit = options.limit if options.limit > 0 else 500
        try:
            page = await self.store.revisions(namespace, limit, options.continue_token or None)
        except store_errors.StoreError as exc:
            raise to_api_error(exc, self.info.plural, self.info.kind, "") from None
        items = []
        for revision in page.items:
            namespaces = (
                [namespace]
                if namespace
                else sorted({c.key.namespace for c in revision.changes if c.key.namespace})
            )
            for ns in namespaces:
                shown = Revision(
                    **{
                        **revision.__dict__,
                        "changes": tuple(c for c in revision.changes if c.key.namespace == ns),
                    }
                )
                obj = self._to_api(shown, ns, None)
                fields = {"metadata.name": revision.id, "metadata.namespace": ns}
                if options.field_selector.matches(fields):
                    items.append(obj)
        return ListResult(items, self.store.head.resource_version, page.continue_token or "")

    def _to_api(self, revision: Revision, namespace: str, diff: str | None) -> JSONObject:
        spec: JSONObject = {
            "commit": revision.id,
            "author": revision.author_name,
            "authorEmail": revision.author_email,
            "time": timestamp(revision.time),
            "message": revision.message,
            "parents": list(revision.parents),
            "changes": _changes(revision),
        }
        if diff is not None:
            spec["diff"] = diff
        return {
            "apiVersion": GROUP_VERSION,
            "kind": self.info.kind,
            "metadata": {
                "name": revision.id,
                "namespace": namespace,
                "resourceVersion": revision.resource_version,
                "creationTimestamp": timestamp(revision.time),
                "annotations": {"gitplane.io/subject": revision.subject},
            },
            "spec": spec,
        }

    def table_row(self, obj: JSONObject) -> list[object]:
        spec = obj["spec"]
        return [
            obj["metadata"]["name"][:12],
            spec["author"],
            spec["message"].split("\n", 1)[0][:72],
            len(spec["changes"]),
            translate_timestamp_since(obj["metadata"]["creationTimestamp"]),
        ]


class OperationStrategy(VerbsNotServed):
    """Revert or Rollback: `create` makes the commit; `list`/`get` read past ones from Git."""

    def __init__(self, store: AsyncStore, info: ResourceInfo) -> None:
        self.store = store
        self.info = info
        self.operation = "revert" if info is REVERTS else "rollback"
        self.target_trailer = "Gitplane-Reverts" if info is REVERTS else "Gitplane-Rollback-To"
