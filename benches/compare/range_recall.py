#!/usr/bin/env python3
"""Range search recall on glove-50-angular: for each radius, the records OmenDB's
``range_search`` returns against the exact set (NumPy brute force over the same vectors), for
200 queries. The radii are the distances of the 10th, 100th and 1,000th nearest neighbour
averaged over the queries, so each asks for about that many records.

    python benches/compare/range_recall.py [--n 250000] [--queries 200]

Recall = |found and exact| / |exact| summed over the queries; precision is 1 by construction
(every record returned lies within the radius). Results: benches/compare/results/range-*.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))
import omendb  # noqa: E402

DATA = Path(os.environ.get("OMENDB_DATA", REPO.parent / "shared" / "data"))


def read_fvecs(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return np.ascontiguousarray(raw.reshape(-1, dim + 1)[:, 1:].view(np.float32))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=250_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    base = read_fvecs(DATA / "glove-50-angular" / "base.fvecs")[: args.n]
    queries = read_fvecs(DATA / "glove-50-angular" / "query.fvecs")[: args.queries]
    index = omendb.Index(dim=50, metric="cosine")
    start = time.perf_counter()
    index.add(base, ids=np.arange(len(base), dtype=np.uint64))
    build = time.perf_counter() - start
    nb = base / np.linalg.norm(base, axis=1, keepdims=True)
    nq = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    dists = 1 - nq @ nb.T  # (queries, n), float32 like the library
    ranks = np.sort(dists, axis=1)
    out = {"cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" :\t"),
           "n": len(base), "queries": len(queries), "build_s": round(build, 1), "radii": []}
    for nth in (10, 100, 1000):
        radius = float(ranks[:, nth - 1].mean())
        found = exact = both = 0
        t = 0.0
        for i, q in enumerate(queries):
            truth = set(np.nonzero(dists[i] <= radius)[0].tolist())
            s = time.perf_counter()
            labels, distances = index.range_search(q, radius)
            t += time.perf_counter() - s
            got = set(labels.tolist())
            assert np.all(distances <= radius)
            found += len(got)
            exact += len(truth)
            both += len(got & truth)
        row = {"radius": round(radius, 5), "about_nth": nth, "exact_total": exact, "found_total": found,
               "recall": round(both / max(exact, 1), 4), "ms_per_query": round(1000 * t / len(queries), 2)}
        out["radii"].append(row)
        print(row)
    path = REPO / "benches" / "compare" / "results" / f"range-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
