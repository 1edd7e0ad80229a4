"""Content negotiation as kube-apiserver does it: Accept for responses, Content-Type for bodies.

Accept parsing and clause order follow goautoneg.ParseAccept; choosing a clause follows
k8s.io/apiserver/pkg/endpoints/handlers/negotiation (NegotiateMediaTypeOptions and the
endpoint's AllowsMediaTypeTransform). Clauses are tried best first and one that names a
format or conversion this server cannot produce is skipped, so client-go's fallbacks
(`...;as=Table;v=v1;g=meta.k8s.io,application/json`) land where they do upstream. CBOR and
protobuf are not served: an Accept naming only them is 406 and such a body is 415, which is
what makes client-go fall back to JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from kube.status import NotAcceptable, UnsupportedMediaType

JSON: Final = "application/json"
YAML: Final = "application/yaml"
CBOR: Final = "application/cbor"
PROTOBUF: Final = "application/vnd.kubernetes.protobuf"

SERVED_MEDIA_TYPES: Final = (JSON, YAML)
"""What responses and request bodies may be, in preference order."""

META_GROUP: Final = "meta.k8s.io"
META_VERSIONS: Final = ("v1", "v1beta1")
DISCOVERY_GROUP: Final = "apidiscovery.k8s.io"
DISCOVERY_VERSIONS: Final = ("v2", "v2beta1")


@dataclass(frozen=True)
class MediaRange:
    """One Accept clause: `type/subtype;param=value;q=0.5`."""

    type: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def media_type(self) -> str:
        return f"{self.type}/{self.subtype}"


def parse_accept(header: str) -> list[MediaRange]:
    """goautoneg.ParseAccept: clauses by q, then concrete before `*` (order kept on ties).

    Like upstream, a clause with q=0 is kept (tried last), not discarded."""
    clauses: list[MediaRange] = []
    for part in header.split(","):
        media_range, *raw_params = part.strip(" ").split(";")
        pieces = media_range.split("/")
        kind = pieces[0].strip(" ")
        if len(pieces) == 1 and kind == "*":
            subtype = "*"
        elif len(pieces) == 2:
            subtype = pieces[1].strip(" ")
        else:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for raw in raw_params:
            name, sep, value = raw.partition("=")
            if not sep:
                continue
            name = name.strip(" ")
            if name == "q":
                q = _parse_q(value)
            else:
                params[name] = value.strip(" ")
        clauses.append(MediaRange(kind, subtype, params, q))
    return _go_sort(clauses)


def _go_less(a: MediaRange, b: MediaRange) -> bool:
    # goautoneg's Less, quirks included: it is not a strict ordering on q alone.
    return a.q > b.q or (a.type != "*" and b.type == "*") or (a.subtype != "*" and b.subtype == "*")


def _go_sort(clauses: list[MediaRange]) -> list[MediaRange]:
    # Go's sort.Sort is an insertion sort for the handful of clauses an Accept header has;
    # with goautoneg's Less only the same algorithm gives the same order.
    items = list(clauses)
    for i in range(1, len(items)):
        j = i
        while j > 0 and _go_less(items[j], items[j - 1]):
            items[j], items[j - 1] = items[j - 1], items[j]
            j -= 1
    return items


def _parse_q(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0  # Go's ParseFloat failure leaves 0


class Conversion(StrEnum):
    """What the client asked the object to be turned into (the Accept `as=` parameter)."""

    TABLE = "Table"
    PARTIAL_OBJECT_METADATA = "PartialObjectMetadata"
    PARTIAL_OBJECT_METADATA_LIST = "PartialObjectMetadataList"


@dataclass(frozen=True)
class OutputFormat:
    """The negotiated response: serialisation, optional conversion, and its meta.k8s.io version."""

    media_type: str = JSON
    conversion: Conversion | None = None
    version: str = "v1"
    pretty: bool = False

    @property
    def api_version(self) -> str:
        """apiVersion of the converted body (`meta.k8s.io/v1` or `meta.k8s.io/v1beta1`)."""
        return f"{META_GROUP}/{self.version}"

    @property
    def content_type(self) -> str:
        # Upstream labels converted bodies with the plain media type too.
        return self.media_type


def negotiate_output(
    accept: str | None,
    *,
    table: bool = True,
    partial_metadata: bool = True,
) -> OutputFormat:
    """The response format for a resource request, or NotAcceptable (406).

    `table` / `partial_metadata` say whether this endpoint can convert to those."""
    if not accept:
        return OutputFormat()
    for clause in parse_accept(accept):
        media_type = _served_media_type(clause)
        if media_type is None:
            continue
        chosen = _conversion(clause, media_type, table=table, partial_metadata=partial_metadata)
        if chosen is not None:
            return chosen
    raise NotAcceptable.for_media_types(SERVED_MEDIA_TYPES)


def _served_media_type(clause: MediaRange) -> str | None:
    if clause.type == "*" and clause.subtype == "*":
        return SERVED_MEDIA_TYPES[0]
    for served in SERVED_MEDIA_TYPES:
        kind, subtype = served.split("/")
        if clause.type == kind and clause.subtype in (subtype, "*"):
            return served
    return None


def _conversion(
    clause: MediaRange, media_type: str, *, table: bool, partial_metadata: bool
) -> OutputFormat | None:
    params = clause.params
    pretty = params.get("pretty") == "1"
    if not any(key in params for key in ("as", "g", "v")):
        return OutputFormat(media_type, None, pretty=pretty)
    kind, group, version = params.get("as", ""), params.get("g", ""), params.get("v", "")
    if group != META_GROUP or version not in META_VERSIONS:
        return None
    if kind == Conversion.TABLE and table:
        return OutputFormat(media_type, Conversion.TABLE, version, pretty)
    partial = (Conversion.PARTIAL_OBJECT_METADATA, Conversion.PARTIAL_OBJECT_METADATA_LIST)
    if kind in partial and partial_metadata:
        return OutputFormat(media_type, Conversion(kind), version, pretty)
    return None


def check_conversion_fits(output: OutputFormat, *, is_list: bool) -> None:
    """Upstream's 406 when a metadata-only conversion does not fit the response's shape
    (asPartialObjectMetadata[List]); the Go type names are those of a custom resource."""
    if output.conversion is Conversion.PARTIAL_OBJECT_METADATA and is_list:
        raise NotAcceptable(
            "you requested PartialObjectMetadata, but the requested object is a list"
            " (*unstructured.UnstructuredList)"
        )
    if output.conversion is Conversion.PARTIAL_OBJECT_METADATA_LIST and not is_list:
        raise NotAcceptable(
            "you requested PartialObjectMetadataList, but the requested object is not a list"
            " (*unstructured.Unstructured)"
        )


# --- discovery ---------------------------------------------------------------------------------

AGGREGATED_DISCOVERY_KIND: Final = "APIGroupDiscoveryList"


def aggregated_discovery_version(accept: str | None) -> str | None:
    """`v2` / `v2beta1` when the client prefers aggregated discovery in JSON, else None
    (serve legacy APIGroupList / APIResourceList)."""
    for clause in parse_accept(accept or ""):
        if _served_media_type(clause) != JSON:
            continue
        params = clause.params
        if (
            params.get("as") == AGGREGATED_DISCOVERY_KIND
            and params.get("g") == DISCOVERY_GROUP
            and params.get("v") in DISCOVERY_VERSIONS
        ):
            return params["v"]
    return None


def aggregated_discovery_content_type(version: str) -> str:
    """The Content-Type client-go checks before trusting an aggregated discovery body."""
    return f"{JSON};g={DISCOVERY_GROUP};v={version};as={AGGREGATED_DISCOVERY_KIND}"


# --- request bodies ----------------------------------------------------------------------------


def media_type_of(content_type: str | None) -> str:
    """The bare, lower-cased media type of a Content-Type header (parameters dropped)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def negotiate_input(content_type: str | None, accepted: Sequence[str] = SERVED_MEDIA_TYPES) -> str:
    """The body's media type for create/update, or UnsupportedMediaType (415).

    An absent Content-Type means JSON, as upstream."""
    media_type = media_type_of(content_type) or accepted[0]
    if media_type in accepted:
        return media_type
    raise UnsupportedMediaType.for_media_types(accepted)


class PatchType(StrEnum):
    JSON_PATCH = "application/json-patch+json"
    MERGE_PATCH = "application/merge-patch+json"
    STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
    APPLY_YAML = "application/apply-patch+yaml"
    APPLY_CBOR = "application/apply-patch+cbor"


PATCH_TYPES_WITHOUT_STRATEGIC: Final = (
    PatchType.JSON_PATCH,
    PatchType.MERGE_PATCH,
    PatchType.APPLY_YAML,
)
"""What a custom-resource-like endpoint accepts (no strategic merge, no CBOR)."""

PATCH_TYPES_WITH_STRATEGIC: Final = (
    PatchType.JSON_PATCH,
    PatchType.MERGE_PATCH,
    PatchType.STRATEGIC_MERGE_PATCH,
    PatchType.APPLY_YAML,
)
"""What Manifests accept: strategic merge inside `spec.object`, by the kind's schema."""


def patch_type(
    content_type: str | None, supported: Sequence[PatchType] = PATCH_TYPES_WITHOUT_STRATEGIC
) -> PatchType:
    """The PATCH body's type from Content-Type (charset etc. ignored), or 415."""
    media_type = (content_type or "").split(";", 1)[0]  # upstream does not lower-case here
    for candidate in supported:
        if media_type == candidate.value:
            return candidate
    raise UnsupportedMediaType.for_media_types([str(p.value) for p in supported])
