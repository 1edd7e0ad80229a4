"""Revision (read-only), Revert and Rollback: history and its undo as resources.

Reverts and rollbacks are not stored anywhere but in Git: each is the commit it made,
found again through its trailers (`Gitplane-Operation`, `Gitplane-Name`).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace

from apiserver.context import RequestContext
from apiserver.errors import to_api_error
from apiserver.resources.base import (
    JSONObject,
    ListResult,
    VerbsNotServed,
    WatchItem,
    commit_message,
)
from apiserver.resources.info import GROUP, GROUP_VERSION, REVERTS, ResourceInfo
from apiserver.resources.manifests import change_entry, timestamp
from apiserver.watching import BOOKMARK_EVERY, feed_watch
from kube import status
from kube.table import translate_timestamp_since
from kube.watch import ListOptions
from store import errors as store_errors
from store.aio import AsyncStore
from store.history import Revision
from store.model import Requester, WriteResult

NAME_TRAILER = "Gitplane-Name"


def _changes(revision: Revision) -> list[JSONObject]:
    return [change_entry(c.type, c.key) for c in revision.changes]


class RevisionStrategy(VerbsNotServed):
    """Commits that changed a namespace, newest first; `get` also shows the diff; a
    watch sends each new one as ADDED (a revision never changes)."""

    def __init__(
        self, store: AsyncStore, info: ResourceInfo, *, bookmark_every: float = BOOKMARK_EVERY
    ) -> None:
        self.store = store
        self.info = info
        self.bookmark_every = bookmark_every

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
        items = [
            obj for revision in page.items for obj in self._shown(revision, namespace, options)
        ]
        return ListResult(items, self.store.head.resource_version, page.continue_token or "")

    def watch(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> AsyncIterator[WatchItem]:
        """From "" or "0", the newest revisions first, as a list gives them (at most its
        limit, 500 unless asked: history has no end); then each new commit."""

        async def changes_since(rv: str) -> tuple[list[WatchItem], str]:
            revisions, reached = await self.store.revisions_since(rv, namespace)
            shown = (self._shown(revision, namespace, options) for revision in revisions)
            return [WatchItem("ADDED", obj) for objs in shown for obj in objs], reached

        return feed_watch(
            self.store,
            options,
            changes_since,
            lambda: self.list_objects(ctx, namespace, replace(options, continue_token="")),
            bookmark_every=self.bookmark_every,
        )

    def _shown(
        self, revision: Revision, namespace: str | None, options: ListOptions
    ) -> list[JSONObject]:
        """The revision as the API shows it: one object per namespace whose objects it
        changed (only `namespace`'s when given), those the field selector takes."""
        namespaces = (
            [namespace]
            if namespace
            else sorted({c.key.namespace for c in revision.changes if c.key.namespace})
        )
        shown = []
        for ns in namespaces:
            if options.field_selector.matches(
                {"metadata.name": revision.id, "metadata.namespace": ns}
            ):
                changes = tuple(c for c in revision.changes if c.key.namespace == ns)
                shown.append(self._to_api(replace(revision, changes=changes), ns, None))
        return shown

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

    async def create(self, ctx: RequestContext, namespace: str, obj: JSONObject) -> JSONObject:
        metadata = obj["metadata"]
        given = obj.get("spec")
        spec: JSONObject = given if isinstance(given, dict) else {}
        gk = status.GroupKind(GROUP, self.info.kind)
        prefix = metadata.get("generateName") or f"{self.operation}-"
        name = metadata.get("name") or prefix + secrets.token_hex(3)
        revision = spec.get("revision")
        if not isinstance(revision, str) or not revision:
            error = status.FieldError.required("spec.revision", "a commit id or a unique prefix")
            raise status.Invalid(gk, name, [error])
        text = spec.get("message")
        message = (text if isinstance(text, str) else None) or commit_message(obj)
        who = Requester(ctx.user.username, ctx.user.groups, ctx.user.uid)
        run = self.store.revert if self.info is REVERTS else self.store.rollback
        try:
            result: WriteResult = await run(
                revision, namespace, who, message=message, request_id=ctx.request_id,
                dry_run=ctx.dry_run, trailers={NAME_TRAILER: name},
            )  # fmt: skip
        except store_errors.NotFound:
            error = status.FieldError.not_found("spec.revision", revision)
            raise status.Invalid(gk, name, [error]) from None
        except store_errors.StoreError as exc:
            kind = self.info.kind
            raise to_api_error(exc, self.info.plural, kind, name, field_prefix="spec") from None
        when = None
        if result.commit_id:
            when = timestamp(self.store.store.commit_info(result.commit_id).time)
        changes = [
            change_entry("DELETED" if stored is None else "MODIFIED", key)
            for key, stored in result.objects.items()
        ]
        return {
            "apiVersion": GROUP_VERSION,
            "kind": self.info.kind,
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": when},
            "spec": {"revision": revision, **({"message": message} if message else {})},
            "status": {
                "commit": result.commit_id or "",
                "author": ctx.user.username,
                "changes": changes,
                **({"time": when} if when else {}),
            },
        }

    async def list_objects(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> ListResult:
        namespaces = [namespace] if namespace else self.store.head.snapshot.namespaces()
        items: list[JSONObject] = []
        for ns in namespaces:
            for revision in await self._past(ns):
                obj = self._to_api(revision, ns)
                fields = {"metadata.name": obj["metadata"]["name"], "metadata.namespace": ns}
                if options.field_selector.matches(fields):
                    items.append(obj)
        return ListResult(items, self.store.head.resource_version)

    async def get(self, ctx: RequestContext, namespace: str, name: str) -> JSONObject:
        for revision in await self._past(namespace):
            obj = self._to_api(revision, namespace)
            if obj["metadata"]["name"] == name:
                return obj
        raise status.NotFound(status.GroupResource(GROUP, self.info.plural), name)

    async def _past(self, namespace: str) -> list[Revision]:
        return await self.store.operations(namespace, self.operation)

    def _to_api(self, revision: Revision, namespace: str) -> JSONObject:
        name = revision.trailers.get(NAME_TRAILER) or f"{self.operation}-{revision.id[:12]}"
        return {
            "apiVersion": GROUP_VERSION,
            "kind": self.info.kind,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "creationTimestamp": timestamp(revision.time),
                "resourceVersion": revision.resource_version,
            },
            "spec": {"revision": revision.trailers.get(self.target_trailer, "")},
            "status": {
                "commit": revision.id,
                "author": revision.author_name,
                "time": timestamp(revision.time),
                "changes": _changes(revision),
            },
        }

    def table_row(self, obj: JSONObject) -> list[object]:
        return [
            obj["metadata"]["name"],
            obj["spec"]["revision"][:12],
            obj["status"]["commit"][:12],
            obj["status"]["author"],
            translate_timestamp_since(obj["metadata"].get("creationTimestamp")),
        ]
