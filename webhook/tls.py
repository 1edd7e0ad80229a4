"""A server TLS context whose certificate follows its files on disk.

cert-manager and kubelet rotate a Secret volume by swapping files under the pod, so
the files are checked (at most every `check_interval` seconds) when a client says
hello, and a new context is swapped in for that handshake and all later ones.
Connections already open keep the certificate they started with.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable

log = logging.getLogger("gitplane.webhook.tls")

_Signature = tuple[tuple[int, int, int], ...]


class ReloadingTLS:
    def __init__(
        self,
        cert_file: str,
        key_file: str,
        *,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cert_file, self._key_file = cert_file, key_file
        self._check_interval = check_interval
        self._clock = clock
        self._signature = self._stat()
        self._current = self._load()  # fails loudly at start-up: no certificate, no server
        self._last_check = clock()
        # The context handed to the server only dispatches to the current one.
        self.context = self._load()
        self.context.sni_callback = self._on_client_hello

    def maybe_reload(self) -> bool:
        """Load the files again if they changed; a half-written pair is retried later."""
        now = self._clock()
        if now - self._last_check < self._check_interval:
            return False
        self._last_check = now
        signature = self._stat()
        if signature == self._signature:
            return False
        try:
            fresh = self._load()
        except (OSError, ssl.SSLError) as exc:
            log.warning("serving certificate changed but cannot be loaded yet: %s", exc)
            return False
        self._current, self._signature = fresh, signature
        log.info("serving certificate reloaded from %s", self._cert_file)
        return True

    def _on_client_hello(
        self, conn: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, context: ssl.SSLContext
    ) -> None:
        self.maybe_reload()
        conn.context = self._current

    def _load(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._cert_file, self._key_file)
        return context

    def _stat(self) -> _Signature:
        try:
            stats = [os.stat(path) for path in (self._cert_file, self._key_file)]
        except OSError:
            return ()  # mid-rotation; compare again next time
        return tuple((s.st_mtime_ns, s.st_size, s.st_ino) for s in stats)
