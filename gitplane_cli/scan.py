"""`gitplane scan [--history]`: plaintext Secret values in the repository; exit 1 if any.

Only where each value is (file, line, commit, field) is printed, never the value.
"""

from __future__ import annotations

import argparse
from typing import Any

from store.repo import GitStore
from store.secret_scan import scan

HELP = "report plaintext Secret values in the repository (never the values); exit 1 if any"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `scan` command to `gitplane`'s subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser("scan", help=HELP, description=HELP)
    parser.set_defaults(run=run)
    parser.add_argument("--repo", default=".", help="the Git repository (default: .)")
    parser.add_argument("--branch", help="branch to scan (default: the checked-out one)")
    parser.add_argument(
        "--history",
        action="store_true",
        help="every commit reachable from any ref (as git log --all), not just the branch tip",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    store = GitStore(args.repo, branch=args.branch, persist_parse_cache=False)
    findings = scan(store, history=args.history)
    for finding in findings:
        print(finding)
    where = "in the history" if args.history else "at the branch tip"
    if findings:
        print(
            f"{len(findings)} plaintext Secret value(s) {where}: rotate them, then replace each"
            " Secret by a SealedSecret, an ExternalSecret or a SOPS-encrypted Secret"
            + ("" if args.history else "; run with --history to find every commit")
        )
        return 1
    print(f"no plaintext Secret values {where}")
    return 0
