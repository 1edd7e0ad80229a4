"""Certificate rotation without restart: new connections get the files' new certificate."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from webhook_pki import client_context, issue, new_ca
from webhook_reviews import live_deployment, review

from pki.authority import CertificateAuthority
from pki.tls import ReloadingServerTLS


async def peer_certificate(url: str, context: ssl.SSLContext) -> x509.Certificate:
    """The certificate the server presents on a brand-new connection."""
    host, port = url.removeprefix("https://").split(":")
    _, writer = await asyncio.open_connection(host, int(port), ssl=context, server_hostname=host)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        await writer.wait_closed()
    return x509.load_der_x509_certificate(der)


async def test_rotated_files_are_served_on_new_connections(
    serve: Any, ca: CertificateAuthority, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert_file, key_file = tls_files
    tls = ReloadingServerTLS(str(cert_file), str(key_file), check_interval=0)
    webhook = await serve(tls=tls)
    before = await peer_certificate(webhook.url, client_context(ca))

    # A new CA too, as when a cluster's webhook CA is rotated: only the new one verifies.
    rotated_ca = new_ca("rotated CA")
    staged = tmp_path / "staged"
    staged.mkdir()
    issued = issue(rotated_ca, staged / "tls.crt", staged / "tls.key")
    os.replace(staged / "tls.key", key_file)
    os.replace(staged / "tls.crt", cert_file)

    after = await peer_certificate(webhook.url, client_context(rotated_ca))
    assert after.serial_number == issued.serial_number != before.serial_number

    # and a real review over the rotated certificate works
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=client_context(rotated_ca))
    ) as session:
        sent = review("UPDATE", live_deployment(), live_deployment())
        async with session.post(webhook.url + "/validate", json=sent) as resp:
            assert resp.status == 200
            assert (await resp.json())["response"]["allowed"] is True

    with pytest.raises(ssl.SSLCertVerificationError):
        await peer_certificate(webhook.url, client_context(ca))


async def test_a_half_written_pair_keeps_the_old_certificate(
    serve: Any, ca: CertificateAuthority, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert_file, key_file = tls_files
    tls = ReloadingServerTLS(str(cert_file), str(key_file), check_interval=0)
    webhook = await serve(tls=tls)
    before = await peer_certificate(webhook.url, client_context(ca))

    staged = tmp_path / "staged"
    staged.mkdir()
    issued = issue(ca, staged / "tls.crt", staged / "tls.key")
    os.replace(staged / "tls.crt", cert_file)  # the key is not there yet
    still = await peer_certificate(webhook.url, client_context(ca))
    assert still.serial_number == before.serial_number

    os.replace(staged / "tls.key", key_file)
    after = await peer_certificate(webhook.url, client_context(ca))
    assert after.serial_number == issued.serial_number


def test_files_are_checked_at_most_once_per_interval(
    tls_files: tuple[Path, Path], ca: CertificateAuthority, tmp_path: Path
) -> None:
    now = [100.0]
    tls = ReloadingServerTLS(
        str(tls_files[0]), str(tls_files[1]), check_interval=5, clock=lambda: now[0]
    )
    issue(ca, tmp_path / "new.crt", tmp_path / "new.key")
    os.replace(tmp_path / "new.key", tls_files[1])
    os.replace(tmp_path / "new.crt", tls_files[0])
    now[0] += 4.9
    assert tls.maybe_reload() is False
    now[0] += 0.2
    assert tls.maybe_reload() is True
    now[0] += 10
    assert tls.maybe_reload() is False  # nothing changed since


def test_missing_files_fail_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ReloadingServerTLS(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))
