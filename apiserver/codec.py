"""Request bodies in, response bodies out: JSON or YAML, size-limited, never a traceback.

Bodies are read and decoded by kube.bodies (whole, up to 3 MiB, nesting and numbers
bounded); this module adds what the API server's endpoints accept."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import yaml
from aiohttp import web

from kube import bodies, negotiation, status

MAX_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's limit for a request body
DECODE_ON_LOOP_BYTES = 64 * 1024  # decoded in well under a millisecond
JSON_TYPE = "application/json"
YAML_TYPE = "application/yaml"


async def read_object(request: web.Request, *, patch: bool = False) -> Any:
    """The decoded body of a create, update or patch; 4xx Status errors otherwise."""
    content_type = request.headers.get("Content-Type", JSON_TYPE)
    media = negotiation.media_type_of(content_type)
    if media == "application/cbor" or media.endswith("+cbor"):
        raise status.UnsupportedMediaType.for_media_types([JSON_TYPE, YAML_TYPE])
    if not patch and media not in (
        JSON_TYPE,
        YAML_TYPE,
        "application/x-yaml",
        "text/yaml",
        "*/*",
        "",
    ):
        raise status.UnsupportedMediaType.for_media_types([JSON_TYPE, YAML_TYPE])
    raw = await bodies.read_body(request, MAX_BODY_BYTES)
    if not raw.strip():
        raise status.BadRequest("the request body is empty")
    text = bodies.decode_text(raw)
    decode = bodies.decode_yaml if "yaml" in media else bodies.decode_json

    def decoded() -> Any:
        value = decode(text)
        bodies.check_object_size(value, text)
        return value

    if len(raw) <= DECODE_ON_LOOP_BYTES and "*" not in text:
        return decoded()
    # A large body takes up to a second of CPU to decode (3 MiB of YAML), and aliases may
    # expand a small one: in a thread, so the loop keeps answering probes, watches and
    # the webhook meanwhile.
    return await asyncio.to_thread(decoded)


def respond(
    request: web.Request,
    body: Any,
    *,
    code: int = 200,
    warnings: list[str] | None = None,
    output: negotiation.OutputFormat | None = None,
) -> web.Response:
    """Serialise `body` as the client asked (JSON unless it asked for YAML)."""
    media = output.media_type if output else _wanted_media(request)
    if media == YAML_TYPE:
        text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True)
    else:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    # The bare media type, as kube-apiserver sends it: lightkube, for one, reads an error
    # body only when Content-Type is exactly `application/json` (aiohttp adds a charset to
    # a text body).
    response = web.Response(body=text.encode(), status=code, headers={"Content-Type": media})
    for warning in warnings or []:
        response.headers.add("Warning", warning_header(warning))
    return response


def warning_header(text: str) -> str:
    """RFC 7234 warning as Kubernetes sends it: `299 - "text"`."""
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _wanted_media(request: web.Request) -> str:
    accept = request.headers.get("Accept", "")
    return YAML_TYPE if "yaml" in accept and "json" not in accept else JSON_TYPE
