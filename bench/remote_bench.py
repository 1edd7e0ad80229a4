"""Git remote benchmark: a bare repository on local disk as the remote; same-run ratios.

Targets (issue "Git remote"):
  acknowledged writes per second with a local remote: at least 50% of the no-remote rate;
  an outside commit visible through the API within 1 s of POST /hooks/git;
  two replicas writing different objects: aggregate throughput not below one replica's.

Run: python bench/remote_bench.py [--objects 4000] [--writes 200] [--rounds 3]

Replicas are measured with one client each (sequential writes) and with eight clients
each writing at once through the AsyncStore, as an API server under load does: writes
that queue behind a push share the next one.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import multiprocessing
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_bench import make_repo

from apiserver.auth import client_certificate_user, serving_context
from apiserver.serving import make_api_app
from gitplane_cli.up import prepare_pki
from pki.issue import issue_client_certificate
from store.aio import AsyncStore
from store.model import Put, Requester, WriteRequest, WriteResult
from store.remote import RemoteMirror
from store.repo import GitStore

WHO = Requester("bench")


def with_replicas(obj: dict[str, Any], replicas: int) -> dict[str, Any]:
    """A copy of the Deployment `obj` with `replicas`: the change every bench write makes."""
    changed = copy.deepcopy(obj)
    changed["spec"]["replicas"] = replicas
    return changed


def objects_at(store: GitStore, offset: int, count: int) -> list[Any]:
    """`count` objects from `offset` in key order, the same in every clone: a store lists
    in the order it parsed, and one that took other writes lists them elsewhere (two
    clones' offsets then met, and the same value written twice committed nothing)."""
    return sorted(store.list_objects().items, key=lambda item: item.key)[offset : offset + count]


def updates(store: GitStore, count: int, offset: int = 0, acked: list[str] | None = None) -> float:
    """Seconds for `count` sequential single-object updates (distinct objects per offset)."""
    items = objects_at(store, offset, count)
    start = time.perf_counter()
    for n, item in enumerate(items):
        result = store.update(with_replicas(item.obj, 1000 + n), WHO)
        if acked is not None and result.commit_id:
            acked.append(result.commit_id)
    return time.perf_counter() - start


def _replica_worker(
    path: str, remote: str, count: int, offset: int, writers: int, go: Any, out: Any
) -> None:
    """One replica: open its clone, say ready, wait for the start, then time its writes,
    made by `writers` clients at once through the AsyncStore, as an API server makes
    them. Process start-up and the clone's first load stay out of the measured span."""
    store = GitStore(path, remote=RemoteMirror(remote, "main"))
    items = objects_at(store, offset, count)
    out.put("ready")
    go.wait()

    async def write_all() -> tuple[float, float, list[tuple[float, str]]]:
        aio = AsyncStore(store)
        acked: list[tuple[float, str]] = []  # (when, commit)

        async def client() -> None:
            while items:
                item = items.pop()
                changed = with_replicas(item.obj, 1000 + len(items))
                result = await aio.apply([Put(changed, mode="update")], WHO)
                assert result.commit_id, f"{item.key} was written again with the same value"
                acked.append((time.time(), result.commit_id))

        start = time.time()
        await asyncio.gather(*(client() for _ in range(writers)))
        end = time.time()
        await aio.close()
        return start, end, acked

    out.put(asyncio.run(write_all()))


@dataclass
class ReplicaRun:
    """Acknowledged writes per second of replicas started at once: over the span from
    the first start to the last end (all the writes asked for), and while every one of
    them was writing (from the last start to the first end: a replica that drew the
    lock less often writes alone at the end, one replica's rate, for however long that
    lasts)."""

    all_writes: float
    all_writing: float
    acked: list[str]


def _replicas(
    base: Path, remote: Path, jobs: list[tuple[str, int, int]], writers: int
) -> ReplicaRun:
    """Run one replica process per (clone, writes, offset), all started at once."""
    context = multiprocessing.get_context("spawn")
    go, out = context.Event(), context.Queue()
    procs = [
        context.Process(
            target=_replica_worker,
            args=(str(base / name), str(remote), n, offset, writers, go, out),
        )
        for name, n, offset in jobs
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        assert out.get(timeout=120) == "ready"
    go.set()
    results = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join()
    span = max(end for _, end, _ in results) - min(start for start, _, _ in results)
    first_end, last_start = min(end for _, end, _ in results), max(s for s, _, _ in results)
    in_overlap = sum(last_start <= when <= first_end for *_, acks in results for when, _ in acks)
    return ReplicaRun(
        all_writes=sum(n for _, n, _ in jobs) / span,
        all_writing=in_overlap / (first_end - last_start),
        acked=[commit for *_, acks in results for _, commit in acks],
    )


def bench_writes(base: Path, objects: int, count: int, rounds: int) -> None:
    """Each comparison alternates its two sides and adds up each side's writes and
    seconds. The disk here is uneven: creating a file costs from 30 us to over 1 ms of
    CPU. Its ext4 has no journal, and without one a new inode skips those freed in the
    last minute (six, while their inode table is unwritten), so a file made costs more
    the more were freed lately, and each push makes three and frees about as many. So
    sequential writes take turns every few writes, each of `rounds` rounds starts from
    new repositories, and the replica comparisons run `rounds` times, first one side
    first, then the other."""
    seconds = {"plain": 0.0, "pushed": 0.0}
    step, turns = 5, max(1, count // (5 * rounds))
    for round_number in range(rounds):
        where = base / f"round-{round_number}"
        local, remote = where / "local.git", where / "remote.git"
        make_repo(local, objects)
        shutil.copytree(local, remote)
        plain = GitStore(local, persist_parse_cache=False)
        pushed = GitStore(where / "clone-1", remote=RemoteMirror(str(remote), "main"))
        offset = 0
        for _ in range(turns):
            seconds["plain"] += updates(plain, step, offset=offset)
            seconds["pushed"] += updates(pushed, step, offset=offset + step)
            offset += 2 * step
    written = rounds * turns * step
    no_remote, with_remote = written / seconds["plain"], written / seconds["pushed"]
    print(
        f"sequential acknowledged writes: no remote {no_remote:.0f}/s, pushed to a local remote"
        f" {with_remote:.0f}/s = {with_remote / no_remote:.2f}   (target >= 0.5)"
    )
    cli = GitStore(base / "clone-cli", remote=RemoteMirror(str(remote), "main", direct_local=False))
    through_git = (count // 4) / updates(cli, count // 4, offset=offset)
    offset += count // 4
    print(
        f"  the same remote through the git CLI (the transport of ssh/https remotes):"
        f" {through_git:.0f}/s = {through_git / no_remote:.2f} (a git process and a push per write)"
    )

    for path in ("clone-a", "clone-b", "clone-c"):
        GitStore(base / path, remote=RemoteMirror(str(remote), "main"))  # clone before timing
    acked: list[str] = []
    for writers in (1, 8):
        one_time = two_time = 0.0
        both_writing: list[float] = []
        each_round = []
        half = count // 2
        for round_number in range(rounds):
            one = [("clone-a", count, offset)]
            two = [("clone-b", half, offset + count), ("clone-c", half, offset + count + half)]
            offset += 2 * count
            # Every other round the two replicas go first: file creation here slows as
            # the files freed in the last minute pile up, which penalised whichever
            # side always ran second.
            if round_number % 2:
                both = _replicas(base, remote, two, writers)
                single = _replicas(base, remote, one, writers)
            else:
                single = _replicas(base, remote, one, writers)
                both = _replicas(base, remote, two, writers)
            acked += single.acked + both.acked
            one_time += count / single.all_writes
            two_time += count / both.all_writes
            both_writing.append(both.all_writing)
            each_round.append(f"{both.all_writes / single.all_writes:.2f}")
        one_rate = rounds * count / one_time
        print(
            f"{writers} client(s) per replica: one replica {one_rate:.0f} writes/s;"
            f" two replicas on different objects {rounds * count / two_time:.0f}/s aggregate"
            f" = {one_time / two_time:.2f}   (target >= 1.0; rounds: {' '.join(each_round)})"
        )
        while_both = sum(both_writing) / rounds
        print(f"  while both were writing: {while_both:.0f}/s = {while_both / one_rate:.2f}")
    history = set(
        subprocess.run(
            ["git", "-C", str(remote), "rev-list", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )
    subprocess.run(["git", "-C", str(remote), "fsck", "--strict"], check=True, capture_output=True)
    print(
        f"  {len(acked)} acknowledged replica writes, all in the remote's history:"
        f" {set(acked) <= history}; git fsck clean"
    )


def bench_batches(base: Path, objects: int, batches: int = 30, size: int = 8) -> None:
    """Batches of `size` updates pushed together (one commit each, as queued writes go),
    all in one directory or each in its own, taking turns: the spread ones over the
    others. Each commit holds the changes of those before it; a directory it leaves
    alone is not made again (it was: 44 trees for eight directories, 16 for one)."""
    remote = base / "batches-remote.git"
    make_repo(remote, objects)
    store = GitStore(base / "batches-clone", remote=RemoteMirror(str(remote), "main"))
    by_namespace: dict[str, list[Any]] = {}
    for item in store.list_objects().items:
        by_namespace.setdefault(item.key.namespace, []).append(item)
    namespaces = sorted(by_namespace)

    def batch(items: list[Any], value: int) -> float:
        requests = [
            WriteRequest([Put(with_replicas(item.obj, value), mode="update")], WHO)
            for item in items
        ]
        start = time.perf_counter()
        results = store.apply_batch(requests)
        assert all(isinstance(result, WriteResult) for result in results), results
        return time.perf_counter() - start

    together, spread = [], []
    for n in range(batches):
        in_one = by_namespace[namespaces[n % len(namespaces)]][:size]
        in_many = []
        for k in range(size):  # past the first `size` of each directory, which in_one takes
            items = by_namespace[namespaces[(n + k) % len(namespaces)]]
            in_many.append(items[size + n % (len(items) - size)])
        together.append(batch(in_one, 100 + n))
        spread.append(batch(in_many, 100 + n))
    one, many = statistics.median(together), statistics.median(spread)
    print(
        f"batches of {size} writes pushed together: in one directory {one * 1e3:.1f} ms,"
        f" in {size} directories {many * 1e3:.1f} ms = {many / one:.2f}"
    )


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


async def bench_hook(base: Path) -> None:
    remote = base / "hook-remote.git"
    _git("init", "-q", "--bare", "-b", "main", str(remote))
    store = GitStore(base / "hook-clone", remote=RemoteMirror(str(remote), "main"))
    store.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "seed", "namespace": "shop"},
        },
        WHO,
    )
    secret = b"bench-secret"
    pki = prepare_pki(base / "pki")
    app = make_api_app(
        AsyncStore(store, fetch_interval=3600),
        authenticate=client_certificate_user,
        hook_secret=secret,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner,
        "127.0.0.1",
        0,
        ssl_context=serving_context(str(pki.cert_file), str(pki.key_file), str(pki.ca_file)),
    )
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    issued = issue_client_certificate(pki.ca, "bench")
    issued.save(base / "b.crt", base / "b.key")
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    context.load_cert_chain(str(base / "b.crt"), str(base / "b.key"))
    person = base / "person"
    _git("clone", "-q", str(remote), str(person))
    delays = []
    async with aiohttp.ClientSession() as session:
        for n in range(10):
            (person / "shop" / f"pr-{n}.yaml").write_text(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pr-{n}\n  namespace: shop\n"
            )
            _git("-C", str(person), "add", "-A")
            _git(
                "-C",
                str(person),
                "-c",
                "user.name=p",
                "-c",
                "user.email=p@x",
                "commit",
                "-qm",
                f"pr {n}",
            )
            _git("-C", str(person), "push", "-q", "origin", "main")
            body = b'{"ref": "refs/heads/main"}'
            signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            start = time.perf_counter()
            async with session.post(
                f"https://127.0.0.1:{port}/hooks/git",
                data=body,
                ssl=context,
                headers={"X-Hub-Signature-256": signature},
            ) as response:
                assert response.status == 200
            url = f"https://127.0.0.1:{port}/apis/gitplane.io/v1alpha1/namespaces/shop/manifests/configmap.pr-{n}"
            async with session.get(url, ssl=context) as response:
                assert response.status == 200
            delays.append(time.perf_counter() - start)
    await runner.cleanup()
    print(
        f"outside commit visible through the API after POST /hooks/git: p50 {sorted(delays)[5] * 1e3:.1f} ms,"
        f" max {max(delays) * 1e3:.1f} ms   (target < 1000 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=4000)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sequential = 2 * max(1, args.writes // (5 * args.rounds)) * 5 * args.rounds  # both sides
    needed = sequential + args.writes // 4 + 2 * args.rounds * 2 * args.writes
    if args.objects < needed:  # each write changes an object no other write touched
        parser.error(f"--writes {args.writes} --rounds {args.rounds} need --objects {needed}")
    with tempfile.TemporaryDirectory() as tmp:
        bench_writes(Path(tmp), args.objects, args.writes, args.rounds)
        asyncio.run(bench_hook(Path(tmp)))
        bench_batches(Path(tmp), args.objects)


if __name__ == "__main__":
    main()
