"""Webhook benchmark: every figure is compared with a baseline measured in the same run.

Targets (issue 4, "Speed"), with 10,000 declared objects in a Git repository:
  throughput at least 70% of a baseline aiohttp TLS server that parses the same JSON and
    answers allowed (HTTPS keep-alive on loopback);
  p99 latency under 5 ms at a paced 1,000 reviews/s;
  decision time independent of the number of declared objects (100 vs 10,000);
  server RSS under 150 MB.

The webhook is served as `python -m webhook --repo` serves it: a GitStore over a bare
repository holding the Deployments as YAML, GitDesiredState, and the store's poller.

Fairness: every server runs in its own process with the same TLS context class and
answers through aiohttp with access logging off; they differ only in the handler. Two
baselines: `baseline` parses with json.loads (aiohttp's request.json(), what a webhook
written in aiohttp does); `baseline-msgspec` parses the whole body with msgspec, the
parser the webhook uses, so that ratio shows the webhook's own cost with the parser's
speed taken out. The load generator is a third process speaking
raw HTTP/1.1 over stdlib asyncio TLS (cheaper per request than either server, so the
servers are the bottleneck of the closed loop); every round reports server and client
CPU per review, the CPU other processes took meanwhile and the hypervisor's steal, since
on a shared 2-core machine those decide the tail. Rounds are interleaved, baseline and
webhook, so drift in machine load hits both.

The paced run is open loop: review i is due at t0 + i/rate whatever happened before,
and its latency runs from when it was due, so neither a stalled server nor a late
client hides queueing (no coordinated omission). Latency from when the client actually
wrote the request, and how late the client's own schedule ran, are shown beside it.

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

import msgspec  # noqa: E402
import pygit2  # noqa: E402
import yaml  # noqa: E402
from aiohttp import web  # noqa: E402

from kube.admission import decode_review  # noqa: E402
from pki.authority import create_authority  # noqa: E402
from pki.issue import issue_serving_certificate  # noqa: E402
from pki.tls import ReloadingServerTLS  # noqa: E402
from store.repo import GitStore  # noqa: E402
from webhook.config import WebhookConfig  # noqa: E402
from webhook.decide import decide  # noqa: E402
from webhook.git_desired import GitDesiredState, make_git_app  # noqa: E402

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


def make_repo(path: Path, objects: int) -> None:
    """A bare repository whose one commit declares `objects` Deployments, one file
    each, a directory per namespace: the layout gitplane reads."""
    repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
    trees: dict[str, Any] = {}
    for ns, name in identities(objects):
        text = yaml.dump(git_deployment(ns, name), Dumper=yaml.CSafeDumper, sort_keys=False)
        tree = trees.setdefault(ns, repo.TreeBuilder())
        tree.insert(f"{name}.yaml", repo.create_blob(text.encode()), pygit2.GIT_FILEMODE_BLOB)
    root = repo.TreeBuilder()
    for ns, tree in trees.items():
        root.insert(ns, tree.write(), pygit2.GIT_FILEMODE_TREE)
    author = pygit2.Signature("bench", "bench@example.com")
    repo.create_commit("refs/heads/main", author, author, "declare", root.write(), [])


def desired_state(repo: Path) -> GitDesiredState:
    return GitDesiredState(GitStore(str(repo), branch="main"))


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


def baseline_app(loads: Any) -> web.Application:
    async def allow(request: web.Request) -> web.Response:
        review = loads(await request.read())
        body = {
            "apiVersion": review["apiVersion"],
            "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": True},
        }
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/validate", allow)
    return app


SERVERS = ("baseline", "baseline-msgspec", "webhook")


def serve(kind: str, repo: str, cert: str, key: str, log_file: str) -> None:
    """Child process: build the app, print its port, serve until terminated."""
    logging.basicConfig(filename=log_file, level=logging.INFO)
    if kind == "webhook":
        app = make_git_app(GitStore(repo, branch="main"), WebhookConfig())
    else:
        app = baseline_app(json.loads if kind == "baseline" else msgspec.json.decode)
    # The same TLS setup for both: only the handler differs.
    context = ReloadingServerTLS(cert, key).context

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
    def __init__(self, kind: str, repo: Path, cert: str, key: str, log_file: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                kind,
                "--repo",
                str(repo),
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
        self.port = int(line.split()[1])

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
#
# The load generator is a separate process (so it never shares a GIL or an event loop
# with a server) speaking raw HTTP/1.1 over stdlib asyncio TLS streams: an aiohttp client
# costs more CPU per request than the servers it measures, which on a 2-core machine
# caps the baseline and flatters the ratio. Its own CPU use is reported beside every run.


def request_bytes(bodies: list[bytes]) -> list[bytes]:
    head = "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


class Connection:
    """One keep-alive HTTPS connection sending a request and reading its answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> bytes:
        """The response body; anything but a 200 with a length-delimited body fails."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if head[9:12] != b"200":
            raise RuntimeError(f"unexpected response: {head[:60]!r}")
        at = head.lower().find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError("response without Content-Length")
        length = int(head[at + 17 : head.index(b"\r\n", at + 2)])
        return await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _connections(
    port: int, count: int, context: ssl.SSLContext, requests: list[bytes]
) -> list[Connection]:
    """Open `count` connections and warm each one (TLS handshakes stay out of the run)."""
    conns = await asyncio.gather(*(Connection.open(port, context) for _ in range(count)))

    async def warm(conn: Connection, first: int) -> None:
        for i in range(first, first + 20):
            await conn.exchange(requests[i % len(requests)])

    await asyncio.gather(*(warm(c, 20 * i) for i, c in enumerate(conns)))
    return list(conns)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


async def closed_loop(
    port: int, requests: list[bytes], count: int, concurrency: int, context: ssl.SSLContext
) -> dict[str, Any]:
    """`concurrency` connections kept busy: reviews per second, and the client's CPU."""
    conns = await _connections(port, concurrency, context, requests)
    remaining = count

    async def worker(conn: Connection) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await conn.exchange(requests[remaining % len(requests)])

    print("START", flush=True)
    cpu, started = _cpu(), time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    client_cpu = _cpu() - cpu
    print("END", flush=True)
    for conn in conns:
        conn.close()
    return {"elapsed": elapsed, "rate": count / elapsed, "client_cpu": client_cpu}


async def paced(
    port: int, requests: list[bytes], rate: int, seconds: float, context: ssl.SSLContext
) -> dict[str, Any]:
    """Open loop: review i is due at t0 + i/rate whatever happened to earlier ones, and
    its latency runs from when it was due (not from when the client got round to
    sending it), so a stalled server or a late client cannot hide queueing delay."""
    conns = await _connections(port, 32, context, requests)
    loop = asyncio.get_running_loop()
    jobs: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    latencies: list[float] = []  # from when each review was due
    service: list[float] = []  # from when it was written to its connection
    lags: list[float] = []  # how late the client's own schedule ran (not server queueing)
    denied = 0

    async def worker(conn: Connection) -> None:
        nonlocal denied
        while True:
            i, due = await jobs.get()
            sent = loop.time()
            body = await conn.exchange(requests[i % len(requests)])
            done = loop.time()
            latencies.append(done - due)
            service.append(done - sent)
            denied += b'"allowed": false' in body
            jobs.task_done()

    workers = [asyncio.create_task(worker(c)) for c in conns]
    count = int(rate * seconds)
    print("START", flush=True)
    cpu = _cpu()
    t0 = loop.time() + 0.01
    for i in range(count):
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(loop.time() - due)
        jobs.put_nowait((i, due))
    await jobs.join()
    elapsed = loop.time() - t0
    client_cpu = _cpu() - cpu
    print("END", flush=True)
    for task in workers:
        task.cancel()
    for conn in conns:
        conn.close()
    return {
        "latencies": latencies,
        "service": service,
        "lags": lags,
        "denied": denied,
        "elapsed": elapsed,
        "client_cpu": client_cpu,
    }


def load(args: argparse.Namespace) -> None:
    """Child process: run one load against a server, print the result as JSON."""
    context = ssl.create_default_context(cafile=args.ca)
    bodies = Path(args.bodies).read_bytes().splitlines()
    requests = request_bytes(bodies)
    if args.load == "closed":
        result = asyncio.run(
            closed_loop(args.port, requests, args.requests, args.concurrency, context)
        )
    else:
        result = asyncio.run(paced(args.port, requests, args.rate, args.seconds, context))
    print(json.dumps(result), flush=True)


def run_load(server: Server, mode: str, args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    """Run the load generator against `server`, reading the server's CPU and the
    machine's counters exactly when the client starts and ends its measured span."""
    command = [sys.executable, __file__, "--load", mode, "--port", str(server.port)]
    command += ["--ca", f"{tmp}/ca.crt", "--bodies", f"{tmp}/bodies.jsonl"]
    command += ["--requests", str(args.requests), "--concurrency", str(args.concurrency)]
    command += ["--rate", str(args.rate), "--seconds", str(args.seconds)]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert client.stdout is not None
    marks: dict[str, tuple[float, tuple[int, int]]] = {}
    result: dict[str, Any] = {}
    for line in client.stdout:
        if line.strip() in ("START", "END"):
            marks[line.strip()] = (server.cpu_seconds(), machine_ticks())
        else:
            result = json.loads(line)
    if client.wait() != 0 or not result:
        raise RuntimeError(f"load generator failed against the {server.kind}")
    (cpu0, (busy0, steal0)), (cpu1, (busy1, steal1)) = marks["START"], marks["END"]
    tick = os.sysconf("SC_CLK_TCK")
    result["server_cpu"] = cpu1 - cpu0
    result["steal"] = (steal1 - steal0) / tick
    # CPU the rest of the machine used meanwhile: on a shared 2-core box, another
    # process's work shows up as this run's tail latency.
    result["others_cpu"] = max(
        0.0, (busy1 - busy0) / tick - result["server_cpu"] - result["client_cpu"]
    )
    return result


def machine_ticks() -> tuple[int, int]:
    """Busy ticks of all CPUs, and ticks the hypervisor gave to other guests."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    return user + nice + system + irq + softirq, steal


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def decision_time(repo: Path, review: dict[str, Any], calls: int = 20_000) -> float:
    """Best-of-5 mean seconds per decide() call on one review against `repo`:
    everything stays in the CPU's caches, so this is the decision's own cost."""
    state, config = desired_state(repo), WebhookConfig()
    request = decode_review(json.dumps(review).encode())
    now = datetime.now(UTC)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            decide(request, state, config, mutating=False, now=now)
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def decision_time_spread(repo: Path, objects: int, reviews: int = 4_000) -> float:
    """Best-of-5 mean seconds per decide() over distinct reviews of objects picked at
    random among the `objects` declared in `repo`: what a server sees, where the
    declared object is seldom in cache. Lookups that grew with the store would show."""
    state, config = desired_state(repo), WebhookConfig()
    rng = random.Random(7)
    ids = identities(objects)
    requests = [
        decode_review(
            json.dumps(update_review(*rng.choice(ids), drift=rng.random() < DRIFT_SHARE)).encode()
        )
        for _ in range(reviews)
    ]
    now = datetime.now(UTC)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for request in requests:
            decide(request, state, config, mutating=False, now=now)
        best = min(best, (time.perf_counter() - started) / reviews)
    return best


def _ms(values: list[float], share: float) -> float:
    return percentile(values, share) * 1000


def measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ca = create_authority("bench CA")
        cert, key = f"{tmp}/tls.crt", f"{tmp}/tls.key"
        issue_serving_certificate(ca, ["127.0.0.1"]).save(cert, key)
        Path(f"{tmp}/ca.crt").write_bytes(ca.cert_pem)
        bodies = review_bodies(args.objects, 2_000)
        Path(f"{tmp}/bodies.jsonl").write_bytes(b"\n".join(bodies))
        repo, small_repo = Path(tmp, "repo.git"), Path(tmp, "small.git")
        make_repo(repo, args.objects)
        make_repo(small_repo, 100)
        print(
            f"{args.objects} Deployments declared in Git; review body"
            f" {len(bodies[0]) / 1024:.1f} KiB; {int(DRIFT_SHARE * 100)}% of reviews drift;"
            f" {os.cpu_count()} CPUs"
        )

        servers = {kind: Server(kind, repo, cert, key, f"{tmp}/{kind}.log") for kind in SERVERS}
        try:
            best, p99 = load_rounds(servers, args, tmp)
            rss, peak = servers["webhook"].memory_mb()
            baseline_rss, _ = servers["baseline"].memory_mb()
        finally:
            for server in servers.values():
                server.stop()

        # An object declared in both repositories: team-000/app-007.
        sample = update_review(*identities(100)[7], drift=False)
        small = decision_time(small_repo, sample)
        large = decision_time(repo, sample)
        spread_small = decision_time_spread(small_repo, 100)
        spread_large = decision_time_spread(repo, args.objects)

    web99 = max(p99["webhook"])
    for base in ("baseline", "baseline-msgspec"):
        print(
            f"throughput (best round): webhook {best['webhook']:.0f}/s, {base}"
            f" {best[base]:.0f}/s, ratio {best['webhook'] / best[base]:.2f}"
        )
    for base in ("baseline", "baseline-msgspec"):
        print(
            f"p99 at {args.rate}/s (worst round): webhook {web99:.2f} ms, {base}"
            f" {max(p99[base]):.2f} ms"
        )
    print(
        f"decision, one review repeated: {small * 1e6:.1f} us with 100 objects,"
        f" {large * 1e6:.1f} us with {args.objects}, ratio {large / small:.2f}"
    )
    print(
        f"decision, distinct reviews of random objects ({int(DRIFT_SHARE * 100)}% drift):"
        f" {spread_small * 1e6:.1f} us with 100 objects, {spread_large * 1e6:.1f} us with"
        f" {args.objects}, ratio {spread_large / spread_small:.2f}"
    )
    print(f"RSS: webhook {rss:.0f} MB (peak {peak:.0f} MB), baseline {baseline_rss:.0f} MB")


def load_rounds(
    servers: dict[str, Server], args: argparse.Namespace, tmp: str
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Interleaved closed-loop and paced rounds: best rate and each round's p99 (ms)."""
    print(
        f"closed loop, {args.concurrency} keep-alive connections,"
        f" {args.requests} reviews per round (interleaved rounds):"
    )
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for kind in SERVERS:
            r = run_load(servers[kind], "closed", args, tmp)
            best[kind] = max(best.get(kind, 0.0), r["rate"])
            print(
                f"  {kind:16s} {r['rate']:6.0f}/s;"
                f" server CPU {r['server_cpu'] / args.requests * 1e6:4.0f} us/review"
                f" ({r['server_cpu'] / r['elapsed']:.0%} of a core),"
                f" client CPU {r['client_cpu'] / args.requests * 1e6:4.0f} us/review"
                f" ({r['client_cpu'] / r['elapsed']:.0%});"
                f" other processes {r['others_cpu'] / r['elapsed']:.0%},"
                f" steal {r['steal'] / r['elapsed']:.0%}"
            )
    print(
        f"paced {args.rate}/s for {args.seconds:g} s, open loop, latency from when each"
        " review was due (interleaved rounds):"
    )
    p99: dict[str, list[float]] = {kind: [] for kind in SERVERS}
    for _ in range(args.rounds):
        for kind in SERVERS:
            r = run_load(servers[kind], "paced", args, tmp)
            lat, lag, service = r["latencies"], r["lags"], r["service"]
            p99[kind].append(_ms(lat, 0.99))
            print(
                f"  {kind:16s} p50 {_ms(lat, 0.5):5.2f} ms, p99 {_ms(lat, 0.99):6.2f} ms,"
                f" max {max(lat) * 1000:6.2f} ms (from send: p50 {_ms(service, 0.5):5.2f},"
                f" p99 {_ms(service, 0.99):6.2f}); client late p99 {_ms(lag, 0.99):5.2f} ms;"
                f" denied {r['denied'] / len(lat):.0%};"
                f" CPU server {r['server_cpu'] / r['elapsed']:.0%},"
                f" client {r['client_cpu'] / r['elapsed']:.0%},"
                f" other processes {r['others_cpu'] / r['elapsed']:.0%},"
                f" steal {r['steal'] / r['elapsed']:.0%}"
            )
    return best, p99


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=20_000, help="reviews per throughput round")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=int, default=1_000, help="reviews per second in the paced run")
    p.add_argument("--seconds", type=float, default=5.0, help="length of the paced run")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds of each load")
    p.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    p.add_argument("--repo", help=argparse.SUPPRESS)
    p.add_argument("--load", choices=("closed", "paced"), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--ca", help=argparse.SUPPRESS)
    p.add_argument("--bodies", help=argparse.SUPPRESS)
    p.add_argument("--cert", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    p.add_argument("--log-file", default=os.devnull, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, args.repo, args.cert, args.key, args.log_file)
    elif args.load:
        load(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
