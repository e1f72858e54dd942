#!/usr/bin/env python3
"""Memory-mapped opens with neighbour codes: single-thread QPS and memory of an index file
served in place by ``Index.open`` (the f32 vectors and links stay in the page cache, the codes
are made at open into anonymous memory), against the same data mapped without codes and
loaded with codes, all in one process.

Each round searches every query one at a time on each index in turn (thread CPU time, so
other processes on a shared machine cannot inflate it); the figure is the median over the
rounds, and the ratios divide by the mapped index without codes. Memory is the growth of
RssAnon and RssFile (``/proc/self/status``) across the open of the mapped index with codes
and a first pass of its searches, before the other indexes are opened.

    python benches/compare/mapped_codes.py mnist-784-euclidean --bits 4 --efs 16,24,48

Results go to benches/compare/results/mapped-codes-*.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (data readers, recall, machine info, result writer)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default="mnist-784-euclidean")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--efs", default="16,24,48")
    ap.add_argument("--nq", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    if str(run.REPO / "bindings" / "python") not in sys.path:
        sys.path.insert(0, str(run.REPO / "bindings" / "python"))
    from omendb import Index

    loadavg_start = list(os.getloadavg())
    folder = run.resolve_dataset(a.dataset, None)
    metric = run.dataset_metric(folder)
    X = run.load_vectors(folder, "base")
    Q = run.load_vectors(folder, "query")[: a.nq]
    gt_dist = run.read_vecs(folder / "groundtruth_dist.fvecs", "<f4")[: a.nq]
    recall = run.Recall(X, Q, gt_dist, 10, metric)
    space = "cosine" if metric == "cos" else "l2"

    work = Path(tempfile.mkdtemp(prefix="omendb-mapped-"))
    files = {}
    for name, bits in (("codes", a.bits), ("f32", 0)):
        with Index(dim=X.shape[1], metric=space, m=a.M, ef_construction=a.efc, neighbor_codes=bits) as idx:
            idx.add(X)
            files[name] = work / f"{name}.omendb"
            idx.save(files[name])

    memory: Dict[str, Any] = {}
    before = run.rss_parts()
    t = time.perf_counter()
    indexes = {"mapped codes": Index.open(files["codes"], mmap=True)}
    memory["open_codes_s"] = time.perf_counter() - t
    after = run.rss_parts()
    memory["open_codes_anon_bytes"] = after["RssAnon"] - before["RssAnon"]
    for q in Q:  # a warm-up pass, before any other index is open: what searching pages in
        indexes["mapped codes"].search(q, k=10, ef=max(int(e) for e in a.efs.split(",")))
    warm = run.rss_parts()
    memory["searched_codes_anon_bytes"] = warm["RssAnon"] - before["RssAnon"]
    memory["searched_codes_file_bytes"] = warm["RssFile"] - before["RssFile"]
    t = time.perf_counter()
    indexes["mapped f32"] = Index.open(files["f32"], mmap=True)
    memory["open_f32_s"] = time.perf_counter() - t
    indexes["loaded codes"] = Index.load(files["codes"])
    assert indexes["mapped codes"].stats()["neighbor_codes_in_use"]

    qps: Dict[int, Dict[str, list]] = {}
    recalls: Dict[int, Dict[str, float]] = {}
    for ef in [int(e) for e in a.efs.split(",")]:
        qps[ef] = {k: [] for k in indexes}
        recalls[ef] = {}
        for _ in range(a.rounds):
            for name, idx in indexes.items():
                t = time.thread_time()
                found = [idx.search(q, k=10, ef=ef)[0] for q in Q]
                qps[ef][name].append(len(Q) / (time.thread_time() - t))
                recalls[ef][name] = recall([list(f) for f in found])
    n = len(X)
    memory["codes_anon_bytes_per_vector"] = memory["open_codes_anon_bytes"] / n
    median = {ef: {k: statistics.median(v) for k, v in d.items()} for ef, d in qps.items()}
    doc = {
        "timestamp": run.now_utc().strftime("%Y%m%dT%H%M%SZ"),
        "dataset": folder.name, "n": n, "dim": X.shape[1], "queries": len(Q), "bits": a.bits,
        "M": a.M, "ef_construction": a.efc, "rounds": a.rounds,
        "machine": {**run.machine_info(), "loadavg_before": loadavg_start},
        "qps_median": median, "qps_all": qps, "recall": recalls, "memory": memory,
    }
    path = run.Writer(Path(a.out), "mapped-codes", doc).finish()
    print(f"{folder.name}: {n} x {X.shape[1]}, {a.bits}-bit codes, CPU {doc['machine'].get('cpu_model')}")
    for ef in median:
        base = median[ef]["mapped f32"]
        print(f"ef {ef}: " + "; ".join(
            f"{k} recall {recalls[ef][k]:.4f} {median[ef][k]:.0f} q/s ({median[ef][k] / base:.2f}x)" for k in median[ef]))
    print("memory:", memory)
    print(f"wrote {path}")
    for idx in indexes.values():
        idx.close()
    for f in files.values():
        f.unlink(missing_ok=True)
    work.rmdir()


if __name__ == "__main__":
    main()
