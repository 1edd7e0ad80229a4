"""Request bodies in, for both servers: read whole, up to a limit.

Reading (`read_body`) is the one way either server takes a body (API writes, `/hooks/git`,
admission reviews). aiohttp's `content.read(n)` returns what has arrived so far, so a body
sent in several TLS records was cut short; here the body is read to its end, Content-Length
or chunked, and refused with 413 as soon as it is past the limit (kube-apiserver's
limitedReadBody), or with 504 if it has not arrived within the connection's body timeout
(kube.serving; kube-apiserver's request timeout).
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from kube import status
from kube.serving import abandon_body, limits_of

_TIMED_OUT: Final = "request did not complete within requested timeout - context deadline exceeded"


async def read_body(request: web.BaseRequest, limit: int) -> bytes:
    """The whole body of `request`: 413 past `limit` bytes, 504 if it comes too slowly,
    400 if its framing is broken (e.g. a bad chunk)."""
    if request.content_length is not None and request.content_length > limit:
        raise status.RequestEntityTooLarge.over_limit(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits_of(request).body_timeout):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise status.RequestEntityTooLarge.over_limit(limit)
                chunks.append(chunk)
    except TimeoutError:
        abandon_body(request)
        raise status.Timeout(_TIMED_OUT) from None
    except web.RequestPayloadError as exc:
        raise status.BadRequest(f"the request body could not be read: {exc}") from None
    return b"".join(chunks)
