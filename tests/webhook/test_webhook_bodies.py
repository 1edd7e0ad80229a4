"""Issue 17.6 for the webhook: reviews are read whole by the API server's reader
(kube.bodies), slowly sent or chunked; past 16 MiB they are a 413 Status."""

from __future__ import annotations

import json
from typing import Any

from webhook_reviews import edited, live_deployment, review

from tests.rawhttp import exchange, pieces, request_bytes
from webhook.server import MAX_REVIEW_BYTES


def padded(size: int) -> bytes:
    """A review of a drifted Deployment in team-a, `size` bytes long (an annotation pads it)."""
    live = edited(live_deployment(), {"spec.replicas": 5})
    live["metadata"]["annotations"] = {"pad": ""}
    bare = len(json.dumps(review("UPDATE", live, live_deployment())))
    live["metadata"]["annotations"]["pad"] = "x" * (size - bare)
    return json.dumps(review("UPDATE", live, live_deployment())).encode()


async def test_a_large_review_sent_slowly_in_chunks_is_decided(webhook: Any) -> None:
    body = padded(3 * 1024 * 1024)
    for chunked in (False, True):
        head, wire = request_bytes(
            "POST", "/validate", body, {"Content-Type": "application/json"}, chunked=chunked
        )
        answer = await exchange(
            webhook.port, webhook.context, [head, *pieces(wire, 10)], pause=0.03
        )
        assert answer.status == 200
        assert answer.json()["response"]["allowed"] is False  # the drift was seen: read whole


async def test_a_review_over_16_mib_is_a_413_status_even_chunked(webhook: Any) -> None:
    body = padded(MAX_REVIEW_BYTES + 1)
    for chunked in (False, True):
        head, wire = request_bytes(
            "POST", "/validate", body, {"Content-Type": "application/json"}, chunked=chunked
        )
        answer = await exchange(webhook.port, webhook.context, [head, wire])
        assert answer.status == 413
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["reason"] == "RequestEntityTooLarge"
        assert answer.json()["message"] == f"Request entity too large: limit is {MAX_REVIEW_BYTES}"
