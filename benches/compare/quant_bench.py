#!/usr/bin/env python3
"""Quantized indexes side by side: memory per vector, recall@10 and single-thread QPS of OmenDB
f32 / f16 / int8 / binary / pq (re-ranked at full precision), FAISS IndexHNSWSQ (8-bit) and
IndexHNSWPQ (each bare and under IndexRefineFlat, FAISS's re-ranking), and USearch f16 / i8 / b1,
on one data set, in one process, in one run.

Memory, per vector, three ways:
- ``own``: what OmenDB reports for its index (``memory_bytes``: records, links, keys, codec
  tables, and full-precision vectors only when they are in anonymous memory); for FAISS and
  USearch the anonymous-memory growth stands in (FAISS reports nothing; USearch's
  ``memory_usage`` did not change with its dtype, see ``reported_bytes`` in the JSON);
- ``anon``: growth of RssAnon (/proc/self/status) across the build: heap and anonymous maps;
- ``file``: growth of RssFile: file pages mapped and resident (OmenDB's full-precision vectors
  with ``--full-precision-dir``): page cache, which the OS may drop, but resident now.

QPS: the same queries go to every configuration in turn, in small interleaved chunks, each
timed by its calling thread's CPU time (time.thread_time), so other load on a shared machine
cancels out (the method of interleaved.py). Recall is tie-safe (run.Recall). For each
configuration the table gives the fastest ef (of --efs) whose recall@10 reaches --target.

    python benches/compare/quant_bench.py mnist-784-euclidean
    python benches/compare/quant_bench.py npl-ir      # MiniLM 384-d, cosine (see below)

    python benches/compare/quant_bench.py clustered-768 --n 30000   # synthetic, see clustered()

npl-ir has 93 queries: the last --holdout documents (default 1,000) are taken out of the
base and used as queries too, so QPS is measured over 1,093 queries.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (data readers, Recall, machine info)


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def mem() -> Dict[str, int]:
    return {"anon": status_kib("RssAnon"), "file": status_kib("RssFile")}


class Config:
    """One index under test: builds, searches one query, reports its own memory."""

    name = ""

    def build(self, X: np.ndarray) -> None: ...

    def set_ef(self, ef: int) -> None: ...

    def search_one(self, q: np.ndarray) -> np.ndarray: ...

    def own_bytes(self) -> Optional[int]:
        return None


class Omen(Config):
    def __init__(self, dim: int, metric: str, dtype: str, rerank: int, M: int, efc: int, fp_dir: Optional[str]):
        from omendb import Index

        self.name = f"omendb {dtype}" + ("" if dtype == "f32" else f" rerank={rerank}")
        self.dtype = dtype
        kw: Dict[str, Any] = {}
        if dtype != "f32":
            kw = {"rerank": rerank, "full_precision_dir": fp_dir}
        self.p = Index(dim=dim, metric="cosine" if metric == "cos" else "l2", m=M, ef_construction=efc, dtype=dtype, **kw)

    def build(self, X: np.ndarray) -> None:
        self.p.add(X, ids=np.arange(len(X), dtype=np.uint64))

    def set_ef(self, ef: int) -> None:
        self.ef = ef

    def search_one(self, q: np.ndarray) -> np.ndarray:
        return self.p.search(q, k=10, ef=self.ef)[0]

    def own_bytes(self) -> Optional[int]:
        return self.p.memory_bytes()


class FaissQ(Config):
    """IndexHNSWSQ (QT_8bit) or IndexHNSWPQ, optionally wrapped in IndexRefineFlat (full f32
    copies in memory, re-scoring k_factor * k candidates). Cosine = inner product on vectors
    normalised here."""

    def __init__(self, dim: int, metric: str, kind: str, pq_m: int, M: int, efc: int, refine: int):
        import faiss

        self.faiss, self.metric = faiss, metric
        fm = faiss.METRIC_INNER_PRODUCT if metric == "cos" else faiss.METRIC_L2
        if kind == "sq8":
            base = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, M, fm)
        else:
            base = faiss.IndexHNSWPQ(dim, pq_m, M, 8, fm)
        base.hnsw.efConstruction = efc
        self.base = base
        self.p = faiss.IndexRefineFlat(base) if refine else base
        if refine:
            self.p.k_factor = float(refine)
        label = "IndexHNSWSQ 8bit" if kind == "sq8" else f"IndexHNSWPQ m={pq_m}"
        self.name = f"faiss {label}" + (f" +RefineFlat k_factor={refine}" if refine else "")

    def _prep(self, X: np.ndarray) -> np.ndarray:
        if self.metric == "cos":
            X = X / np.linalg.norm(X, axis=-1, keepdims=True)
        return np.ascontiguousarray(X, dtype=np.float32)

    def build(self, X: np.ndarray) -> None:
        Xp = self._prep(X)
        self.p.train(Xp)
        self.p.add(Xp)

    def set_ef(self, ef: int) -> None:
        self.base.hnsw.efSearch = ef
        self.faiss.omp_set_num_threads(1)

    def search_one(self, q: np.ndarray) -> np.ndarray:
        return self.p.search(self._prep(q[None, :]), 10)[1][0]


class USearchQ(Config):
    """USearch with dtype f16 / i8 / b1 (b1: the sign bits of each vector, np.packbits, Hamming
    metric; USearch has no re-ranking, so recall is what the codes give)."""

    def __init__(self, dim: int, metric: str, dtype: str, M: int, efc: int):
        from usearch.index import Index

        self.dtype = dtype
        self.name = f"usearch {dtype}"
        m = "hamming" if dtype == "b1" else ("cos" if metric == "cos" else "l2sq")
        self.p = Index(ndim=dim, metric=m, dtype=dtype, connectivity=M, expansion_add=efc)

    def _prep(self, X: np.ndarray) -> np.ndarray:
        if self.dtype == "b1":
            return np.packbits((X > 0).astype(np.uint8), axis=-1)
        return X

    def build(self, X: np.ndarray) -> None:
        self.p.add(np.arange(len(X), dtype=np.uint64), self._prep(X), threads=os.cpu_count() or 2)

    def set_ef(self, ef: int) -> None:
        self.p.expansion_search = ef

    def search_one(self, q: np.ndarray) -> np.ndarray:
        return self.p.search(self._prep(q), 10, threads=1).keys

    def reported_bytes(self) -> int:
        # USearch's own count; it stayed at the f32 figure for f16 / i8 / b1 in our runs, so the
        # tables use the RssAnon growth for USearch and keep this number in the JSON only.
        return int(self.p.memory_usage)


def clustered(n: int, nq: int, dim: int = 768, clusters: int = 200, seed: int = 0):
    """A synthetic embedding-like set: `clusters` Gaussian clusters (centres N(0, 1), spread
    0.6 per dimension, a common offset of 0.3 so dimensions have non-zero means), rows
    L2-normalised, cosine metric; queries drawn from the same clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32) + 0.3

    def draw(m: int) -> np.ndarray:
        x = centres[rng.integers(0, clusters, m)] + 0.6 * rng.standard_normal((m, dim)).astype(np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return draw(n), draw(nq)


def load(dataset: str, holdout: int, n_limit: int, nq: int):
    if dataset == "clustered-768":
        X, Q = clustered(n_limit or 50_000, nq)
        _, gt_dist = run.brute_force(X, Q, 10, "cos")
        return dataset, X, Q, "cos", gt_dist
    folder = run.resolve_dataset(dataset, None)
    if run.is_held_out_set(folder):  # npl-ir: documents held out as queries (run.load_held_out_set)
        X, Q, metric = run.load_held_out_set(folder, holdout)
    else:
        metric = run.dataset_metric(folder)
        X = run.load_vectors(folder, "base")
        Q = run.load_vectors(folder, "query")
    if n_limit:
        X = X[:n_limit]
    Q = np.ascontiguousarray(Q[:nq])
    _, gt_dist = run.brute_force(X, Q, 10, metric)
    return folder.name, np.ascontiguousarray(X), Q, metric, gt_dist


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--n", type=int, default=0, help="use only the first N base vectors (0 = all)")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--holdout", type=int, default=1000)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--efs", default="16,32,64,128,256")
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--omendb", default="f32,f16:2,int8:2,int8:4,binary:4,binary:8,binary:16,pq:4,pq:8",
                    help="dtype:rerank list")
    ap.add_argument("--pq-m", type=int, default=0, help="PQ sub-spaces for FAISS (0 = dim / 8, as OmenDB)")
    ap.add_argument("--peers", default="faiss,usearch")
    ap.add_argument("--faiss-kinds", default="sq8,pq", help="sq8 (IndexHNSWSQ), pq (IndexHNSWPQ)")
    ap.add_argument("--full-precision-dir", default=None,
                    help="directory for OmenDB's full-precision vector files (default: a temporary directory)")
    a = ap.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(a.threads))
    sys.path.insert(0, str(run.REPO / "bindings" / "python"))

    name, X, Q, metric, gt_dist = load(a.dataset, a.holdout, a.n, a.nq)
    n, dim = X.shape
    recall = run.Recall(X, Q, gt_dist, 10, metric)
    pq_m = a.pq_m or dim // 8
    fp_tmp = tempfile.TemporaryDirectory(dir=a.full_precision_dir)
    print(f"{name}: n={n} dim={dim} metric={metric} queries={len(Q)}", flush=True)

    makers = []
    for spec in a.omendb.split(","):
        dtype, _, rr = spec.partition(":")
        makers.append(lambda d=dtype, r=int(rr or 4): Omen(dim, metric, d, r, a.M, a.efc, fp_tmp.name))
    peers = a.peers.split(",") if a.peers else []
    if "faiss" in peers:
        import faiss

        faiss.omp_set_num_threads(a.threads)
        for kind in a.faiss_kinds.split(","):
            for refine in (0, 4):
                makers.append(lambda k=kind, r=refine: FaissQ(dim, metric, k, pq_m, a.M, a.efc, r))
    if "usearch" in peers:
        for dt in ("f16", "i8", "b1"):
            makers.append(lambda d=dt: USearchQ(dim, metric, d, a.M, a.efc))

    configs: List[Config] = []
    builds: Dict[str, Any] = {}
    for make in makers:
        run.release_memory()
        before = mem()
        cfg = make()
        t, c = time.perf_counter(), time.process_time()
        if isinstance(cfg, FaissQ):
            cfg.faiss.omp_set_num_threads(a.threads)
        cfg.build(X)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        run.release_memory()
        after = mem()
        own = cfg.own_bytes()
        anon = after["anon"] - before["anon"]
        b = {
            "build_wall_s": wall,
            "build_cpu_s": cpu,
            "own_bytes_per_vector": (own if own is not None else anon) / n,
            "own_source": "library" if own is not None else "RssAnon growth",
            "anon_bytes_per_vector": anon / n,
            "file_bytes_per_vector": (after["file"] - before["file"]) / n,
        }
        if isinstance(cfg, USearchQ):
            b["usearch_memory_usage_per_vector"] = cfg.reported_bytes() / n
        builds[cfg.name] = b
        configs.append(cfg)
        print(f"{cfg.name:40s} build {wall:6.1f}s wall {cpu:6.1f}s CPU  own {b['own_bytes_per_vector']:7.0f} B/vec"
              f"  anon {b['anon_bytes_per_vector']:7.0f}  file {b['file_bytes_per_vector']:7.0f}", flush=True)

    sweeps: Dict[str, List[Dict[str, float]]] = {c.name: [] for c in configs}
    for ef in [int(e) for e in a.efs.split(",")]:
        found = {c.name: np.full((len(Q), 10), -1, dtype=np.int64) for c in configs}
        spent = {c.name: 0.0 for c in configs}
        for c in configs:
            c.set_ef(ef)
            c.search_one(Q[0])  # warm
        for s in range(0, len(Q), a.chunk):
            for c in configs:
                t = time.thread_time()
                out = [c.search_one(q) for q in Q[s : s + a.chunk]]
                spent[c.name] += time.thread_time() - t
                for i, lab in enumerate(out):
                    lab = run._labels(np.asarray(lab).reshape(-1))[:10]
                    found[c.name][s + i, : len(lab)] = lab
        for c in configs:
            r = recall(found[c.name])
            qps = len(Q) / spent[c.name]
            sweeps[c.name].append({"ef": ef, "recall": r, "qps": qps})
            print(f"ef={ef:4d} {c.name:40s} recall@10={r:.4f} QPS={qps:8.0f}", flush=True)

    summary = {}
    f32_name = next((c.name for c in configs if isinstance(c, Omen) and c.dtype == "f32"), None)
    for c in configs:
        ok = [p for p in sweeps[c.name] if p["recall"] >= a.target]
        best = max(ok, key=lambda p: p["qps"]) if ok else None
        summary[c.name] = {**builds[c.name], "best_at_target": best, "max_recall": max(p["recall"] for p in sweeps[c.name])}
    if f32_name:
        base = summary[f32_name]
        for s in summary.values():
            s["own_memory_vs_omendb_f32"] = s["own_bytes_per_vector"] / base["own_bytes_per_vector"]
            s["anon_memory_vs_omendb_f32"] = s["anon_bytes_per_vector"] / base["anon_bytes_per_vector"]
            if s["best_at_target"] and base["best_at_target"]:
                s["qps_vs_omendb_f32"] = s["best_at_target"]["qps"] / base["best_at_target"]["qps"]

    print(f"\n| index | own B/vec | x f32 | anon B/vec | file B/vec | recall@10 (ef) | QPS | x f32 QPS | build s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in configs:
        s = summary[c.name]
        best = s["best_at_target"]
        rec = f"{best['recall']:.3f} ({best['ef']})" if best else f"max {s['max_recall']:.3f}"
        qps = f"{best['qps']:.0f}" if best else "n/a"
        print(f"| {c.name} | {s['own_bytes_per_vector']:.0f} | {s.get('own_memory_vs_omendb_f32', float('nan')):.3f} | "
              f"{s['anon_bytes_per_vector']:.0f} | {s['file_bytes_per_vector']:.0f} | {rec} | {qps} | "
              f"{s.get('qps_vs_omendb_f32', float('nan')):.2f} | {s['build_wall_s']:.1f} |")

    out = run.REPO / "benches" / "compare" / "results" / f"quant-{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps({
        "dataset": name, "n": n, "dim": dim, "metric": metric, "queries": len(Q), "M": a.M,
        "ef_construction": a.efc, "target_recall": a.target, "threads_build": a.threads,
        "omendb_full_precision": "file (unlinked temp file, mmapped)",
        "machine": run.machine_info(), "summary": summary, "sweeps": sweeps,
        "command": " ".join(sys.argv),
    }, indent=1))
    print(f"\nwrote {out}")
    for c in configs:
        if isinstance(c, Omen):
            c.p.close()
    fp_tmp.cleanup()


if __name__ == "__main__":
    main()
