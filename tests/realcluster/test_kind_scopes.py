"""The scope table gitplane uses without a cluster (store.keys, kube.kinds) agrees with the
real kube-apiserver's discovery for every built-in kind it serves."""

from __future__ import annotations

from kube.kinds import is_namespaced_builtin, served_kinds
from store.keys import is_cluster_scoped
from tests.controlplane.kubectl import Kubectl


def test_builtin_scopes_match_the_real_discovery(admin: Kubectl) -> None:
    builtin = set(served_kinds())
    listed = admin("api-resources", "-o", "wide", "--no-headers=false").stdout.splitlines()
    header, rows = listed[0], listed[1:]
    columns = {name: header.index(name) for name in ("APIVERSION", "NAMESPACED", "KIND")}
    checked = 0
    wrong = []
    for row in rows:
        api_version = row[columns["APIVERSION"] :].split()[0]
        namespaced = row[columns["NAMESPACED"] :].split()[0] == "true"
        kind = row[columns["KIND"] :].split()[0]
        group = api_version.rpartition("/")[0]
        if group not in builtin:
            continue  # gitplane.io and the aggregated groups: not Kubernetes' own
        checked += 1
        if namespaced != is_namespaced_builtin(group, kind) or namespaced == is_cluster_scoped(
            group, kind
        ):
            wrong.append(f"{kind}.{group}: namespaced={namespaced}")
    assert checked > 50  # the whole built-in API was looked at
    assert wrong == []
