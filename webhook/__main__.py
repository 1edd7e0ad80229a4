"""`python -m webhook`: serve /validate and /mutate over HTTPS.

Settings come from flags and from `--config FILE`, a YAML mapping with the same
keys as the flags (`default-mode: warn`, `exempt-user: [...]`, ...). A flag given
on the command line wins over the file; repeatable flags add to the file's lists.
"""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from kube import serving
from pki.tls import ReloadingServerTLS
from sources.argo import IN_CLUSTER_NAME, IN_CLUSTER_SERVER
from sources.options import add_source_arguments, settings_from
from store.remote import RemoteMirror
from store.remote_options import remote_from_arguments
from store.repo import GitStore
from webhook.config import MODES, ConfigError, WebhookConfig
from webhook.desired_dir import load_desired_dir
from webhook.git_desired import make_git_app
from webhook.server import make_app

LISTS: tuple[str, ...] = ("exempt-user", "exempt-group", "strict", "repo-url", "flux-path")
SCALARS: tuple[str, ...] = (
    "default-mode",
    "break-glass-group",
    "cert-file",
    "key-file",
    "port",
    "bind",
    "desired-dir",
    "repo",
    "branch",
    "remote",
    "fetch-interval",
    "git-username",
    "git-ssh-key",
    "git-known-hosts",
    "git-token-file",
    "listen-fd",
    "cluster-name",
    "cluster-server",
)
DEFAULTS: dict[str, Any] = {"port": 8443, "bind": "0.0.0.0"}  # noqa: S104  # a pod's webhook


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m webhook",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, help="YAML file with the same keys as these flags")
    p.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)  # a socket from gitplane up
    add_source_arguments(p)
    p.add_argument(
        "--default-mode",
        choices=MODES,
        help="mode of namespaces whose Namespace in Git has no gitplane.io/mode (default enforce)",
    )
    p.add_argument(
        "--exempt-user",
        action="append",
        default=[],
        metavar="NAME",
        help="user exempt from checks, `*` as wildcard; adds to the defaults",
    )
    p.add_argument(
        "--exempt-group",
        action="append",
        default=[],
        metavar="NAME",
        help="group exempt from checks; adds to the defaults",
    )
    p.add_argument(
        "--break-glass-group",
        metavar="NAME",
        help="group allowed to bypass Git (default gitplane:break-glass)",
    )
    p.add_argument(
        "--strict",
        action="append",
        default=[],
        metavar="NAMESPACE",
        help="namespace where objects not declared in Git are refused too",
    )
    p.add_argument("--cert-file", help="serving certificate (PEM), re-read when it changes")
    p.add_argument("--key-file", help="serving key (PEM), re-read when it changes")
    p.add_argument("--port", type=int, help="HTTPS port (default 8443)")
    p.add_argument("--bind", help="address to listen on (default 0.0.0.0)")
    p.add_argument(
        "--repo",
        help="the Git repository holding desired state (bare or not);"
        " with --remote, where to keep the local clone",
    )
    p.add_argument("--remote", help="Git remote to follow (fetched every --fetch-interval seconds)")
    p.add_argument("--fetch-interval", type=float, help="seconds between fetches (default 15)")
    p.add_argument("--git-username", help="user for the remote (default git)")
    p.add_argument("--git-ssh-key", help="private key file for an SSH remote")
    p.add_argument(
        "--git-known-hosts", help="known_hosts file for an SSH remote (checked strictly)"
    )
    p.add_argument("--git-token-file", help="file holding an HTTPS token for the remote")
    p.add_argument("--branch", help="branch to follow (default: the repository's current one)")
    p.add_argument(
        "--desired-dir",
        type=Path,
        help="a directory of YAML manifests read once at start-up, instead of --repo (tests)",
    )
    return p


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Flags merged over the config file over the defaults, keyed like the flags."""
    from_file = _read_config(args.config) if args.config else {}
    merged: dict[str, Any] = dict(DEFAULTS)
    for key in SCALARS:
        flag = getattr(args, key.replace("-", "_"))
        value = flag if flag is not None else from_file.get(key)
        if value is not None:
            merged[key] = value
    for key in LISTS:
        merged[key] = [*from_file.get(key, []), *getattr(args, key.replace("-", "_"))]
    return merged


def _read_config(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    config = {str(k).replace("_", "-"): v for k, v in loaded.items()}
    unknown = sorted(set(config) - set(LISTS) - set(SCALARS))
    if unknown:
        raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}")
    for key in LISTS:
        value = config.get(key, [])
        config[key] = [value] if isinstance(value, str) else value
        if not isinstance(config[key], list) or not all(isinstance(v, str) for v in config[key]):
            raise ConfigError(f"{path}: {key} must be a list of strings")
    return config


def webhook_config(values: dict[str, Any]) -> WebhookConfig:
    return WebhookConfig.with_additions(
        default_mode=values.get("default-mode"),
        exempt_users=values["exempt-user"],
        exempt_groups=values["exempt-group"],
        break_glass_group=values.get("break-glass-group"),
        strict_namespaces=values["strict"],
    )


def _remote(values: dict[str, Any]) -> RemoteMirror | None:
    """The remote to follow, from the merged flags and config file (same keys as the flags)."""
    options = argparse.Namespace(
        remote=values.get("remote"),
        git_username=values.get("git-username") or "git",
        git_ssh_key=values.get("git-ssh-key"),
        git_known_hosts=values.get("git-known-hosts"),
        git_token_file=values.get("git-token-file"),
    )
    return remote_from_arguments(options, values.get("branch") or "main")


def main(argv: Sequence[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        values = settings(args)
        config = webhook_config(values)
    except ConfigError as exc:
        p.error(str(exc))
    if not (values.get("cert-file") and values.get("key-file")):
        p.error("--cert-file and --key-file are required: kube-apiserver only calls HTTPS")
    if bool(values.get("desired-dir")) == bool(values.get("repo")):
        p.error("give one source of desired state: --repo (a Git repository) or --desired-dir")
    tls = ReloadingServerTLS(str(values["cert-file"]), str(values["key-file"]))
    if values.get("repo"):
        store = GitStore(values["repo"], branch=values.get("branch"), remote=_remote(values))
        interval = float(values.get("fetch-interval") or 15)
        sources = argparse.Namespace(
            repo_url=values.get("repo-url") or [],
            remote=values.get("remote"),
            cluster_name=values.get("cluster-name") or IN_CLUSTER_NAME,
            cluster_server=values.get("cluster-server") or IN_CLUSTER_SERVER,
            flux_path=values.get("flux-path") or [],
        )
        app = make_git_app(
            store, config, fetch_interval=interval, settings=settings_from(sources, store)
        )
    else:
        desired = load_desired_dir(Path(values["desired-dir"]))
        logging.getLogger("gitplane.webhook").info("declared: %d objects", len(desired))
        app = make_app(desired, config)
    logging.getLogger("gitplane.webhook").info(
        "serving on https://%s:%s", values["bind"], values["port"]
    )
    fd = values.get("listen-fd")
    sock = socket.socket(fileno=int(fd)) if fd is not None else None
    serving.run(
        app, host=values["bind"], port=int(values["port"]), ssl_context=tls.context, sock=sock
    )


if __name__ == "__main__":
    main()
