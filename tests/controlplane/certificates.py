"""The control plane's PKI, made fresh for each environment (no key is ever committed).

Three CAs with one job each, as kubeadm lays them out but with the client CA split off:
- serving CA: kube-apiserver's serving certificate (127.0.0.1, localhost and the
  `kubernetes` Service names); it is what kubeconfigs and pods (kube-root-ca.crt) trust;
- client CA (`--client-ca-file`): the admin, kube-controller-manager and the test users;
- front-proxy CA (`--requestheader-client-ca-file`): the certificate kube-apiserver's
  aggregator presents to gitplane (`--proxy-client-cert-file`), CN front-proxy-client.
Plus the service-account signing key pair (`--service-account-signing-key-file` and
`--service-account-key-file`, and kube-controller-manager's token controller).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from pki.authority import (
    CertificateAndKey,
    CertificateAuthority,
    create_authority,
    generate_key,
    key_to_pem,
    write_file,
    write_private_file,
)
from pki.issue import issue_client_certificate, issue_serving_certificate
from pki.kubeconfig import build_kubeconfig, write_kubeconfig

FRONT_PROXY_CLIENT = "front-proxy-client"
ADMIN = ("kubernetes-admin", ("system:masters",))
CONTROLLER_MANAGER = ("system:kube-controller-manager", ())
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"  # the first address of the range: the `kubernetes` Service


@dataclass(frozen=True)
class ClientPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class ControlPlanePki:
    directory: Path
    serving_ca: Path
    client_ca: Path
    front_proxy_ca: Path
    apiserver: ClientPair  # its serving certificate and key
    front_proxy_client: ClientPair
    admin: ClientPair
    controller_manager: ClientPair
    service_account_key: Path
    service_account_public_key: Path
    client_authority: CertificateAuthority

    def kubeconfig(
        self, path: Path, server: str, pair: ClientPair, user: str, namespace: str | None = None
    ) -> Path:
        config = build_kubeconfig(
            server,
            self.serving_ca.read_bytes(),
            pair.cert.read_bytes(),
            pair.key.read_bytes(),
            cluster="controlplane",
            user=user,
            context=user,
            namespace=namespace,
        )
        write_kubeconfig(path, config)
        return path

    def user(self, name: str, groups: tuple[str, ...] = ()) -> ClientPair:
        """A client certificate for `name` in `groups` (O), signed by the client CA."""
        issued = issue_client_certificate(self.client_authority, name, groups)
        pair = ClientPair(self.directory / f"user-{name}.crt", self.directory / f"user-{name}.key")
        issued.save(pair.cert, pair.key)
        return pair


def make_pki(directory: Path) -> ControlPlanePki:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    serving = create_authority("controlplane-serving-ca")
    clients = create_authority("controlplane-client-ca")
    front_proxy = create_authority("controlplane-front-proxy-ca")

    def save_ca(ca: CertificateAuthority, name: str) -> Path:
        write_file(directory / f"{name}.crt", ca.cert_pem)
        return directory / f"{name}.crt"

    def save(issued: CertificateAndKey, name: str) -> ClientPair:
        pair = ClientPair(directory / f"{name}.crt", directory / f"{name}.key")
        issued.save(pair.cert, pair.key)
        return pair

    apiserver = issue_serving_certificate(
        serving,
        [
            "localhost",
            "127.0.0.1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            KUBERNETES_SERVICE_IP,
        ],
        common_name="kube-apiserver",
    )
    signing_key = generate_key("ec")
    write_private_file(directory / "sa.key", key_to_pem(signing_key))
    write_file(
        directory / "sa.pub",
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return ControlPlanePki(
        directory=directory,
        serving_ca=save_ca(serving, "serving-ca"),
        client_ca=save_ca(clients, "client-ca"),
        front_proxy_ca=save_ca(front_proxy, "front-proxy-ca"),
        apiserver=save(apiserver, "kube-apiserver"),
        front_proxy_client=save(
            issue_client_certificate(front_proxy, FRONT_PROXY_CLIENT), "front-proxy-client"
        ),
        admin=save(issue_client_certificate(clients, ADMIN[0], ADMIN[1]), "admin"),
        controller_manager=save(
            issue_client_certificate(clients, CONTROLLER_MANAGER[0]), "kube-controller-manager"
        ),
        service_account_key=directory / "sa.key",
        service_account_public_key=directory / "sa.pub",
        client_authority=clients,
    )
