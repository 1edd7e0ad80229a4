"""One set of REST handlers for every kind; routes are built from the strategies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDict

from apiserver import codec, registry
from apiserver.auth import USER
from apiserver.context import RequestContext
from apiserver.resources.base import JSONObject, ListResult, Strategy, WatchItem
from apiserver.resources.info import GROUP, GROUP_VERSION
from kube import status
from kube.meta import dns1123_label_errors, partial_object_metadata, partial_object_metadata_list
from kube.negotiation import (
    PATCH_TYPES_WITH_STRATEGIC,
    PATCH_TYPES_WITHOUT_STRATEGIC,
    Conversion,
    OutputFormat,
    check_conversion_fits,
    negotiate_output,
    patch_type,
)
from kube.selectors import SelectorError, escape_field_value, parse_field_selector
from kube.table import Row, build_table, parse_include_object
from kube.watch import EventType, bookmark, encode_event, error_event, parse_list_options

PREFIX = f"/apis/{GROUP_VERSION}"
WATCH_PREFIX = f"{PREFIX}/watch"


class ResourceHandlers:
    def __init__(self, strategies: Mapping[str, Strategy]) -> None:
        self.strategies = dict(strategies)
        self._watches: set[asyncio.Task[Any]] = set()

    async def close_watches(self) -> None:
        """End open watches so a shutdown does not wait for clients to hang up."""
        for task in list(self._watches):
            task.cancel()

    def routes(self) -> list[web.RouteDef]:
        collection, item, watch = self.collection, self.item, self.watch_path
        return [
            # First, or `/{plural}/{name}` would take `/watch/{plural}`.
            web.route("*", f"{WATCH_PREFIX}/namespaces/{{namespace}}/{{plural}}", watch),
            web.route("*", f"{WATCH_PREFIX}/namespaces/{{namespace}}/{{plural}}/{{name}}", watch),
            web.route("*", f"{WATCH_PREFIX}/{{plural}}", watch),
            web.route("*", f"{WATCH_PREFIX}/{{plural}}/{{name}}", watch),
            web.route("*", f"{PREFIX}/namespaces/{{namespace}}/{{plural}}", collection),
            web.route("*", f"{PREFIX}/namespaces/{{namespace}}/{{plural}}/{{name}}", item),
            web.route("*", f"{PREFIX}/{{plural}}", collection),
            web.route("*", f"{PREFIX}/{{plural}}/{{name}}", item),
        ]

    def allowed_methods(self, request: web.Request) -> tuple[str, ...] | None:
        """The methods the resource path `request` matched takes (a 405's Allow header),
        from its kind's verbs; None if it matched no resource path."""
        match = request.match_info
        strategy = self.strategies.get(match.get("plural", ""))
        resource = match.route.resource
        if strategy is None or resource is None or not resource.canonical.startswith(PREFIX):
            return None
        verbs = strategy.info.verbs
        if resource.canonical.startswith(WATCH_PREFIX):
            served = [("GET", "watch")]
        elif "name" in match:
            served = [("GET", "get"), ("PUT", "update"), ("PATCH", "patch"), ("DELETE", "delete")]
        elif strategy.info.namespaced and "namespace" not in match:
            served = [("GET", "list"), ("GET", "watch")]
        else:
            served = [("GET", "list"), ("GET", "watch"), ("POST", "create")]
        return tuple(dict.fromkeys(method for method, verb in served if verb in verbs))

    # ---- dispatch ----------------------------------------------------------------------

    async def collection(self, request: web.Request) -> web.StreamResponse:
        strategy, namespace = self._resolve(request)
        ctx = _context(request)
        if request.method == "GET":
            options = parse_list_options(request.query)
            if options.watch:
                self._allow(strategy, "watch")
                return await self._watch(request, strategy, ctx, namespace, options)
            self._allow(strategy, "list")
            return await self._list(request, strategy, ctx, namespace, options)
        if request.method == "POST":
            self._allow(strategy, "create")
            body = await codec.read_object(request)
            created = await registry.create(strategy, ctx, namespace or "", body)
            return codec.respond(request, created, code=201, warnings=ctx.warnings)
        raise status.MethodNotAllowed(self._gr(strategy), request.method)

    async def item(self, request: web.Request) -> web.StreamResponse:
        strategy, namespace = self._resolve(request)
        name = request.match_info["name"]
        ns = namespace or ""
        ctx = _context(request)
        if request.method == "GET":
            self._allow(strategy, "get")
            output = negotiate_output(request.headers.get("Accept"))
            check_conversion_fits(output, is_list=False)
            obj = await strategy.get(ctx, ns, name)
            return self._one(request, strategy, obj, output)
        if request.method == "PUT":
            self._allow(strategy, "update")
            body = await codec.read_object(request)
            return codec.respond(
                request, await registry.update(strategy, ctx, ns, name, body), warnings=ctx.warnings
            )
        if request.method == "PATCH":
            self._allow(strategy, "patch")
            strategic = getattr(strategy, "strategic_merge", False)
            kind = patch_type(
                request.headers.get("Content-Type"),
                PATCH_TYPES_WITH_STRATEGIC if strategic else PATCH_TYPES_WITHOUT_STRATEGIC,
            )
            body = await codec.read_object(request, patch=True)
            obj, created = await registry.patch(strategy, ctx, ns, name, kind, body)
            return codec.respond(request, obj, code=201 if created else 200, warnings=ctx.warnings)
        if request.method == "DELETE":
            self._allow(strategy, "delete")
            options = await codec.read_object(request) if request.can_read_body else None
            deleted = await registry.delete(strategy, ctx, ns, name, options)
            return codec.respond(request, deleted, warnings=ctx.warnings)
        raise status.MethodNotAllowed(self._gr(strategy), request.method)

    async def watch_path(self, request: web.Request) -> web.StreamResponse:
        """The deprecated `/watch/...` paths kube-apiserver still serves (and OpenAPI lists):
        a list with `watch=true`, and for `/watch/.../{name}` a `metadata.name` field
        selector, as its ListResource handler does (forceWatch, the name as a selector)."""
        strategy, namespace = self._resolve(request)
        name = request.match_info.get("name")
        if name is not None and strategy.info.namespaced and namespace is None:
            raise status.NotFound(status.GroupResource(GROUP, strategy.info.plural), name)
        if request.method != "GET":
            raise status.MethodNotAllowed(self._gr(strategy), request.method)
        self._allow(strategy, "watch")
        query = MultiDict(request.query)
        query["watch"] = "true"
        if name is not None:
            query["fieldSelector"] = _name_selector(query.get("fieldSelector", ""), name)
        options = parse_list_options(query)
        return await self._watch(request, strategy, _context(request), namespace, options)

    def _resolve(self, request: web.Request) -> tuple[Strategy, str | None]:
        plural = request.match_info["plural"]
        namespace = request.match_info.get("namespace")
        strategy = self.strategies.get(plural)
        if strategy is None or (namespace is not None and not strategy.info.namespaced):
            raise status.NotFound(
                status.GroupResource(GROUP, plural), request.match_info.get("name", "")
            )
        if namespace is not None and dns1123_label_errors(namespace):
            raise status.NotFound(status.GroupResource("", "namespaces"), namespace)
        if strategy.info.namespaced and namespace is None and request.method not in ("GET",):
            raise status.MethodNotAllowed(self._gr(strategy), request.method)
        return strategy, namespace

    @staticmethod
    def _gr(strategy: Strategy) -> status.GroupResource:
        return status.GroupResource(GROUP, strategy.info.plural)

    def _allow(self, strategy: Strategy, verb: str) -> None:
        if verb not in strategy.info.verbs:
            raise status.MethodNotAllowed(self._gr(strategy), verb)

    # ---- reads -----------------------------------------------------------------------

    async def _list(
        self,
        request: web.Request,
        strategy: Strategy,
        ctx: RequestContext,
        namespace: str | None,
        options: Any,
    ) -> web.Response:
        output = negotiate_output(request.headers.get("Accept"))
        check_conversion_fits(output, is_list=True)
        result = await strategy.list_objects(ctx, namespace, options)
        if output.conversion is Conversion.TABLE:
            body = _table(request, strategy, result.items, output, result)
        elif output.conversion is Conversion.PARTIAL_OBJECT_METADATA_LIST:
            body = partial_object_metadata_list(
                result.items,
                resource_version=result.resource_version,
                continue_token=result.continue_token,
                remaining_item_count=result.remaining,
                api_version=output.api_version,
            )
        else:
            body = {
                "apiVersion": GROUP_VERSION,
                "kind": strategy.info.list_kind,
                "metadata": _list_meta(result),
                "items": result.items,
            }
        return codec.respond(request, body, output=output, warnings=ctx.warnings)

    def _one(
        self, request: web.Request, strategy: Strategy, obj: JSONObject, output: OutputFormat
    ) -> web.Response:
        if output.conversion is Conversion.TABLE:
            body = _table(request, strategy, [obj], output, None)
        elif output.conversion is Conversion.PARTIAL_OBJECT_METADATA:
            body = partial_object_metadata(obj, output.api_version)
        else:
            body = obj
        return codec.respond(request, body, output=output)

    async def _watch(
        self,
        request: web.Request,
        strategy: Strategy,
        ctx: RequestContext,
        namespace: str | None,
        options: Any,
    ) -> web.StreamResponse:
        output = negotiate_output(request.headers.get("Accept"))
        if output.conversion is Conversion.PARTIAL_OBJECT_METADATA_LIST:
            raise status.NotAcceptable("watch requests ask for PartialObjectMetadata, not a list")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        first_table = True
        task = asyncio.current_task()
        if task is not None:
            self._watches.add(task)
        try:
            async with asyncio.timeout(options.timeout_seconds or None):
                async for item in strategy.watch(ctx, namespace, options):
                    obj = self._watch_object(request, strategy, item, output, first_table)
                    first_table = first_table and output.conversion is not Conversion.TABLE
                    await response.write(encode_event(EventType(item.type), obj))
        except TimeoutError:
            pass
        except status.ApiError as exc:
            with contextlib.suppress(ConnectionError):
                await response.write(json.dumps(error_event(exc)).encode() + b"\n")
        except ConnectionError:
            return response
        except asyncio.CancelledError:
            if task is None or not task.cancelling():
                raise
            return response  # the server is shutting down
        finally:
            if task is not None:
                self._watches.discard(task)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    def _watch_object(
        self,
        request: web.Request,
        strategy: Strategy,
        item: WatchItem,
        output: OutputFormat,
        headers: bool,
    ) -> JSONObject:
        if item.type == "BOOKMARK":
            mark = bookmark(
                strategy.info.kind,
                GROUP_VERSION,
                item.resource_version,
                initial_events_end=item.initial_events_end,
            )
            if output.conversion is Conversion.PARTIAL_OBJECT_METADATA:
                return partial_object_metadata(mark, output.api_version)
            return mark
        if output.conversion is Conversion.TABLE:
            return _table(request, strategy, [item.object], output, None, include_headers=headers)
        if output.conversion is Conversion.PARTIAL_OBJECT_METADATA:
            return partial_object_metadata(item.object, output.api_version)
        return item.object


def _table(
    request: web.Request,
    strategy: Strategy,
    items: list[JSONObject],
    output: OutputFormat,
    result: ListResult | None,
    *,
    include_headers: bool = True,
) -> JSONObject:
    include = parse_include_object(request.query.get("includeObject"))
    rows = [Row(strategy.table_row(obj), obj) for obj in items]
    return build_table(
        strategy.info.columns,
        rows,
        include_object=include,
        api_version=output.api_version,
        resource_version=result.resource_version if result else "",
        continue_token=result.continue_token if result else "",
        remaining_item_count=result.remaining if result else None,
        include_headers=include_headers,
    )


def _name_selector(selector: str, name: str) -> str:
    """The field selector of a watch of one object: `metadata.name=<name>`, or the request's
    own if that selects the same name (anything else is refused, as upstream)."""
    if not selector:
        return f"metadata.name={escape_field_value(name)}"
    try:
        selected = parse_field_selector(selector, supported=None).requires_exact_match(
            "metadata.name"
        )
    except SelectorError as error:
        raise status.BadRequest(str(error)) from None
    if selected != name:
        raise status.BadRequest("fieldSelector metadata.name doesn't match requested name")
    return selector


def _list_meta(result: ListResult) -> JSONObject:
    meta: JSONObject = {"resourceVersion": result.resource_version}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining is not None:
        meta["remainingItemCount"] = result.remaining
    return meta


def _context(request: web.Request) -> RequestContext:
    user = request.get(USER)
    if user is None:
        raise status.Unauthorized()
    dry_run = request.query.getall("dryRun", [])
    if any(value != "All" for value in dry_run):
        raise status.BadRequest(f"unsupported dryRun value {dry_run!r}: only All is supported")
    validation = request.query.get("fieldValidation", "Strict")
    if validation not in ("Strict", "Warn", "Ignore"):
        raise status.BadRequest(f"invalid fieldValidation {validation!r}: Strict, Warn or Ignore")
    return RequestContext(
        user=user,
        request_id=request.headers.get("Audit-Id") or str(uuid.uuid4()),
        dry_run=bool(dry_run),
        field_manager=request.query.get("fieldManager", ""),
        field_validation=validation,
    )
