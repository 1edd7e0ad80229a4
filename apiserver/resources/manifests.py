"""Manifest and ClusterManifest: each object Git declares, one resource per object.

The name is `<lowercased kind>.<object name>`; `spec.object` is the object as Git
declares it. Only `spec.object` is written to Git; everything else is derived.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import time
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
from apiserver.resources.manifest_meta import (
    LAST_APPLIED,
    PATH_ANNOTATION,
    REDACTED_ANNOTATION,
    REVISION_ANNOTATION,
    declared_annotations,
    record_of,
    same_record,
    with_manifest_metadata,
    without_plaintext,
)
from apiserver.secrets.policy import ObjectTransformer
from apiserver.validation_hook import ObjectValidator
from apiserver.watching import feed_watch
from kube import status
from kube.kinds import is_namespaced_builtin
from kube.selectors import LabelSelector
from kube.table import translate_timestamp_since
from kube.watch import ListOptions
from store import errors as store_errors
from store import versions
from store.aio import AsyncStore
from store.bookkeeping import Record, Step
from store.keys import ObjectKey, key_of
from store.model import Delete, Put, Requester, StoredObject, WatchEvent
from store.repo import View
from store.secrets import served_secret


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


class _Lookup:
    """Look the object's bookkeeping up (to_api's default)."""


class ManifestStrategy:
    strategic_merge = True  # PATCH takes strategic merge patches (apiserver.registry)

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
        return self.to_api(stored)

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
        return ListResult(
            [self.to_api(s) for s in page], self._current(view.resource_version), token, remaining
        )

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
        """The branch's changes and bookkeeping's, merged in version order."""

        def watched(stored: StoredObject) -> bool:
            if not self._in_scope(stored.key) or (namespace and stored.key.namespace != namespace):
                return False
            name = manifest_name(stored.key)
            return self._selected(stored, name, options.label_selector, options)

        def item(kind: str, obj: JSONObject | None) -> WatchItem | None:
            return WatchItem(kind, obj) if obj is not None else None

        async def changes_since(rv: str) -> tuple[list[WatchItem], str]:
            if not rv.isdigit():
                raise store_errors.Invalid(f"invalid resourceVersion {rv!r}: must be a number")
            branch_rv, _ = versions.decode(rv)
            events, reached = await self.store.watch_events(branch_rv)
            book = self.store.bookkeeping
            steps = book.steps_after(rv) if book is not None else []
            merged: list[tuple[int, int, WatchItem | None]] = []
            for order, event in enumerate(events):
                at = versions.encode(event.resource_version)
                if int(at) > int(rv):
                    merged.append((int(at), order, self._event(event, at, steps, watched)))
            for step in steps:
                for change in step.changes:
                    current = self.store.store.view().get(change.key)
                    if current is None or not watched(current):
                        continue
                    record = _owned(change.after, current)
                    obj = self.to_api(current, record=record, version=step.resource_version)
                    merged.append((int(step.resource_version), 0, item("MODIFIED", obj)))
            merged.sort(key=lambda m: (m[0], m[1]))
            reached_rv = self._current(reached)
            return [m[2] for m in merged if m[2] is not None], reached_rv

        async def initial() -> ListResult:
            return await self.list_objects(ctx, namespace, _no_limit(options))

        return feed_watch(
            self.store,
            options,
            changes_since,
            initial,
            bookmark_every=self.bookmark_every,
            current_version=lambda: self._current(self.store.head.resource_version),
            is_later=versions.is_later,
        )

    def _event(
        self, event: WatchEvent, at: str, steps: list[Step], watched: Any
    ) -> WatchItem | None:
        """A branch change as a watch sees it: the object then, with its bookkeeping then
        (that of the first later bookkeeping change, else the current one)."""
        record: Record | None = None
        for step in steps:
            if int(step.resource_version) <= int(at):
                continue
            found = next((c for c in step.changes if c.key == event.object.key), None)
            if found is not None:
                record = found.before
                break
        else:
            record = self._record(event.object)[0]
        now = watched(event.object)
        before = event.previous is not None and watched(event.previous)
        kind = event.type
        shown = event.object
        if event.type == "MODIFIED" and event.previous is not None:
            if now and not before:
                kind = "ADDED"
            elif before and not now:
                kind, shown = "DELETED", event.previous
            elif not now:
                return None
        elif not now:
            return None
        return WatchItem(kind, self.to_api(shown, record=_owned(record, shown), version=at))

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
        spec = obj.get("spec")
        declared_in = spec.get("object") if isinstance(spec, dict) else None
        if isinstance(declared_in, dict):
            declared_in = with_manifest_metadata(declared_in, obj, None)
            obj = {**obj, "spec": {**spec, "object": declared_in}}  # type: ignore[dict-item]
        key, declared = self._declared(namespace, obj, name)
        # A plain Secret became a SealedSecret: applying it again seals it again.
        resealed = bool(name) and manifest_name(key) != name
        put = Put(declared, "" if self.cluster else namespace, "apply" if resealed else "create")
        stored = await self._write(ctx, key, put, obj)
        if stored is None:
            return {}
        return await self._keep(ctx, stored, obj, None, None)

    async def update(
        self, ctx: RequestContext, namespace: str, name: str, obj: JSONObject, expect_rv: str | None
    ) -> JSONObject:
        key = self._find(namespace, name)
        stored = await self.store.get(key)
        record, record_version = self._record(stored)
        current = self.to_api(stored)
        if expect_rv and expect_rv != current["metadata"]["resourceVersion"]:
            raise status.Conflict(status.GroupResource(GROUP, self.info.plural), name)
        spec = obj.get("spec")
        declared_in = spec.get("object") if isinstance(spec, dict) else None
        if isinstance(declared_in, dict):
            declared_new = with_manifest_metadata(declared_in, obj, current)
            # Written even when unchanged (then no commit): every check is made, a
            # served placeholder is refused as ever.
            submitted = {**obj, "spec": {**spec, "object": declared_new}}  # type: ignore[dict-item]
            key, declared = self._declared(namespace, submitted, name)
            scope = "" if self.cluster else namespace
            put = Put(declared, scope, "update", stored.resource_version or None)
            written = await self._write(ctx, key, put, obj)
            if written is not None:
                stored = written
        else:
            self._declared(namespace, obj, name)  # the same Invalid as ever
        return await self._keep(ctx, stored, obj, record, record_version, served=current)

    async def _keep(
        self,
        ctx: RequestContext,
        stored: StoredObject,
        submitted: JSONObject,
        record: Record | None,
        record_version: str | None,
        *,
        served: JSONObject | None = None,
        managed_fields: list[JSONObject] | None = None,
    ) -> JSONObject:
        """Keep the bookkeeping `submitted` carries (store.bookkeeping; `served`: the
        object as served before), and finish a deletion whose last finalizer it removed;
        the object as it is then served."""
        new = without_plaintext(record_of(submitted, record, stored.uid))
        self._drop_derivable_last_applied(new, stored, served)
        if managed_fields is not None:
            new["managedFields"] = managed_fields
            if not managed_fields:
                del new["managedFields"]
        if same_record(new, record):
            return self.to_api(stored)
        if ctx.dry_run:
            return self.to_api(stored, record=new)
        deletion = (record or {}).get("deletion")
        if deletion and not new.get("finalizers"):
            return await self._finish_deletion(ctx, stored, deletion)
        keep = new if same_record(new, {}) is False else None
        await self._bookkeep(ctx, stored.key, keep, record_version)
        return self.to_api(await self.store.get(stored.key))

    async def _bookkeep(
        self,
        ctx: RequestContext,
        key: ObjectKey,
        record: Record | None,
        version: str | None,
        *,
        check: bool = True,
    ) -> None:
        """Write the object's bookkeeping; `check`: only if its version is still `version`
        (None: it had none)."""
        if self.store.bookkeeping is None:
            raise status.Invalid(
                status.GroupKind(GROUP, self.info.kind),
                manifest_name(key),
                [status.FieldError.forbidden("metadata", "this server keeps no bookkeeping")],
            )
        who = Requester(ctx.user.username, ctx.user.groups, ctx.user.uid)
        try:
            expect = (version or "") if check else None
            await self.store.bookkeep(key, record, who, expect_version=expect)
        except store_errors.StoreError as exc:
            raise to_api_error(exc, self.info.plural, self.info.kind, manifest_name(key)) from None

    async def _finish_deletion(
        self, ctx: RequestContext, stored: StoredObject, deletion: dict[str, Any]
    ) -> JSONObject:
        """The last finalizer is gone: the deletion asked for is committed, as its user."""
        last = self.to_api(stored)
        groups = tuple(g for g in deletion.get("groups", []) if isinstance(g, str))
        asked = RequestContext(
            user=replace_user(ctx, str(deletion.get("user", "")), groups),
            request_id=ctx.request_id,
        )
        await self._write(asked, stored.key, Delete(stored.key, stored.resource_version), {})
        await self._bookkeep(ctx, stored.key, None, None, check=False)
        return last

    async def delete(
        self, ctx: RequestContext, namespace: str, name: str, expect_rv: str | None
    ) -> JSONObject:
        key = self._find(namespace, name)
        stored = await self.store.get(key)
        record, record_version = self._record(stored)
        last = self.to_api(stored)
        if expect_rv and expect_rv != last["metadata"]["resourceVersion"]:
            raise status.Conflict(status.GroupResource(GROUP, self.info.plural), name)
        if record and record.get("finalizers"):
            # As kube-apiserver: marked for deletion, gone once its finalizers are.
            if record.get("deletion") or ctx.dry_run:
                return last
            # Refused now if it could never be committed (a base's object): else the
            # controller removing its finalizer would be the one told no.
            await self._write(replace(ctx, dry_run=True), key, Delete(key, None), {})
            deletion = {
                "timestamp": timestamp(int(time.time())),
                "user": ctx.user.username,
                "groups": list(ctx.user.groups),
            }
            await self._bookkeep(ctx, key, {**record, "deletion": deletion}, record_version)
            return self.to_api(await self.store.get(key))
        await self._write(ctx, key, Delete(key, stored.resource_version or None), {})
        if record and not ctx.dry_run:
            await self._bookkeep(ctx, key, None, None, check=False)
        return last

    async def _write(
        self, ctx: RequestContext, key: ObjectKey, op: Put | Delete, submitted: JSONObject
    ) -> StoredObject | None:
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
        return result.objects.get(key)

    # ---- bookkeeping and versions -----------------------------------------------------

    def _record(self, stored: StoredObject) -> tuple[Record | None, str | None]:
        """The object's bookkeeping and its version (None: it has none)."""
        book = self.store.bookkeeping
        if book is None:
            return None, None
        return _owned(book.records.get(stored.key), stored), book.versions.get(stored.key)

    def _current(self, branch_rv: str) -> str:
        book = self.store.bookkeeping
        return book.current(branch_rv) if book is not None else versions.encode(branch_rv)

    # ---- mapping ----------------------------------------------------------------------

    def to_api(
        self,
        stored: StoredObject,
        *,
        record: Record | type[_Lookup] | None = _Lookup,
        version: str | None = None,
    ) -> JSONObject:
        """The Manifest served for a declared object: its bookkeeping (`record`, looked up
        when not given) merged in, at `version` (the newer of the object's branch and
        bookkeeping versions when not given)."""
        record_version = None
        if record is _Lookup:
            record, record_version = self._record(stored)
        assert record is None or isinstance(record, dict)
        name = manifest_name(stored.key)
        declared, hidden = served_secret(stored.obj, stored.holds_secret)
        object_meta = declared.get("metadata") or {}
        labels = object_meta.get("labels")
        metadata: JSONObject = {"name": name}
        if not self.cluster:
            metadata["namespace"] = stored.key.namespace
        if stored.uid:
            metadata["uid"] = stored.uid
        if version is None:
            branch = versions.encode(stored.resource_version) if stored.resource_version else ""
            version = versions.newest(branch, record_version or "") if branch else ""
        if version:
            metadata["resourceVersion"] = version
        metadata["creationTimestamp"] = timestamp(stored.created_at) if stored.created_at else None
        record = record or {}
        deletion = record.get("deletion")
        if isinstance(deletion, dict) and deletion.get("timestamp"):
            metadata["deletionTimestamp"] = deletion["timestamp"]
            metadata["deletionGracePeriodSeconds"] = 0
        if record.get("finalizers"):
            metadata["finalizers"] = list(record["finalizers"])
        if isinstance(labels, dict) and labels:
            metadata["labels"] = labels
        annotations = declared_annotations(object_meta.get("annotations"))
        annotations.update(record.get("annotations") or {})
        annotations[PATH_ANNOTATION] = stored.path
        if stored.commit_id:
            annotations[REVISION_ANNOTATION] = stored.commit_id
        if hidden:  # a plaintext Secret pushed from outside: its values are never served
            annotations[REDACTED_ANNOTATION] = ", ".join(hidden)
        if LAST_APPLIED not in annotations:
            # What kubectl apply diffs the file against (and `apply --prune` selects by),
            # for objects no client-side apply wrote: what Git holds is what was applied.
            annotations[LAST_APPLIED] = self._last_applied(metadata, declared)
        metadata["annotations"] = annotations
        if record.get("managedFields"):
            metadata["managedFields"] = record["managedFields"]
        state: JSONObject = dict(record.get("status") or {})
        state["path"] = stored.path
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

    def _drop_derivable_last_applied(
        self, record: Record, stored: StoredObject, served: JSONObject | None
    ) -> None:
        """A last-applied configuration that says what Git holds is not kept: it is
        served as it is derived (one commit per `kubectl apply`, no bookkeeping write);
        nor is a derived one sent back as it was served (an edit, a merge patch)."""
        annotations = record.get("annotations") or {}
        applied = annotations.get(LAST_APPLIED)
        if applied is None:
            return
        kept = (self._record(stored)[0] or {}).get("annotations") or {}
        echoed = (
            LAST_APPLIED not in kept
            and served is not None
            and served["metadata"]["annotations"].get(LAST_APPLIED) == applied
        )
        if echoed or self._derivable(applied, stored):
            rest = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
            if rest:
                record["annotations"] = rest
            else:
                del record["annotations"]

    def _derivable(self, applied: str, stored: StoredObject) -> bool:
        """Whether a last-applied configuration is the one served for what Git holds."""
        metadata = {"name": manifest_name(stored.key)}
        if not self.cluster:
            metadata["namespace"] = stored.key.namespace
        declared, _ = served_secret(stored.obj, stored.holds_secret)
        try:
            derived = json.loads(self._last_applied(metadata, declared))
            return bool(_applied(json.loads(applied)) == _applied(derived))
        except ValueError:
            return False

    def _last_applied(self, metadata: JSONObject, declared: JSONObject) -> str:
        """What kubectl writes for a file holding the Manifest as served: byte for byte
        (`annotations: {}`, Go's encoding/json), so re-applying it is "unchanged"."""
        kept: JSONObject = {"annotations": {}}
        kept.update((k, metadata[k]) for k in ("name", "namespace") if k in metadata)
        applied = {
            "apiVersion": GROUP_VERSION,
            "kind": self.info.kind,
            "metadata": kept,
            "spec": {"object": declared},
        }
        return go_json(applied) + "\n"

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


def go_json(value: Any) -> str:
    """json.Marshal's text: sorted keys, compact, UTF-8, and <, >, &, U+2028, U+2029
    escaped as Go escapes them."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _applied(configuration: Any) -> Any:
    """A last-applied configuration compared as kubectl writes it (`annotations: {}`)."""
    if isinstance(configuration, dict) and isinstance(configuration.get("metadata"), dict):
        metadata = configuration["metadata"]
        if metadata.get("annotations") == {}:
            configuration["metadata"] = {k: v for k, v in metadata.items() if k != "annotations"}
    return configuration


def _owned(record: Record | None, stored: StoredObject) -> Record | None:
    """A record kept for this object: one left by an object of the same name that was
    deleted and declared again (another uid) is not its."""
    if record is None:
        return None
    uid = record.get("uid")
    return record if not uid or not stored.uid or uid == stored.uid else None


def replace_user(ctx: RequestContext, username: str, groups: tuple[str, ...]) -> Any:
    from apiserver.context import UserInfo  # noqa: PLC0415

    return UserInfo(username or ctx.user.username, groups)


_MAX_KEY = ObjectKey("\U0010ffff", "", "", "")  # sorts after every key with the same names


def _encode_continue(commit_id: str | None, namespace: str, name: str) -> str:
    raw = json.dumps({"c": commit_id, "ns": namespace, "n": name}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _no_limit(options: ListOptions) -> ListOptions:
    return replace(options, limit=0, continue_token="")
