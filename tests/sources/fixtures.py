"""GitOps repositories in the layouts our users have, made with the real git CLI.

- `base_and_overlays`: my-app/base plus overlays dev/staging/prod, one Argo CD
  Application per environment (destination my-app-<env>), as our docs recommend.
- `argo_examples`: Argo CD's example-apps shapes: a directory app, a kustomize app with
  namePrefix, a local Helm chart with per-environment values, app-of-apps, multi-source.
- `flux_example`: Flux's kustomize + Helm example: clusters/staging|production, apps base
  and overlays patching a HelmRelease whose chart lives in this repository, and
  postBuild substitution from a ConfigMap.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Person",
        "GIT_AUTHOR_EMAIL": "person@example.com",
        "GIT_COMMITTER_NAME": "Person",
        "GIT_COMMITTER_EMAIL": "person@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout


def commit_files(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) files and commit them as a person would."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
    for path, text in files.items():
        target = repo / path
        if text is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


from gitplane_cli import examples  # noqa: E402 - the layouts live with `gitplane example`

IN_CLUSTER, REPO_URL = examples.IN_CLUSTER, examples.REPO_URL
application, DEPLOYMENT, SERVICE, CHART = (
    examples.application,
    examples.DEPLOYMENT,
    examples.SERVICE,
    examples.CHART,
)


def base_and_overlays(repo: Path) -> str:
    return examples.base_and_overlays(repo, commit_files=commit_files)


def argo_examples(repo: Path) -> str:
    return examples.argo_examples(repo, commit_files=commit_files)


def flux_example(repo: Path) -> str:
    return examples.flux_example(repo, commit_files=commit_files)
