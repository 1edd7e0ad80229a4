"""Issue 17: schemathesis over the OpenAPI that a running `gitplane up` serves, over HTTPS
with a client certificate: requests that fit the schema and requests that do not, for
every operation. No answer may be a 5xx and the server's log may hold no traceback and no
error. Bounded (a few examples per operation and mode) so it takes seconds, not minutes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from pki.authority import CertificateAuthority
from pki.issue import issue_client_certificate

EXAMPLES = 6  # per operation and generation mode: about 400 requests
OPENAPI = "/openapi/v3/apis/gitplane.io/v1alpha1"
UP = (sys.executable, "-m", "gitplane_cli.main", "up")


@dataclass
class Running:
    base: str
    session: requests.Session
    log: Path


@pytest.fixture
def gitplane_up(tmp_path: Path) -> Iterator[Running]:
    directory, log = tmp_path / "gp", tmp_path / "server.log"
    env = {**os.environ, "HOME": str(tmp_path), "KUBECACHEDIR": str(tmp_path / "cache")}
    with log.open("w") as out:  # a file, not a pipe: nobody reads a pipe while we fuzz
        process = subprocess.Popen(
            [*UP, "--dir", str(directory), "--api-port", "0", "--webhook-port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        endpoints_file = directory / "endpoints.json"
        deadline = time.monotonic() + 30
        while not endpoints_file.exists():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "gitplane up did not start in 30 s"
            time.sleep(0.1)
        endpoints = json.loads(endpoints_file.read_text())
        pki = directory / "pki"
        authority = CertificateAuthority.load(pki / "ca.crt", pki / "ca.key")
        client = issue_client_certificate(authority, "fuzzer", ("system:masters",))
        client.save(tmp_path / "fuzzer.crt", tmp_path / "fuzzer.key")
        session = requests.Session()
        session.trust_env = False  # no proxy, no CA bundle from the environment
        session.verify = endpoints["ca"]
        session.cert = (str(tmp_path / "fuzzer.crt"), str(tmp_path / "fuzzer.key"))
        yield Running(f"https://127.0.0.1:{endpoints['api']}", session, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(20)


def _is_watch(case: Any) -> bool:
    watch = str((case.query or {}).get("watch", "false")).lower()
    return "/watch/" in case.path or watch not in ("false", "0")


def test_no_request_the_openapi_allows_or_forbids_is_a_5xx(gitplane_up: Running) -> None:
    running = gitplane_up
    document = running.session.get(running.base + OPENAPI, timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    answered: dict[int, int] = {}
    failures: list[str] = []

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                if _is_watch(case):  # a watch answers until its timeout
                    case.query = {**(case.query or {}), "timeoutSeconds": 1}
                try:
                    response = case.call(
                        base_url=running.base,
                        session=running.session,
                        verify=running.session.verify,
                        cert=running.session.cert,
                        timeout=15,
                    )
                except requests.RequestException as exc:
                    failures.append(f"{case.method} {case.formatted_path}: {exc!r}"[:500])
                    return
                answered[response.status_code] = answered.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    failures.append(f"{response.status_code} {case.as_curl_command()}"[:1000])

            with contextlib.suppress(Unsatisfiable):  # nothing here can be made invalid
                call()

    assert sum(answered.values()) > 100, answered
    assert not failures, "\n".join(failures)
    log = running.log.read_text(errors="replace")
    assert "Traceback (most recent call last)" not in log
    assert not [line for line in log.splitlines() if " ERROR " in line]
