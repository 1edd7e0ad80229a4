"""`gitplane certs`: certificates kube-apiserver accepts for both Services, the caBundle in
every object that needs it, private keys kept private, and rotation without restarts."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tests.install.render import (
    MANIFESTS,
    NAMESPACE,
    ROOT,
    Install,
    Obj,
    Rendered,
    gitplane_certs,
    kustomize,
)

SERVICES = ("gitplane-apiserver", "gitplane-webhook")


def names_kube_apiserver_may_dial(service: str, namespace: str = NAMESPACE) -> list[str]:
    # It always sends ServerName <svc>.<ns>.svc; the others are what clients in the
    # cluster (and `kubectl port-forward` users with --tls-server-name) may use.
    return [
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
        f"{service}.{namespace}",
        service,
    ]


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_bundle(data: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(data)


def verify_for(leaf: x509.Certificate, trusted: list[x509.Certificate], name: str) -> None:
    verifier = PolicyBuilder().store(Store(trusted)).build_server_verifier(x509.DNSName(name))
    verifier.verify(leaf, [])


def ca_bundles(rendered: Rendered) -> dict[str, bytes]:
    """Every caBundle kube-apiserver would use, decoded (Go's base64 skips the newlines
    kustomize puts in long values, and so does Python's)."""
    found = {
        "APIService": rendered.one("APIService", "v1alpha1.gitplane.io")["spec"]["caBundle"],
    }
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for webhook in rendered.one(kind, "gitplane")["webhooks"]:
            found[f"{kind}/{webhook['name']}"] = webhook["clientConfig"]["caBundle"]
    return {where: base64.b64decode("".join(value.split())) for where, value in found.items()}


def test_files_and_permissions(install: Install) -> None:
    out = install.out
    assert (out.stat().st_mode & 0o777) == 0o700
    for key in [out / "ca.key", *(out / s / "tls.key" for s in SERVICES)]:
        assert (key.stat().st_mode & 0o777) == 0o600, key
    for folder in SERVICES:
        assert ((out / folder).stat().st_mode & 0o777) == 0o700
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "ca-bundle.crt",
        "ca.crt",
        "ca.key",
        "gitplane-apiserver/tls.crt",
        "gitplane-apiserver/tls.key",
        "gitplane-webhook/tls.crt",
        "gitplane-webhook/tls.key",
        "kustomization.yaml",
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_serving_certificate_verifies_for_every_service_name(
    install: Install, service: str
) -> None:
    ca = load_cert(install.out / "ca.crt")
    leaf = load_cert(install.out / service / "tls.crt")
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(
        names_kube_apiserver_may_dial(service)
    )
    assert sans.get_values_for_type(x509.IPAddress) == []
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    for name in names_kube_apiserver_may_dial(service):
        verify_for(leaf, [ca], name)
    with pytest.raises(VerificationError):
        verify_for(leaf, [ca], f"{service}.another-namespace.svc")
    other = "gitplane-webhook" if service == "gitplane-apiserver" else "gitplane-apiserver"
    with pytest.raises(VerificationError):
        verify_for(leaf, [ca], f"{other}.{NAMESPACE}.svc")


def test_every_ca_bundle_is_the_ca(install: Install) -> None:
    bundles = ca_bundles(install.rendered)
    assert sorted(bundles) == [
        "APIService",
        "MutatingWebhookConfiguration/mutate.gitplane.io",
        "ValidatingWebhookConfiguration/validate.gitplane.io",
    ]
    ca = (install.out / "ca.crt").read_bytes()
    for where, bundle in bundles.items():
        assert bundle == ca, where


@pytest.mark.parametrize("service", SERVICES)
def test_tls_secrets(install: Install, service: str) -> None:
    secret = install.rendered.one("Secret", f"{service}-tls")  # no hash suffix: updated in place
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert secret["type"] == "kubernetes.io/tls"

    def data(key: str) -> bytes:
        return base64.b64decode("".join(secret["data"][key].split()))

    assert data("tls.crt") == (install.out / service / "tls.crt").read_bytes()
    assert data("tls.key") == (install.out / service / "tls.key").read_bytes()
    assert data("ca.crt") == (install.out / "ca-bundle.crt").read_bytes()
    # The Deployment mounts exactly this Secret.
    pod = install.rendered.one("Deployment", service)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == f"{service}-tls"


def test_kustomization_refers_to_manifests_relatively(install: Install) -> None:
    kustomization = yaml.safe_load((install.out / "kustomization.yaml").read_text())
    (resource,) = kustomization["resources"]
    assert not resource.startswith("/")  # kustomize refuses absolute paths
    assert (install.out / resource).resolve() == MANIFESTS
    assert "components" not in kustomization


def test_rerun_rotates_serving_certificates_and_keeps_the_ca(
    fresh_certs: Callable[..., Path],
) -> None:
    out = fresh_certs()
    ca_before = (out / "ca.crt").read_bytes()
    leaves_before = {s: load_cert(out / s / "tls.crt") for s in SERVICES}
    keys_before = {s: (out / s / "tls.key").read_bytes() for s in SERVICES}
    fresh_certs()
    assert (out / "ca.crt").read_bytes() == ca_before
    assert not (out / "ca-previous.crt").exists()
    ca = load_cert(out / "ca.crt")
    for service in SERVICES:
        leaf = load_cert(out / service / "tls.crt")
        assert leaf.serial_number != leaves_before[service].serial_number
        assert (out / service / "tls.key").read_bytes() != keys_before[service]
        verify_for(leaf, [ca], f"{service}.{NAMESPACE}.svc")
    # Same CA, so the caBundle in the cluster does not change on a rotation.
    assert set(ca_bundles(Rendered(kustomize(out))).values()) == {ca_before}


def test_new_ca_keeps_the_old_one_trusted_during_the_rollover(
    fresh_certs: Callable[..., Path],
) -> None:
    out = fresh_certs()
    old_ca = load_cert(out / "ca.crt")
    old_leaf = load_cert(out / "gitplane-webhook" / "tls.crt")
    fresh_certs("--new-ca")
    new_ca = load_cert(out / "ca.crt")
    assert new_ca != old_ca
    assert load_cert(out / "ca-previous.crt") == old_ca
    trusted = load_bundle((out / "ca-bundle.crt").read_bytes())
    assert trusted == [new_ca, old_ca]
    name = f"gitplane-webhook.{NAMESPACE}.svc"
    verify_for(load_cert(out / "gitplane-webhook" / "tls.crt"), [new_ca], name)
    # A pod kubelet has not updated yet still serves the old certificate: still trusted.
    for bundle in ca_bundles(Rendered(kustomize(out))).values():
        verify_for(old_leaf, load_bundle(bundle), name)
    # Once every pod serves the new certificates, dropping ca-previous.crt ends the overlap.
    (out / "ca-previous.crt").unlink()
    fresh_certs()
    assert load_bundle((out / "ca-bundle.crt").read_bytes()) == [new_ca]


def test_other_namespace_and_cluster_domain(fresh_certs: Callable[..., Path]) -> None:
    out = fresh_certs("--namespace", "platform", "--cluster-domain", "corp.internal")
    leaf = load_cert(out / "gitplane-apiserver" / "tls.crt")
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "gitplane-apiserver.platform.svc" in sans.get_values_for_type(x509.DNSName)
    assert "gitplane-apiserver.platform.svc.corp.internal" in sans.get_values_for_type(x509.DNSName)
    assert "namespace: platform" in (out / "kustomization.yaml").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--namespace", "Gitplane_System"), "--namespace"),
        (("--cluster-domain=-bad-",), "--cluster-domain"),
        (("--days", "0"), "--days"),
        (("--manifests", "/nonexistent/manifests"), "no kustomization"),
        (("--component", "/nonexistent/component"), "no kustomization"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "out"
    base = ("--out", str(out), "--manifests", str(MANIFESTS))
    assert gitplane_certs(*base, *argv) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_generated_files_are_never_committed() -> None:
    paths = [
        "certs/out/ca.key",
        "certs/out/ca.crt",
        "certs/out/gitplane-webhook/tls.key",
        "certs/out/kustomization.yaml",
        "elsewhere/tls.key",
    ]
    ignored = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--no-index", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert sorted(ignored.stdout.split()) == sorted(paths)


# --- the webhook serving these files, as kube-apiserver reaches it ---------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_webhook(out: Path, tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    desired = tmp_path / "desired"
    desired.mkdir(exist_ok=True)
    folder = out / "gitplane-webhook"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "webhook",
            "--desired-dir", str(desired),
            "--cert-file", str(folder / "tls.crt"),
            "--key-file", str(folder / "tls.key"),
            "--bind", "127.0.0.1",
            "--port", str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert time.monotonic() < deadline, "the webhook did not listen within 30 s"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(20)


def kube_apiserver_context(configuration: Obj) -> ssl.SSLContext:
    """Trust exactly the webhook configuration's caBundle, nothing from the system store."""
    (webhook,) = configuration["webhooks"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(
        cadata=base64.b64decode("".join(webhook["clientConfig"]["caBundle"].split())).decode()
    )
    return context


def served_certificate(port: int, context: ssl.SSLContext) -> x509.Certificate:
    server_name = f"gitplane-webhook.{NAMESPACE}.svc"  # what kube-apiserver sends
    with (
        socket.create_connection(("127.0.0.1", port), 5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def validate(port: int, context: ssl.SSLContext) -> dict[str, object]:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "name": "settings",
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "shop"},
            },
            "oldObject": None,
            "dryRun": False,
        },
    }
    body = json.dumps(review).encode()
    server_name = f"gitplane-webhook.{NAMESPACE}.svc"
    with (
        socket.create_connection(("127.0.0.1", port), 5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        tls.sendall(
            b"POST /validate?timeout=5s HTTP/1.1\r\nHost: " + server_name.encode() + b"\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        response = b""
        while chunk := tls.recv(65536):
            response += chunk
    head, _, payload = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    answer: dict[str, object] = json.loads(payload)["response"]
    return answer


def test_webhook_serves_the_certificate_kube_apiserver_trusts_and_picks_up_rotation(
    fresh_certs: Callable[..., Path], tmp_path: Path
) -> None:
    out = fresh_certs()
    configuration = Rendered(kustomize(out)).one("ValidatingWebhookConfiguration", "gitplane")
    context = kube_apiserver_context(configuration)
    with running_webhook(out, tmp_path) as port:
        first = served_certificate(port, context)
        assert first == load_cert(out / "gitplane-webhook" / "tls.crt")
        assert validate(port, context)["allowed"] is True  # undeclared object, enforce mode
        fresh_certs()  # rotation: new files, same CA, no restart
        rotated = load_cert(out / "gitplane-webhook" / "tls.crt")
        assert rotated != first
        deadline = time.monotonic() + 20  # the webhook looks at its files every 5 s
        while served_certificate(port, context) != rotated:
            assert time.monotonic() < deadline, "the rotated certificate was not served"
            time.sleep(0.5)
        assert validate(port, context)["allowed"] is True
