"""Store benchmark: every figure is printed as a ratio against a baseline of the same run.

Targets (issue "Foundation"):
  list 10,000 objects (100 namespaces): cold within 3x of reading every blob with pygit2,
    warm at least 20x faster than cold;
  get one object: p50 under 1 ms warm, flat (within 1.5x) from 100 to 10,000 objects;
  single-object updates: at least 200 commits/s sequentially on a 10,000-object repository;
  history of a namespace (first page of 50) with 10,000 commits: under 50 ms.

Run: python bench/store_bench.py [--objects 10000] [--commits 10000]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pygit2
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store.history import History
from store.model import Requester
from store.repo import GitStore

WHO = Requester("bench", ("bench",))
SIG = pygit2.Signature("bench", "bench@example.com", 1_700_000_000, 0)


def deployment(ns: str, name: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name, "tier": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example.com/{ns}/{name}:1.0.0",
                            "ports": [{"containerPort": 8080}],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                            "env": [{"name": "MODE", "value": "production"}],
                        }
                    ]
                },
            },
        },
    }


def make_repo(path: Path, objects: int, namespaces: int = 100) -> None:
    """One commit holding `objects` Deployments spread over `namespaces` directories."""
    repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
    per_ns = max(1, objects // namespaces)
    root = repo.TreeBuilder()
    made = 0
    for n in range(namespaces):
        ns = f"team-{n:03d}"
        tb = repo.TreeBuilder()
        for i in range(per_ns):
            if made == objects:
                break
            text = yaml.safe_dump(deployment(ns, f"app-{i:04d}"), sort_keys=False)
            tb.insert(
                f"deployment-app-{i:04d}.yaml",
                repo.create_blob(text.encode()),
                pygit2.GIT_FILEMODE_BLOB,
            )
            made += 1
        if len(tb):
            root.insert(ns, tb.write(), pygit2.GIT_FILEMODE_TREE)
    repo.create_commit("refs/heads/main", SIG, SIG, "import", root.write(), [])


def make_history(path: Path, commits: int, namespaces: int = 100) -> None:
    """`commits` commits, each changing one object in a namespace chosen round-robin."""
    make_repo(path, namespaces * 10, namespaces)
    repo = pygit2.Repository(str(path))
    parent = repo.references["refs/heads/main"].target
    root_tree = repo[parent].tree
    trees = {e.name: repo[e.id] for e in root_tree}
    for c in range(commits - 1):
        ns = f"team-{c % namespaces:03d}"
        name = f"app-{(c // namespaces) % 10:04d}"
        text = yaml.safe_dump(deployment(ns, name, replicas=c), sort_keys=False)
        tb = repo.TreeBuilder(trees[ns])
        tb.insert(
            f"deployment-{name}.yaml", repo.create_blob(text.encode()), pygit2.GIT_FILEMODE_BLOB
        )
        trees[ns] = repo[tb.write()]
        rb = repo.TreeBuilder(root_tree)
        rb.insert(ns, trees[ns].id, pygit2.GIT_FILEMODE_TREE)
        root_tree = repo[rb.write()]
        parent = repo.create_commit(None, SIG, SIG, f"scale {ns}/{name}", root_tree.id, [parent])
    repo.references["refs/heads/main"].set_target(parent)


def read_every_blob(path: Path) -> int:
    """Baseline: walk the tree and read every blob with pygit2, nothing more."""
    repo = pygit2.Repository(str(path))
    total = 0
    stack = [repo[repo.references["refs/heads/main"].target].tree]
    while stack:
        tree = stack.pop()
        for entry in tree:
            obj = repo[entry.id]
            if entry.type_str == "tree":
                stack.append(obj)
            else:
                total += len(obj.data)
    return total


def best_of(runs: int, fn: Any) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_list(tmp: Path, objects: int) -> None:
    path = tmp / "list.git"
    make_repo(path, objects)
    baseline = best_of(3, lambda: read_every_blob(path))

    def cold(persist: bool) -> None:
        store = GitStore(path, persist_parse_cache=persist)
        assert len(store.list_objects().items) == objects

    first_time = best_of(3, lambda: cold(False))  # nothing parsed before: every YAML file parsed
    GitStore(path).save_parse_cache()
    restart_time = best_of(3, lambda: cold(True))  # a new process, parse cache saved on disk
    store = GitStore(path)
    warm_time = best_of(5, store.list_objects)
    print(f"list {objects} objects: baseline (read every blob) {baseline * 1e3:.1f} ms")
    print(
        f"  cold list, new process, parse cache on disk: {restart_time * 1e3:.1f} ms"
        f" = {restart_time / baseline:.2f}x baseline   (target <= 3x)"
    )
    print(
        f"  cold list, first parse ever (no cache at all): {first_time * 1e3:.1f} ms"
        f" = {first_time / baseline:.2f}x baseline"
    )
    print(
        f"  warm list {warm_time * 1e3:.1f} ms: {restart_time / warm_time:.1f}x faster than cold (cached),"
        f" {first_time / warm_time:.1f}x faster than first   (target >= 20x)"
    )


def bench_get(tmp: Path, sizes: tuple[int, ...]) -> None:
    """Three views: random keys over every object (CPU caches show), a hot set of 100 keys
    (the lookup's own cost), and get plus JSON encoding (what serving a GET adds)."""
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        path = tmp / f"get-{size}.git"
        make_repo(path, size, namespaces=min(100, size))
        store = GitStore(path)
        keys = [o.key for o in store.list_objects().items]
        hot = keys[:: max(1, len(keys) // 100)][:100]
        results[size] = _get_views(store, keys, hot)
        r = results[size]
        print(
            f"get one object, {size} objects: p50 random key {r['random'] * 1e6:.1f} us,"
            f" hot key {r['hot'] * 1e6:.1f} us, get+JSON {r['served'] * 1e6:.1f} us   (target < 1 ms)"
        )
    small, large = results[sizes[0]], results[sizes[-1]]
    for view in ("random", "hot", "served"):
        print(
            f"  flatness ({view}): p50 at {sizes[-1]} / p50 at {sizes[0]} ="
            f" {large[view] / small[view]:.2f}x   (target <= 1.5x)"
        )


def _get_views(store: GitStore, keys: list[Any], hot: list[Any]) -> dict[str, float]:
    return {
        "random": _p50(lambda i: store.get(keys[(i * 7919) % len(keys)])),
        "hot": _p50(lambda i: store.get(hot[i % len(hot)])),
        "served": _p50(lambda i: json.dumps(store.get(keys[(i * 7919) % len(keys)]).obj)),
    }


def _p50(fn: Any, samples: int = 5000) -> float:
    times = []
    for i in range(samples):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_updates(tmp: Path, objects: int, count: int) -> None:
    path = tmp / "update.git"
    make_repo(path, objects)
    store = GitStore(path)
    items = store.list_objects().items[:count]
    start = time.perf_counter()
    for n, item in enumerate(items):
        changed = copy.deepcopy(item.obj)
        changed["spec"]["replicas"] = 10 + n
        store.update(changed, WHO, expect_rv=item.resource_version)
    elapsed = time.perf_counter() - start
    rate = len(items) / elapsed
    print(
        f"sequential single-object updates on {objects} objects: {rate:.0f} commits/s   (target >= 200)"
    )


def bench_history(tmp: Path, commits: int) -> None:
    path = tmp / "history.git"
    make_history(path, commits)
    start = time.perf_counter()
    store = GitStore(path, persist_parse_cache=False)
    load = time.perf_counter() - start
    store.save_parse_cache()
    start = time.perf_counter()
    store = GitStore(path)
    restart = time.perf_counter() - start
    history = History(store)
    page_time = best_of(5, lambda: history.revisions("team-042", limit=50))
    page = history.revisions("team-042", limit=50)
    assert len(page.items) == 50, len(page.items)
    all_time = best_of(5, lambda: history.revisions(None, limit=50))
    print(
        f"history with {commits} commits: first load {load * 1e3:.0f} ms (walks every commit once),"
        f" restart with parse cache {restart * 1e3:.0f} ms"
    )
    print(f"  first page of 50 for one namespace: {page_time * 1e3:.2f} ms   (target < 50 ms)")
    print(f"  first page of 50 for the whole repository: {all_time * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        bench_list(base, args.objects)
        bench_get(base, (100, args.objects))
        bench_updates(base, args.objects, args.updates)
        bench_history(base, args.commits)


if __name__ == "__main__":
    main()
