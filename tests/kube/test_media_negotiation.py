from __future__ import annotations

import pytest

from kube.negotiation import (
    JSON,
    YAML,
    Conversion,
    OutputFormat,
    PatchType,
    aggregated_discovery_content_type,
    aggregated_discovery_version,
    check_conversion_fits,
    negotiate_input,
    negotiate_output,
    parse_accept,
    patch_type,
)
from kube.status import NotAcceptable, UnsupportedMediaType

# What client-go and kubectl send, copied from their request headers.
KUBECTL_GET = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
METADATA_LIST = (
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)
METADATA_WATCH = (
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,"
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
)
AGGREGATED_DISCOVERY = (
    "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/vnd.kubernetes.protobuf;q=0.9,application/json;q=0.8"
)
ONLY_SERVED = "only the following media types are accepted: application/json, application/yaml"


def test_parse_accept_orders_by_q_then_specificity_keeping_ties() -> None:
    clauses = parse_accept("application/yaml;q=0.5, application/json;as=x, */*;q=0.1")
    assert [(c.media_type, c.q) for c in clauses] == [
        ("application/json", 1.0),
        ("application/yaml", 0.5),
        ("*/*", 0.1),
    ]
    assert clauses[0].params == {"as": "x"}
    ties = parse_accept("application/yaml, application/json")
    assert [c.media_type for c in ties] == ["application/yaml", "application/json"]


def test_parse_accept_keeps_goautoneg_quirks() -> None:
    # Its comparison lets a concrete type or subtype jump ahead of a higher q; Go's
    # insertion sort then yields exactly this order.
    quirky = parse_accept("*/*;q=0.1, text/*, application/yaml;q=0.5, application/json")
    assert [c.media_type for c in quirky] == [
        "application/json",
        "application/yaml",
        "text/*",
        "*/*",
    ]
    assert [c.media_type for c in parse_accept("*/*;q=0.9, application/json;q=0.1")] == [
        "application/json",
        "*/*",
    ]


def test_parse_accept_skips_malformed_ranges() -> None:
    assert [c.media_type for c in parse_accept("garbage, a/b/c, */*, application/json")] == [
        "application/json",
        "*/*",
    ]
    assert parse_accept("application/json;q=x")[0].q == 0.0


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, OutputFormat(JSON)),
        ("", OutputFormat(JSON)),
        ("*/*", OutputFormat(JSON)),
        ("application/*", OutputFormat(JSON)),
        ("application/json", OutputFormat(JSON)),
        ("application/yaml", OutputFormat(YAML)),
        ("application/yaml;q=0.5, application/json", OutputFormat(JSON)),
        ("application/vnd.kubernetes.protobuf, application/json", OutputFormat(JSON)),
        ("application/cbor, */*;q=0.1", OutputFormat(JSON)),
        ("application/json;pretty=1", OutputFormat(JSON, pretty=True)),
        (KUBECTL_GET, OutputFormat(JSON, Conversion.TABLE, "v1")),
        (
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
            OutputFormat(JSON, Conversion.TABLE, "v1beta1"),
        ),
        ("application/yaml;as=Table;v=v1;g=meta.k8s.io", OutputFormat(YAML, Conversion.TABLE)),
        (METADATA_LIST, OutputFormat(JSON, Conversion.PARTIAL_OBJECT_METADATA_LIST)),
        (METADATA_WATCH, OutputFormat(JSON, Conversion.PARTIAL_OBJECT_METADATA)),
        # A conversion this server does not know is skipped, not an error.
        ("application/json;as=Foo;g=meta.k8s.io;v=v1, application/json", OutputFormat(JSON)),
        ("application/json;as=Table;g=example.com;v=v1, application/yaml", OutputFormat(YAML)),
        ("application/json;as=Table;g=meta.k8s.io;v=v2, application/json", OutputFormat(JSON)),
    ],
)
def test_negotiate_output(accept: str | None, expected: OutputFormat) -> None:
    assert negotiate_output(accept) == expected


def test_table_output_helpers() -> None:
    chosen = negotiate_output(KUBECTL_GET)
    assert chosen.api_version == "meta.k8s.io/v1"
    assert chosen.content_type == "application/json"
    assert negotiate_output("application/json;as=Table;v=v1beta1;g=meta.k8s.io").api_version == (
        "meta.k8s.io/v1beta1"
    )


def test_endpoint_without_table_falls_back_like_upstream() -> None:
    assert negotiate_output(KUBECTL_GET, table=False) == OutputFormat(JSON)
    assert negotiate_output(METADATA_LIST, partial_metadata=False) == OutputFormat(JSON)
    with pytest.raises(NotAcceptable):
        negotiate_output("application/json;as=Table;v=v1;g=meta.k8s.io", table=False)


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.kubernetes.protobuf",
        "application/cbor",
        "text/html",
        "application/json;as=Foo;g=meta.k8s.io;v=v1",
        "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
    ],
)
def test_not_acceptable(accept: str) -> None:
    with pytest.raises(NotAcceptable) as caught:
        negotiate_output(accept)
    assert caught.value.message == ONLY_SERVED
    assert caught.value.code == 406


def test_conversion_must_fit_the_response_shape() -> None:
    check_conversion_fits(OutputFormat(JSON), is_list=True)
    check_conversion_fits(negotiate_output(METADATA_LIST), is_list=True)
    check_conversion_fits(negotiate_output(METADATA_WATCH), is_list=False)
    with pytest.raises(NotAcceptable, match="you requested PartialObjectMetadata, but"):
        check_conversion_fits(negotiate_output(METADATA_WATCH), is_list=True)
    with pytest.raises(NotAcceptable, match="is not a list"):
        check_conversion_fits(negotiate_output(METADATA_LIST), is_list=False)


# kubectl 1.37's discovery Accept, as recorded from the binary.
KUBECTL_DISCOVERY = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


def test_aggregated_discovery() -> None:
    assert aggregated_discovery_version(AGGREGATED_DISCOVERY) == "v2"
    assert aggregated_discovery_version(KUBECTL_DISCOVERY) == "v2"
    v2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    assert aggregated_discovery_version(v2beta1 + ",application/json") == "v2beta1"
    assert aggregated_discovery_version("application/json") is None
    assert aggregated_discovery_version(None) is None
    only_protobuf = (
        "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    assert aggregated_discovery_version(only_protobuf) is None
    assert (
        aggregated_discovery_version(
            "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"
        )
        is None
    )
    assert aggregated_discovery_content_type("v2") == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("application/json", JSON),
        ("application/json; charset=utf-8", JSON),
        ("Application/JSON", JSON),
        ("application/yaml", YAML),
    ],
)
def test_negotiate_input(content_type: str | None, expected: str) -> None:
    assert negotiate_input(content_type) == expected


@pytest.mark.parametrize(
    "content_type", ["application/cbor", "application/vnd.kubernetes.protobuf", "text/plain"]
)
def test_unsupported_bodies_are_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        negotiate_input(content_type)
    assert caught.value.code == 415
    assert caught.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml"
    )


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json-patch+json", PatchType.JSON_PATCH),
        ("application/merge-patch+json", PatchType.MERGE_PATCH),
        ("application/merge-patch+json; charset=utf-8", PatchType.MERGE_PATCH),
        ("application/apply-patch+yaml", PatchType.APPLY_YAML),
    ],
)
def test_patch_types(content_type: str, expected: PatchType) -> None:
    assert patch_type(content_type) is expected


def test_strategic_merge_and_cbor_apply_are_refused_unless_supported() -> None:
    for refused in (
        "application/strategic-merge-patch+json",
        "application/apply-patch+cbor",
        "application/json",
        None,
    ):
        with pytest.raises(UnsupportedMediaType) as caught:
            patch_type(refused)
        assert caught.value.message == (
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml"
        )
    everything = tuple(PatchType)
    assert (
        patch_type("application/strategic-merge-patch+json", everything)
        is PatchType.STRATEGIC_MERGE_PATCH
    )
    assert patch_type("application/apply-patch+cbor", everything) is PatchType.APPLY_CBOR
