"""ChangeSet: several objects put or deleted in one commit (create-only)."""

from __future__ import annotations

import secrets

from apiserver.context import RequestContext
from apiserver.errors import field_errors, to_api_error
from apiserver.resources.base import JSONObject, VerbsNotServed, commit_message, list_errors
from apiserver.resources.info import GROUP, GROUP_VERSION, ResourceInfo
from apiserver.resources.manifests import change_entry, manifest_name, timestamp
from apiserver.secrets.policy import ObjectTransformer
from apiserver.validation_hook import ObjectValidator
from kube import status
from store import errors as store_errors
from store.aio import AsyncStore
from store.keys import ObjectKey, key_of
from store.model import Delete, Operation, Put, Requester
from store.snapshot import Snapshot


class ChangeSetStrategy(VerbsNotServed):
    def __init__(
        self,
        store: AsyncStore,
        info: ResourceInfo,
        validator: ObjectValidator | None = None,
        transform: ObjectTransformer | None = None,
    ) -> None:
        self.store = store
        self.info = info
        self.validator = validator
        self.transform = transform  # e.g. a plain Secret becomes the SealedSecret to store

    async def create(self, ctx: RequestContext, namespace: str, obj: JSONObject) -> JSONObject:
        metadata = obj["metadata"]
        name = metadata.get("name") or (
            metadata.get("generateName") or "changeset-"
        ) + secrets.token_hex(3)
        gk = status.GroupKind(GROUP, self.info.kind)
        given = obj.get("spec")
        spec: JSONObject = given if isinstance(given, dict) else {}
        puts, deletes = spec.get("put") or [], spec.get("delete") or []
        errors: list[status.FieldError] = []
        if not isinstance(puts, list) or not isinstance(deletes, list):
            raise status.Invalid(
                gk,
                name,
                [status.FieldError.invalid("spec", status.OMITTED, "put and delete must be lists")],
            )
        if not puts and not deletes:
            errors.append(
                status.FieldError.required("spec.put", "a ChangeSet must put or delete something")
            )
        operations: list[Operation] = []
        stored_puts: list[object] = []  # what is written, and shown, for each of spec.put
        for index, declared in enumerate(puts):
            path = f"spec.put[{index}]"
            if not_one := list_errors(declared, path):
                errors.extend(not_one)
                continue
            try:
                key = key_of(declared, namespace)
            except store_errors.Invalid as exc:
                errors.extend(field_errors(exc, path))
                continue
            if key.namespace not in ("", namespace):
                errors.append(
                    status.FieldError.invalid(
                        f"{path}.metadata.namespace",
                        key.namespace,
                        f"must be {namespace!r}, the ChangeSet's namespace",
                    )
                )
            before = len(errors)
            if self.validator is not None:
                errors.extend(self.validator(declared, path))
            stored = declared
            if self.transform is not None and len(errors) == before:
                try:
                    stored = self.transform(declared, path, key.namespace or namespace)
                except status.Invalid as exc:
                    errors.extend(exc.errors)
            operations.append(Put(stored, namespace))
            stored_puts.append(stored)
        head = self.store.head.snapshot
        for index, target in enumerate(deletes):
            found = self._find(head, namespace, target) if isinstance(target, str) else None
            if found is None:
                errors.append(status.FieldError.not_found(f"spec.delete[{index}]", target))
            else:
                operations.append(Delete(found))
        if errors:
            raise status.Invalid(gk, name, errors)
        message = (
            spec.get("message") if isinstance(spec.get("message"), str) else None
        ) or commit_message(obj)
        who = Requester(ctx.user.username, ctx.user.groups, ctx.user.uid)
        try:
            result = await self.store.apply(
                operations,
                who,
                message=message,
                request_id=ctx.request_id,
                dry_run=ctx.dry_run,
                trailers={"Gitplane-Name": name},
            )
        except store_errors.StoreError as exc:
            raise to_api_error(
                exc, self.info.plural, self.info.kind, name, field_prefix="spec"
            ) from None
        when = (
            timestamp(self.store.store.commit_info(result.commit_id).time)
            if result.commit_id
            else None
        )
        return {
            "apiVersion": GROUP_VERSION,
            "kind": self.info.kind,
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": when},
            "spec": {**spec, "put": stored_puts} if puts else spec,
            "status": {
                "commit": result.commit_id or "",
                "author": ctx.user.username,
                "changes": [
                    change_entry("DELETED" if o is None else "PUT", k)
                    for k, o in result.objects.items()
                ],
            },
        }

    @staticmethod
    def _find(snapshot: Snapshot, namespace: str, name: str) -> ObjectKey | None:
        for entry in snapshot.entries(namespace):
            if manifest_name(entry.key) == name:
                return entry.key
        return None

    def table_row(self, obj: JSONObject) -> list[object]:
        return [obj["metadata"]["name"]]
