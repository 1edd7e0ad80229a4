"""`python tests/controlplane/launch.py [--serviceaccount DIR] -- python -m MODULE ARGS...`

Runs one container's command as this very process, with the pod's service-account volume
where the process looks for it. In a pod, kubelet mounts the token, ca.crt and namespace
at /var/run/secrets/kubernetes.io/serviceaccount; here they are files in DIR, so the one
thing done before the module runs is to point kubernetes-asyncio's in-cluster loader (the
paths it reads, nothing else) at DIR, the way a bind mount would. The module then runs as
`python -m MODULE` would run it, with exactly the container's arguments.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

IN_POD = "/var/run/secrets/kubernetes.io/serviceaccount"


def _mount_service_account(directory: Path) -> None:
    from kubernetes_asyncio.config import incluster_config

    incluster_config.SERVICE_TOKEN_FILENAME = str(directory / "token")
    incluster_config.SERVICE_CERT_FILENAME = str(directory / "ca.crt")


def main(argv: list[str]) -> None:
    if "--" not in argv:
        raise SystemExit("usage: launch [--serviceaccount DIR] -- python -m MODULE ARGS...")
    options, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    if options[:1] == ["--serviceaccount"]:
        _mount_service_account(Path(options[1]))
    if len(command) >= 3 and Path(command[0]).name.startswith("python") and command[1] == "-m":
        module = command[2]
        sys.argv = [module, *command[3:]]
        sys.path[0] = os.getcwd()  # as `python -m` has it, not this file's directory
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:  # not Python: nothing to point anywhere, run it as it is
        os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
