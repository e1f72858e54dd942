#!/usr/bin/env python3
"""Side-by-side HNSW benchmark: OmenDB (through its Python package) against hnswlib, USearch and
FAISS ``IndexHNSWFlat``, on the same data, with the same M and ef_construction, in one process,
libraries in turn. ``report.py`` turns the JSON written here into BENCHMARKS.md and plots.

ANN mode (a dataset folder with TEXMEX files, as in ../shared/data/<name>/):

    python benches/compare/run.py glove-50-angular [--nbase N] [--nq N] [--threads T] ...

  per library: build time on T threads (wall and process CPU), memory (RSS growth from
  /proc/self/statm across the build: retained after it and peak during it, and bytes per vector),
  then for each ef of the sweep: recall@k on all queries (tie-safe, see ``Recall``), single-thread
  QPS (one query per call, the first --single queries) and batched QPS (all queries in one call,
  on T threads).

Insert mode (generated Gaussian data, L2):

    python benches/compare/run.py --insert [--insert-n 20000] [--insert-dims 128,256,512,1536]

  per dim and library: vectors/s of one-at-a-time adds (the first --insert-single adds into an
  empty index, one call each, timed) and of one batch add of all n vectors into a fresh index
  on T threads.

Each run writes benches/compare/results/<dataset or 'insert'>-<UTC timestamp>.json (a .tmp file
is rewritten after every library, so an interrupted run leaves its partial results).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as _dt
import gc
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
LIB_ORDER = ("omendb", "hnswlib", "usearch", "faiss")


# ---------------------------------------------------------------------------------------------
# data


def read_vecs(path: Path, dtype: Any) -> np.ndarray:
    """TEXMEX .fvecs / .ivecs / .bvecs: each record is int32 dim, then dim values."""
    raw = np.fromfile(path, dtype=np.uint8)
    d = int(raw[:4].view("<i4")[0])
    rec = 4 + d * np.dtype(dtype).itemsize
    return raw.reshape(-1, rec)[:, 4:].copy().view(dtype)


def load_vectors(folder: Path, stem: str) -> np.ndarray:
    f = folder / f"{stem}.fvecs"
    if f.exists():
        return np.ascontiguousarray(read_vecs(f, "<f4"), dtype=np.float32)
    return np.ascontiguousarray(read_vecs(folder / f"{stem}.bvecs", np.uint8), dtype=np.float32)


def dataset_metric(folder: Path) -> str:
    """'cos' or 'l2': a file 'metric' wins, else 'angular' in the folder name means cosine."""
    m = folder / "metric"
    if m.exists():
        text = m.read_text().strip().lower()
        return "cos" if text.startswith("cos") or text == "angular" else "l2"
    return "cos" if "angular" in folder.name else "l2"


def resolve_dataset(name: str, root: Optional[str]) -> Path:
    p = Path(name)
    if p.is_dir():
        return p.resolve()
    roots = [root] if root else [os.environ.get("OMENDB_DATA"), str(REPO.parent / "shared" / "data")]
    for r in roots:
        if r and (Path(r) / name).is_dir():
            return (Path(r) / name).resolve()
    sys.exit(f"dataset {name!r} not found (looked in {', '.join(str(r) for r in roots if r)})")


def is_held_out_set(folder: Path) -> bool:
    """An embedded text collection with no TEXMEX base file (npl-ir: ``corpus_minilm.fvecs`` and
    ``queries_minilm.fvecs``), read by ``load_held_out_set``."""
    return (folder / "corpus_minilm.fvecs").exists() and not any(
        (folder / f"base.{ext}").exists() for ext in ("fvecs", "bvecs"))


def load_held_out_set(folder: Path, holdout: int = 1000):
    """(base, queries, metric) of an embedded text collection (npl-ir: 11,426 MiniLM document
    embeddings, 384-d, L2-normalised, and 93 query embeddings; cosine). Base = the corpus less
    its last ``holdout`` documents; queries = the query embeddings, then the held-out documents
    (93 + holdout rows). No ground truth ships: compute it with ``brute_force``."""
    docs = read_vecs(folder / "corpus_minilm.fvecs", "<f4").astype(np.float32)
    queries = read_vecs(folder / "queries_minilm.fvecs", "<f4").astype(np.float32)
    if not 0 <= holdout < len(docs):
        sys.exit(f"holdout {holdout} out of range for {len(docs)} documents")
    cut = len(docs) - holdout
    X, held = docs[:cut], docs[cut:]
    Q = np.concatenate([queries, held])
    return np.ascontiguousarray(X), np.ascontiguousarray(Q), "cos"


def true_distances(X: np.ndarray, Q: np.ndarray, ids: np.ndarray, metric: str) -> np.ndarray:
    """Exact float64 distances between each query row and the base rows ``ids`` (same shape as
    ids, which must be valid). Units as the ground truth files: 1 - cos, or L2 (not squared)."""
    V = X[ids].astype(np.float64)  # (c, k, d)
    q = Q.astype(np.float64)[:, None, :]  # (c, 1, d)
    if metric == "cos":
        dots = (V * q).sum(-1)
        return 1.0 - dots / (np.linalg.norm(V, axis=-1) * np.linalg.norm(q, axis=-1))
    return np.sqrt(((V - q) ** 2).sum(-1))


def brute_force(X: np.ndarray, Q: np.ndarray, k: int, metric: str, chunk: int = 256):
    """Exact top-k (ids, distances) in float64, ties to the lower id; distances in the units of
    the shipped ground truth (1 - cos, or L2)."""
    X64 = X.astype(np.float64)
    if metric == "cos":
        X64 /= np.linalg.norm(X64, axis=1, keepdims=True)
    else:
        xx = (X64 * X64).sum(1)
    ids = np.empty((len(Q), k), dtype=np.int64)
    dist = np.empty((len(Q), k), dtype=np.float64)
    for s in range(0, len(Q), chunk):
        q = Q[s : s + chunk].astype(np.float64)
        if metric == "cos":
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            d = 1.0 - q @ X64.T
        else:
            d = np.sqrt(np.maximum((q * q).sum(1)[:, None] + xx[None, :] - 2.0 * (q @ X64.T), 0.0))
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(d.shape[1]), (len(q), 1))
        pd = np.take_along_axis(d, part, 1)
        order = np.lexsort((part, pd), axis=1)  # by distance, then id
        ids[s : s + chunk] = np.take_along_axis(part, order, 1)
        dist[s : s + chunk] = np.take_along_axis(pd, order, 1)
    return ids, dist


class Recall:
    """recall@k, tie-safe: a returned id counts when its exact float64 distance to the query is
    <= the k-th ground-truth distance + 1e-4 relative (so any of several equidistant k-th
    neighbours counts). Missing and repeated ids count as misses."""

    REL_EPS = 1e-4

    def __init__(self, X: np.ndarray, Q: np.ndarray, gt_dist: np.ndarray, k: int, metric: str):
        self.X, self.Q, self.k, self.metric = X, Q, k, metric
        kth = gt_dist[:, k - 1].astype(np.float64)
        self.threshold = kth + self.REL_EPS * np.abs(kth) + 1e-12

    def __call__(self, found: np.ndarray, chunk: int = 500) -> float:
        found = np.asarray(found)[:, : self.k].astype(np.int64)
        n = len(self.X)
        valid = (found >= 0) & (found < n)
        # a repeated id counts once: drop every occurrence after the first
        order = np.argsort(np.where(valid, found, -1), axis=1, kind="stable")
        srt = np.take_along_axis(np.where(valid, found, -1), order, 1)
        dup = np.zeros_like(valid)
        np.put_along_axis(dup, order[:, 1:], (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0), 1)
        valid &= ~dup
        hits = 0
        for s in range(0, len(found), chunk):
            f = found[s : s + chunk]
            v = valid[s : s + chunk]
            d = true_distances(self.X, self.Q[s : s + chunk], np.where(v, f, 0), self.metric)
            hits += int((v & (d <= self.threshold[s : s + chunk, None])).sum())
        return hits / (self.k * len(found))


# ---------------------------------------------------------------------------------------------
# memory and machine


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def rss_parts() -> Dict[str, int]:
    """RssAnon and RssFile of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                key, kb = line.split()[:2]
                out[key.rstrip(":")] = int(kb) * 1024
    return out


_libc = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None


def release_memory() -> None:
    """Collect garbage and hand free heap back to the OS so the next library's RSS growth starts
    from a clean baseline."""
    gc.collect()
    if _libc is not None and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)


class PeakRss:
    """Samples RSS every few ms on a thread while a build runs (library builds release the GIL)."""

    def __init__(self, period_s: float = 0.005):
        self.period_s, self.peak, self._stop = period_s, rss_bytes(), threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.period_s)

    def __enter__(self) -> "PeakRss":
        self._t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_bytes())


def _git(*args: str) -> Optional[str]:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return None


def machine_info() -> Dict[str, Any]:
    cpu, flags = "unknown", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    mem_total = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_total = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "simd": [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "asimd") if f in flags],
        "mem_total_bytes": mem_total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "hostname": platform.node(),
    }


def library_versions(libs: List[str]) -> Dict[str, Any]:
    from importlib.metadata import version as dist_version

    out: Dict[str, Any] = {"numpy": np.__version__}
    for lib in libs:
        try:
            if lib == "omendb":
                import omendb
                from omendb import _ffi

                out["omendb"] = omendb.version()
                so = getattr(_ffi.lib, "_name", None)
                out["omendb_lib"] = so
                if so and os.path.exists(so):
                    out["omendb_lib_mtime"] = _dt.datetime.fromtimestamp(os.path.getmtime(so), _dt.timezone.utc).isoformat()
            elif lib == "hnswlib":
                out["hnswlib"] = dist_version("hnswlib")
            elif lib == "usearch":
                import usearch

                out["usearch"] = usearch.__version__
            elif lib == "faiss":
                import faiss

                out["faiss"] = faiss.__version__
                out["faiss_compile_options"] = faiss.get_compile_options().strip()
        except Exception as e:  # record, do not die: the run of the others is still useful
            out[lib] = f"unavailable: {e}"
    out["omendb_git"] = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml", "bindings/python")
    out["omendb_git_dirty_src"] = bool(dirty) if dirty is not None else None
    return out


# ---------------------------------------------------------------------------------------------
# the libraries: one adapter each, same shape


class Lib:
    """build(X) on `threads` threads; search_batch(Q, k, ef) on `threads` threads; search_one(q, k)
    one query, one thread, ef as last set; add_one(i, x); labels are returned as int64 with -1 where
    nothing was found."""

    name = ""

    def __init__(self, dim: int, metric: str, M: int, efc: int, threads: int, capacity: int):
        self.dim, self.metric, self.M, self.efc, self.threads, self.capacity = dim, metric, M, efc, threads, capacity
        self.ef = 10

    def extra(self) -> Dict[str, Any]:
        """Self-reported numbers worth keeping (index memory, SIMD level...)."""
        return {}

    def close(self) -> None:
        self.p = None


def _labels(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == np.uint64:
        out = a.astype(np.int64)  # UINT64_MAX -> -1
        out[a >= np.uint64(2**63)] = -1
        return out
    return a.astype(np.int64)


class OmenDB(Lib):
    """Through bindings/python: RAYON_NUM_THREADS (set before the library loads) fixes its threads."""

    name = "omendb"
    # More keyword options of omendb.Index (interleaved.py's "omendb+neighbor_codes=8").
    index_options: Dict[str, Any] = {}

    def __init__(self, *a: Any):
        super().__init__(*a)
        from omendb import Index

        self.p = Index(dim=self.dim, metric="cosine" if self.metric == "cos" else "l2", m=self.M, ef_construction=self.efc,
                       **self.index_options)

    def build(self, X: np.ndarray) -> None:
        self.p.add(X, ids=np.arange(len(X), dtype=np.uint64))

    def add_one(self, i: int, x: np.ndarray) -> None:
        self.p.add(x, ids=i)

    def set_ef(self, ef: int) -> None:
        self.ef = ef

    def search_batch(self, Q: np.ndarray, k: int) -> np.ndarray:
        return _labels(self.p.search(Q, k=k, ef=self.ef)[0])

    def search_one(self, q: np.ndarray, k: int) -> Any:
        return self.p.search(q, k=k, ef=self.ef)[0]

    def extra(self) -> Dict[str, Any]:
        return {"index_memory_bytes": self.p.memory_bytes()}

    def close(self) -> None:
        if self.p is not None:
            self.p.close()
        self.p = None


class Hnswlib(Lib):
    name = "hnswlib"

    def __init__(self, *a: Any):
        super().__init__(*a)
        import hnswlib

        self.p = hnswlib.Index(space="cosine" if self.metric == "cos" else "l2", dim=self.dim)
        # hnswlib must know its capacity up front
        self.p.init_index(max_elements=self.capacity, M=self.M, ef_construction=self.efc)

    def build(self, X: np.ndarray) -> None:
        self.p.add_items(X, np.arange(len(X)), num_threads=self.threads)

    def add_one(self, i: int, x: np.ndarray) -> None:
        self.p.add_items(x[None, :], [i], num_threads=1)

    def set_ef(self, ef: int) -> None:
        self.ef = ef
        self.p.set_ef(ef)

    def search_batch(self, Q: np.ndarray, k: int) -> np.ndarray:
        return _labels(self.p.knn_query(Q, k=k, num_threads=self.threads)[0])

    def search_one(self, q: np.ndarray, k: int) -> Any:
        return self.p.knn_query(q, k=k, num_threads=1)[0]


class USearch(Lib):
    """f32 storage (no down-casting), 'cos' / 'l2sq' metrics, connectivity = M."""

    name = "usearch"

    def __init__(self, *a: Any):
        super().__init__(*a)
        from usearch.index import Index

        self.p = Index(ndim=self.dim, metric="cos" if self.metric == "cos" else "l2sq", dtype="f32",
                       connectivity=self.M, expansion_add=self.efc)

    def build(self, X: np.ndarray) -> None:
        self.p.add(np.arange(len(X), dtype=np.uint64), X, threads=self.threads)

    def add_one(self, i: int, x: np.ndarray) -> None:
        self.p.add(i, x, threads=1)

    def set_ef(self, ef: int) -> None:
        self.ef = ef
        self.p.expansion_search = ef

    def search_batch(self, Q: np.ndarray, k: int) -> np.ndarray:
        return _labels(self.p.search(Q, k, threads=self.threads).keys)

    def search_one(self, q: np.ndarray, k: int) -> Any:
        return self.p.search(q, k, threads=1).keys

    def extra(self) -> Dict[str, Any]:
        return {"index_memory_bytes": int(self.p.memory_usage), "hardware_acceleration": str(self.p.hardware_acceleration)}


class Faiss(Lib):
    """IndexHNSWFlat; cosine = inner product on vectors normalised here (timed: in build, and in
    every search call)."""

    name = "faiss"

    def __init__(self, *a: Any):
        super().__init__(*a)
        import faiss

        self.faiss = faiss
        if self.metric == "cos":
            self.p = faiss.IndexHNSWFlat(self.dim, self.M, faiss.METRIC_INNER_PRODUCT)
        else:
            self.p = faiss.IndexHNSWFlat(self.dim, self.M)
        self.p.hnsw.efConstruction = self.efc

    def _prep(self, X: np.ndarray) -> np.ndarray:
        if self.metric == "cos":
            X = X / np.linalg.norm(X, axis=-1, keepdims=True)
        return np.ascontiguousarray(X, dtype=np.float32)

    def build(self, X: np.ndarray) -> None:
        self.faiss.omp_set_num_threads(self.threads)
        self.p.add(self._prep(X))

    def add_one(self, i: int, x: np.ndarray) -> None:
        self.p.add(self._prep(x[None, :]))  # ids are sequential in FAISS: i-th add is id i

    def begin_single(self) -> None:
        self.faiss.omp_set_num_threads(1)

    def end_single(self) -> None:
        self.faiss.omp_set_num_threads(self.threads)

    def set_ef(self, ef: int) -> None:
        self.ef = ef
        self.p.hnsw.efSearch = ef

    def search_batch(self, Q: np.ndarray, k: int) -> np.ndarray:
        self.faiss.omp_set_num_threads(self.threads)
        return _labels(self.p.search(self._prep(Q), k)[1])

    def search_one(self, q: np.ndarray, k: int) -> Any:
        return self.p.search(self._prep(q[None, :]), k)[1]


LIBS: Dict[str, Callable[..., Lib]] = {c.name: c for c in (OmenDB, Hnswlib, USearch, Faiss)}


# ---------------------------------------------------------------------------------------------
# runs


def now_utc() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class Writer:
    """Keeps the run's JSON document; rewrites <name>.json.tmp after each step, renames at the end."""

    def __init__(self, out_dir: Path, stem: str, doc: Dict[str, Any]):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / f"{stem}-{doc['timestamp']}.json"
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.doc = doc

    def save(self) -> None:
        self.tmp.write_text(json.dumps(self.doc, indent=1) + "\n")

    def finish(self) -> Path:
        self.doc["finished"] = now_utc().isoformat(timespec="seconds")
        self.doc["machine"]["loadavg_after"] = list(os.getloadavg())
        self.save()
        os.replace(self.tmp, self.path)
        return self.path


def timed_best(fn: Callable[[], Any], repeat: int) -> tuple:
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run_ann(a: argparse.Namespace, libs: List[str]) -> Path:
    folder = resolve_dataset(a.dataset, a.data_root)
    metric = dataset_metric(folder)
    t0 = time.perf_counter()
    X = load_vectors(folder, "base")
    Q = load_vectors(folder, "query")
    gt_ids = read_vecs(folder / "groundtruth.ivecs", "<i4")
    gt_dist = read_vecs(folder / "groundtruth_dist.fvecs", "<f4")
    full_nq = len(Q)
    if a.nq:
        Q, gt_ids, gt_dist = Q[: a.nq].copy(), gt_ids[: a.nq], gt_dist[: a.nq]
    truth = "shipped"
    full_n = len(X)
    if a.nbase and a.nbase < len(X):
        X = X[: a.nbase].copy()
        print(f"[{folder.name}] exact ground truth for {len(Q)} queries over the first {len(X)} base vectors ...", flush=True)
        gt_ids, gt_dist = brute_force(X, Q, max(a.k, 10), metric)
        truth = "recomputed (float64 brute force)"
    if gt_dist.shape[1] < a.k:
        sys.exit(f"ground truth has only {gt_dist.shape[1]} neighbours, k = {a.k}")
    recall = Recall(X, Q, gt_dist, a.k, metric)
    n, dim = X.shape
    print(f"[{folder.name}] n={n} dim={dim} metric={metric} queries={len(Q)} (data ready in {time.perf_counter() - t0:.1f}s)", flush=True)

    efs = [int(e) for e in a.efs.split(",")]
    n1 = min(a.single, len(Q))
    doc: Dict[str, Any] = {
        "kind": "ann",
        "dataset": folder.name,
        "timestamp": now_utc().strftime("%Y%m%dT%H%M%SZ"),
        "config": {
            "n": n, "dim": dim, "metric": metric, "nq": len(Q), "k": a.k, "M": a.M, "ef_construction": a.efc,
            "threads": a.threads, "efs": efs, "single_queries": n1, "repeat": a.repeat,
            "subsampled": n < full_n or len(Q) < full_nq, "full_n": full_n, "full_nq": full_nq,
            "nbase_flag": a.nbase, "nq_flag": a.nq, "ground_truth": truth,
            "recall_rule": f"returned id counts if exact float64 distance <= k-th true distance * (1 + {Recall.REL_EPS})",
            "libs": libs,
        },
        "machine": {**machine_info(), "loadavg_before": list(os.getloadavg())},
        "versions": library_versions(libs),
        "results": [],
    }
    w = Writer(Path(a.out), folder.name, doc)
    w.save()
    raw_bytes = n * dim * 4
    for name in libs:
        release_memory()
        res: Dict[str, Any] = {"lib": name, "loadavg_start": list(os.getloadavg())}
        try:
            r0 = rss_bytes()
            c0, t = time.process_time(), time.perf_counter()
            with PeakRss() as peak:
                impl = LIBS[name](dim, metric, a.M, a.efc, a.threads, n)
                impl.build(X)
            build_s, build_cpu = time.perf_counter() - t, time.process_time() - c0
            grown = rss_bytes() - r0
            res["build"] = {
                "wall_s": build_s, "cpu_s": build_cpu, "vectors_per_s": n / build_s,
                "rss_growth_bytes": grown, "rss_peak_growth_bytes": peak.peak - r0,
                "bytes_per_vector": grown / n, "raw_vector_bytes": dim * 4,
                "overhead_ratio": grown / raw_bytes,
                **impl.extra(),
            }
            print(f"  {name:8s} build {build_s:7.2f}s (cpu {build_cpu:.1f}s)  rss +{grown / 2**20:.1f} MiB "
                  f"({grown / n:.0f} B/vec, peak +{(peak.peak - r0) / 2**20:.1f} MiB)", flush=True)
            sweep = []
            for ef in efs:
                impl.set_ef(max(ef, a.k))
                impl.search_batch(Q[: min(len(Q), 200)], a.k)  # warm caches and thread pools
                batch_s, found = timed_best(lambda: impl.search_batch(Q, a.k), a.repeat)
                rec = recall(found)
                getattr(impl, "begin_single", lambda: None)()
                rows = [Q[i] for i in range(n1)]
                k = a.k

                def singles() -> None:
                    one = impl.search_one
                    for q in rows:
                        one(q, k)

                for q in rows[: min(50, n1)]:  # warm the single-query path
                    impl.search_one(q, k)
                single_s, _ = timed_best(singles, a.repeat)
                getattr(impl, "end_single", lambda: None)()
                point = {"ef": ef, "ef_used": max(ef, a.k), "recall": rec, "batch_qps": len(Q) / batch_s,
                         "single_qps": n1 / single_s, "single_latency_us": 1e6 * single_s / n1}
                sweep.append(point)
                print(f"    ef={ef:4d} recall@{a.k}={rec:.4f}  single {point['single_qps']:9.0f} q/s  "
                      f"batch {point['batch_qps']:9.0f} q/s", flush=True)
            res["sweep"] = sweep
            impl.close()
            del impl
        except Exception as e:  # one library failing must not lose the others
            import traceback

            traceback.print_exc()
            res["error"] = f"{type(e).__name__}: {e}"
        res["loadavg_end"] = list(os.getloadavg())
        doc["results"].append(res)
        w.save()
    return w.finish()


def run_insert(a: argparse.Namespace, libs: List[str]) -> Path:
    dims = [int(d) for d in a.insert_dims.split(",")]
    n, n1 = a.insert_n, min(a.insert_single, a.insert_n)
    doc: Dict[str, Any] = {
        "kind": "insert",
        "dataset": "insert",
        "timestamp": now_utc().strftime("%Y%m%dT%H%M%SZ"),
        "config": {"n": n, "single_adds": n1, "dims": dims, "metric": "l2", "data": "standard normal float32, seed 42",
                   "M": a.M, "ef_construction": a.efc, "threads": a.threads, "libs": libs},
        "machine": {**machine_info(), "loadavg_before": list(os.getloadavg())},
        "versions": library_versions(libs),
        "results": [],
    }
    w = Writer(Path(a.out), "insert", doc)
    w.save()
    for dim in dims:
        X = np.random.default_rng(42).standard_normal((n, dim), dtype=np.float32)
        rows = [X[i] for i in range(n1)]
        print(f"[insert] dim={dim} n={n}", flush=True)
        for name in libs:
            res: Dict[str, Any] = {"lib": name, "dim": dim, "loadavg_start": list(os.getloadavg())}
            try:
                release_memory()
                impl = LIBS[name](dim, "l2", a.M, a.efc, a.threads, n)
                getattr(impl, "begin_single", lambda: None)()
                add = impl.add_one
                t = time.perf_counter()
                for i, x in enumerate(rows):
                    add(i, x)
                single_s = time.perf_counter() - t
                impl.close()
                del impl, add
                release_memory()
                impl = LIBS[name](dim, "l2", a.M, a.efc, a.threads, n)
                t = time.perf_counter()
                impl.build(X)
                batch_s = time.perf_counter() - t
                impl.close()
                del impl
                res.update(single_adds=n1, single_s=single_s, single_vps=n1 / single_s, batch_n=n, batch_s=batch_s,
                           batch_vps=n / batch_s)
                print(f"  {name:8s} one-at-a-time {n1 / single_s:9.0f} vec/s   batch {n / batch_s:9.0f} vec/s "
                      f"({batch_s:.2f}s)", flush=True)
            except Exception as e:
                import traceback

                traceback.print_exc()
                res["error"] = f"{type(e).__name__}: {e}"
            res["loadavg_end"] = list(os.getloadavg())
            doc["results"].append(res)
            w.save()
    return w.finish()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", nargs="?", help="folder name under ../shared/data (or $OMENDB_DATA), or a path")
    ap.add_argument("--insert", action="store_true", help="insert-throughput mode on generated data")
    ap.add_argument("--libs", default=",".join(LIB_ORDER), help="comma list, run in this order (default %(default)s)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for builds and batched search (default: all cores, %(default)s)")
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200, help="ef_construction")
    ap.add_argument("--efs", default="10,16,24,32,48,64,96,128,192,256", help="ef sweep")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--single", type=int, default=2000, help="queries timed one per call (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="time each search measurement this many times and keep the best (default %(default)s; damps noise from other work on the machine)")
    ap.add_argument("--nbase", type=int, default=0, help="first N base vectors only (exact ground truth recomputed)")
    ap.add_argument("--nq", type=int, default=0, help="first N queries only")
    ap.add_argument("--insert-n", type=int, default=20000, help="vectors per dim for the batch add (default %(default)s)")
    ap.add_argument("--insert-single", type=int, default=2000, help="one-at-a-time adds timed (default %(default)s)")
    ap.add_argument("--insert-dims", default="128,256,512,1536")
    ap.add_argument("--data-root", default=None, help="folder holding the datasets")
    ap.add_argument("--out", default=str(HERE / "results"), help="results folder (default %(default)s)")
    a = ap.parse_args()
    if not a.insert and not a.dataset:
        ap.error("give a dataset or --insert")
    libs = [s.strip() for s in a.libs.split(",") if s.strip()]
    for lib in libs:
        if lib not in LIBS:
            ap.error(f"unknown library {lib!r} (known: {', '.join(LIBS)})")
    # OmenDB batches run on rayon's global pool: size it before the library is loaded.
    os.environ["RAYON_NUM_THREADS"] = str(a.threads)
    if "omendb" in libs and str(REPO / "bindings" / "python") not in sys.path:
        sys.path.insert(0, str(REPO / "bindings" / "python"))
    path = run_insert(a, libs) if a.insert else run_ann(a, libs)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
