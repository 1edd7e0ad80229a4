"""Watch wire format and list/watch query parameters, as kube-apiserver treats them.

A watch response is a 200 with one JSON event per line. Query parameters are decoded with
apimachinery's rules (booleans: only "false"/"0" are false; integers as strconv.ParseInt),
defaulted as SetListOptionsDefaults does for WatchList, and validated as ValidateListOptions
does, so every rejection carries upstream's status and wording.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from kube.selectors import (
    DEFAULT_SELECTABLE_FIELDS,
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from kube.status import ApiError, BadRequest, FieldError, GroupKind, Invalid, go_quote

JSONObject = dict[str, Any]

INITIAL_EVENTS_END_ANNOTATION: Final = "k8s.io/initial-events-end"
INITIAL_EVENTS_LIST_BLUEPRINT_ANNOTATION: Final = "k8s.io/initial-events-list-blueprint"
WATCH_CONTENT_TYPE: Final = "application/json"


class EventType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


def watch_event(event_type: EventType, obj: Mapping[str, Any]) -> JSONObject:
    return {"type": event_type.value, "object": obj}


def encode_event(event_type: EventType, obj: Mapping[str, Any]) -> bytes:
    """One framed event: compact JSON and a newline, as Go's json.Encoder writes it."""
    text = json.dumps(watch_event(event_type, obj), separators=(",", ":"), ensure_ascii=False)
    return text.encode() + b"\n"


def bookmark(
    kind: str,
    api_version: str,
    resource_version: str,
    *,
    initial_events_end: bool = False,
    list_blueprint: Mapping[str, Any] | None = None,
) -> JSONObject:
    """A BOOKMARK's object: only type information and the resourceVersion reached.

    `initial_events_end` marks the end of a sendInitialEvents stream (WatchList);
    `list_blueprint`, an empty list of the resource, is attached there as upstream does so
    the client can build its list object (base64 of its JSON)."""
    metadata: JSONObject = {"resourceVersion": resource_version}
    if initial_events_end:
        annotations = {INITIAL_EVENTS_END_ANNOTATION: "true"}
        if list_blueprint is not None:
            encoded = json.dumps(list_blueprint, separators=(",", ":")).encode()
            annotations[INITIAL_EVENTS_LIST_BLUEPRINT_ANNOTATION] = base64.b64encode(
                encoded
            ).decode()
        metadata["annotations"] = annotations
    return {"kind": kind, "apiVersion": api_version, "metadata": metadata}


def error_event(error: ApiError) -> JSONObject:
    """An ERROR event carrying the Status (e.g. 410 Expired for a too-old resourceVersion)."""
    return watch_event(EventType.ERROR, error.status())


# --- list/watch options -----------------------------------------------------------------------


class ResourceVersionMatch(StrEnum):
    EXACT = "Exact"
    NOT_OLDER_THAN = "NotOlderThan"


LIST_OPTIONS_KIND: Final = GroupKind("meta.k8s.io", "ListOptions")


@dataclass(frozen=True)
class ListOptions:
    """metainternalversion.ListOptions, decoded, defaulted and validated."""

    watch: bool = False
    resource_version: str = ""
    resource_version_match: str = ""
    allow_watch_bookmarks: bool = False
    send_initial_events: bool | None = None
    timeout_seconds: int | None = None
    label_selector: LabelSelector = field(default_factory=LabelSelector)
    field_selector: FieldSelector = field(default_factory=FieldSelector)
    limit: int = 0
    continue_token: str = ""

    @property
    def sends_initial_events(self) -> bool:
        """A watch that must first replay current state as ADDED events."""
        return self.watch and self.send_initial_events is True


def parse_list_options(
    query: Mapping[str, str],
    *,
    selectable_fields: Collection[str] = DEFAULT_SELECTABLE_FIELDS,
    watch_list: bool = True,
) -> ListOptions:
    """Decode a list or watch request's query, in the apiserver's order of checks.

    Malformed numbers and selectors raise BadRequest; forbidden combinations raise Invalid
    (kind ListOptions.meta.k8s.io). `watch_list` applies the WatchList defaulting that
    current kube-apiserver does: a watch from "" or "0" is sendInitialEvents=true."""
    timeout_seconds = _optional_int64(query, "timeoutSeconds")
    limit = _optional_int64(query, "limit") or 0
    try:
        label_selector = parse_label_selector(query.get("labelSelector", ""))
        field_selector = parse_field_selector(query.get("fieldSelector", ""), supported=None)
    except SelectorError as error:
        raise BadRequest(str(error)) from None
    options = ListOptions(
        watch=_bool(query, "watch") or False,
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=query.get("resourceVersionMatch", ""),
        allow_watch_bookmarks=_bool(query, "allowWatchBookmarks") or False,
        send_initial_events=_bool(query, "sendInitialEvents"),
        timeout_seconds=timeout_seconds,
        label_selector=label_selector,
        field_selector=field_selector,
        limit=limit,
        continue_token=query.get("continue", ""),
    )
    if watch_list:
        options = _with_watch_list_defaults(options)
    if errors := validate_list_options(options):
        raise Invalid(LIST_OPTIONS_KIND, "", errors)
    for requirement in options.field_selector.requirements:
        if requirement.field not in selectable_fields:
            raise BadRequest(f"field label not supported: {requirement.field}")
    if not options.watch and options.continue_token and options.resource_version not in ("", "0"):
        raise BadRequest("specifying resource version is not allowed when using continue")
    return options


def _with_watch_list_defaults(options: ListOptions) -> ListOptions:
    # SetListOptionsDefaults: a legacy watch (from "" or "0") becomes a WatchList request.
    if options.send_initial_events is not None or options.resource_version_match:
        return options
    if options.watch and options.resource_version in ("", "0"):
        return replace(
            options,
            send_initial_events=True,
            resource_version_match=ResourceVersionMatch.NOT_OLDER_THAN.value,
        )
    return options


def validate_list_options(options: ListOptions) -> list[FieldError]:
    """ValidateListOptions: every forbidden combination, with upstream's field paths."""
    match, errors = options.resource_version_match, []
    if options.watch:
        if options.send_initial_events is not None and match != ResourceVersionMatch.NOT_OLDER_THAN:
            errors.append(
                FieldError.forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                )
            )
        if match:
            if options.send_initial_events is None:
                errors.append(
                    FieldError.forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden for watch unless sendInitialEvents"
                        " is provided",
                    )
                )
            if match != ResourceVersionMatch.NOT_OLDER_THAN:
                errors.append(
                    FieldError.not_supported(
                        "resourceVersionMatch", match, [ResourceVersionMatch.NOT_OLDER_THAN.value]
                    )
                )
            if options.continue_token:
                errors.append(_match_with_continue())
        return errors
    if match:
        if not options.resource_version:
            errors.append(
                FieldError.forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            )
        if options.continue_token:
            errors.append(_match_with_continue())
        if match not in (ResourceVersionMatch.EXACT, ResourceVersionMatch.NOT_OLDER_THAN):
            supported = [m.value for m in ResourceVersionMatch] + [""]
            errors.append(FieldError.not_supported("resourceVersionMatch", match, supported))
        if match == ResourceVersionMatch.EXACT and options.resource_version == "0":
            errors.append(
                FieldError.forbidden(
                    "resourceVersionMatch",
                    'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                )
            )
    if options.send_initial_events is not None:
        errors.append(
            FieldError.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list")
        )
    return errors


def _match_with_continue() -> FieldError:
    return FieldError.forbidden(
        "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"
    )


def _bool(query: Mapping[str, str], name: str) -> bool | None:
    # Convert_Slice_string_To_bool: present and not "false"/"0" is true, even when empty.
    if name not in query:
        return None
    return query[name].lower() not in ("false", "0")


_GO_INT: Final = re.compile(r"[+-]?[0-9]+")


def _optional_int64(query: Mapping[str, str], name: str) -> int | None:
    if name not in query:
        return None
    text = query[name]
    if not _GO_INT.fullmatch(text):
        raise BadRequest(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise BadRequest(f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    return value
