"""`gitplane`: the admin and developer command line."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from apiserver.secrets.options import add_sealing_arguments
from gitplane_cli import certs, demo, examples, scan
from sources.options import add_source_arguments, desired_store, settings_from
from store.documents import load_documents
from store.errors import StoreError
from store.history import History
from store.keys import ObjectKey
from store.layout import Layout
from store.model import Delete, Put, Requester
from store.remote_options import add_remote_arguments
from store.repo import GitStore


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except StoreError as exc:
        print(f"error: {exc.reason}: {exc.message}", file=sys.stderr)
        for cause in getattr(exc, "causes", []):
            print(f"  {cause.field}: {cause.message}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gitplane", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help_text: str, run: Any, repo: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(run=run)
        if repo:
            p.add_argument("--repo", default=".", help="the Git repository (default: .)")
            p.add_argument("--branch", help="branch to use (default: the checked-out one)")
            p.add_argument("--root", default="", help="directory of desired state in the repo")
        return p

    p = command(
        "up", "run the API server on 127.0.0.1 over a local Git repository", _up, repo=False
    )
    p.add_argument("--dir", default="gitplane-up", help="state directory (repo, pki, kubeconfig)")
    p.add_argument(
        "--repo", help="serve this existing repository (bare or not) instead of DIR/repo"
    )
    p.add_argument("--branch", help="branch to serve (default: the repository's current one)")
    p.add_argument("--api-port", type=int, default=8443, help="0 picks a free port")
    p.add_argument("--webhook-port", type=int, default=9443, help="0 picks a free port")
    p.add_argument("--quiet", action="store_true", help="no access log")
    add_remote_arguments(p)
    add_sealing_arguments(p)
    add_source_arguments(p)
    p.add_argument(
        "--default-mode",
        choices=["enforce", "warn", "off"],
        default="enforce",
        help="webhook mode of namespaces whose Namespace in Git sets none",
    )
    p.add_argument(
        "--exempt-user",
        action="append",
        default=[],
        metavar="NAME",
        help="user the webhook lets through (adds to the reconciler defaults)",
    )
    p.add_argument("--break-glass-group", metavar="NAME", help="default gitplane:break-glass")
    p.add_argument(
        "--strict",
        action="append",
        default=[],
        metavar="NAMESPACE",
        help="namespace where objects not declared in Git are refused too",
    )
    p = command("demo", "show the store at work on a fresh local repository", _demo, repo=False)
    p.add_argument("--dir", default="gitplane-demo", help="where to create it")
    p = command("init", "create a repository for desired state", _init, repo=False)
    p.add_argument("path")
    p.add_argument("--bare", action="store_true")
    p = command("apply", "write the objects in FILE(s) as one commit", _apply)
    p.add_argument("-f", "--filename", action="append", required=True)
    p.add_argument("-m", "--message")
    p.add_argument("--as", dest="user", default=getpass.getuser())
    p.add_argument("--dry-run", action="store_true")
    p = command("delete", "delete one object as a commit", _delete)
    p.add_argument("kind", help="Kind or Kind.group, e.g. Deployment.apps")
    p.add_argument("name")
    p.add_argument("-n", "--namespace", default="")
    p.add_argument("-m", "--message")
    p.add_argument("--as", dest="user", default=getpass.getuser())
    p = command("get", "list declared objects", _get)
    p.add_argument("-n", "--namespace")
    p.add_argument("-o", "--output", choices=["table", "yaml", "json"], default="table")
    p = command("log", "revisions that changed a namespace (or anything)", _log)
    p.add_argument("-n", "--namespace")
    p.add_argument("--limit", type=int, default=20)
    p = command("diff", "what a revision changed", _diff)
    p.add_argument("revision")
    p.add_argument("-n", "--namespace")
    for name, help_text in (
        ("revert", "undo a revision in one namespace"),
        ("rollback", "set a namespace back to a revision"),
    ):
        p = command(name, help_text, _revert if name == "revert" else _rollback)
        p.add_argument("revision")
        p.add_argument("-n", "--namespace", required=True)
        p.add_argument("-m", "--message")
        p.add_argument("--as", dest="user", default=getpass.getuser())
    p = command(
        "check",
        "report documents that are not loadable objects and sources that do not render;"
        " list the sources; exit 1 if anything is wrong",
        _check,
    )
    add_source_arguments(p)
    scan.register(sub)
    examples.register(sub)
    certs.register(sub)
    return parser


def _open(args: argparse.Namespace) -> GitStore:
    return GitStore(args.repo, branch=args.branch, layout=Layout(root=args.root))


def _up(args: argparse.Namespace) -> int:
    from gitplane_cli import up  # noqa: PLC0415 - the server stack loads only for this command

    return up.main(args)


def _demo(args: argparse.Namespace) -> int:
    return demo.run(Path(args.dir))


def _init(args: argparse.Namespace) -> int:
    store = GitStore.init(args.path, bare=args.bare)
    print(f"initialised {store.path} (branch {store.branch_ref})")
    return 0


def _apply(args: argparse.Namespace) -> int:
    store = _open(args)
    docs: list[dict[str, Any]] = []
    for name in args.filename:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
        for doc in load_documents(text):
            if (
                isinstance(doc, dict)
                and isinstance(doc.get("items"), list)
                and doc.get("kind", "").endswith("List")
            ):
                docs.extend(doc["items"])
            elif doc:
                docs.append(doc)
    result = store.apply(
        [Put(d) for d in docs], Requester(args.user), message=args.message, dry_run=args.dry_run
    )
    for key, obj in result.objects.items():
        print(f"{key}: {obj.path if obj else 'deleted'}")
    print(
        "dry run: nothing committed"
        if args.dry_run
        else f"commit {result.commit_id[:12]}"
        if result.commit_id
        else "unchanged: nothing committed"
    )
    return 0


def _parse_kind(text: str) -> tuple[str, str]:
    kind, _, group = text.partition(".")
    return group, kind


def _delete(args: argparse.Namespace) -> int:
    group, kind = _parse_kind(args.kind)
    store = _open(args)
    result = store.apply(
        [Delete(ObjectKey(group, kind, args.namespace, args.name))],
        Requester(args.user),
        message=args.message,
    )
    print(f"commit {result.commit_id[:12] if result.commit_id else '-'}")
    return 0


def _get(args: argparse.Namespace) -> int:
    items = _open(args).list_objects(args.namespace).items
    if args.output == "yaml":
        print(yaml.safe_dump_all([i.obj for i in items], sort_keys=False), end="")
    elif args.output == "json":
        print(json.dumps([i.obj for i in items], indent=2))
    else:
        print(f"{'NAMESPACE':<16} {'KIND':<24} {'NAME':<32} {'REVISION':<8} PATH")
        for i in items:
            where = i.key.namespace or "-"
            print(f"{where:<16} {i.key.kind:<24} {i.key.name:<32} {i.commit_id[:7]:<8} {i.path}")
    return 0


def _log(args: argparse.Namespace) -> int:
    page = History(_open(args)).revisions(args.namespace, limit=args.limit)
    for rev in page.items:
        changed = ", ".join(f"{c.type.lower()} {c.key}" for c in rev.changes)
        print(f"{rev.id[:12]} {rev.author_name:<12} {rev.subject}\n    {changed}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    print(History(_open(args)).diff(args.revision, args.namespace), end="")
    return 0


def _revert(args: argparse.Namespace) -> int:
    result = History(_open(args)).revert(
        args.revision, args.namespace, Requester(args.user), message=args.message
    )
    print(
        f"reverted in {args.namespace}: commit {result.commit_id[:12] if result.commit_id else '-'}"
    )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    result = History(_open(args)).rollback(
        args.revision, args.namespace, Requester(args.user), message=args.message
    )
    made = result.commit_id[:12] if result.commit_id else "none needed"
    print(f"rolled back {args.namespace}: commit {made}")
    return 0


def _check(args: argparse.Namespace) -> int:
    """Documents that are not loadable objects, and every source with how it renders."""
    store = _open(args)
    rendered, _ = desired_store(store, settings_from(args, store))
    problems = rendered.problems()
    for problem in problems:
        print(problem)
    results = rendered.results() if rendered.rendering else []
    if results:
        row = "{:<44} {:<10} {:<32} {:<20} {:<8} {:>7}  {}"
        print(row.format("SOURCE", "TOOL", "PATH", "DESTINATION", "COMMIT", "OBJECTS", "STATUS"))
        commit = (rendered.head.commit_id or "")[:7]
        for result in results:
            source = result.source
            if source.skipped:
                state = f"skipped: {source.skipped}"
            elif result.error:
                state = f"{'stale' if result.stale else 'error'}: {result.error}"
            else:
                state = "ok"
            count = sum(1 for r in result.objects if not r.hook)
            where = source.destination or "-"
            print(
                row.format(
                    str(source.ref), source.tool, source.path or ".", where, commit, count, state
                )
            )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
