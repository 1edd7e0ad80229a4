"""What every kind's strategy offers the generic registry and handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from apiserver.context import RequestContext
from apiserver.resources.info import GROUP, ResourceInfo
from kube import status
from kube.watch import ListOptions
from store.documents import is_list

JSONObject = dict[str, Any]
COMMIT_MESSAGE_ANNOTATION = "gitplane.io/commit-message"


@dataclass
class ListResult:
    items: list[JSONObject]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None


@dataclass
class WatchItem:
    """One watch event: ADDED/MODIFIED/DELETED with an object, or BOOKMARK with a version."""

    type: str
    object: JSONObject = field(default_factory=dict)
    resource_version: str = ""
    initial_events_end: bool = False


def list_errors(declared: Any, path: str) -> list[status.FieldError]:
    """A declared object that is a `List`: its items are objects, it is none (a List item
    would otherwise escape every check made per object)."""
    if not is_list(declared):
        return []
    detail = "a List holds several objects, not one: declare each of its items"
    return [status.FieldError.invalid(f"{path}.kind", declared["kind"], detail)]


class Strategy(Protocol):
    """A kind's rules. Verbs a kind does not list in `info.verbs` are never called."""

    info: ResourceInfo

    async def get(self, ctx: RequestContext, namespace: str, name: str) -> JSONObject: ...

    async def list_objects(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> ListResult: ...

    async def create(self, ctx: RequestContext, namespace: str, obj: JSONObject) -> JSONObject: ...

    async def update(
        self, ctx: RequestContext, namespace: str, name: str, obj: JSONObject, expect_rv: str | None
    ) -> JSONObject: ...

    async def delete(
        self, ctx: RequestContext, namespace: str, name: str, expect_rv: str | None
    ) -> JSONObject: ...

    def watch(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> AsyncIterator[WatchItem]: ...

    def table_row(self, obj: JSONObject) -> list[object]: ...


def commit_message(obj: JSONObject) -> str | None:
    """The commit message a client asked for on the submitted object (never stored)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    message = annotations.get(COMMIT_MESSAGE_ANNOTATION) if isinstance(annotations, dict) else None
    return message.strip() or None if isinstance(message, str) else None


class VerbsNotServed:
    """Defaults for the verbs a kind does not list: the handlers never call them, but if
    they did, the client would get 405 rather than a crash."""

    info: ResourceInfo

    def _refuse(self, verb: str) -> status.MethodNotAllowed:
        return status.MethodNotAllowed(status.GroupResource(GROUP, self.info.plural), verb)

    async def get(self, ctx: RequestContext, namespace: str, name: str) -> JSONObject:
        raise self._refuse("get")

    async def list_objects(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> ListResult:
        raise self._refuse("list")

    async def create(self, ctx: RequestContext, namespace: str, obj: JSONObject) -> JSONObject:
        raise self._refuse("create")

    async def update(
        self, ctx: RequestContext, namespace: str, name: str, obj: JSONObject, expect_rv: str | None
    ) -> JSONObject:
        raise self._refuse("update")

    async def delete(
        self, ctx: RequestContext, namespace: str, name: str, expect_rv: str | None
    ) -> JSONObject:
        raise self._refuse("delete")

    async def watch(
        self, ctx: RequestContext, namespace: str | None, options: ListOptions
    ) -> AsyncIterator[WatchItem]:
        raise self._refuse("watch")
        yield WatchItem("ADDED")  # pragma: no cover - makes this an async generator
