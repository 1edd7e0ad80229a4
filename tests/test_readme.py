"""README's walkthrough, run as a new user would run it: its shell blocks, as written."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    return re.findall(r"```sh\n(.*?)```", text[start:end], re.DOTALL)


def test_the_two_commands_come_first() -> None:
    first = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert first is not None
    lines = [line for line in first.group(1).splitlines() if line.strip()]
    assert lines[0].startswith("python -m pip install -e . && gitplane up")
    assert lines[1].startswith("python -m pip install -e '.[test]' && python -m pytest -q")


def test_the_walkthrough_on_a_repository_like_yours(tmp_path: Path) -> None:
    serve, use = blocks("## Try it on a repository like yours")[:2]
    serve = serve.replace("/tmp/", f"{tmp_path}/")
    use = use.replace("/tmp/", f"{tmp_path}/")
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "KUBECACHEDIR": str(tmp_path / "cache"),
        "GIT_AUTHOR_NAME": "Person",
        "GIT_AUTHOR_EMAIL": "person@example.com",
        "GIT_COMMITTER_NAME": "Person",
        "GIT_COMMITTER_EMAIL": "person@example.com",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    example, up = [line for line in serve.splitlines() if line.strip()]
    subprocess.run(example, shell=True, check=True, env=env)
    server = subprocess.Popen(up, shell=True, env=env, start_new_session=True)
    try:
        endpoints = tmp_path / "gitops-up" / "endpoints.json"
        deadline = time.monotonic() + 60
        while not endpoints.exists():
            assert server.poll() is None and time.monotonic() < deadline, (
                "gitplane up did not start"
            )
            time.sleep(0.2)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", use],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert "application.argocd.my-app-prod" in out and "Rendered" in out
        assert "my-app/base/deployment.yaml,my-app/overlays/prod/kustomization.yaml" in out
        assert "denied (403):" in out and "my-app/overlays/prod/kustomization.yaml" in out
        assert out.count("prod: 1.0.1") == 2  # a revision of my-app-prod, and in git log
        assert "gitplane-admin: update" in out
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(30)
