"""`gitplane scan` finds plaintext Secrets pushed from outside; diffs never show values."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

import pytest

from gitplane_cli import scan as scan_command
from store.history import History
from store.repo import GitStore
from store.secret_scan import scan
from store.secret_text import redact_secret_pair, redact_secret_text
from store.secrets import REDACTED, REDACTED_CHANGED
from tests.store.conftest import run_git

PASSWORD = "hunter2-from-outside"
ENCODED = base64.b64encode(b"api-token-from-outside").decode()
LEAK = f"""\
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: shop}}
data: {{mode: production}}
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{"stringData":{{"password":"{PASSWORD}"}}}}'
type: Opaque
data:
  token: {ENCODED}
stringData:
  password: {PASSWORD}
  certificate: |
    -----BEGIN PRIVATE KEY-----
    {PASSWORD}-pem
    -----END PRIVATE KEY-----
  empty: ""
"""
LIST_LEAK = f"""\
{{"apiVersion": "v1", "kind": "List", "items": [
  {{"apiVersion": "v1", "kind": "Secret", "metadata": {{"name": "api", "namespace": "shop"}},
   "stringData": {{"key": "{PASSWORD}-json"}}}}
]}}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    GitStore.init(path)
    return path


def commit_file(repo: Path, path: str, text: str | None, message: str) -> str:
    target = repo / path
    if text is None:
        target.unlink()
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", message)
    return run_git(repo, "rev-parse", "HEAD").strip()


def run_scan(repo: Path, *flags: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="gitplane")
    scan_command.register(parser.add_subparsers())
    args = parser.parse_args(["scan", "--repo", str(repo), *flags])
    code = args.run(args)
    return code, capsys.readouterr().out


def assert_no_values(text: str) -> None:
    for value in (PASSWORD, ENCODED, "api-token-from-outside"):
        assert value not in text


def test_scan_finds_plaintext_at_the_tip_and_in_history(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leaked = commit_file(repo, "shop/app.yaml", LEAK, "add app config")
    listed = commit_file(repo, "shop/api.json", LIST_LEAK, "add api secret")
    store = GitStore(repo)
    tip = [(f.path, f.line, f.key, f.secret) for f in scan(store)]
    assert tip == [
        ("shop/api.json", 3, "stringData[key]", "shop/api"),
        (
            "shop/app.yaml",
            12,
            "metadata.annotations[kubectl.kubernetes.io/last-applied-configuration]",
            "shop/db",
        ),
        ("shop/app.yaml", 15, "data[token]", "shop/db"),
        ("shop/app.yaml", 17, "stringData[password]", "shop/db"),
        ("shop/app.yaml", 18, "stringData[certificate]", "shop/db"),
    ]
    commit_file(repo, "shop/app.yaml", None, "remove the leak")
    commit_file(repo, "shop/api.json", None, "remove the other leak")
    store.refresh()
    assert scan(store) == []
    code, out = run_scan(repo, capsys=capsys)
    assert code == 0
    found = scan(store, history=True)
    assert {(f.path, f.commit) for f in found} == {
        ("shop/app.yaml", leaked),
        ("shop/api.json", listed),
    }
    code, out = run_scan(repo, "--history", capsys=capsys)
    assert code == 1
    assert (
        f"shop/app.yaml:17: Secret shop/db has a plaintext value at stringData[password] (commit {leaked[:12]})"
        in out
    )
    assert_no_values(out)


def test_history_scan_covers_every_ref(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit_file(
        repo, "shop/ok.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n", "ns"
    )
    run_git(repo, "checkout", "-qb", "feature")
    side = commit_file(repo, "elsewhere/secret.yml", LEAK, "leak on a side branch")
    run_git(repo, "checkout", "-q", "main")
    store = GitStore(repo, branch="main")
    assert scan(store) == []
    assert {f.commit for f in scan(store, history=True)} == {side}
    code, out = run_scan(repo, "--history", "--branch", "main", capsys=capsys)
    assert code == 1
    assert "elsewhere/secret.yml" in out
    assert_no_values(out)


def test_revision_diffs_redact_secret_values(repo: Path) -> None:
    first = commit_file(repo, "shop/app.yaml", LEAK, "add")
    changed = LEAK.replace(f"password: {PASSWORD}", "password: rotated-value-123")
    second = commit_file(repo, "shop/app.yaml", changed, "rotate")
    history = History(GitStore(repo))
    added = history.diff(first, "shop")
    assert_no_values(added)
    assert "rotated-value-123" not in history.diff(second)
    assert added.count(REDACTED) == 4  # token, password, certificate, last-applied
    assert '+  empty: ""' in added  # an empty value says nothing: shown as it is
    assert "+  certificate: <redacted>\n+\n+\n+\n" in added  # the block keeps its lines
    rotated = history.diff(second, "shop")
    assert f"-  password: {REDACTED}\n+  password: {REDACTED_CHANGED}" in rotated
    assert "@@ -14,7 +14,7 @@" in rotated  # hunks still count the file's own lines


def test_redaction_keeps_lines_and_leaves_other_documents_alone() -> None:
    redacted = redact_secret_text(LEAK.split("---\n", 1)[1])
    assert redacted.count("\n") == LEAK.split("---\n", 1)[1].count("\n")
    assert_no_values(redacted)
    other = LEAK.split("---\n", 1)[0]
    assert redact_secret_text(other) == other
    assert PASSWORD not in redact_secret_text(LIST_LEAK)
    broken = f"kind: Secret\nstringData: {{password: {PASSWORD}\n"
    assert PASSWORD not in redact_secret_text(broken)  # unparsable: redacted whole
    old, new = redact_secret_pair("", LIST_LEAK)
    assert (old, PASSWORD in new) == ("", False)
