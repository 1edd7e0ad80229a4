"""API server benchmark on a 10,000-object repository; ratios against same-run baselines.

Targets (issue "Aggregated API server"):
  `kubectl get manifests -A` end to end within 2x of kubectl against a static aiohttp
    server returning the same bytes (the HTTP + kubectl floor);
  server time for one list page of 500 under 30 ms warm;
  GET of one Manifest p99 under 5 ms at 200 requests/s;
  watch event delivered under 100 ms after the commit;
  RSS under 300 MB.

Run: python bench/apiserver_bench.py [--objects 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_bench import make_repo

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


def start_gitplane(repo: Path, state: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitplane_cli.main",
            "up",
            "--repo",
            str(repo),
            "--dir",
            str(state),
            "--api-port",
            "0",
            "--webhook-port",
            "0",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    endpoints = state / "endpoints.json"
    deadline = time.monotonic() + 120
    while not endpoints.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gitplane up did not start")
        time.sleep(0.1)
    return process, json.loads(endpoints.read_text())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def client_ssl(state: Path) -> ssl.SSLContext:
    """The admin identity from the kubeconfig, for the bench's own HTTP client."""
    config = yaml.safe_load((state / "kubeconfig").read_text())
    user = config["users"][0]["user"]
    cert, key = state / "bench.crt", state / "bench.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    key.chmod(0o600)
    context = ssl.create_default_context(cafile=str(state / "pki" / "ca.crt"))
    context.load_cert_chain(str(cert), str(key))
    return context


class StaticCopy:
    """The HTTP floor: serves, byte for byte, what the real server answered the first time."""

    def __init__(self, upstream: str, context: ssl.SSLContext) -> None:
        self.upstream, self.context, self.cache = upstream, context, {}  # type: ignore[var-annotated]

    async def handle(self, request: web.Request) -> web.Response:
        key = (request.path_qs, request.headers.get("Accept", ""))
        if key not in self.cache:
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    self.upstream + request.path_qs, headers={"Accept": key[1]}, ssl=self.context
                ) as response,
            ):
                self.cache[key] = (
                    response.status,
                    response.headers.get("Content-Type"),
                    await response.read(),
                )
        code, content_type, body = self.cache[key]
        return web.Response(
            status=code, body=body, headers={"Content-Type": content_type or "application/json"}
        )


async def kubectl_time(kubeconfig: Path, env: dict[str, str], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs + 1):  # the first run fills kubectl's discovery cache
        start = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            "kubectl",
            f"--kubeconfig={kubeconfig}",
            "get",
            "manifests",
            "-A",
            "--no-headers",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        best = min(best, time.perf_counter() - start)
        lines = out.count(b"\n")
    print(f"    ({lines} rows)")
    return best


async def bench(objects: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        repo = base / "repo.git"
        make_repo(repo, objects)
        process, endpoints = start_gitplane(repo, base / "state")
        try:
            await run_all(base, endpoints, process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)


async def run_all(base: Path, endpoints: dict[str, Any], pid: int) -> None:
    state = base / "state"
    url = f"https://127.0.0.1:{endpoints['api']}"
    context = client_ssl(state)
    env = {**os.environ, "KUBECACHEDIR": str(base / "kcache"), "HOME": str(base)}

    # 1. kubectl get manifests -A against gitplane and against a static copy of its answers.
    static = StaticCopy(url, context)
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", static.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(str(state / "pki" / "serving.crt"), str(state / "pki" / "serving.key"))
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=serving)
    await site.start()
    static_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    static_config = base / "kubeconfig-static"
    static_config.write_text(
        (state / "kubeconfig").read_text().replace(f":{endpoints['api']}", f":{static_port}")
    )
    print(f"kubectl get manifests -A, {endpoints and ''}")
    ours = await kubectl_time(state / "kubeconfig", env)
    floor = await kubectl_time(static_config, {**env, "KUBECACHEDIR": str(base / "kcache-static")})
    print(
        f"  gitplane {ours * 1e3:.0f} ms, static copy {floor * 1e3:.0f} ms: {ours / floor:.2f}x   (target <= 2x)"
    )
    await runner.cleanup()

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context, limit=8)
    ) as session:
        # 2. One list page of 500 as a Table, warm.
        page_url = f"{url}/apis/gitplane.io/v1alpha1/manifests?limit=500"
        samples = []
        for _ in range(30):
            start = time.perf_counter()
            async with session.get(page_url, headers={"Accept": TABLE}) as response:
                await response.read()
            samples.append(time.perf_counter() - start)
        print(
            f"list page of 500 (Table), request time p50 {statistics.median(samples) * 1e3:.1f} ms,"
            f" min {min(samples) * 1e3:.1f} ms   (target server time < 30 ms)"
        )

        # 3. GET one Manifest at a paced 200 requests/s.
        async with session.get(f"{url}/apis/gitplane.io/v1alpha1/manifests?limit=2000") as response:
            names = [
                (i["metadata"]["namespace"], i["metadata"]["name"])
                for i in (await response.json())["items"]
            ]
        latencies: list[float] = []

        async def one(i: int) -> None:
            ns, name = names[(i * 7919) % len(names)]
            start = time.perf_counter()
            async with session.get(
                f"{url}/apis/gitplane.io/v1alpha1/namespaces/{ns}/manifests/{name}"
            ) as r:
                await r.read()
                assert r.status == 200
            latencies.append(time.perf_counter() - start)

        tasks, start = [], time.perf_counter()
        for i in range(1000):
            await asyncio.sleep(max(0.0, start + i / 200 - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        latencies.sort()
        print(
            f"GET one Manifest at 200/s: p50 {latencies[499] * 1e3:.2f} ms,"
            f" p99 {latencies[989] * 1e3:.2f} ms   (target p99 < 5 ms)"
        )

        # 4. Watch event delivery after a commit made through the API.
        ns, name = names[0]
        item_url = f"{url}/apis/gitplane.io/v1alpha1/namespaces/{ns}/manifests/{name}"
        async with session.get(item_url) as response:
            rv = (await response.json())["metadata"]["resourceVersion"]
        delays = []
        async with session.get(
            f"{url}/apis/gitplane.io/v1alpha1/namespaces/{ns}/manifests?watch=1"
            f"&resourceVersion={rv}&timeoutSeconds=60"
        ) as watch:
            for replicas in range(20):
                patch = {"spec": {"object": {"spec": {"replicas": 100 + replicas}}}}
                async with session.patch(
                    item_url, json=patch, headers={"Content-Type": "application/merge-patch+json"}
                ) as r:
                    assert r.status == 200, await r.text()
                    committed = time.perf_counter()
                line = await watch.content.readline()
                delays.append(time.perf_counter() - committed)
                assert json.loads(line)["type"] == "MODIFIED"
        print(
            f"watch event after the commit (write acknowledged): p50 {statistics.median(delays) * 1e3:.2f} ms,"
            f" max {max(delays) * 1e3:.2f} ms   (target < 100 ms)"
        )
    print(f"server RSS {rss_mb(pid):.0f} MB   (target < 300 MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    asyncio.run(bench(parser.parse_args().objects))


if __name__ == "__main__":
    main()
