"""etcd, kube-apiserver and kube-controller-manager: their flags and how to tell they are up.

The flags are kubeadm's where they matter to gitplane: TLS everywhere kube-apiserver
listens, RBAC authorization, the front proxy (`--requestheader-*`, `--proxy-client-*`) for
aggregated APIs, service-account tokens signed by our own key, and
`--enable-aggregator-routing` left off, so kube-apiserver dials an APIService's Service
(here an ExternalName `localhost`). Everything listens on 127.0.0.1 only. Differences
kept on purpose: etcd speaks plain HTTP on loopback without fsync (it is thrown away), the
endpoint reconciler is off (the `kubernetes` Service's Endpoints may not be a loopback
address, and nothing here routes to it), and no kubelet or scheduler runs.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.controlplane.build import Binaries
from tests.controlplane.certificates import SERVICE_CLUSTER_IP_RANGE, ControlPlanePki
from tests.controlplane.processes import Process

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    kube_apiserver: int
    kube_controller_manager: int


def etcd(binaries: Binaries, directory: Path, ports: Ports) -> Process:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return Process(
        "etcd",
        [
            str(binaries.etcd),
            "--name=controlplane",
            f"--data-dir={directory / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=controlplane={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        directory / "logs" / "etcd.log",
        ports=(ports.etcd_client, ports.etcd_peer),
    )


def etcd_healthy(ports: Ports) -> bool:
    url = f"http://127.0.0.1:{ports.etcd_client}/health"
    with urllib.request.urlopen(url, timeout=2) as response:  # loopback http
        return bool(json.loads(response.read()).get("health") == "true")


def kube_apiserver(
    binaries: Binaries, directory: Path, pki: ControlPlanePki, ports: Ports
) -> Process:
    return Process(
        "kube-apiserver",
        [
            str(binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports.kube_apiserver}",
            f"--tls-cert-file={pki.apiserver.cert}",
            f"--tls-private-key-file={pki.apiserver.key}",
            f"--client-ca-file={pki.client_ca}",
            "--authorization-mode=RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--endpoint-reconciler-type=none",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.service_account_public_key}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            # The front proxy: what the aggregator presents to gitplane, and what gitplane
            # reads back from kube-system/extension-apiserver-authentication.
            f"--requestheader-client-ca-file={pki.front_proxy_ca}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.front_proxy_client.cert}",
            f"--proxy-client-key-file={pki.front_proxy_client.key}",
            "--enable-aggregator-routing=false",
            "--profiling=false",
            "--v=1",
        ],
        directory / "logs" / "kube-apiserver.log",
        ports=(ports.kube_apiserver,),
    )


def kube_controller_manager(
    binaries: Binaries, directory: Path, pki: ControlPlanePki, ports: Ports, kubeconfig: Path
) -> Process:
    return Process(
        "kube-controller-manager",
        [
            str(binaries.kube_controller_manager),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.kube_controller_manager}",
            f"--cert-dir={directory / 'kube-controller-manager'}",
            # Each controller as its own service account, as kubeadm and kind run it: the
            # namespace controller is then system:serviceaccount:kube-system:namespace-controller.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.serving_ca}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ],
        directory / "logs" / "kube-controller-manager.log",
        ports=(ports.kube_controller_manager,),
    )


def _get(url: str, context: ssl.SSLContext) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=3, context=context) as response:
        return response.status, response.read().decode()


def admin_tls(pki: ControlPlanePki) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.serving_ca))
    context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    return context


def kube_apiserver_ready(pki: ControlPlanePki, ports: Ports) -> bool:
    code, body = _get(f"https://127.0.0.1:{ports.kube_apiserver}/readyz", admin_tls(pki))
    return code == 200 and body.strip() == "ok"


def kube_controller_manager_healthy(ports: Ports) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # its own self-signed serving certificate
    code, body = _get(f"https://127.0.0.1:{ports.kube_controller_manager}/healthz", context)
    return code == 200 and body.strip() == "ok"
