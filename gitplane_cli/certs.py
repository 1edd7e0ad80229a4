"""`gitplane certs`: the TLS a cluster install needs, as a kustomization ready to apply.

kube-apiserver reaches gitplane's two Services over HTTPS and checks their certificates
against the `caBundle` of the APIService and of the webhook configurations. This command
writes, into DIR (default certs/out, gitignored):

    ca.crt, ca.key                      the CA (kept across runs unless --new-ca)
    ca-previous.crt                     the CA replaced by --new-ca, still trusted meanwhile
    ca-bundle.crt                       what kube-apiserver trusts: ca.crt + ca-previous.crt
    gitplane-apiserver/tls.crt, .key    serving certificate of Service gitplane-apiserver
    gitplane-webhook/tls.crt, .key      serving certificate of Service gitplane-webhook
    kustomization.yaml                  manifests/ + the TLS Secrets + every caBundle

Install or rotate with `kubectl apply -k DIR`. Secrets keep their names (no hash suffix),
so kubelet swaps the files under the running pods and the servers load them again without
a restart. Private keys are written 0600 and never belong in Git.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import yaml
from cryptography import x509

from kube.meta import dns1123_label_errors, dns1123_subdomain_errors
from pki.authority import (
    CertificateAuthority,
    cert_to_pem,
    create_authority,
    write_file,
)
from pki.issue import issue_serving_certificate, service_hostnames

APISERVER_SERVICE: Final = "gitplane-apiserver"
WEBHOOK_SERVICE: Final = "gitplane-webhook"
SERVICES: Final = (APISERVER_SERVICE, WEBHOOK_SERVICE)
APISERVICE_NAME: Final = "v1alpha1.gitplane.io"
WEBHOOK_CONFIGURATION_NAME: Final = "gitplane"
KUSTOMIZATION: Final = "kustomization.yaml"

CA_CERT, CA_KEY = "ca.crt", "ca.key"
PREVIOUS_CA_CERT, CA_BUNDLE = "ca-previous.crt", "ca-bundle.crt"
TLS_CERT, TLS_KEY = "tls.crt", "tls.key"


class CertsError(Exception):
    """The certificates cannot be written as asked."""


@dataclass(frozen=True)
class Written:
    directory: Path
    ca: CertificateAuthority
    new_ca: bool
    serving: dict[str, x509.Certificate]
    trusted: tuple[x509.Certificate, ...]


def secret_name(service: str) -> str:
    return f"{service}-tls"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `certs` command to `gitplane`'s subparsers."""
    summary = "write TLS certificates and a kustomization for a cluster install"
    p: argparse.ArgumentParser = subparsers.add_parser(
        "certs",
        help=summary,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--namespace",
        default="gitplane-system",
        help="namespace of the Services (manifests/ installs into gitplane-system)",
    )
    p.add_argument("--out", type=Path, default=Path("certs/out"), help="default certs/out")
    p.add_argument(
        "--manifests",
        type=Path,
        default=Path("manifests"),
        help="the kustomization to install with these certificates (default manifests)",
    )
    p.add_argument(
        "--component",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="a kustomize component to add, e.g. manifests/components/git-ssh",
    )
    p.add_argument("--cluster-domain", default="cluster.local", help="default cluster.local")
    p.add_argument(
        "--days", type=int, default=365, help="validity of the serving certificates (365)"
    )
    p.add_argument(
        "--new-ca",
        action="store_true",
        help="replace the CA too; the old one stays trusted (ca-previous.crt) meanwhile",
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        written = write_install(
            args.out,
            namespace=args.namespace,
            manifests=args.manifests,
            components=args.component,
            cluster_domain=args.cluster_domain,
            valid_for=timedelta(days=args.days),
            new_ca=args.new_ca,
        )
    except (CertsError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _report(written)
    return 0


def write_install(
    out: Path,
    *,
    namespace: str = "gitplane-system",
    manifests: Path = Path("manifests"),
    components: Sequence[Path] = (),
    cluster_domain: str = "cluster.local",
    valid_for: timedelta = timedelta(days=365),
    new_ca: bool = False,
    now: datetime | None = None,
) -> Written:
    """Certificates for both Services and the kustomization applying them (see module doc)."""
    now = now or datetime.now(UTC)
    _check_arguments(namespace, cluster_domain, valid_for, manifests, components)
    if not out.exists():
        out.mkdir(parents=True)
        out.chmod(0o700)  # it holds private keys
    ca, created = _authority(out, new_ca, now)
    if ca.certificate.not_valid_after_utc < now + valid_for:
        print(
            f"warning: the CA expires {ca.certificate.not_valid_after_utc:%Y-%m-%d}; the "
            "serving certificates end then too. Replace it with --new-ca.",
            file=sys.stderr,
        )
    serving = {}
    for service in SERVICES:
        issued = issue_serving_certificate(
            ca,
            service_hostnames(service, namespace, cluster_domain),
            common_name=f"{service}.{namespace}.svc",
            valid_for=valid_for,
            now=now,
        )
        folder = out / service
        folder.mkdir(exist_ok=True)
        folder.chmod(0o700)
        issued.save(folder / TLS_CERT, folder / TLS_KEY)
        serving[service] = issued.certificate
    trusted = _write_bundle(out, ca, now)
    kustomization = install_kustomization(out, namespace, manifests, components)
    write_file(out / KUSTOMIZATION, kustomization.encode())
    return Written(out, ca, created, serving, trusted)


def install_kustomization(
    out: Path, namespace: str, manifests: Path, components: Sequence[Path] = ()
) -> str:
    """manifests/ plus the TLS Secrets, with every caBundle copied from the Secrets.

    Kustomize accepts only relative paths to other kustomizations, so the paths are
    written relative to `out`.
    """
    secrets = [
        {
            "name": secret_name(service),
            "namespace": namespace,
            "type": "kubernetes.io/tls",
            "files": [
                f"{TLS_CERT}={service}/{TLS_CERT}",
                f"{TLS_KEY}={service}/{TLS_KEY}",
                f"ca.crt={CA_BUNDLE}",
            ],
        }
        for service in SERVICES
    ]

    def source(service: str) -> dict[str, str]:
        # A Secret's data is base64 already: exactly the encoding caBundle wants.
        return {
            "kind": "Secret",
            "name": secret_name(service),
            "namespace": namespace,
            "fieldPath": "data.[ca.crt]",
        }

    def target(kind: str, name: str, field: str, group: str) -> dict[str, Any]:
        return {
            "select": {"group": group, "kind": kind, "name": name},
            "fieldPaths": [field],
            "options": {"create": True},
        }

    webhooks = "admissionregistration.k8s.io"
    document: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [_relative(manifests, out)],
    }
    if components:
        document["components"] = [_relative(c, out) for c in components]
    document |= {
        # Names stay the same on rotation: the Secrets are updated in place and the
        # servers reload their files; a hash suffix would restart every pod instead.
        "generatorOptions": {"disableNameSuffixHash": True},
        "secretGenerator": secrets,
        "replacements": [
            {
                "source": source(APISERVER_SERVICE),
                "targets": [
                    target("APIService", APISERVICE_NAME, "spec.caBundle", "apiregistration.k8s.io")
                ],
            },
            {
                "source": source(WEBHOOK_SERVICE),
                "targets": [
                    target(
                        kind,
                        WEBHOOK_CONFIGURATION_NAME,
                        "webhooks.*.clientConfig.caBundle",
                        webhooks,
                    )
                    for kind in (
                        "ValidatingWebhookConfiguration",
                        "MutatingWebhookConfiguration",
                    )
                ],
            },
        ],
    }
    header = (
        "# Written by `gitplane certs`: running it again rewrites this file (and rotates\n"
        "# the certificates). Install or rotate with `kubectl apply -k <this directory>`.\n"
        "# Private keys live beside it: never commit this directory.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False)


def _check_arguments(
    namespace: str,
    cluster_domain: str,
    valid_for: timedelta,
    manifests: Path,
    components: Sequence[Path],
) -> None:
    if errors := dns1123_label_errors(namespace):
        raise CertsError(f"--namespace {namespace!r}: {'; '.join(errors)}")
    if errors := dns1123_subdomain_errors(cluster_domain):
        raise CertsError(f"--cluster-domain {cluster_domain!r}: {'; '.join(errors)}")
    if valid_for <= timedelta(0):
        raise CertsError("--days must be at least 1")
    for directory, flag in [(manifests, "--manifests"), *((c, "--component") for c in components)]:
        if not any((directory / name).is_file() for name in _KUSTOMIZATION_NAMES):
            raise CertsError(
                f"{flag} {directory}: no kustomization there (run from the gitplane checkout "
                "or give the path of its manifests/ directory)"
            )


_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _authority(out: Path, new_ca: bool, now: datetime) -> tuple[CertificateAuthority, bool]:
    cert_path, key_path = out / CA_CERT, out / CA_KEY
    existing = cert_path.exists() and key_path.exists()
    if existing and not new_ca:
        ca = CertificateAuthority.load(cert_path, key_path)
        if ca.certificate.not_valid_after_utc <= now:
            raise CertsError(f"the CA in {cert_path} has expired: run again with --new-ca")
        return ca, False
    if existing:
        # kube-apiserver keeps trusting the old CA until every server serves the new
        # certificates: the Secrets and the caBundle change in one apply, but kubelet
        # updates the files in the pods up to a minute or two later.
        old = x509.load_pem_x509_certificate(cert_path.read_bytes())
        write_file(out / PREVIOUS_CA_CERT, cert_to_pem(old))
    ca = create_authority("gitplane-ca", now=now)
    ca.save(cert_path, key_path)
    return ca, True


def _write_bundle(
    out: Path, ca: CertificateAuthority, now: datetime
) -> tuple[x509.Certificate, ...]:
    trusted = [ca.certificate]
    previous = out / PREVIOUS_CA_CERT
    if previous.exists():
        old = x509.load_pem_x509_certificate(previous.read_bytes())
        if old.not_valid_after_utc > now and old != ca.certificate:
            trusted.append(old)
    write_file(out / CA_BUNDLE, b"".join(cert_to_pem(c) for c in trusted))
    return tuple(trusted)


def _report(written: Written) -> None:
    ca = written.ca.certificate
    state = "created" if written.new_ca else "kept"
    print(f"CA {state}: {written.directory / CA_CERT} (until {ca.not_valid_after_utc:%Y-%m-%d})")
    if len(written.trusted) > 1:
        print(
            f"  still trusted meanwhile: {written.directory / PREVIOUS_CA_CERT}; delete it and "
            "run again once every pod serves the new certificates"
        )
    for service, certificate in written.serving.items():
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns = ", ".join(names.value.get_values_for_type(x509.DNSName))
        print(f"{service}: {written.directory / service / TLS_CERT}")
        print(f"  {dns} (until {certificate.not_valid_after_utc:%Y-%m-%d})")
    print(f"install or rotate: kubectl apply -k {written.directory}")
