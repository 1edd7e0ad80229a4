"""A server TLS context that follows its files on disk, and optionally the CAs it asks
clients' certificates from: one piece for both servers.

cert-manager and kubelet rotate a Secret volume by swapping files under the pod. The
context handed to the server only dispatches: at each client hello the files are checked
(at most every `check_interval` seconds) and the client CA bundle, if any, is asked for;
when either changed a fresh context is built and used for that handshake and later ones.
Connections already open keep what they started with.

Client certificates (the API server's; the webhook asks for none) are requested, not
required (CERT_OPTIONAL): bearer tokens and the health probes need none. OpenSSL keeps
the verify mode of the context the connection was created with, so the dispatching
context is CERT_OPTIONAL itself whenever client CAs may come; the swapped-in context
supplies the trust store. A presented certificate that does not chain to a trusted CA
fails the handshake, and until a bundle is known every client certificate does.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("gitplane.tls")

_Signature = tuple[tuple[int, int, int], ...]


class ReloadingServerTLS:
    def __init__(
        self,
        cert_file: str,
        key_file: str,
        *,
        client_ca_file: str | None = None,
        client_cas: Callable[[], bytes] | None = None,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`client_ca_file` (a PEM file, re-read with the certificate) or `client_cas` (the
        current PEM bundle, asked at each handshake) turn client certificates on."""
        self._files = [cert_file, key_file, *([client_ca_file] if client_ca_file else [])]
        self._cert_file, self._key_file = cert_file, key_file
        self._client_ca_file = client_ca_file
        self._client_cas = client_cas
        self._check_interval = check_interval
        self._clock = clock
        self._signature = self._stat()
        self._cas = client_cas() if client_cas else b""
        self._current = self._load(self._cas)  # fails loudly at start-up: no certificate, no server
        self._last_check = clock()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(cert_file, key_file)
        if client_ca_file or client_cas:
            self.context.verify_mode = ssl.CERT_OPTIONAL
        self.context.sni_callback = self._on_client_hello

    def maybe_reload(self) -> bool:
        """Build a new context if the client CAs or (checked now and then) the files changed."""
        cas = self._client_cas() if self._client_cas else b""
        signature = self._signature
        now = self._clock()
        if now - self._last_check >= self._check_interval:
            self._last_check = now
            signature = self._stat()
        if cas == self._cas and signature == self._signature:
            return False
        try:
            fresh = self._load(cas)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning("TLS settings changed but cannot be loaded yet: %s", exc)
            return False
        if signature != self._signature:
            log.info("TLS files reloaded: %s", ", ".join(self._files))
        if cas != self._cas:
            log.info("client certificate authorities changed")
        self._current, self._signature, self._cas = fresh, signature, cas
        return True

    def _on_client_hello(
        self, conn: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, context: ssl.SSLContext
    ) -> None:
        self.maybe_reload()
        conn.context = self._current

    def _load(self, cas: bytes) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._cert_file, self._key_file)
        if self._client_ca_file:
            cas = Path(self._client_ca_file).read_bytes()
        if cas.strip():
            context.load_verify_locations(cadata=cas.decode("ascii"))
            context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def _stat(self) -> _Signature:
        try:
            stats = [os.stat(path) for path in self._files]
        except OSError:
            return ()  # mid-rotation; compare again next time
        return tuple((s.st_mtime_ns, s.st_size, s.st_ino) for s in stats)
