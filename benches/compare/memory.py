#!/usr/bin/env python3
"""Resident-set growth per vector of one library's build, in a fresh process (run one process per
library so that nothing else lives in the heap): RSS before creating the index and after the
build, each after ``malloc_trim`` (run.py's ``release_memory``).

    python benches/compare/memory.py omendb glove-50-angular [OMENDB_HUGEPAGE=0 ...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

lib, dataset = sys.argv[1], sys.argv[2]
for kv in sys.argv[3:]:  # environment settings, e.g. OMENDB_HUGEPAGE=0, read when the index is created
    k, v = kv.split("=", 1)
    os.environ[k] = v
os.environ.setdefault("RAYON_NUM_THREADS", "2")
if str(run.REPO / "bindings" / "python") not in sys.path:
    sys.path.insert(0, str(run.REPO / "bindings" / "python"))
folder = run.resolve_dataset(dataset, None)
X = run.load_vectors(folder, "base")
classes = {c.name: c for c in (run.OmenDB, run.Hnswlib, run.USearch, run.Faiss)}
run.release_memory()
before = run.rss_bytes()
impl = classes[lib](X.shape[1], run.dataset_metric(folder), 16, 200, 2, len(X))
impl.build(X)
run.release_memory()
after = run.rss_bytes()
print(f"{lib} {folder.name} {' '.join(sys.argv[3:])}: {(after - before) / len(X):.0f} B/vector")
