#!/usr/bin/env python3
"""Single-thread search speed of OmenDB against the peers, measured so that load from other
processes on a shared machine cancels out.

Both indexes live in one process; the same queries are sent to each library in turn, in small
interleaved chunks, and each library's search time is its calling thread's CPU time
(``time.thread_time``), which other processes cannot inflate. A single query runs in the calling
thread in every library here (OmenDB searches batches of fewer than 4 queries in place; hnswlib
with num_threads=1; USearch and FAISS with one thread). Builds are timed by process CPU time on
all threads. Recall is tie-safe against the shipped ground truth (see run.py's ``Recall``).

    python benches/compare/interleaved.py glove-50-angular [--libs omendb,hnswlib] [--nq 2000]
    python benches/compare/interleaved.py mnist-784-euclidean --libs omendb,omendb+OMENDB_PRUNE_ALPHA=1.1,hnswlib
    python benches/compare/interleaved.py glove-50-angular --libs omendb,omendb@/tmp/old/libomendb.so,hnswlib
    python benches/compare/interleaved.py npl-ir --libs omendb,hnswlib
    python benches/compare/interleaved.py glove-50-angular --libs omendb+neighbor_codes=8+efc=100,hnswlib,hnswlib+efc=100

An entry's ``+M=N`` and ``+efc=N`` set that entry's graph parameters (default --M and --efc);
another lower-case ``+name=N`` is an option of omendb.Index (``omendb+neighbor_codes=8``), and
an upper-case ``+NAME=VALUE`` is an environment variable set while that entry's index is made.

npl-ir (MiniLM 384-d, cosine) ships no base/query split: the base is the corpus embeddings less
the last --holdout documents (default 1,000; 10,426 vectors), the queries are its 93 query
embeddings followed by the held-out documents (1,093; --nq takes the first N), and the ground truth
is exact cosine top-10 by brute force in numpy (``run.load_held_out_set``, as quant_bench.py).

Plots: ``python benches/compare/report.py --interleaved`` writes plots/<dataset>-interleaved.png
(recall@10 against thread-CPU QPS, one line per --libs name) from the newest
results/interleaved-<dataset>-*.json of each data set, and nothing else.

``omendb@PATH`` is a second OmenDB in the same process: this checkout's Python binding loaded a
second time (as its own package) over the shared library at PATH, e.g. a build of an earlier
commit, so two builds of the engine are measured side by side in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (data readers, Recall, library adapters)


def cpu_s() -> float:
    return time.process_time()


def binding_over(library: str, alias: str) -> object:
    """This checkout's ``omendb`` package imported again as ``alias``, its ctypes calls bound
    to the shared library at ``library`` (a distinct file is a distinct copy in the process)."""
    import importlib.util

    package = run.REPO / "bindings" / "python" / "omendb"
    saved = os.environ.get("OMENDB_LIB")
    os.environ["OMENDB_LIB"] = library
    try:
        spec = importlib.util.spec_from_file_location(alias, package / "__init__.py", submodule_search_locations=[str(package)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[alias] = module
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            os.environ.pop("OMENDB_LIB", None)
        else:
            os.environ["OMENDB_LIB"] = saved
    return module


def omendb_over(library: str, alias: str) -> type:
    """run.OmenDB, its index made by the binding over ``library``."""
    module = binding_over(library, alias)

    class OmenDBOver(run.OmenDB):
        def __init__(self, *args: object) -> None:  # run.Lib's fields, then this binding's Index
            run.Lib.__init__(self, *args)
            self.p = module.Index(dim=self.dim, metric="cosine" if self.metric == "cos" else "l2", m=self.M,
                                  ef_construction=self.efc, **self.index_options)

    return OmenDBOver


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--libs", default="omendb,hnswlib")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--efs", default="10,16,24,32,48,64,96,128,192")
    ap.add_argument("--nq", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--holdout", type=int, default=1000,
                    help="npl-ir: corpus documents taken out of the base and used as queries")
    a = ap.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(a.threads))
    if str(run.REPO / "bindings" / "python") not in sys.path:
        sys.path.insert(0, str(run.REPO / "bindings" / "python"))

    load_before = list(os.getloadavg())
    folder = run.resolve_dataset(a.dataset, None)
    held_out = run.is_held_out_set(folder)
    if held_out:  # npl-ir: documents held out as queries, exact ground truth computed here
        X, Q, metric = run.load_held_out_set(folder, a.holdout)
        Q = np.ascontiguousarray(Q[: a.nq])
        _, gt_dist = run.brute_force(X, Q, 10, metric)
        print(f"{folder.name}: base {len(X):,} x {X.shape[1]} ({a.holdout:,} documents held out), "
              f"{len(Q):,} queries, {metric}, ground truth by brute force", flush=True)
    else:
        metric = run.dataset_metric(folder)
        X = run.load_vectors(folder, "base")
        Q = run.load_vectors(folder, "query")[: a.nq]
        gt_dist = run.read_vecs(folder / "groundtruth_dist.fvecs", "<f4")[: a.nq]
    recall = run.Recall(X, Q, gt_dist, 10, metric)
    libs = a.libs.split(",")
    classes = {c.name: c for c in (run.OmenDB, run.Hnswlib, run.USearch, run.Faiss)}
    impls, builds = {}, {}
    for name in libs:
        # "omendb+OMENDB_PRUNE_ALPHA=1.2": the same library built with these environment
        # variables set (OmenDB reads its experimental tuning knobs when an index is created).
        cls, *assigns = name.split("+")
        if "@" in cls:  # "omendb@PATH": a second build of the library, side by side
            cls, library = cls.split("@", 1)
            classes[name] = omendb_over(library, f"omendb_{len(classes)}")
            cls = name
        # "hnswlib+efc=100": a build parameter of this entry alone (M or efc); "omendb+
        # neighbor_codes=8": another lower-case name is an omendb.Index option (an integer);
        # an upper-case one is an environment variable.
        assigned = dict(kv.split("=", 1) for kv in assigns)
        own = {k: int(assigned.pop(k)) for k in ("M", "efc") if k in assigned}
        options = {k: int(v) for k, v in assigned.items() if k.islower()}
        env = {k: v for k, v in assigned.items() if not k.islower()}
        if options:
            if not issubclass(classes[cls], run.OmenDB):
                raise SystemExit(f"{name}: index options apply to omendb only")
            classes[name] = type(name, (classes[cls],), {"index_options": options})
            cls = name
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        M, efc = own.get("M", a.M), own.get("efc", a.efc)
        impl = classes[cls](X.shape[1], metric, M, efc, a.threads, len(X))
        wall, cpu = time.perf_counter(), cpu_s()
        impl.build(X)
        builds[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": cpu_s() - cpu, "M": M, "efc": efc}
        # The library's own count of its index's bytes, where it reports one (OmenDB, USearch).
        reported = impl.extra().get("index_memory_bytes")
        if reported is not None:
            builds[name]["index_memory_bytes"] = int(reported)
            builds[name]["bytes_per_vector"] = int(reported) / len(X)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        impls[name] = impl
        print(f"{name:8s} build {builds[name]['wall_s']:.1f}s wall, {builds[name]['cpu_s']:.1f}s CPU", flush=True)

    # A warm-up pass per library before the sweep, untimed: the first timed point otherwise
    # paid for first touches after the build (the MNIST codes curve was slower at ef 10-12
    # than at 16, glove's at its first ef no faster than at the next).
    efs = [int(e) for e in a.efs.split(",")]
    for impl in impls.values():
        impl.set_ef(efs[0])
        for q in Q[: min(len(Q), 500)]:
            impl.search_one(q, 10)
    rows = []
    for ef in efs:
        found = {n: np.full((len(Q), 10), -1, dtype=np.int64) for n in libs}
        spent = {n: 0.0 for n in libs}
        for impl in impls.values():
            impl.set_ef(ef)
            impl.search_one(Q[0], 10)  # warm
        for start in range(0, len(Q), a.chunk):
            for n in libs:  # the same chunk for every library, back to back
                impl = impls[n]
                t = time.thread_time()
                out = [impl.search_one(q, 10) for q in Q[start : start + a.chunk]]
                spent[n] += time.thread_time() - t
                for i, labels in enumerate(out):
                    lab = run._labels(np.asarray(labels).reshape(-1))[:10]
                    found[n][start + i, : len(lab)] = lab
        for n in libs:
            r = recall(found[n])
            qps = len(Q) / spent[n]
            rows.append({"lib": n, "ef": ef, "recall": r, "qps_thread_cpu": qps})
            print(f"  ef={ef:4d} {n:8s} recall@10={r:.4f} {qps:9.0f} q/s (thread CPU)", flush=True)

    def at_target(n: str, target: float | None = None) -> float | None:
        target = a.target if target is None else target
        pts = sorted((r["recall"], r["qps_thread_cpu"]) for r in rows if r["lib"] == n)
        for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
            if r0 <= target <= r1:
                w = 0.0 if r1 == r0 else (target - r0) / (r1 - r0)
                return q0 + w * (q1 - q0)
        return None

    summary = {n: at_target(n) for n in libs}
    # The second operating point, always reported beside --target.
    summary_99 = {n: at_target(n, 0.99) for n in libs}
    base = libs[0]
    print(f"\nQPS at recall@10 = {a.target} (thread CPU time, linear interpolation):")
    for n in libs:
        v = summary[n]
        print(f"  {n:8s} {v:9.0f}" if v else f"  {n:8s} (target not bracketed by the sweep)")
    for n in libs[1:]:
        if summary[base] and summary[n]:
            print(f"  {base} / {n} = {summary[base] / summary[n]:.2f}x")
        print(f"  build CPU {base} / {n} = {builds[base]['cpu_s'] / builds[n]['cpu_s']:.2f}x")
    print("QPS at recall@10 = 0.99:")
    for n in libs:
        v = summary_99[n]
        ratio = f"  ({v / summary_99[base]:.2f}x of {base})" if v and summary_99[base] else ""
        print(f"  {n:8s} {v:9.0f}{ratio}" if v else f"  {n:8s} (0.99 not bracketed by the sweep)")
    for n in libs:
        if "bytes_per_vector" in builds[n]:
            print(f"  {n}: {builds[n]['bytes_per_vector']:.0f} bytes per vector (the library's own count)")
    out = run.HERE / "results" / f"interleaved-{folder.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    versions = run.library_versions(sorted({name.split("+", 1)[0].split("@", 1)[0] for name in libs}))
    data = {}
    if held_out:  # how the base and queries were made (the TEXMEX sets need no such note)
        data = {"n": len(X), "dim": int(X.shape[1]), "metric": metric, "holdout": a.holdout,
                "base": f"corpus embeddings less the last {a.holdout} documents",
                "queries": "query embeddings, then the held-out documents", "ground_truth": "brute force (numpy, float64)"}
    out.write_text(json.dumps({"dataset": folder.name, "nq": len(Q), **data, "builds": builds, "rows": rows,
                               "at_target": summary, "target": a.target, "at_0.99": summary_99, "M": a.M, "efc": a.efc,
                               "threads": a.threads, "versions": versions, "commit": versions.get("omendb_git"),
                               "machine": {**run.machine_info(), "loadavg_before": load_before,
                                           "loadavg_after": list(os.getloadavg())}}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
