#!/usr/bin/env python3
"""Persistence speed and size: OmenDB's save, load and open (memory-mapped, read-only) against
hnswlib's save_index / load_index, on the same data in the same process.

Both libraries index the same vectors with the same parameters (M, ef_construction), then each
round times, in alternation: OmenDB save, hnswlib save_index, OmenDB load, hnswlib load_index,
OmenDB open. Each operation is timed by wall clock and by its thread's CPU time
(``time.thread_time``: user + system time of the calling thread, which other processes on a
shared machine cannot inflate; every operation here runs on the calling thread). The reported
figure is the median over the rounds, and the ratios divide OmenDB's median by hnswlib's.

Notes that matter for reading the numbers:
- OmenDB's save is atomic and durable (temporary file, fsync, rename, directory fsync);
  hnswlib's save_index is a plain write. "hnswlib save+fsync" adds an fsync of the file so the
  two do the same durable work; both are reported.
- Files are read from the page cache (they were just written): warm-cache numbers. A cold open
  also reads the file once from disk, since open verifies every checksum.
- OmenDB's load and open check every checksum and structural rule of the file; hnswlib's
  load_index checks nothing.
- Memory: RSS growth (anonymous and file-backed, from /proc/self/status) after loading or
  opening, and after 1000 searches on the opened index.

    python benches/compare/persist_bench.py [glove-50-angular] [--rounds 5] [--cache DIR]

``--cache DIR`` keeps the two built indexes in DIR and reuses them on the next run (the build is
the slow part and not what is measured). Results go to benches/compare/results/persist-*.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (data readers, machine info, result writer)


def timed(fn: Callable[[], Any]) -> tuple:
    """(wall seconds, thread CPU seconds, result)."""
    w, c = time.perf_counter(), time.thread_time()
    out = fn()
    return time.perf_counter() - w, time.thread_time() - c, out


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default="glove-50-angular")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--limit", type=int, default=0, help="index only the first N vectors (0: all)")
    ap.add_argument("--cache", default=None, help="directory that keeps the built indexes between runs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(a.threads))
    if str(run.REPO / "bindings" / "python") not in sys.path:
        sys.path.insert(0, str(run.REPO / "bindings" / "python"))
    import hnswlib
    from omendb import Index

    loadavg_start = list(os.getloadavg())
    folder = run.resolve_dataset(a.dataset, None)
    metric = run.dataset_metric(folder)
    X = run.load_vectors(folder, "base")
    if a.limit:
        X = X[: a.limit]
    Q = run.load_vectors(folder, "query")[:1000]
    n, dim = X.shape
    space = "cosine" if metric == "cos" else "l2"

    work = Path(tempfile.mkdtemp(prefix="omendb-persist-"))
    cache = Path(a.cache) if a.cache else work
    cache.mkdir(parents=True, exist_ok=True)
    tag = f"{a.dataset}-{n}-M{a.M}-efc{a.efc}"
    omen_built, hnsw_built = cache / f"{tag}.omendb", cache / f"{tag}.hnswlib"
    build: Dict[str, Any] = {}
    if not omen_built.exists():
        with Index(dim=dim, metric="cosine" if metric == "cos" else "l2", m=a.M, ef_construction=a.efc) as idx:
            t = time.perf_counter()
            idx.add(X, ids=np.arange(n, dtype=np.uint64))
            build["omendb_build_s"] = time.perf_counter() - t
            idx.save(omen_built)
    if not hnsw_built.exists():
        h = hnswlib.Index(space=space, dim=dim)
        h.init_index(max_elements=n, M=a.M, ef_construction=a.efc)
        t = time.perf_counter()
        h.add_items(X, np.arange(n), num_threads=a.threads)
        build["hnswlib_build_s"] = time.perf_counter() - t
        h.save_index(str(hnsw_built))
        del h
    print(f"{n} x {dim} ({space}), M {a.M}, ef_construction {a.efc}; {build or 'indexes from the cache'}", flush=True)

    # The indexes whose saving is timed: loaded once, kept for the whole run.
    omen = Index.load(omen_built)
    hnsw = hnswlib.Index(space=space, dim=dim)
    hnsw.load_index(str(hnsw_built), max_elements=n)
    omen_path, hnsw_path = work / "omendb.omendb", work / "hnswlib.bin"

    times: Dict[str, List[List[float]]] = {k: [] for k in (
        "omendb_save", "hnswlib_save", "hnswlib_save_fsync", "omendb_load", "hnswlib_load", "omendb_open")}
    memory: Dict[str, Any] = {}
    checks: Dict[str, Any] = {}
    for r in range(a.rounds):
        wall, cpu, _ = timed(lambda: omen.save(omen_path))
        times["omendb_save"].append([wall, cpu])
        wall, cpu, _ = timed(lambda: hnsw.save_index(str(hnsw_path)))
        times["hnswlib_save"].append([wall, cpu])
        w2, c2, _ = timed(lambda: fsync_file(hnsw_path))
        times["hnswlib_save_fsync"].append([wall + w2, cpu + c2])

        run.release_memory()
        before = run.rss_parts()
        wall, cpu, loaded = timed(lambda: Index.load(omen_path))
        times["omendb_load"].append([wall, cpu])
        run.release_memory()  # what the index holds, not what loading used on the way
        after = run.rss_parts()
        if r == 0:
            memory["omendb_load_rss_anon_growth"] = after["RssAnon"] - before["RssAnon"]
            memory["omendb_memory_bytes"] = loaded.memory_bytes()
            want = omen.search(Q, k=10)
            got = loaded.search(Q, k=10)
            checks["load_same_answers"] = bool(np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1]))
        loaded.close()
        del loaded
        run.release_memory()

        before = run.rss_parts()
        def hload() -> Any:
            h = hnswlib.Index(space=space, dim=dim)
            h.load_index(str(hnsw_path), max_elements=n)
            return h
        wall, cpu, hl = timed(hload)
        times["hnswlib_load"].append([wall, cpu])
        run.release_memory()
        after = run.rss_parts()
        if r == 0:
            memory["hnswlib_load_rss_anon_growth"] = after["RssAnon"] - before["RssAnon"]
            checks["hnswlib_load_same_answers"] = bool(np.array_equal(hnsw.knn_query(Q, k=10)[0], hl.knn_query(Q, k=10)[0]))
        del hl
        run.release_memory()

        before = run.rss_parts()
        wall, cpu, opened = timed(lambda: Index.open(omen_path))
        times["omendb_open"].append([wall, cpu])
        run.release_memory()
        after = run.rss_parts()
        if r == 0:
            memory["omendb_open_rss_anon_growth"] = after["RssAnon"] - before["RssAnon"]
            memory["omendb_open_rss_file_growth"] = after["RssFile"] - before["RssFile"]
            w, _, got = timed(lambda: opened.search(Q, k=10))
            memory["omendb_open_then_1000_queries_s"] = w
            run.release_memory()
            searched = run.rss_parts()
            memory["omendb_open_after_queries_rss_anon_growth"] = searched["RssAnon"] - before["RssAnon"]
            want = omen.search(Q, k=10)
            checks["open_same_answers"] = bool(np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1]))
            checks["open_read_only"] = opened.read_only
        opened.close()
        del opened
        run.release_memory()
        print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{k} {v[-1][0] * 1e3:.0f} ms" for k, v in times.items()), flush=True)

    med = {k: {"wall_s": statistics.median(x[0] for x in v), "cpu_s": statistics.median(x[1] for x in v),
               "rounds": v} for k, v in times.items()}
    ratio = lambda a_, b_, kind: med[a_][kind] / med[b_][kind]  # noqa: E731
    ratios = {
        "save_vs_hnswlib_save": {k: ratio("omendb_save", "hnswlib_save", k) for k in ("wall_s", "cpu_s")},
        "save_vs_hnswlib_save_fsync": {k: ratio("omendb_save", "hnswlib_save_fsync", k) for k in ("wall_s", "cpu_s")},
        "load_vs_hnswlib_load": {k: ratio("omendb_load", "hnswlib_load", k) for k in ("wall_s", "cpu_s")},
        "open_vs_hnswlib_load": {k: ratio("omendb_open", "hnswlib_load", k) for k in ("wall_s", "cpu_s")},
        "open_vs_omendb_load": {k: ratio("omendb_open", "omendb_load", k) for k in ("wall_s", "cpu_s")},
    }
    sizes = {"omendb_file_bytes": omen_path.stat().st_size, "hnswlib_file_bytes": hnsw_path.stat().st_size,
             "raw_vectors_bytes": int(X.nbytes)}
    doc = {
        "kind": "persist",
        "dataset": a.dataset,
        "n": n,
        "dim": dim,
        "metric": space,
        "M": a.M,
        "ef_construction": a.efc,
        "rounds": a.rounds,
        "timestamp": run.now_utc().strftime("%Y%m%dT%H%M%SZ"),
        "machine": {**run.machine_info(), "loadavg_before": loadavg_start},
        "versions": run.library_versions(["omendb", "hnswlib"]),
        "build": build,
        "median": {k: {"wall_s": v["wall_s"], "cpu_s": v["cpu_s"]} for k, v in med.items()},
        "all_rounds_wall_cpu_s": {k: v["rounds"] for k, v in med.items()},
        "ratios_omendb_over_other": ratios,
        "sizes": sizes,
        "memory": memory,
        "checks": checks,
    }
    writer = run.Writer(Path(a.out), "persist", doc)
    path = writer.finish()
    omen.close()

    print(f"\nmedians over {a.rounds} rounds (wall / thread CPU):")
    for k, v in med.items():
        print(f"  {k:20s} {v['wall_s'] * 1e3:9.1f} ms / {v['cpu_s'] * 1e3:9.1f} ms")
    print("ratios OmenDB / other (wall, CPU):")
    for k, v in ratios.items():
        print(f"  {k:28s} {v['wall_s']:6.2f}x  {v['cpu_s']:6.2f}x")
    print(f"file sizes: OmenDB {sizes['omendb_file_bytes'] / 2**20:.1f} MiB, hnswlib {sizes['hnswlib_file_bytes'] / 2**20:.1f} MiB, "
          f"raw vectors {sizes['raw_vectors_bytes'] / 2**20:.1f} MiB")
    print("memory:", {k: (f"{v / 2**20:.1f} MiB" if "bytes" in k or "growth" in k else f"{v:.3f} s") for k, v in memory.items()})
    print("checks:", checks)
    print(f"wrote {path}")
    for p in (omen_path, hnsw_path):
        p.unlink(missing_ok=True)
    if not a.cache:
        for p in (omen_built, hnsw_built):
            p.unlink(missing_ok=True)
    try:
        work.rmdir()
    except OSError:
        pass
    if not all(checks.values()):
        sys.exit("a check failed: " + str(checks))


if __name__ == "__main__":
    main()
