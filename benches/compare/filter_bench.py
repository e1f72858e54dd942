#!/usr/bin/env python3
"""Filtered-search benchmark: OmenDB's metadata filter against hnswlib's filter callback and
USearch, at several selectivities, in one process, on the same index parameters.

    python benches/compare/filter_bench.py [--nbase 50000] [--nq 1000] [--ef 64] [--efs 16,32,64,128,256]

Data: the first --nbase base vectors of glove-50-angular (cosine) and its first --nq queries.
Every record i gets the metadata ``{"bucket": i % 1000}``; the filters

    bucket < 500  (50 %)   bucket < 100  (10 %)   bucket < 10  (1 %)   bucket = 0  (0.1 %)

select exactly those fractions of the base. hnswlib gets the same sets as a Python callback
(``knn_query(q, k, filter=allowed.__getitem__)``, called once per visited node, with the GIL).
USearch 2.x's Python ``Index.search`` has no filter / predicate argument (checked at run time), so
USearch gets unfiltered numbers only.

Per library and selectivity (and unfiltered): single-thread QPS (one query per call, one thread),
filtered recall@k against exact brute force over the matching set (float64 numpy, tie-safe like
run.py: a hit is an allowed id whose exact distance is <= the k-th true distance + 1e-4 rel), the
mean number of results returned (should be min(k, matches)), and for hnswlib the number of queries
on which it raised RuntimeError (fewer than k found; those results are lost and count as 0 returned).
With --efs, the ef sweep finds the smallest ef reaching recall >= 0.95 at each selectivity.

Writes benches/compare/results/filter-<UTC timestamp>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import run as harness  # noqa: E402  (data readers, machine/version info)

SELECTIVITIES = [  # (label, omendb filter, predicate on bucket)
    ("50%", "bucket < 500", lambda b: b < 500),
    ("10%", "bucket < 100", lambda b: b < 100),
    ("1%", "bucket < 10", lambda b: b < 10),
    ("0.1%", "bucket = 0", lambda b: b == 0),
]


def exact_filtered(Xn: np.ndarray, Qn: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """k-th exact cosine distance (float64) of each query over the allowed rows; inf if fewer."""
    ids = np.flatnonzero(allowed)
    d = 1.0 - Qn @ Xn[ids].T  # (nq, m)
    kk = min(k, len(ids))
    part = np.partition(d, kk - 1, axis=1)[:, :kk]
    return np.sort(part, axis=1)[:, kk - 1]


def filtered_recall(found: List[np.ndarray], Xn: np.ndarray, Qn: np.ndarray, allowed: np.ndarray,
                    kth: np.ndarray, k: int) -> float:
    """Hits / min(k, matches) summed over queries; a hit is a distinct allowed id at distance <=
    the k-th true distance (+1e-4 relative)."""
    want = min(k, int(allowed.sum()))
    hits = 0
    for qi, ids in enumerate(found):
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        ids = ids[(ids >= 0) & (ids < len(Xn))]
        ids = ids[allowed[ids]]
        if len(ids) == 0:
            continue
        d = 1.0 - Xn[ids] @ Qn[qi]
        thr = kth[qi] + 1e-4 * abs(kth[qi]) + 1e-12
        hits += min(want, int((d <= thr).sum()))
    return hits / (want * len(found))


# ---------------------------------------------------------------------------------------------
# adapters: build(X, buckets); search(q, k, ef, sel) -> ids (int64, valid only) or raise


class OmenLib:
    name = "omendb"
    has_filter = True

    def __init__(self, dim: int, M: int, efc: int):
        from omendb import Index

        self.p = Index(dim=dim, metric="cosine", m=M, ef_construction=efc)

    def build(self, X: np.ndarray, buckets: np.ndarray) -> None:
        meta = [{"bucket": int(b)} for b in buckets]
        self.p.add(X, ids=np.arange(len(X), dtype=np.uint64), metadata=meta)

    def searcher(self, ef: int, k: int, sel: Optional[int]) -> Callable[[np.ndarray], np.ndarray]:
        search = self.p.search
        if sel is None:
            return lambda q: search(q, k=k, ef=ef)[0]
        flt = SELECTIVITIES[sel][1]
        return lambda q: search(q, k=k, ef=ef, filter=flt)[0]

    @staticmethod
    def valid(labels: Any) -> np.ndarray:
        a = np.asarray(labels)
        return a[a != np.uint64(2**64 - 1)].astype(np.int64)

    def close(self) -> None:
        self.p.close()


class HnswLib:
    name = "hnswlib"
    has_filter = True

    def __init__(self, dim: int, M: int, efc: int):
        import hnswlib

        self.dim, self.M, self.efc = dim, M, efc
        self.p = hnswlib.Index(space="cosine", dim=dim)
        self.allowed: List[List[bool]] = []

    def build(self, X: np.ndarray, buckets: np.ndarray) -> None:
        self.p.init_index(max_elements=len(X), M=self.M, ef_construction=self.efc)
        self.p.add_items(X, np.arange(len(X)), num_threads=os.cpu_count() or 1)
        # plain Python lists: list.__getitem__ is the cheapest callback Python can offer
        self.allowed = [[bool(f(b)) for b in buckets.tolist()] for _, _, f in SELECTIVITIES]

    def searcher(self, ef: int, k: int, sel: Optional[int]) -> Callable[[np.ndarray], np.ndarray]:
        self.p.set_ef(ef)
        knn = self.p.knn_query
        if sel is None:
            return lambda q: knn(q, k=k, num_threads=1)[0][0]
        cb = self.allowed[sel].__getitem__
        return lambda q: knn(q, k=k, num_threads=1, filter=cb)[0][0]

    @staticmethod
    def valid(labels: Any) -> np.ndarray:
        return np.asarray(labels, dtype=np.int64)

    def close(self) -> None:
        self.p = None


class USearchLib:
    name = "usearch"

    def __init__(self, dim: int, M: int, efc: int):
        import inspect

        from usearch.index import Index

        self.p = Index(ndim=dim, metric="cos", dtype="f32", connectivity=M, expansion_add=efc)
        params = inspect.signature(Index.search).parameters
        self.filter_arg = next((p for p in ("filter", "predicate", "filter_fn") if p in params), None)
        self.has_filter = False  # no filtered search is wired here even if an argument appears
        self.search_signature = str(inspect.signature(Index.search))

    def build(self, X: np.ndarray, buckets: np.ndarray) -> None:
        self.p.add(np.arange(len(X), dtype=np.uint64), X, threads=os.cpu_count() or 1)

    def searcher(self, ef: int, k: int, sel: Optional[int]) -> Callable[[np.ndarray], np.ndarray]:
        assert sel is None
        self.p.expansion_search = ef
        search = self.p.search
        return lambda q: search(q, k, threads=1).keys

    @staticmethod
    def valid(labels: Any) -> np.ndarray:
        return np.asarray(labels, dtype=np.int64)

    def close(self) -> None:
        self.p = None


LIBS = {"omendb": OmenLib, "hnswlib": HnswLib, "usearch": USearchLib}


def measure(impl: Any, Q: np.ndarray, ef: int, k: int, sel: Optional[int], repeat: int):
    """Time one query per call over all of Q (best of `repeat` passes); return qps, results."""
    fn = impl.searcher(ef, k, sel)
    best, found, failed = float("inf"), [], 0
    for r in range(repeat):
        out, fails = [], 0
        t = time.perf_counter()
        for q in Q:
            try:
                out.append(fn(q))
            except RuntimeError:  # hnswlib: fewer than k results satisfy the filter within its search
                out.append(None)
                fails += 1
        el = time.perf_counter() - t
        if el < best:
            best = el
        found, failed = out, fails
    ids = [np.empty(0, np.int64) if f is None else impl.valid(f) for f in found]
    return len(Q) / best, ids, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="glove-50-angular")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--nbase", type=int, default=50000, help="first N base vectors (default %(default)s)")
    ap.add_argument("--nq", type=int, default=1000, help="first N queries (default %(default)s)")
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, default=64, help="fixed ef of the main table (default %(default)s)")
    ap.add_argument("--efs", default="16,32,128,256", help="extra ef values tried to find recall >= --target ('' = none)")
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--repeat", type=int, default=2, help="timing passes, best kept (default %(default)s)")
    ap.add_argument("--libs", default="omendb,hnswlib,usearch")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(os.cpu_count()))
    sys.path.insert(0, str(REPO / "bindings" / "python"))
    libs = [s.strip() for s in a.libs.split(",") if s.strip()]

    folder = harness.resolve_dataset(a.dataset, a.data_root)
    X = harness.load_vectors(folder, "base")[: a.nbase].copy()
    Q = harness.load_vectors(folder, "query")[: a.nq].copy()
    n, dim, k = len(X), X.shape[1], a.k
    buckets = np.arange(n) % 1000
    Xn = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    Qn = Q.astype(np.float64) / np.linalg.norm(Q.astype(np.float64), axis=1, keepdims=True)
    allowed = [np.array([f(b) for b in buckets.tolist()]) for _, _, f in SELECTIVITIES]
    kth = [exact_filtered(Xn, Qn, al, k) for al in allowed]
    kth_all = exact_filtered(Xn, Qn, np.ones(n, bool), k)
    extra_efs = sorted({int(e) for e in a.efs.split(",") if e.strip()} - {a.ef})

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    doc: Dict[str, Any] = {
        "kind": "filter", "timestamp": stamp,
        "config": {"dataset": a.dataset, "nbase": n, "nq": len(Q), "dim": dim, "metric": "cosine", "M": a.M,
                   "ef_construction": a.efc, "k": k, "ef": a.ef, "extra_efs": extra_efs, "repeat": a.repeat,
                   "metadata": "bucket = i % 1000",
                   "filters": [{"label": l, "omendb": s, "matches": int(al.sum())} for (l, s, _), al in zip(SELECTIVITIES, allowed)]},
        "machine": {**harness.machine_info(), "loadavg_before": list(os.getloadavg())},
        "versions": harness.library_versions(libs),
        "results": [],
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"filter-{stamp}.json"

    def save() -> None:
        path.write_text(json.dumps(doc, indent=1))

    for name in libs:
        lib: Dict[str, Any] = {"lib": name, "loadavg_start": list(os.getloadavg()), "rows": []}
        doc["results"].append(lib)
        try:
            impl = LIBS[name](dim, a.M, a.efc)
            t = time.perf_counter()
            impl.build(X, buckets)
            lib["build_s"] = time.perf_counter() - t
            if name == "usearch":
                lib["search_signature"] = impl.search_signature
                lib["filter_note"] = ("usearch Python Index.search has no filter/predicate argument; "
                                      "filtered search not measured") if impl.filter_arg is None else \
                    f"usearch search has a '{impl.filter_arg}' argument, not wired into this benchmark"
            print(f"[{name}] built in {lib['build_s']:.1f}s", flush=True)
            sels = [None] + (list(range(len(SELECTIVITIES))) if impl.has_filter else [])
            for sel in sels:
                label = "none" if sel is None else SELECTIVITIES[sel][0]
                al = np.ones(n, bool) if sel is None else allowed[sel]
                kt = kth_all if sel is None else kth[sel]
                row: Dict[str, Any] = {"selectivity": label, "matches": int(al.sum()), "by_ef": []}
                # a.ef first; then the smallest ef reaching the target: smaller values ascending if
                # a.ef reaches it, larger ones ascending if not, stopping at the first that does
                todo, hit_fixed = [a.ef], None
                while todo:
                    ef = todo.pop(0)
                    qps, ids, failed = measure(impl, Q, ef, k, sel, a.repeat)
                    rec = filtered_recall(ids, Xn, Qn, al, kt, k)
                    mean_ret = float(np.mean([len(i) for i in ids]))
                    bad = sum(1 for i in ids if len(i) and not al[i].all())
                    row["by_ef"].append({"ef": ef, "qps": qps, "recall": rec, "mean_returned": mean_ret,
                                         "errors_fewer_than_k": failed, "queries_with_disallowed_ids": bad})
                    print(f"  {label:5s} ef={ef:4d} qps={qps:9.0f} recall={rec:.4f} returned={mean_ret:.2f}"
                          f" failed={failed} disallowed={bad}", flush=True)
                    save()
                    if ef == a.ef:
                        hit_fixed = rec >= a.target
                        todo = [e for e in extra_efs if (e < a.ef) == hit_fixed]
                    elif rec >= a.target:
                        break
                lib["rows"].append(row)
                save()
            impl.close()
        except Exception as e:
            import traceback

            traceback.print_exc()
            lib["error"] = f"{type(e).__name__}: {e}"
        lib["loadavg_end"] = list(os.getloadavg())
        save()
    doc["machine"]["loadavg_after"] = list(os.getloadavg())
    save()
    print()
    print(markdown(doc))
    print(f"\nwrote {path}")


def at_target(row: Dict[str, Any], target: float) -> Optional[Dict[str, Any]]:
    ok = sorted((e for e in row["by_ef"] if e["recall"] >= target), key=lambda e: e["ef"])
    return ok[0] if ok else None


def markdown(doc: Dict[str, Any]) -> str:
    c = doc["config"]
    ef = c["ef"]
    lines = [f"n = {c['nbase']:,} base vectors of {c['dataset']}, {c['nq']:,} queries, k = {c['k']}, cosine, "
             f"M = {c['M']}, ef_construction = {c['ef_construction']}; single-thread QPS (one query per call), "
             f"best of {c['repeat']} passes.", "",
             f"| library | filter | matches | QPS @ ef={ef} | / own unfiltered | recall@{c['k']} | mean returned | "
             f"hnswlib errors | smallest ef with recall >= 0.95 | QPS there | / own unfiltered there |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for lib in doc["results"]:
        rows = lib.get("rows", [])
        if not rows:
            lines.append(f"| {lib['lib']} | error: {lib.get('error', 'no rows')} |||||||||")
            continue
        base = next((r for r in rows if r["selectivity"] == "none"), None)
        base_fixed = next(e for e in base["by_ef"] if e["ef"] == ef) if base else None
        base_t = at_target(base, 0.95) if base else None
        for r in rows:
            e = next(x for x in r["by_ef"] if x["ef"] == ef)
            t = at_target(r, 0.95)
            ratio = e["qps"] / base_fixed["qps"] if base_fixed else float("nan")
            tq = f"{t['ef']}" if t else "none tried"
            tqps = f"{t['qps']:,.0f}" if t else "n/a"
            tr = f"{t['qps'] / base_t['qps']:.2f}x" if t and base_t else "n/a"
            flt = "unfiltered" if r["selectivity"] == "none" else r["selectivity"]
            lines.append(f"| {lib['lib']} | {flt} | {r['matches']:,} | {e['qps']:,.0f} | {ratio:.2f}x | "
                         f"{e['recall']:.4f} | {e['mean_returned']:.2f} | {e['errors_fewer_than_k']} | {tq} | {tqps} | {tr} |")
        if lib.get("filter_note"):
            lines.append(f"| {lib['lib']} | filtered: n/a ({lib['filter_note']}) |||||||||")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
