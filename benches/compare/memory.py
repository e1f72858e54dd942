#!/usr/bin/env python3
"""Resident-set growth per vector of one library's build, in a fresh process (run one process per
library so that nothing else lives in the heap): RSS before creating the index and after the
build, each after ``malloc_trim`` (run.py's ``release_memory``).

    python benches/compare/memory.py omendb glove-50-angular [OMENDB_HUGEPAGE=0 ...] [--n 20000]

Prints one line and writes benches/compare/results/memory-<dataset>-<lib>-<UTC timestamp>.json,
which report.py shows next to the other results of the data set (the newest file per library and
settings).
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

LIBS = {c.name: c for c in (run.OmenDB, run.Hnswlib, run.USearch, run.Faiss)}

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("lib", choices=sorted(LIBS))
ap.add_argument("dataset")
ap.add_argument("settings", nargs="*", metavar="VAR=value",
                help="environment settings, e.g. OMENDB_HUGEPAGE=0, read when the index is created")
ap.add_argument("--n", type=int, help="build from the first N base vectors only (a quick check)")
ap.add_argument("--M", type=int, default=16)
ap.add_argument("--efc", type=int, default=200)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--results", default=str(run.HERE / "results"))
a = ap.parse_args()

env = {}
for kv in a.settings:
    if "=" not in kv:
        ap.error(f"setting {kv!r} is not VAR=value")
    k, v = kv.split("=", 1)
    env[k] = v
os.environ.update(env)
os.environ.setdefault("RAYON_NUM_THREADS", str(a.threads))
if str(run.REPO / "bindings" / "python") not in sys.path:
    sys.path.insert(0, str(run.REPO / "bindings" / "python"))
folder = run.resolve_dataset(a.dataset, None)
X = run.load_vectors(folder, "base")
full_n = len(X)
if a.n is not None:
    if a.n <= 0:
        ap.error("--n must be positive")
    X = X[: a.n].copy()  # a copy, so the unused rest of the base set can be freed before measuring
loadavg_before = list(os.getloadavg())
run.release_memory()
before = run.rss_bytes()
impl = LIBS[a.lib](X.shape[1], run.dataset_metric(folder), a.M, a.efc, a.threads, len(X))
impl.build(X)
run.release_memory()
after = run.rss_bytes()
per_vector = (after - before) / len(X)
print(f"{a.lib} {folder.name} {' '.join(a.settings)}: {per_vector:.0f} B/vector"
      + (f" (first {len(X):,} of {full_n:,} vectors)" if len(X) < full_n else ""))

stamp = run.now_utc().strftime("%Y%m%dT%H%M%SZ")
versions = run.library_versions([a.lib])
doc = {
    "kind": "memory",
    "timestamp": stamp,
    "lib": a.lib,
    "dataset": folder.name,
    "settings": env,
    "bytes_per_vector": per_vector,
    "n": len(X),
    "dim": int(X.shape[1]),
    "rss_before_bytes": before,
    "rss_after_bytes": after,
    "config": {"M": a.M, "ef_construction": a.efc, "threads": a.threads, "metric": run.dataset_metric(folder),
               "full_n": full_n, "subsampled": len(X) < full_n},
    "commit": versions.get("omendb_git"),
    "versions": versions,
    "machine": {**run.machine_info(), "loadavg_before": loadavg_before, "loadavg_after": list(os.getloadavg())},
}
results = Path(a.results)
results.mkdir(parents=True, exist_ok=True)
out = results / f"memory-{folder.name}-{a.lib}-{stamp}.json"
out.write_text(json.dumps(doc, indent=1) + "\n")
print(f"wrote {out}")
