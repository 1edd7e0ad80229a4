"""Command-line options for sealing (`gitplane up`, the API server), and the policy they make.

Importing this module loads nothing heavy: the certificate code loads when a policy is made.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apiserver.secrets.policy import SecretPolicy


def add_sealing_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sealing Secrets (sealed-secrets)")
    group.add_argument(
        "--sealing-cert",
        metavar="PATH",
        help="the sealed-secrets controller's certificate (kubeseal --fetch-cert); plain"
        " Secrets submitted are stored sealed with it (read again when the file changes)",
    )
    group.add_argument(
        "--sealing-controller",
        metavar="NAMESPACE/NAME[:PORT]",
        nargs="?",
        const="kube-system/sealed-secrets-controller:8080",
        help="fetch the certificate from this controller through the Kubernetes API service"
        " proxy, and again when it rotates (default kube-system/sealed-secrets-controller:8080)",
    )
    group.add_argument(
        "--sealing-kubeconfig",
        metavar="PATH",
        help="kubeconfig of the cluster that runs the controller (default: in-cluster, else"
        " KUBECONFIG or ~/.kube/config)",
    )


async def secret_policy(args: Any) -> SecretPolicy:
    """The policy the options ask for (attributes not set mean: no sealing).

    Raises CertificateError (clear message) when the certificate cannot be used.
    """
    from apiserver.secrets import certificate  # noqa: PLC0415 - loads cryptography
    from apiserver.secrets.policy import SecretPolicy  # noqa: PLC0415

    cert_file = getattr(args, "sealing_cert", None)
    controller = getattr(args, "sealing_controller", None)
    if cert_file and controller:
        raise certificate.CertificateError(
            "give either --sealing-cert or --sealing-controller, not both"
        )
    if cert_file:
        return SecretPolicy(certificate.FileCertificate(cert_file))
    if controller:
        namespace, _, rest = str(controller).rpartition("/")
        name, _, port = rest.partition(":")
        configuration = await certificate.cluster_configuration(
            getattr(args, "sealing_kubeconfig", None)
        )
        source = certificate.ControllerCertificate(
            configuration,
            namespace=namespace or certificate.DEFAULT_NAMESPACE,
            service=name or certificate.DEFAULT_SERVICE,
            port=int(port) if port else certificate.DEFAULT_PORT,
        )
        await source.refresh()
        return SecretPolicy(source)
    return SecretPolicy(None)
