"""Real TLS on 127.0.0.1: a server that requires client certificates from our CA."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from pki.authority import CertificateAuthority
from pki.identity import ClientIdentity, client_identity
from pki.issue import IssuedCertificate, issue_client_certificate, issue_serving_certificate


def _server_context(ca: CertificateAuthority, tmp_path: Path) -> ssl.SSLContext:
    serving = issue_serving_certificate(ca, ["localhost", "127.0.0.1"])
    serving.save(tmp_path / "tls.crt", tmp_path / "tls.key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=ca.cert_pem.decode())
    return context


def _client_context(
    trusted: CertificateAuthority, client: IssuedCertificate | None, tmp_path: Path
) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=trusted.cert_pem.decode())
    if client is not None:
        client.save(tmp_path / "client.crt", tmp_path / "client.key")
        context.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    return context


class OneShotServer:
    """Accepts one connection, completes the handshake and reports who the client is."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.context = context
        self.identity: ClientIdentity | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        try:
            with self.context.wrap_socket(connection, server_side=True) as tls:
                peer = tls.getpeercert(binary_form=True)
                assert peer is not None
                self.identity = client_identity(peer)
                tls.sendall(b"hello " + self.identity.user.encode())
        except (ssl.SSLError, OSError) as error:
            self.error = error
        finally:
            self.listener.close()

    def join(self) -> None:
        self.thread.join(timeout=10)


def _talk(port: int, context: ssl.SSLContext, server_name: str = "localhost") -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        return tls.recv(100)


def test_client_certificate_from_our_ca_is_accepted(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    server = OneShotServer(_server_context(ca, tmp_path))
    client = issue_client_certificate(ca, "admin", ["system:masters"])
    assert _talk(server.port, _client_context(ca, client, tmp_path)) == b"hello admin"
    server.join()
    assert server.identity == ClientIdentity("admin", ("system:masters",))


def test_serving_certificate_matches_its_ip_san(ca: CertificateAuthority, tmp_path: Path) -> None:
    server = OneShotServer(_server_context(ca, tmp_path))
    client = issue_client_certificate(ca, "admin")
    assert _talk(server.port, _client_context(ca, client, tmp_path), "127.0.0.1") == b"hello admin"
    server.join()


@pytest.mark.parametrize("with_certificate", [True, False])
def test_foreign_or_missing_client_certificate_is_refused(
    ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    tmp_path: Path,
    with_certificate: bool,
) -> None:
    server = OneShotServer(_server_context(ca, tmp_path))
    intruder = issue_client_certificate(other_ca, "mallory") if with_certificate else None
    # With TLS 1.3 the client learns of the refusal on its first read, not in the handshake.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _talk(server.port, _client_context(ca, intruder, tmp_path))
    server.join()
    assert server.identity is None
    assert isinstance(server.error, ssl.SSLError)


def test_client_refuses_a_server_from_another_ca(
    ca: CertificateAuthority, other_ca: CertificateAuthority, tmp_path: Path
) -> None:
    server = OneShotServer(_server_context(ca, tmp_path))
    client = issue_client_certificate(ca, "admin")
    with pytest.raises(ssl.SSLCertVerificationError):
        _talk(server.port, _client_context(other_ca, client, tmp_path))
    server.join()
