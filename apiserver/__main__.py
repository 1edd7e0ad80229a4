"""`python -m apiserver`: serve gitplane.io/v1alpha1 over HTTPS from a Git repository.

Two ways to know who is asking:

--cluster     behind kube-apiserver's aggregation layer: front-proxy headers from its
              verified client certificate, client certificates and bearer tokens as the
              cluster's `extension-apiserver-authentication` ConfigMap says, every request
              authorized by SubjectAccessReview. Reaches kube-apiserver with the pod's
              service account, or with --kubeconfig.
--standalone  no cluster: a client certificate from --client-ca-file is required; its
              CN is the user and its O the groups.

The serving certificate and key are re-read when their files change (e.g. a rotated
Secret volume), without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from aiohttp import web

from apiserver.auth import client_certificate_user
from apiserver.cluster import DELEGATED_AUTH, ClusterConfig, make_cluster_app
from apiserver.secrets.options import add_sealing_arguments, secret_policy
from apiserver.serving import default_validator, make_api_app
from kube import serving
from pki.tls import ReloadingServerTLS
from sources.options import add_source_arguments, desired_store, settings_from
from store.aio import AsyncStore
from store.remote_options import add_remote_arguments, hook_secret, remote_from_arguments
from store.repo import GitStore
from store.secret_scan import scan

log = logging.getLogger("gitplane.apiserver")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m apiserver",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--cluster", action="store_true", help="delegated authn/authz (see above)")
    mode.add_argument("--standalone", action="store_true", help="client certificates only")
    p.add_argument("--repo", required=True, help="the Git repository holding desired state")
    p.add_argument("--branch", help="branch to serve (default: the repository's current one)")
    p.add_argument(
        "--cert-file", required=True, help="serving certificate (PEM), re-read on change"
    )
    p.add_argument("--key-file", required=True, help="serving key (PEM), re-read on change")
    p.add_argument("--port", type=int, default=8443, help="HTTPS port (default 8443)")
    p.add_argument(
        "--bind",
        default="0.0.0.0",  # noqa: S104  # a pod's server, reached through its Service
        help="address to listen on (default 0.0.0.0)",
    )
    p.add_argument(
        "--kubeconfig", help="--cluster: reach kube-apiserver with this instead of in-cluster"
    )
    p.add_argument("--client-ca-file", help="--standalone: CA bundle client certificates need")
    add_remote_arguments(p)
    add_sealing_arguments(p)
    add_source_arguments(p)
    return p


def build(args: argparse.Namespace) -> tuple[web.Application, ReloadingServerTLS]:
    remote = remote_from_arguments(args, args.branch or "main")
    git_store = GitStore(args.repo, branch=args.branch, remote=remote)
    for finding in scan(git_store):  # pushed from outside: say so, never the value
        log.warning("plaintext Secret value in the repository: %s", finding)
    rendered, history = desired_store(git_store, settings_from(args, git_store))
    store = AsyncStore(rendered, history=history, fetch_interval=args.fetch_interval)
    transform = asyncio.run(secret_policy(args))
    secret = hook_secret(args)
    if args.cluster:
        config = ClusterConfig(kubeconfig=args.kubeconfig)
        app = make_cluster_app(store, config, transform=transform, hook_secret=secret)
        tls = ReloadingServerTLS(
            args.cert_file, args.key_file, client_cas=app[DELEGATED_AUTH].client_ca_bundle
        )
    else:
        app = make_api_app(
            store, authenticate=client_certificate_user, validator=default_validator(),
            transform=transform, hook_secret=secret,
        )  # fmt: skip
        tls = ReloadingServerTLS(args.cert_file, args.key_file, client_ca_file=args.client_ca_file)
    return app, tls


def main(argv: Sequence[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    if args.standalone and not args.client_ca_file:
        p.error("--standalone needs --client-ca-file: without it nobody could authenticate")
    if args.kubeconfig and not args.cluster:
        p.error("--kubeconfig only applies to --cluster")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app, tls = build(args)
    log.info(
        "serving %s mode on https://%s:%s",
        "cluster" if args.cluster else "standalone",
        args.bind,
        args.port,
    )
    serving.run(app, host=args.bind, port=args.port, ssl_context=tls.context)


if __name__ == "__main__":
    main()
