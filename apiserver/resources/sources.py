"""Source: what Argo CD and Flux render from the repository, one resource each (read-only).

`kubectl get sources` lists every Application, Kustomization and HelmRelease found, with
its tool, path and destination, the commit rendered, how many objects it applies, and
why it does not render when it does not (the same as `gitplane check`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from apiserver.context import RequestContext
from apiserver.resources.base import JSONObject, ListResult, VerbsNotServed
from apiserver.resources.info import GROUP, GROUP_VERSION, ResourceInfo
from kube import status
from kube.watch import ListOptions
from store.aio import AsyncStore


def source_rows(store: Any) -> list[JSONObject]:
    """One Source object per result of the current render (empty for a plain repository)."""
    results = store.results() if hasattr(store, "results") and store.rendering else []
    current = store.current
    conflicts: dict[Any, list[str]] = {}
    if current is not None:
        for conflict in current.desired.conflicts:
            conflicts.setdefault(conflict.also_from, []).append(
                f"{conflict.key} (served from {conflict.served_from})"
            )
    names: dict[str, int] = {}
    rows = []
    for result in results:
        source = result.source
        base = f"{source.ref.kind}.{source.ref.namespace}.{source.ref.name}".lower()
        names[base] = names.get(base, 0) + 1
        rows.append((base, result))
    out = []
    for base, result in rows:
        source = result.source
        name = base
        if names[base] > 1:  # two clusters' directories each declare it
            name = f"{base}-{hashlib.sha256(source.ref.declared_in.encode()).hexdigest()[:6]}"
        phase = (
            "Skipped"
            if source.skipped
            else "Stale"
            if result.stale
            else "Failed"
            if result.error
            else "Rendered"
        )
        out.append(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "Source",
                "metadata": {"name": name},
                "spec": {
                    "kind": source.ref.kind,
                    "namespace": source.ref.namespace,
                    "name": source.ref.name,
                    "declaredIn": source.ref.declared_in.split("#")[0],
                    "path": source.path,
                    "tool": source.tool,
                    "destination": source.destination,
                    **({"parent": str(source.parent)} if source.parent else {}),
                },
                "status": {
                    "phase": phase,
                    "commit": (current.commit_id or "") if current is not None else "",
                    "objects": sum(1 for r in result.objects if not r.hook),
                    **(
                        {"error": source.skipped or result.error}
                        if source.skipped or result.error
                        else {}
                    ),
                    **({"conflicts": conflicts[source.ref]} if source.ref in conflicts else {}),
                },
            }
        )
    return sorted(out, key=lambda o: o["metadata"]["name"])


class SourceStrategy(VerbsNotServed):
    def __init__(self, store: AsyncStore, info: ResourceInfo) -> None:
        self.store = store
        self.info = info

    async def get(self, ctx: RequestContext, namespace: str, name: str) -> JSONObject:
        for row in source_rows(self.store.store):
            if row["metadata"]["name"] == name:
                return row
        raise status.NotFound(status.GroupResource(GROUP, self.info.plural), name)

    async def list_objects(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> ListResult:
        rows = [r for r in source_rows(self.store.store) if options.label_selector.matches({})]
        rows = [
            r
            for r in rows
            if options.field_selector.matches({"metadata.name": r["metadata"]["name"]})
        ]
        return ListResult(rows, self.store.head.resource_version)

    def table_row(self, obj: JSONObject) -> list[object]:
        spec, state = obj["spec"], obj["status"]
        return [
            obj["metadata"]["name"],
            spec["kind"],
            spec["path"] or ".",
            spec["tool"],
            spec["destination"],
            state["phase"],
            state["objects"],
            state["commit"][:7],
            state.get("error", ""),
            spec["declaredIn"],
        ]
