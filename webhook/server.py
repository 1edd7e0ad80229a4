"""The aiohttp transport around `decide`: endpoints, JSON in and out, metrics, probes."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from kube.admission import (
    AdmissionRequest,
    AdmissionResponse,
    AdmissionReviewError,
    decode_review,
    encode_review,
)
from kube.bodies import read_body
from kube.serving import status_response
from kube.status import ApiError
from webhook.config import WebhookConfig
from webhook.decide import decide
from webhook.desired import DesiredState
from webhook.metrics import WebhookMetrics
from webhook.respond import encode_answer

log = logging.getLogger("gitplane.webhook")

METRICS = web.AppKey("metrics", WebhookMetrics)
# kube-apiserver accepts objects up to 3 MiB and sends object and oldObject.
MAX_REVIEW_BYTES = 16 * 1024 * 1024


def make_app(
    desired: DesiredState,
    config: WebhookConfig,
    *,
    ready: Callable[[], bool] = lambda: True,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> web.Application:
    """The webhook's routes; `ready` says whether the desired state has been loaded.

    On start-up the app freezes the objects alive at that moment out of the garbage
    collector (gc.freeze), so load the desired state before starting it.
    """
    metrics = WebhookMetrics(labelled=desired.is_managed)
    app = web.Application(client_max_size=MAX_REVIEW_BYTES)
    app[METRICS] = metrics

    def endpoint(mutating: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
        name = "mutate" if mutating else "validate"
        latency = metrics.latency.labels(name)

        async def review(request: web.Request) -> web.Response:
            try:
                body = await read_body(request, MAX_REVIEW_BYTES)
            except ApiError as exc:
                metrics.malformed.labels(name).inc()
                return status_response(exc)
            started = time.perf_counter()
            try:
                admission = decode_review(body)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
                metrics.malformed.labels(name).inc()
                return web.Response(status=400, text=_malformed(exc))
            encoded = _answer(
                admission, desired, config, metrics, name, mutating=mutating, now=clock()
            )
            latency.observe(time.perf_counter() - started)
            return web.Response(body=encoded, content_type="application/json")

        return review

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok")
        return web.Response(status=503, text="desired state from Git is not loaded yet")

    async def metrics_text(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.on_startup.append(_freeze_loaded_objects)
    app.router.add_post("/validate", endpoint(mutating=False))
    app.router.add_post("/mutate", endpoint(mutating=True))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_text)
    return app


async def _freeze_loaded_objects(_: web.Application) -> None:
    # The desired state is tens of thousands of long-lived dicts; without this every full
    # collection rescans them all, which shows up as multi-millisecond pauses in p99.
    gc.freeze()


def _answer(
    admission: AdmissionRequest,
    desired: DesiredState,
    config: WebhookConfig,
    metrics: WebhookMetrics,
    endpoint: str,
    *,
    mutating: bool,
    now: datetime,
) -> bytes:
    """The encoded AdmissionReview answering `admission`."""
    try:
        decision = decide(admission, desired, config, mutating=mutating, now=now)
    except Exception:
        # Fail closed, but with a message a person can act on rather than an HTTP 500.
        log.exception(
            "deciding %s %s/%s failed", admission.operation, admission.namespace, admission.name
        )
        metrics.decided(endpoint, admission.namespace, "-", "error")
        failed = AdmissionResponse(
            uid=admission.uid,
            allowed=False,
            code=500,
            reason="InternalError",
            message="gitplane: the webhook failed to decide this request; see its logs",
        )
        return encode_review(failed, admission.api_version)
    metrics.decided(endpoint, admission.namespace, decision.mode, decision.result)
    if decision.log:
        log.info("%s: %s", endpoint, decision.log)
    return encode_answer(admission.uid, decision, admission.api_version, mutating=mutating)


def _malformed(exc: Exception) -> str:
    if isinstance(exc, AdmissionReviewError):
        return f"malformed AdmissionReview: {exc}\n"
    if isinstance(exc, RecursionError):
        return "malformed AdmissionReview: JSON nested too deeply\n"
    return f"malformed AdmissionReview: the body is not JSON ({exc})\n"
