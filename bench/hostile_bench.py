"""Hostile documents benchmark (issue 17): the webhook's p99 at a paced 1,000 reviews/s
while the API server of the same `gitplane up` process is sent hostile documents, as a
ratio against rounds without them, measured in the same run (rounds alternate).

gitplane up runs the API server and the webhook on one event loop, so a document whose
parse stalled the loop (the 1 KB alias bomb cost 48 s) stalled admission too. The
hostile client is its own process, posting --hostile-rate documents a second (20; one
after another, never more than one at a time): an alias bomb, JSON 190 levels deep, a 5,000-digit integer, NaN, a duplicate
key - each refused with a 400 (the bomb in ~2 ms). The webhook of gitplane up is its own
process (gitplane_cli.webhook_process), so nothing the API server parses holds its loop.
A second mix adds legal but heavy bodies: 2.8 MiB of YAML (a second of CPU to decode,
then a 413: too large as JSON for a cluster), and an anchor used 3,900 times (1.5 MB as
JSON, just within etcd's limit). Those cost CPU by nature; on 2 cores that CPU is taken
from the webhook and the load generator, which that ratio shows.

Run: python bench/hostile_bench.py [--objects 2000] [--rate 1000] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import webhook_bench  # noqa: E402

from tests.store.test_loader import laughs  # noqa: E402

MANIFESTS = "/apis/gitplane.io/v1alpha1/namespaces/shop/manifests"


def hostile_bodies(heavy: bool) -> list[tuple[str, bytes]]:
    manifest = (
        "apiVersion: gitplane.io/v1alpha1\nkind: Manifest\nmetadata: {{name: widget.w, namespace: shop}}\n"
        "spec:\n  object:\n    apiVersion: example.com/v1\n    kind: Widget\n"
        "    metadata: {{name: w, namespace: shop}}\n    spec:\n{body}"
    )
    bomb = "".join(f"      {line}\n" for line in laughs(9).split("data:\n", 1)[1].splitlines())
    aliases = (
        "      a: &a [" + ",".join(["x"] * 100) + "]\n      b: [" + ",".join(["*a"] * 3900) + "]\n"
    )
    deep = (
        '{"apiVersion":"gitplane.io/v1alpha1","kind":"Manifest","metadata":{"name":"widget.w","namespace":"shop"},"spec":{"object":'
        + "[" * 190
        + "]" * 190
        + "}}"
    )
    bodies = [
        ("application/yaml", manifest.format(body=bomb).encode()),
        ("application/json", deep.encode()),
        (
            "application/json",
            b'{"apiVersion": "gitplane.io/v1alpha1", "kind": "Manifest", "x": '
            + b"9" * 5000
            + b"}",
        ),
        (
            "application/json",
            b'{"apiVersion": "gitplane.io/v1alpha1", "kind": "Manifest", "x": NaN}',
        ),
        (
            "application/json",
            b'{"apiVersion": "gitplane.io/v1alpha1", "kind": "Manifest", "kind": "Manifest"}',
        ),
    ]
    if heavy:  # legal, but costly by nature: CPU the API spends, not a stall
        big = "".join(f"      key{i}: value-{i}-{'x' * 20}\n" for i in range(60_000))
        bodies.append(("application/yaml", manifest.format(body=big).encode()))
        bodies.append(("application/yaml", manifest.format(body=aliases).encode()))
    return bodies


def attack(args: argparse.Namespace) -> None:
    """Child process: post hostile bodies in a loop until killed; print how many."""
    context = ssl.create_default_context(cafile=args.ca)
    context.load_cert_chain(args.cert, args.key)
    bodies = hostile_bodies(args.heavy)
    import http.client  # noqa: PLC0415

    sent = 0
    statuses: dict[int, int] = {}

    def stop(*_: Any) -> None:
        print(json.dumps({"sent": sent, "statuses": statuses}), flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    connection = http.client.HTTPSConnection("127.0.0.1", args.port, context=context, timeout=60)
    interval = 1.0 / args.hostile_rate
    next_at = time.monotonic()
    while True:
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
        content_type, body = bodies[sent % len(bodies)]
        connection.request("POST", MANIFESTS, body=body, headers={"Content-Type": content_type})
        answer = connection.getresponse()
        answer.read()
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        sent += 1


class UpServer:
    """`gitplane up` as a user runs it, for webhook_bench.run_load (port, cpu, kind)."""

    kind = "gitplane up"

    def __init__(self, repo: Path, directory: Path) -> None:
        env = {**os.environ, "HOME": str(directory)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gitplane_cli.main", "up", "--dir", str(directory), "--repo", str(repo),
             "--api-port", "0", "--webhook-port", "0", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT,
        )  # fmt: skip
        endpoints = directory / "endpoints.json"
        deadline = time.monotonic() + 120
        while not endpoints.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gitplane up did not start")
            time.sleep(0.2)
        found = json.loads(endpoints.read_text())
        self.port, self.api_port, self.ca = found["webhook"], found["api"], found["ca"]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(30)


def measure(args: argparse.Namespace) -> None:
    from pki.authority import CertificateAuthority  # noqa: PLC0415
    from pki.issue import issue_client_certificate  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="gitplane-hostile-") as tmp:
        repo = Path(tmp) / "repo.git"
        webhook_bench.make_repo(repo, args.objects)
        server = UpServer(repo, Path(tmp) / "up")
        Path(f"{tmp}/bodies.jsonl").write_bytes(
            b"\n".join(webhook_bench.review_bodies(args.objects, 4000))
        )
        Path(f"{tmp}/ca.crt").write_text(Path(server.ca).read_text())
        pki = Path(tmp) / "up" / "pki"
        ca = CertificateAuthority.load(pki / "ca.crt", pki / "ca.key")
        issue_client_certificate(ca, "mallory", ("system:authenticated",)).save(
            Path(f"{tmp}/m.crt"), Path(f"{tmp}/m.key")
        )
        args.requests, args.concurrency = 0, 1
        rows: dict[str, list[float]] = {"quiet": [], "hostile": [], "heavy": []}
        counts: dict[str, list[dict[str, Any]]] = {"hostile": [], "heavy": []}
        try:
            webhook_bench.run_load(server, "paced", args, tmp)  # warm up
            for _ in range(args.rounds):
                for mode in ("quiet", "hostile", "heavy"):
                    attacker = None
                    if mode != "quiet":
                        attacker = subprocess.Popen(
                            [sys.executable, __file__, "--attack", "--hostile-rate", str(args.hostile_rate), "--port", str(server.api_port), "--ca", server.ca,
                             "--cert", f"{tmp}/m.crt", "--key", f"{tmp}/m.key", *(["--heavy"] if mode == "heavy" else [])],
                            stdout=subprocess.PIPE, text=True,
                        )  # fmt: skip
                        time.sleep(0.5)
                    result = webhook_bench.run_load(server, "paced", args, tmp)
                    rows[mode].append(webhook_bench.percentile(result["latencies"], 0.99) * 1000)
                    if attacker is not None:
                        attacker.terminate()
                        out, _ = attacker.communicate(timeout=30)
                        counts[mode].append(json.loads(out.strip().splitlines()[-1]))
        finally:
            server.stop()
    quiet = sorted(rows["quiet"])[len(rows["quiet"]) // 2]
    print(
        f"webhook p99 at {args.rate} reviews/s, {args.objects} declared objects, {args.rounds} rounds each (ms):"
    )
    for mode in ("quiet", "hostile", "heavy"):
        values = ", ".join(f"{v:.1f}" for v in rows[mode])
        median = sorted(rows[mode])[len(rows[mode]) // 2]
        print(f"  {mode:<8} {values}   median {median:.1f}   ratio to quiet {median / quiet:.2f}")
    for mode, runs in counts.items():
        sent = sum(r["sent"] for r in runs)
        statuses: dict[str, int] = {}
        for r in runs:
            for code, n in r["statuses"].items():
                statuses[code] = statuses.get(code, 0) + n
        print(f"  {mode}: {sent} hostile requests answered while measuring: {statuses}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--hostile-rate", type=float, default=20.0, help="hostile documents a second (one client)"
    )
    parser.add_argument("--attack", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--heavy", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--cert", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attack:
        attack(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
