"""Command-line options for following a Git remote, shared by every entry point."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from store.remote import Credentials, RemoteMirror


def add_remote_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--remote", help="Git remote to clone, push every write to and fetch from")
    add("--fetch-interval", type=float, default=15.0, help="seconds between fetches")
    add("--git-username", default="git", help="user for the remote (SSH or HTTPS)")
    add("--git-ssh-key", help="private key file for an SSH remote")
    add("--git-known-hosts", help="known_hosts for an SSH remote (checked strictly)")
    add("--git-token-file", help="file holding an HTTPS token for the remote")
    add("--hook-secret-file", help="shared secret of POST /hooks/git push events")


def remote_from_arguments(args: Any, branch: str) -> RemoteMirror | None:
    if not args.remote:
        return None
    credentials = Credentials(
        username=args.git_username,
        ssh_private_key=Path(args.git_ssh_key) if args.git_ssh_key else None,
        known_hosts=Path(args.git_known_hosts) if args.git_known_hosts else None,
        token_file=Path(args.git_token_file) if args.git_token_file else None,
    )
    return RemoteMirror(args.remote, branch, credentials)


def hook_secret(args: Any) -> bytes | None:
    return Path(args.hook_secret_file).read_bytes().strip() if args.hook_secret_file else None
