"""How both servers hold their connections: kube-apiserver's limits, in one value.

k8s.io/apiserver/pkg/server/secure_serving.go serves with `MaxHeaderBytes: 1 << 20`,
`ReadHeaderTimeout: 32 * time.Second` and `IdleTimeout: 90 * time.Second`; its request
timeout (`--request-timeout`, 60 s) bounds a request's body too. aiohttp's defaults differ
(an 8190-byte request line, so a long query was a plain-text 400; no header timeout, so a
connection that finished TLS and then sent nothing, or half a request, was held for an
hour), so `LimitedAppRunner` runs an application with these instead:

- a request line and headers may take `max_header_bytes` (plus the 4096 bytes of slack
  net/http reads), whatever their number; past that the answer is a 431 Status;
- the headers of a request must have arrived `read_header_timeout` after the connection
  was made, or after the first byte of a later request; else the connection is closed
  without an answer, as net/http does;
- a kept-alive connection waits `idle_timeout` for its next request;
- a request's body must have arrived `body_timeout` after its headers (read with
  kube.bodies.read_body, which answers a 504 Timeout Status otherwise).

A request aiohttp cannot parse reaches us too: it is answered with a Status (400, or 431 for
a line over the limit), logged without its bytes (they may hold a credential), never with a
traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from kube import status

log = logging.getLogger("gitplane.http")

HEADER_SLACK_BYTES: Final = 4096
"""What net/http reads beyond MaxHeaderBytes before it answers 431 (bufio's initial size)."""


@dataclass(frozen=True)
class ServingLimits:
    """kube-apiserver's connection limits by default; tests make the timeouts short."""

    read_header_timeout: float = 32.0
    idle_timeout: float = 90.0
    max_header_bytes: int = 1 << 20
    body_timeout: float = 60.0

    @property
    def header_bytes_allowed(self) -> int:
        return self.max_header_bytes + HEADER_SLACK_BYTES


DEFAULT_LIMITS: Final = ServingLimits()


def limits_of(request: web.BaseRequest) -> ServingLimits:
    """The limits of the connection `request` came on (the defaults outside LimitedAppRunner)."""
    protocol = request.protocol
    return protocol.limits if isinstance(protocol, LimitedRequestHandler) else DEFAULT_LIMITS


def abandon_body(request: web.BaseRequest) -> None:
    """Close the connection after this response without reading the rest of the body
    (aiohttp would otherwise linger 10 s reading it): for a body that is not arriving."""
    protocol = request.protocol
    if isinstance(protocol, LimitedRequestHandler):
        protocol.abandon_body()


def headers_too_large(limits: ServingLimits) -> status.RequestHeaderFieldsTooLarge:
    return status.RequestHeaderFieldsTooLarge.over_limit(limits.max_header_bytes)


def status_response(error: status.ApiError) -> web.Response:
    """An ApiError as a JSON response, for the places that have no codec (the transport)."""
    body = json.dumps(error.status(), separators=(",", ":")).encode()
    response = web.Response(body=body, status=error.code, content_type="application/json")
    response.headers.update(error.headers())
    return response


class LimitedRequestHandler(RequestHandler):
    """aiohttp's connection protocol, plus a header deadline and a header size bound.

    A request is "in its headers" from the connection's first moment, or from the first byte
    received while the connection waits for its next request, until aiohttp has parsed the
    headers (its request count moves)."""

    def __init__(self, manager: web.Server, *, limits: ServingLimits, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.limits = limits
        self._in_headers = False
        self._header_bytes = 0
        self._header_tail = b""
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_headers()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._end_headers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if data and not self._in_headers and self._waiting_for_request():
            self._start_headers()
        if self._in_headers:
            # Bytes up to the blank line that ends the headers (it may straddle two reads).
            seen = self._header_tail + data
            end = seen.find(b"\r\n\r\n")
            counted = len(data) if end < 0 else end + 4 - len(self._header_tail)
            self._header_bytes += counted
            self._header_tail = seen[-3:]
            if self._header_bytes > self.limits.header_bytes_allowed:
                self._refuse(headers_too_large(self.limits))
                return
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            self._end_headers()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse: a Status, logged without its bytes. Errors of
        the application itself (5xx) keep aiohttp's handling: they are bugs."""
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; no error can be sent")
        log.info("refused a malformed request from %s (%s)", request.remote, type(exc).__name__)
        response = status_response(_parse_error(exc, self.limits, status))
        response.force_close()
        return response

    def abandon_body(self) -> None:
        self._lingering_time = 0.0  # aiohttp then closes instead of draining the body

    # ---- the header deadline --------------------------------------------------------------

    def _waiting_for_request(self) -> bool:
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def _start_headers(self) -> None:
        self._end_headers()
        self._in_headers, self._header_bytes, self._header_tail = True, 0, b""
        self._header_deadline = self._loop.call_later(
            self.limits.read_header_timeout, self._headers_timed_out
        )

    def _end_headers(self) -> None:
        self._in_headers = False
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_timed_out(self) -> None:
        self._header_deadline = None
        if self._in_headers:
            log.debug("closing a connection whose request headers did not arrive in time")
            self.force_close()

    def _refuse(self, error: status.ApiError) -> None:
        """Answer before aiohttp has a request (so with no handler): write and close."""
        self._end_headers()
        transport = self.transport
        if transport is None:
            return
        body = json.dumps(error.status(), separators=(",", ":")).encode()
        head = (
            f"HTTP/1.1 {error.code} {_PHRASES.get(error.code, 'Error')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        transport.write(head.encode() + body)
        self.force_close()  # the transport sends what was written before it closes


_PHRASES: Final = {431: "Request Header Fields Too Large", 400: "Bad Request"}


def _parse_error(exc: BaseException | None, limits: ServingLimits, code: int) -> status.ApiError:
    if isinstance(exc, LineTooLong):
        return headers_too_large(limits)
    what = type(exc).__name__ if exc is not None else f"HTTP {code}"
    return status.BadRequest(f"the request is not valid HTTP/1.1 ({what})")


class _LimitedServer(web.Server):
    def __init__(self, server: web.Server, limits: ServingLimits) -> None:
        super().__init__(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )
        self.limits = limits

    def __call__(self) -> RequestHandler:
        return LimitedRequestHandler(self, loop=self._loop, limits=self.limits, **self._kwargs)


class LimitedAppRunner(web.AppRunner):
    """web.AppRunner whose connections keep `limits` (see the module's docstring)."""

    def __init__(
        self, app: web.Application, *, limits: ServingLimits = DEFAULT_LIMITS, **kwargs: Any
    ) -> None:
        allowed = limits.header_bytes_allowed
        super().__init__(
            app,
            keepalive_timeout=limits.idle_timeout,
            max_line_size=allowed,
            max_field_size=allowed,
            max_headers=allowed // 4,  # "a:\r\n": the byte bound is the one that bites
            **kwargs,
        )
        self.limits = limits

    async def _make_server(self) -> web.Server:
        return _LimitedServer(await super()._make_server(), self.limits)


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext,
    limits: ServingLimits = DEFAULT_LIMITS,
    sock: socket.socket | None = None,
) -> None:
    """Serve `app` until SIGINT or SIGTERM (web.run_app, with LimitedAppRunner); on
    `sock` when given (a listening socket handed over by a parent, as gitplane up does)."""
    asyncio.run(_serve(app, host, port, ssl_context, limits, sock))


async def _serve(
    app: web.Application,
    host: str,
    port: int,
    context: ssl.SSLContext,
    limits: ServingLimits,
    sock: socket.socket | None = None,
) -> None:
    runner = LimitedAppRunner(app, limits=limits, access_log=None)
    await runner.setup()
    try:
        site: web.BaseSite = (
            web.SockSite(runner, sock, ssl_context=context)
            if sock is not None
            else web.TCPSite(runner, host, port, ssl_context=context)
        )
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
