"""Prometheus metrics of one webhook app, in its own registry (tests and `gitplane up`
may run several apps in one process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# Reviews take tens of microseconds to a few milliseconds; kube-apiserver waits up to 30 s.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class WebhookMetrics:
    """`labelled(namespace)`: whether a namespace gets its own `namespace` label. Reviews
    name any namespace a cluster has, so only those Git manages do (the repository bounds
    them); every other one is counted under "", with the cluster-scoped objects."""

    def __init__(self, labelled: Callable[[str], bool]) -> None:
        self.labelled = labelled
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "gitplane_webhook_decisions",
            "Admission decisions taken.",
            ["endpoint", "namespace", "mode", "result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gitplane_webhook_review_duration_seconds",
            "Time from a review's body being read to its answer being encoded.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.malformed = Counter(
            "gitplane_webhook_malformed_reviews",
            "Reviews refused without a decision: malformed (400), too large (413) or too slow"
            " to arrive (504).",
            ["endpoint"],
            registry=self.registry,
        )

        self._decided: dict[tuple[str, str, str, str], Any] = {}

    def decided(self, endpoint: str, namespace: str, mode: str, result: str) -> None:
        """Count a decision; the labelled child is looked up once per label set, since
        prometheus_client's labels() costs more than the increment on this hot path."""
        key = (endpoint, self._namespace_label(namespace), mode, result)
        child = self._decided.get(key)
        if child is None:
            child = self._decided[key] = self.decisions.labels(*key)
        child.inc()

    def _namespace_label(self, namespace: str) -> str:
        try:
            return namespace if namespace and self.labelled(namespace) else ""
        except Exception:  # a desired state that fails must not fail the answer too
            return ""

    def render(self) -> bytes:
        text: bytes = generate_latest(self.registry)
        return text
