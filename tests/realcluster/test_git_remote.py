"""Both servers keep a clone of the team's repository and reach it the way they would reach
a forge: over HTTP, with the token of the Secret gitplane-git-credentials
(components/git-token), which the harness created as docs/install.md says."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from tests.controlplane.environment import ControlPlane
from tests.controlplane.kubectl import Kubectl
from tests.realcluster.conftest import eventually, log_of, manifest


def test_a_write_is_pushed_with_the_secrets_token(cluster: ControlPlane, admin: Kubectl) -> None:
    secret = admin.json("get", "secret", "gitplane-git-credentials", "-n", "gitplane-system")
    token = base64.b64decode(secret["data"]["token"]).decode()
    for deployment in ("gitplane-apiserver", "gitplane-webhook"):
        pod = cluster.pod(deployment)
        (process,) = pod.containers
        flag = next(a for a in process.argv if a.startswith("--git-token-file="))
        assert Path(flag.split("=", 1)[1]).read_text() == token  # the Secret's file, as mounted
        assert "--git-username=git" in process.argv  # $(GITPLANE_GIT_USERNAME) from the ConfigMap
    log = cluster.directory / "logs" / "git-http.log"
    pushes_before = len(
        re.findall(r"POST /repo/git-receive-pack HTTP/1.1\" 200 user=git", log.read_text())
    )
    cluster.user("alice")("apply", "-f", "-", input=manifest("shop", "pushed", {"over": "http"}))
    assert "create v1 ConfigMap shop/pushed" in log_of(cluster.repo, "-1", "--format=%s")
    pushes = re.findall(r"POST /repo/git-receive-pack HTTP/1.1\" 200 user=git", log.read_text())
    assert len(pushes) == pushes_before + 1
    # The webhook's clone follows: its fetches are authenticated too, and none was refused.
    eventually(lambda: "git-upload-pack" in log.read_text().rsplit("git-receive-pack", 1)[1], 10,
               "a fetch after the push")  # fmt: skip
    assert '" 401 ' not in log.read_text()
