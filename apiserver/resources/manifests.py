"""Manifest and ClusterManifest: each object Git declares, one resource per object.

The name is `<lowercased kind>.<object name>`; `spec.object` is the object as Git
declares it. Only `spec.object` is written to Git; everything else is derived.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from apiserver.context import RequestContext
from apiserver.errors import to_api_error
from apiserver.resources.base import (
    JSONObject,
    ListResult,
    WatchItem,
    commit_message,
    list_errors,
)
from apiserver.resources.info import GROUP, GROUP_VERSION, ResourceInfo
from apiserver.secrets.policy import ObjectTransformer
from apiserver.validation_hook import ObjectValidator
from apiserver.watching import store_watch
from kube import status
from kube.kinds import is_namespaced_builtin
from kube.selectors import LabelSelector
from kube.table import translate_timestamp_since
from kube.watch import ListOptions
from store import errors as store_errors
from store.aio import AsyncStore
from store.keys import ObjectKey, key_of
from store.model import Delete, Put, Requester, StoredObject
from store.repo import View
from store.secrets import served_secret

PATH_ANNOTATION = "gitplane.io/path"
REVISION_ANNOTATION = "gitplane.io/revision"
# The fields of a plaintext Secret from outside that the API shows as `<redacted>`.
REDACTED_ANNOTATION = "gitplane.io/redacted"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def manifest_name(key: ObjectKey) -> str:
    return f"{key.kind.lower()}.{key.name}"


def change_entry(change_type: str, key: ObjectKey) -> JSONObject:
    """One object a commit changed, as Revision, Revert, Rollback and ChangeSet report it."""
    return {
        "type": change_type,
        "kind": key.kind,
        "group": key.group,
        "name": key.name,
        "manifest": manifest_name(key),
    }


def timestamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ManifestStrategy:
    def __init__(
        self,
        store: AsyncStore,
        info: ResourceInfo,
        *,
        cluster: bool,
        validator: ObjectValidator | None = None,
        bookmark_every: float = 15.0,
        transform: ObjectTransformer | None = None,
    ) -> None:
        self.store = store
        self.transform = transform  # e.g. a plain Secret becomes the SealedSecret to store
        self.bookmark_every = bookmark_every
        self.info = info
        self.cluster = cluster
        self.validator = validator
        self._names: OrderedDict[tuple[str | None, str], dict[str, ObjectKey]] = OrderedDict()
        self._order: OrderedDict[
            tuple[str | None, str | None], list[tuple[str, str, ObjectKey]]
        ] = OrderedDict()

    # ---- reading ----------------------------------------------------------------------

    async def get(self, ctx: RequestContext, namespace: str, name: str) -> JSONObject:
        stored = await self.store.get(self._find(namespace, name))
        return self.to_api(stored, with_last_applied=True)

    async def list_objects(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> ListResult:
        revision, start_after = self._decode_continue(options.continue_token)
        try:
            view = await self.store.view(revision)
        except store_errors.NotFound:
            raise status.Expired(
                "The provided continue parameter is too old to display a consistent list result."
                " You can start a new list without the continue parameter."
            ) from None
        order = self._ordered(view, namespace)
        position = bisect.bisect_right(order, (*start_after, _MAX_KEY))
        limit = options.limit if options.limit > 0 else len(order)
        page: list[StoredObject] = []
        matched_after = 0
        for _namespace, name, key in order[position:]:
            stored = view.get(key)
            if stored is None or not self._selected(stored, name, options.label_selector, options):
                continue
            if len(page) < limit:
                page.append(stored)
            else:
                matched_after += 1
                if options.label_selector.empty and options.field_selector.empty:
                    matched_after = len(order) - position - len(page)  # nothing filters: count
                    break
        token, remaining = "", None
        if matched_after:
            last = page[-1]
            token = _encode_continue(view.commit_id, last.key.namespace, manifest_name(last.key))
            remaining = matched_after
        return ListResult([self.to_api(s) for s in page], view.resource_version, token, remaining)

    def _ordered(self, view: View, namespace: str | None) -> list[tuple[str, str, ObjectKey]]:
        """(namespace, manifest name, key) of every object in scope, sorted; kept per commit."""
        scope = "" if self.cluster else namespace
        cache_key = (view.commit_id, scope)
        order = self._order.get(cache_key)
        if order is None:
            order = sorted(
                (key.namespace, manifest_name(key), key)
                for key in view.keys(scope)
                if self._in_scope(key)
            )
            self._order[cache_key] = order
            if len(self._order) > 16:
                self._order.popitem(last=False)
        return order

    def watch(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> AsyncIterator[WatchItem]:
        def convert(stored: StoredObject) -> JSONObject | None:
            if not self._in_scope(stored.key) or (namespace and stored.key.namespace != namespace):
                return None
            if not self._selected(
                stored, manifest_name(stored.key), options.label_selector, options
            ):
                return None
            return self.to_api(stored)

        return store_watch(
            self.store,
            options,
            convert,
            lambda: self.list_objects(ctx, namespace, _no_limit(options)),
            bookmark_every=self.bookmark_every,
        )

    def table_row(self, obj: JSONObject) -> list[object]:
        declared = obj["spec"]["object"]
        state = obj.get("status", {})
        return [
            obj["metadata"]["name"],
            declared.get("kind", ""),
            declared.get("apiVersion", ""),
            state.get("revision", "")[:7],
            translate_timestamp_since(obj["metadata"].get("creationTimestamp")),
            state.get("path", ""),
            state.get("author", ""),
            state.get("source", ""),
            ",".join(state.get("files", [])),
        ]

    # ---- writing ----------------------------------------------------------------------

    async def create(self, ctx: RequestContext, namespace: str, obj: JSONObject) -> JSONObject:
        name = obj.get("metadata", {}).get("name") or ""
        key, declared = self._declared(namespace, obj, name)
        # A plain Secret became a SealedSecret: applying it again seals it again.
        resealed = bool(name) and manifest_name(key) != name
        put = Put(declared, "" if self.cluster else namespace, "apply" if resealed else "create")
        return await self._write(ctx, key, put, obj)

    async def update(
        self, ctx: RequestContext, namespace: str, name: str, obj: JSONObject, expect_rv: str | None
    ) -> JSONObject:
        key, declared = self._declared(namespace, obj, name)
        put = Put(declared, "" if self.cluster else namespace, "update", expect_rv)
        return await self._write(ctx, key, put, obj)

    async def delete(
        self, ctx: RequestContext, namespace: str, name: str, expect_rv: str | None
    ) -> JSONObject:
        key = self._find(namespace, name)
        last = self.to_api(await self.store.get(key))
        await self._write(ctx, key, Delete(key, expect_rv), {})
        return last

    async def _write(
        self, ctx: RequestContext, key: ObjectKey, op: Put | Delete, submitted: JSONObject
    ) -> JSONObject:
        who = Requester(ctx.user.username, ctx.user.groups, ctx.user.uid)
        try:
            result = await self.store.apply(
                [op],
                who,
                message=commit_message(submitted),
                request_id=ctx.request_id,
                dry_run=ctx.dry_run,
            )
        except store_errors.StoreError as exc:
            raise to_api_error(exc, self.info.plural, self.info.kind, manifest_name(key)) from None
        stored = result.objects.get(key)
        return self.to_api(stored) if stored is not None else {}

    # ---- mapping ----------------------------------------------------------------------

    def to_api(self, stored: StoredObject, *, with_last_applied: bool = False) -> JSONObject:
        name = manifest_name(stored.key)
        declared, hidden = served_secret(stored.obj, stored.holds_secret)
        labels = (declared.get("metadata") or {}).get("labels")
        metadata: JSONObject = {"name": name}
        if not self.cluster:
            metadata["namespace"] = stored.key.namespace
        if stored.uid:
            metadata["uid"] = stored.uid
        if stored.resource_version:
            metadata["resourceVersion"] = stored.resource_version
        metadata["creationTimestamp"] = timestamp(stored.created_at) if stored.created_at else None
        if isinstance(labels, dict) and labels:
            metadata["labels"] = labels
        annotations = {PATH_ANNOTATION: stored.path}
        if stored.commit_id:
            annotations[REVISION_ANNOTATION] = stored.commit_id
        if hidden:  # a plaintext Secret pushed from outside: its values are never served
            annotations[REDACTED_ANNOTATION] = ", ".join(hidden)
        if with_last_applied:
            # kubectl apply diffs the new file against this: what Git holds is what was applied.
            annotations[LAST_APPLIED] = self._last_applied(metadata, declared)
        metadata["annotations"] = annotations
        state: JSONObject = {"path": stored.path}
        rendered = self._provenance(stored.key)
        if rendered is not None:
            state["source"] = str(rendered.source)
            state["files"] = list(rendered.files)
        if stored.commit_id:
            info = self.store.store.commit_info(stored.commit_id)
            state.update(
                revision=stored.commit_id, author=info.author, committed=timestamp(info.time)
            )
        return {
            "apiVersion": GROUP_VERSION,
            "kind": self.info.kind,
            "metadata": metadata,
            "spec": {"object": declared},
            "status": state,
        }

    def _last_applied(self, metadata: JSONObject, declared: JSONObject) -> str:
        applied = {
            "apiVersion": GROUP_VERSION,
            "kind": self.info.kind,
            "metadata": {k: metadata[k] for k in ("name", "namespace") if k in metadata},
            "spec": {"object": declared},
        }
        return json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"

    def _provenance(self, key: ObjectKey) -> Any:
        """How a rendered object was made (None in a plain repository)."""
        provenance = getattr(self.store.store, "provenance", None)
        return provenance(key) if provenance is not None else None

    def _in_scope(self, key: ObjectKey) -> bool:
        return (key.namespace == "") == self.cluster

    def _selected(
        self, stored: StoredObject, name: str, labels: LabelSelector, options: ListOptions
    ) -> bool:
        declared_labels = (stored.obj.get("metadata") or {}).get("labels")
        if not labels.matches(declared_labels if isinstance(declared_labels, dict) else {}):
            return False
        fields = {"metadata.name": name, "metadata.namespace": stored.key.namespace}
        return options.field_selector.matches(fields)

    def _find(self, namespace: str, name: str) -> ObjectKey:
        """The declared object a Manifest name stands for; NotFound when there is none."""
        state = self.store.head
        scope = "" if self.cluster else namespace
        cache_key = (state.commit_id, scope)
        names = self._names.get(cache_key)
        if names is None:
            names = {}
            for entry in sorted(state.snapshot.entries(scope), key=lambda e: e.key):
                names.setdefault(manifest_name(entry.key), entry.key)
            self._names[cache_key] = names
            if len(self._names) > 64:
                self._names.popitem(last=False)
        key = names.get(name)
        if key is None:
            raise status.NotFound(status.GroupResource(GROUP, self.info.plural), name)
        return key

    def _declared(self, namespace: str, obj: JSONObject, name: str) -> tuple[ObjectKey, JSONObject]:
        """The object to write, checked against the Manifest that carries it."""
        gk = status.GroupKind(GROUP, self.info.kind)
        spec = obj.get("spec")
        declared = spec.get("object") if isinstance(spec, dict) else None
        if not isinstance(declared, dict):
            raise status.Invalid(
                gk, name, [status.FieldError.required("spec.object", "the declared object")]
            )
        if not_one := list_errors(declared, "spec.object"):
            raise status.Invalid(gk, name, not_one)
        scope = "" if self.cluster else namespace
        try:
            key = key_of(declared, scope)
        except store_errors.Invalid as exc:
            raise to_api_error(exc, self.info.plural, self.info.kind, name) from None
        errors: list[status.FieldError] = []
        if self.cluster and key.namespace:
            errors.append(
                status.FieldError.invalid(
                    "spec.object.metadata.namespace",
                    key.namespace,
                    "a ClusterManifest declares a cluster-scoped object;"
                    " use a Manifest in that namespace",
                )
            )
        elif self.cluster and is_namespaced_builtin(key.group, key.kind):
            errors.append(
                status.FieldError.invalid(
                    "spec.object.kind",
                    key.kind,
                    f"{key.kind} is namespaced: declare it as a Manifest in its namespace",
                )
            )
        elif not self.cluster and not key.namespace:
            errors.append(
                status.FieldError.invalid(
                    "spec.object.kind",
                    key.kind,
                    f"{key.kind} is cluster-scoped: declare it as a ClusterManifest",
                )
            )
        elif not self.cluster and key.namespace != namespace:
            errors.append(
                status.FieldError.invalid(
                    "spec.object.metadata.namespace",
                    key.namespace,
                    f"must match the Manifest's namespace {namespace!r}",
                )
            )
        expected = manifest_name(key)
        if name and name != expected:
            errors.append(
                status.FieldError.invalid(
                    "metadata.name",
                    name,
                    f"must be {expected!r}: <lowercased kind>.<object name> of spec.object",
                )
            )
        if self.validator is not None:
            errors.extend(self.validator(declared, "spec.object"))
        if self.transform is not None and not errors:
            try:
                declared = self.transform(declared, "spec.object", key.namespace)
                key = key_of(declared, scope)
            except status.Invalid as exc:
                errors.extend(exc.errors)
        if errors:
            raise status.Invalid(gk, name or expected, errors)
        return key, declared

    @staticmethod
    def _decode_continue(token: str) -> tuple[str | None, tuple[str, str]]:
        if not token:
            return None, ("", "")
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            return str(data["c"]), (str(data["ns"]), str(data["n"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise status.BadRequest(f"invalid continue token {token!r}") from None


_MAX_KEY = ObjectKey("\U0010ffff", "", "", "")  # sorts after every key with the same names


def _encode_continue(commit_id: str | None, namespace: str, name: str) -> str:
    raw = json.dumps({"c": commit_id, "ns": namespace, "n": name}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _no_limit(options: ListOptions) -> ListOptions:
    return replace(options, limit=0, continue_token="")
