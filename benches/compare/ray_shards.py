#!/usr/bin/env python3
"""omendb.ray on this machine: build time and search throughput against the shard count, and
the cost of the fan-out (a ShardedIndex of 1 shard against the same index searched in this
process). One run, one machine, every configuration on the same data and queries.

    python benches/compare/ray_shards.py [glove-50-angular] [--n 100000] [--nq 2000] [--shards 1,2,4] [--ef 16,32,64]

- build: wall-clock seconds of ``omendb.ray.build`` from NumPy columns (one Ray task per
  shard with cores / shards CPUs, at least 1, and as many index threads), and of
  ``Index.add`` in this process (all cores);
- batch QPS: all queries in one ``search`` call (one actor call per shard), wall clock, for
  each ef (shards searched with the same ef look at shards x ef candidates: compare
  configurations at equal recall);
- single-query latency: p50 / p99 of one query per call at the largest ef, wall clock (Ray's
  per-call cost);
- recall@10 against the exact neighbours of the subset.

Data: $OMENDB_DATA or <repo>/../shared/data. Prints a Markdown table (BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "bindings" / "python"), os.environ.get("PYTHONPATH")]))

import omendb  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import load_vectors, machine_info  # noqa: E402  (the harness's readers, one copy)


def recall(labels: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(labels[i].tolist()) & set(truth[i].tolist())) / k for i in range(len(truth))]))


def latencies(search, queries: np.ndarray, count: int) -> tuple:
    times = []
    for q in queries[:count]:
        start = time.perf_counter()
        search(q)
        times.append(time.perf_counter() - start)
    return np.percentile(times, 50) * 1e3, np.percentile(times, 99) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", nargs="?", default="glove-50-angular")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--nq", type=int, default=2000)
    parser.add_argument("--shards", default="1,2,4")
    parser.add_argument("--ef", default="16,32,64")
    parser.add_argument("--latency-queries", type=int, default=300)
    args = parser.parse_args()
    data = Path(os.environ.get("OMENDB_DATA", REPO.parent / "shared" / "data")) / args.dataset
    base = np.ascontiguousarray(load_vectors(data, "base")[: args.n])
    queries = np.ascontiguousarray(load_vectors(data, "query")[: args.nq])
    metric = "cosine" if "angular" in args.dataset else "l2"
    if metric == "cosine":
        unit = base / np.linalg.norm(base, axis=1, keepdims=True)
        score = -(queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    else:
        score = (queries**2).sum(1)[:, None] - 2 * queries @ base.T + (base**2).sum(1)[None, :]
    k = 10
    truth = np.argpartition(score, k, axis=1)[:, :k]
    ids = np.arange(args.n, dtype=np.uint64)
    options = dict(metric=metric, m=16, ef_construction=200, seed=1)

    import ray
    import omendb.ray as oray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    rows = []
    efs = [int(e) for e in args.ef.split(",")]

    def measure(name, build_s, search_one, search_batch):
        for ef in efs:
            start = time.perf_counter()
            labels, _ = search_batch(ef)
            batch_s = time.perf_counter() - start
            p50 = p99 = float("nan")
            if ef == efs[-1]:
                p50, p99 = latencies(lambda q: search_one(q, ef), queries, args.latency_queries)
            rows.append((name, build_s, ef, args.nq / batch_s, p50, p99, recall(labels, truth, k)))

    start = time.perf_counter()
    with omendb.Index(**options) as one:
        one.add(base, ids=ids)
        build_s = time.perf_counter() - start
        measure("Index in this process", build_s, lambda q, ef: one.search(q, k=k, ef=ef), lambda ef: one.search(queries, k=k, ef=ef))

    with tempfile.TemporaryDirectory() as tmp:
        for shards in [int(s) for s in args.shards.split(",")]:
            path = Path(tmp) / f"s{shards}"
            start = time.perf_counter()
            cpus = max(1, (os.cpu_count() or 1) // shards)
            oray.build({"id": ids, "vector": base}, path, shards=shards, num_cpus=cpus, **options)
            build_s = time.perf_counter() - start
            with oray.ShardedIndex(path) as sharded:
                sharded.search(queries[:10], k=k)  # warm: actors up, pages mapped
                name = f"ShardedIndex, {shards} shard{'s' if shards > 1 else ''}"
                measure(name, build_s, lambda q, ef: sharded.search(q, k=k, ef=ef), lambda ef: sharded.search(queries, k=k, ef=ef))
    ray.shutdown()

    print(f"{args.dataset}, first {args.n} vectors, {args.nq} queries, k={k}, m=16, ef_construction=200; "
          f"{os.cpu_count()} cores, {machine_info()['cpu_model']}; Ray {ray.__version__}")
    print()
    print("| configuration | build s | ef | batch QPS | 1-query p50 ms | 1-query p99 ms | recall@10 |")
    print("|---|---|---|---|---|---|---|")
    for name, build_s, ef, qps, p50, p99, r in rows:
        late = f"{p50:.2f} | {p99:.2f}" if p50 == p50 else "- | -"
        print(f"| {name} | {build_s:.1f} | {ef} | {qps:,.0f} | {late} | {r:.4f} |")


if __name__ == "__main__":
    main()
