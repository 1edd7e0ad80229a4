"""`python -m webhook`: flags, config file, the interim --desired-dir source, a real start."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import pytest
import yaml
from webhook_pki import client_context, issue
from webhook_reviews import edited, git_deployment, live_deployment, namespace, review

from pki.authority import CertificateAuthority
from webhook.__main__ import parser, settings, webhook_config
from webhook.config import ConfigError, WebhookConfig
from webhook.desired_dir import load_desired_dir

ROOT = Path(__file__).resolve().parents[2]


def config_from(argv: list[str]) -> tuple[dict[str, object], WebhookConfig]:
    values = settings(parser().parse_args(argv))
    return values, webhook_config(values)


def test_defaults() -> None:
    values, config = config_from([])
    assert config == WebhookConfig()
    assert (values["port"], values["bind"]) == (8443, "0.0.0.0")


def test_flags_add_to_the_defaults() -> None:
    _, config = config_from(
        [
            "--default-mode",
            "warn",
            "--exempt-user",
            "ci-*",
            "--exempt-user",
            "robot",
            "--break-glass-group",
            "sre",
            "--strict",
            "payments",
            "--strict",
            "ledger",
        ]
    )
    assert config.default_mode == "warn"
    assert config.exempt_users[-2:] == ("ci-*", "robot")
    assert "system:node:*" in config.exempt_users
    assert config.break_glass_group == "sre"
    assert config.strict_namespaces == {"payments", "ledger"}


def test_config_file_has_the_same_keys_and_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "webhook.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "default-mode": "off",
                "exempt-user": ["from-file"],
                "break-glass-group": "file-group",
                "strict": "solo",
                "port": 9443,
                "cert-file": "/etc/tls/tls.crt",
            }
        )
    )
    values, config = config_from(
        ["--config", str(path), "--default-mode", "warn", "--exempt-user", "from-flag"]
    )
    assert config.default_mode == "warn"
    assert config.exempt_users[-2:] == ("from-file", "from-flag")
    assert config.break_glass_group == "file-group"
    assert config.strict_namespaces == {"solo"}
    assert (values["port"], values["cert-file"]) == (9443, "/etc/tls/tls.crt")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("surprise: 1", "unknown settings surprise"),
        ("- a list", "expected a mapping"),
        ("strict: [1, 2]", "strict must be a list of strings"),
        ("default-mode: loud", "default mode must be one of enforce, warn, off"),
    ],
)
def test_bad_config_files_are_explained(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "webhook.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        config_from(["--config", str(path)])


def test_desired_dir_loads_manifests(tmp_path: Path) -> None:
    (tmp_path / "namespaces").mkdir()
    (tmp_path / "namespaces" / "team-a.yaml").write_text(
        yaml.safe_dump(namespace("team-a", "warn"))
    )
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "web.yml").write_text(
        yaml.safe_dump_all(
            [
                git_deployment(),
                {
                    "apiVersion": "v1",
                    "kind": "List",
                    "items": [
                        {
                            "apiVersion": "v1",
                            "kind": "ConfigMap",
                            "metadata": {"name": "settings", "namespace": "team-a"},
                        }
                    ],
                },
                None,
            ]
        )
    )
    (tmp_path / "README.md").write_text("not a manifest")
    state = load_desired_dir(tmp_path)
    assert len(state) == 3
    assert state.namespace_mode("team-a") == "warn"
    web = state.declared("apps", "Deployment", "team-a", "web")
    assert web is not None
    assert web.path == "apps/web.yml"
    assert state.declared("", "ConfigMap", "team-a", "settings") is not None


def test_desired_dir_rejects_non_objects(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:1: document is not a mapping"):
        load_desired_dir(tmp_path)


async def test_module_serves_over_https(tmp_path: Path, ca: CertificateAuthority) -> None:
    (tmp_path / "git").mkdir()
    (tmp_path / "git" / "web.yaml").write_text(
        yaml.safe_dump_all([namespace("team-a"), git_deployment()])
    )
    issue(ca, tmp_path / "tls.crt", tmp_path / "tls.key")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "webhook",
        "--desired-dir",
        str(tmp_path / "git"),
        "--cert-file",
        str(tmp_path / "tls.crt"),
        "--key-file",
        str(tmp_path / "tls.key"),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        body = json.dumps(
            review("UPDATE", edited(live_deployment(), {"spec.replicas": 9}), live_deployment())
        ).encode()
        answer = await _post_when_up(port, body, client_context(ca))
        assert answer["response"]["allowed"] is False
        assert "web.yaml" in answer["response"]["status"]["message"]
    finally:
        process.terminate()
        await process.wait()


async def _post_when_up(port: int, body: bytes, context: object) -> dict[str, object]:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        for _ in range(100):  # up to ~10 s for the interpreter to start
            try:
                async with session.post(f"https://127.0.0.1:{port}/validate", data=body) as resp:
                    result: dict[str, object] = await resp.json()
                    return result
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.1)
    raise AssertionError("python -m webhook did not start")
