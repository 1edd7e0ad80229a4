"""Every reader sees a document the way the one loader does: a Secret written from outside
behind a YAML merge key, or with a duplicate `stringData:` key, leaks through none of them
(revision diffs through the API, `gitplane scan`, the plaintext metric, served objects,
`gitplane check`, the webhook's directory source)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apiserver.metrics import StoreCollector
from gitplane_cli.main import main as gitplane_main
from store.aio import AsyncStore
from store.secret_scan import scan
from tests.apiserver.harness import Server
from tests.store.conftest import run_git
from webhook.desired_dir import load_desired_dir

VALUE = "M3rged-0r-Dupl1cated"
MERGED = f"""\
<<: {{apiVersion: v1, kind: Secret}}
metadata: {{name: merged, namespace: shop}}
stringData: {{pw: {VALUE}}}
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
---
"""
DUPLICATE = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: duplicate, namespace: shop}}
stringData: {{pw: {VALUE}}}
stringData: {{}}
"""


def commit_from_outside(api: Server, name: str, text: str) -> str:
    path = api.repo / "shop" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    run_git(api.repo, "add", "-A")
    run_git(api.repo, "commit", "-qm", f"add {name} from outside")
    api.store.refresh()
    return api.git("rev-parse", "HEAD").strip()


async def test_a_merge_key_secret_is_a_secret_to_every_reader(plain_api: Server) -> None:
    api = plain_api
    commit = commit_from_outside(api, "merged.yaml", MERGED)
    revision = await api.ok("get", "rev", commit[:12], "-n", "shop", "-o", "json")
    assert VALUE not in revision.out
    assert "<redacted>" in revision.json()["spec"]["diff"]
    served = await api.ok("get", "mf", "secret.merged", "-n", "shop", "-o", "json")
    assert VALUE not in served.out
    assert served.json()["spec"]["object"]["stringData"] == {"pw": "<redacted>"}
    found = [(f.path, f.line, f.key, f.secret) for f in scan(api.store)]
    assert found == [("shop/merged.yaml", 3, "stringData[pw]", "shop/merged")]
    assert StoreCollector(AsyncStore(api.store)).plaintext_secrets() == 1


async def test_a_duplicate_key_is_refused_with_file_and_line_by_every_reader(
    plain_api: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    api = plain_api
    commit = commit_from_outside(api, "duplicate.yaml", CONFIGMAP + DUPLICATE)
    revision = await api.ok("get", "rev", commit[:12], "-n", "shop", "-o", "json")
    assert "configmap.settings" in revision.out
    assert VALUE not in revision.out
    listed = await api.ok("get", "mf", "-n", "shop", "-o", "json")
    names = [item["metadata"]["name"] for item in json.loads(listed.out)["items"]]
    assert names == ["configmap.settings"]  # the Secret is not an object: never served
    found = scan(api.store)
    assert [(f.path, f.line) for f in found] == [("shop/duplicate.yaml", 9)]
    assert "does not load" in str(found[0]) and VALUE not in str(found[0])
    problems = [str(p) for p in api.store.problems()]
    assert problems == ['shop/duplicate.yaml:9: invalid YAML: key "stringData" already set in map']
    code = gitplane_main(["check", "--repo", str(api.repo)])
    out = capsys.readouterr().out
    assert code != 0
    assert 'shop/duplicate.yaml:9: invalid YAML: key "stringData" already set in map' in out
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "duplicate.yaml").write_text(DUPLICATE)
    with pytest.raises(ValueError, match=r'duplicate\.yaml:5: invalid YAML: key "stringData"'):
        load_desired_dir(tmp_path / "desired")
