"""Webhook benchmark: every figure is compared with a baseline measured in the same run.

Targets (issue 4, "Speed"), with 10,000 declared objects:
  throughput at least 70% of a baseline aiohttp TLS server that parses the same JSON and
    answers allowed (HTTPS keep-alive on loopback);
  p99 latency under 5 ms at a paced 1,000 reviews/s;
  decision time independent of the number of declared objects (100 vs 10,000);
  server RSS under 150 MB.

Each server runs in its own process, so the load generator does not share its CPU.
Because a Python client can be the bottleneck on a small machine, the server's CPU time
per review is reported beside the observed throughput.

Run: python bench/webhook_bench.py [--objects 10000] [--requests 20000] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from kube.admission import parse_review  # noqa: E402
from pki.authority import create_authority  # noqa: E402
from pki.issue import issue_serving_certificate  # noqa: E402
from webhook.config import WebhookConfig  # noqa: E402
from webhook.decide import decide  # noqa: E402
from webhook.desired import InMemoryDesiredState  # noqa: E402
from webhook.server import make_app  # noqa: E402
from webhook.tls import ReloadingTLS  # noqa: E402

PER_NAMESPACE = 100
DRIFT_SHARE = 0.1  # one review in ten is a `kubectl edit` of the image


# ---------------------------------------------------------------- objects and reviews


def git_deployment(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name, "team": ns}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "team": ns}},
                "spec": {
                    "serviceAccountName": name,
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example.com/{ns}/{name}:1.4.2",
                            "args": ["--listen=:8080", "--log-format=json"],
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "REGION", "value": "eu-west-1"},
                            ],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"cpu": 1, "memory": "512Mi"},
                            },
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}}],
                },
            },
        },
    }


def live_deployment(ns: str, name: str, image: str | None = None) -> dict[str, Any]:
    """As kube-apiserver sends it: defaults, server metadata, status."""
    obj = git_deployment(ns, name)
    obj["metadata"].update(
        uid=str(uuid.uuid4()),
        resourceVersion="912345",
        generation=7,
        creationTimestamp="2025-01-14T09:12:44Z",
        annotations={"deployment.kubernetes.io/revision": "7"},
        managedFields=[
            {
                "manager": "argocd-controller",
                "operation": "Apply",
                "apiVersion": "apps/v1",
                "time": "2025-01-14T09:12:44Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
            }
        ],
    )
    spec = obj["spec"]
    spec.update(
        strategy={
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
        },
        revisionHistoryLimit=10,
        progressDeadlineSeconds=600,
    )
    pod = spec["template"]["spec"]
    spec["template"]["metadata"]["creationTimestamp"] = None
    pod.update(
        restartPolicy="Always",
        terminationGracePeriodSeconds=30,
        dnsPolicy="ClusterFirst",
        serviceAccount=pod["serviceAccountName"],
        securityContext={},
        schedulerName="default-scheduler",
    )
    pod["volumes"][0]["configMap"]["defaultMode"] = 420
    container = pod["containers"][0]
    container["ports"][0]["protocol"] = "TCP"
    container["resources"]["limits"]["cpu"] = "1"
    container["readinessProbe"].update(
        timeoutSeconds=1, periodSeconds=10, successThreshold=1, failureThreshold=3
    )
    container["readinessProbe"]["httpGet"]["scheme"] = "HTTP"
    container.update(
        terminationMessagePath="/dev/termination-log",
        terminationMessagePolicy="File",
        imagePullPolicy="IfNotPresent",
    )
    if image:
        container["image"] = image
    obj["status"] = {
        "observedGeneration": 7,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": "2025-01-14T09:13:01Z",
                "lastTransitionTime": "2025-01-14T09:13:01Z",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": "2025-01-14T09:13:01Z",
                "lastTransitionTime": "2025-01-14T09:12:44Z",
                "reason": "NewReplicaSetAvailable",
                "message": 'ReplicaSet "web-6d9f7c" has successfully progressed.',
            },
        ],
    }
    return obj


def identities(objects: int) -> list[tuple[str, str]]:
    return [
        (f"team-{i // PER_NAMESPACE:03d}", f"app-{i % PER_NAMESPACE:03d}") for i in range(objects)
    ]


def desired_state(objects: int) -> InMemoryDesiredState:
    state = InMemoryDesiredState()
    for ns, name in identities(objects):
        state.put(git_deployment(ns, name), f"apps/{ns}/{name}.yaml", "3f2a9c1")
    return state


def update_review(ns: str, name: str, drift: bool) -> dict[str, Any]:
    old = live_deployment(ns, name)
    new = live_deployment(ns, name, image="registry.example.com/hotfix:1" if drift else None)
    gvk = {"group": "apps", "version": "v1", "kind": "Deployment"}
    gvr = {"group": "apps", "version": "v1", "resource": "deployments"}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": name,
            "namespace": ns,
            "operation": "UPDATE",
            "userInfo": {
                "username": "alice@example.com",
                "groups": ["devs", "system:authenticated"],
                "extra": {"authentication.kubernetes.io/credential-id": ["X509SHA256=ab12"]},
            },
            "object": new,
            "oldObject": old,
            "dryRun": False,
            "options": {
                "kind": "UpdateOptions",
                "apiVersion": "meta.k8s.io/v1",
                "fieldManager": "kubectl-edit",
            },
        },
    }


def review_bodies(objects: int, count: int) -> list[bytes]:
    rng = random.Random(4)
    ids = identities(objects)
    return [
        json.dumps(update_review(*rng.choice(ids), drift=rng.random() < DRIFT_SHARE)).encode()
        for _ in range(count)
    ]


# ---------------------------------------------------------------- the two servers


def baseline_app() -> web.Application:
    async def allow(request: web.Request) -> web.Response:
        review = json.loads(await request.read())
        body = {
            "apiVersion": review["apiVersion"],
            "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": True},
        }
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/validate", allow)
    return app


def serve(kind: str, objects: int, cert: str, key: str, log_file: str) -> None:
    """Child process: build the app, print its port, serve until terminated."""
    logging.basicConfig(filename=log_file, level=logging.INFO)
    if kind == "webhook":
        app = make_app(desired_state(objects), WebhookConfig())
        context = ReloadingTLS(cert, key).context
    else:
        app = baseline_app()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        print(f"PORT {port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Server:
    def __init__(self, kind: str, objects: int, cert: str, key: str, log_file: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                kind,
                "--objects",
                str(objects),
                "--cert",
                cert,
                "--key",
                key,
                "--log-file",
                log_file,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"{kind} server did not start")
        self.url = f"https://127.0.0.1:{int(line.split()[1])}/validate"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self) -> tuple[float, float]:
        status = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
        )
        return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# ---------------------------------------------------------------- load


async def closed_loop(
    server: Server, bodies: list[bytes], requests: int, concurrency: int, context: ssl.SSLContext
) -> tuple[float, float]:
    """Reviews per second with `concurrency` keep-alive connections kept busy, and the
    server's CPU seconds per review over the same span."""
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=context)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector) as session:
        remaining = 0

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                body = bodies[remaining % len(bodies)]
                async with session.post(server.url, data=body, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200

        remaining = concurrency * 10  # open and warm every connection
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        remaining = requests
        cpu, started = server.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        return requests / elapsed, (server.cpu_seconds() - cpu) / requests


async def paced(
    url: str, bodies: list[bytes], rate: int, seconds: float, context: ssl.SSLContext
) -> list[float]:
    """Latencies (seconds) of reviews sent on a fixed schedule of `rate` per second."""
    connector = aiohttp.TCPConnector(limit=64, ssl=context)
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int, start_at: float) -> None:
            await asyncio.sleep(max(0.0, start_at - loop.time()))
            sent = time.perf_counter()
            async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as resp:
                await resp.read()
            latencies.append(time.perf_counter() - sent)

        loop = asyncio.get_running_loop()
        await asyncio.gather(*(one(i, 0) for i in range(16)))  # open a few connections
        latencies.clear()
        t0 = loop.time() + 0.05
        count = int(rate * seconds)
        await asyncio.gather(*(one(i, t0 + i / rate) for i in range(count)))
    return latencies


def steal_ticks() -> int:
    """Ticks the hypervisor gave to other guests: tail latency on a shared VM is theirs."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) if len(fields) > 8 else 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def decision_time(objects: int, review: dict[str, Any], calls: int = 20_000) -> float:
    """Best-of-5 mean seconds per decide() call with `objects` declared."""
    state, config = desired_state(objects), WebhookConfig()
    request = parse_review(review)
    now = datetime.now(UTC)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            decide(request, state, config, mutating=False, now=now)
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ca = create_authority("bench CA")
        cert, key = f"{tmp}/tls.crt", f"{tmp}/tls.key"
        issue_serving_certificate(ca, ["127.0.0.1"]).save(cert, key)
        context = ssl.create_default_context(cadata=ca.cert_pem.decode())
        bodies = review_bodies(args.objects, 2_000)
        print(
            f"{args.objects} declared Deployments; review body {len(bodies[0]) / 1024:.1f} KiB; "
            f"{int(DRIFT_SHARE * 100)}% of reviews drift"
        )

        servers = {
            kind: Server(kind, args.objects, cert, key, f"{tmp}/{kind}.log")
            for kind in ("baseline", "webhook")
        }
        try:
            throughput: dict[str, float] = {}
            cpu_per_review: dict[str, float] = {}
            for kind in ("baseline", "webhook", "baseline", "webhook"):  # interleaved, best of two
                rate, cpu = asyncio.run(
                    closed_loop(servers[kind], bodies, args.requests, args.concurrency, context)
                )
                throughput[kind] = max(throughput.get(kind, 0.0), rate)
                cpu_per_review[kind] = min(cpu_per_review.get(kind, float("inf")), cpu)
            latencies: dict[str, list[float]] = {}
            stolen: dict[str, float] = {}
            for kind in ("baseline", "webhook"):
                before = steal_ticks()
                latencies[kind] = asyncio.run(
                    paced(servers[kind].url, bodies, args.rate, args.seconds, context)
                )
                stolen[kind] = (steal_ticks() - before) / os.sysconf("SC_CLK_TCK") / args.seconds
            rss, peak = servers["webhook"].memory_mb()
            baseline_rss, _ = servers["baseline"].memory_mb()
        finally:
            for server in servers.values():
                server.stop()

    # An object declared in both states: team-000/app-007.
    sample = update_review(*identities(100)[7], drift=False)
    small = decision_time(100, sample)
    large = decision_time(args.objects, sample)

    web, base = throughput["webhook"], throughput["baseline"]
    print(f"throughput: webhook {web:.0f}/s, baseline {base:.0f}/s, ratio {web / base:.2f}")
    web, base = cpu_per_review["webhook"] * 1e6, cpu_per_review["baseline"] * 1e6
    print(
        f"server CPU per review: webhook {web:.0f} us, baseline {base:.0f} us,"
        f" ratio {base / web:.2f}"
    )
    for kind in ("baseline", "webhook"):
        lat = [x * 1000 for x in latencies[kind]]
        print(
            f"paced {args.rate}/s for {args.seconds:g} s, {kind}:"
            f" p50 {percentile(lat, 0.5):.2f} ms, p99 {percentile(lat, 0.99):.2f} ms,"
            f" max {max(lat):.2f} ms (CPU stolen by the hypervisor: {stolen[kind]:.0%})"
        )
    print(
        f"decision: {small * 1e6:.1f} us with 100 objects, {large * 1e6:.1f} us with "
        f"{args.objects}, ratio {large / small:.2f}"
    )
    print(f"RSS: webhook {rss:.0f} MB (peak {peak:.0f} MB), baseline {baseline_rss:.0f} MB")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=20_000, help="reviews per throughput round")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=int, default=1_000, help="reviews per second in the paced run")
    p.add_argument("--seconds", type=float, default=5.0, help="length of the paced run")
    p.add_argument("--serve", choices=("webhook", "baseline"), help=argparse.SUPPRESS)
    p.add_argument("--cert", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    p.add_argument("--log-file", default=os.devnull, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, args.objects, args.cert, args.key, args.log_file)
    else:
        measure(args)


if __name__ == "__main__":
    main()
