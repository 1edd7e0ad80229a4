"""The HTTPS transport: malformed input, probes, metrics."""

from __future__ import annotations

import re
from typing import Any

import pytest
from webhook_reviews import edited, live_deployment, review


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "malformed AdmissionReview: the body is not JSON"),
        (b"{not json", "malformed AdmissionReview: the body is not JSON"),
        (b"\xff\xfe", "malformed AdmissionReview: the body is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed AdmissionReview"),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}',
            "malformed AdmissionReview: request must be a JSON object, got nothing",
        ),
        (
            b'{"apiVersion": "v1", "kind": "Status"}',
            "malformed AdmissionReview: apiVersion must be one of admission.k8s.io/v1",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/validate", "/mutate"])
async def test_malformed_review_is_a_plain_400(
    webhook: Any, path: str, body: bytes, expected: str
) -> None:
    status, text = await webhook.post(path, body)
    assert status == 400
    assert isinstance(text, str)
    assert text.startswith(expected)
    assert "Traceback" not in text


async def test_missing_uid_is_a_400(webhook: Any) -> None:
    sent = review("UPDATE", live_deployment(), live_deployment())
    del sent["request"]["uid"]
    status, text = await webhook.post("/validate", sent)
    assert (status, text) == (
        400,
        "malformed AdmissionReview: request.uid must be a non-empty string, got nothing\n",
    )


async def test_healthz(webhook: Any) -> None:
    assert (await webhook.get("/healthz"))[0::2] == (200, "ok")


async def test_readyz_follows_the_readiness_callable(serve: Any) -> None:
    loaded = False
    webhook = await serve(ready=lambda: loaded)
    status, _, text = await webhook.get("/readyz")
    assert (status, text) == (503, "desired state from Git is not loaded yet")
    loaded = True
    assert (await webhook.get("/readyz"))[0::2] == (200, "ok")


async def test_metrics_count_decisions_and_time_them(webhook: Any) -> None:
    drifted = edited(live_deployment(), {"spec.replicas": 5})
    await webhook.post("/validate", review("UPDATE", drifted, live_deployment()))
    await webhook.post("/validate", review("UPDATE", drifted, live_deployment()))
    await webhook.post("/mutate", review("UPDATE", live_deployment(), live_deployment()))
    await webhook.post(
        "/validate", review("UPDATE", drifted, live_deployment(), namespace="x", name="web")
    )
    await webhook.post("/validate", b"nope")
    status, content_type, text = await webhook.get("/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")  # Prometheus text format
    assert "# TYPE gitplane_webhook_decisions_total counter" in text

    def sample(name: str, **labels: str) -> float:
        rendered = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        match = re.search(rf"^{name}\{{{re.escape(rendered)}\}} (\S+)$", text, re.MULTILINE)
        assert match, f"{name}{{{rendered}}} not in metrics"
        return float(match.group(1))

    assert (
        sample(
            "gitplane_webhook_decisions_total",
            endpoint="validate",
            mode="enforce",
            namespace="team-a",
            result="denied",
        )
        == 2
    )
    assert (
        sample(
            "gitplane_webhook_decisions_total",
            endpoint="mutate",
            mode="enforce",
            namespace="team-a",
            result="allowed",
        )
        == 1
    )
    assert (
        sample(
            "gitplane_webhook_decisions_total",
            endpoint="validate",
            mode="-",
            namespace="",  # Git does not manage x: no label of its own
            result="unmanaged",
        )
        == 1
    )
    assert sample("gitplane_webhook_malformed_reviews_total", endpoint="validate") == 1
    assert sample("gitplane_webhook_review_duration_seconds_count", endpoint="validate") == 3
    assert (
        sample("gitplane_webhook_review_duration_seconds_bucket", endpoint="validate", le="+Inf")
        == 3
    )


async def test_each_app_has_its_own_registry(serve: Any) -> None:
    first, second = await serve(), await serve()
    await first.post("/validate", review("UPDATE", live_deployment(), live_deployment()))
    _, _, text = await second.get("/metrics")
    assert "gitplane_webhook_decisions_total{" not in text


# Issue 17.10: 20,000 namespaces in reviews made 20,005 series.
async def test_decision_metrics_label_only_the_namespaces_git_manages(webhook: Any) -> None:
    for index in range(300):  # a cluster's namespaces, none of them in Git
        unmanaged = review("UPDATE", live_deployment(), live_deployment(), namespace=f"ns-{index}")
        assert (await webhook.post("/validate", unmanaged))[0] == 200
    drifted = edited(live_deployment(), {"spec.replicas": 5})
    await webhook.post("/validate", review("UPDATE", drifted, live_deployment()))
    _, _, text = await webhook.get("/metrics")
    series = re.findall(r"^gitplane_webhook_decisions_total\{(.*)\} ", text, re.MULTILINE)
    namespaces = {re.search(r'namespace="([^"]*)"', labels).group(1) for labels in series}  # type: ignore[union-attr]
    assert namespaces == {"", "team-a"}
    assert len(series) == 2
    assert 'namespace="",result="unmanaged"} 300.0' in text
