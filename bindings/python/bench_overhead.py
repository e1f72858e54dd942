"""Per-call overhead: one search (d=8, n=100, k=10) through omendb's Python API vs hnswlib's
knn_query, in microseconds of thread CPU time per call (median of RUNS runs of CALLS calls each).

Rows:
  omendb Index.search          the public API (one (d,) query; allocates the result arrays)
  omendb raw omendb_index_search   the bare ctypes call (argtypes declared) into preallocated
                               arrays: C search + ctypes dispatch + argument conversion
  omendb raw untyped           the same call through `_ffi.untyped` (no argtypes; ctypes
                               objects made beforehand), as Index.search makes it: the floor
                               for a ctypes binding
  hnswlib knn_query            pybind11, same graph parameters (M=16, ef_construction=200, ef=64)

    python bindings/python/bench_overhead.py [--calls 20000] [--runs 7]
"""

import argparse
import ctypes
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import omendb
except ImportError:  # run from the source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import omendb
from omendb import _ffi

DIM, N, K, EF = 8, 100, 10, 64


def per_call_us(call, calls, runs):
    for _ in range(min(calls, 2000)):  # warm-up
        call()
    samples = []
    for _ in range(runs):
        start = time.thread_time()  # CPU time of this thread: other processes do not inflate it
        for _ in range(calls):
            call()
        samples.append((time.thread_time() - start) / calls * 1e6)
    return statistics.median(samples), min(samples), max(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    data = rng.standard_normal((N, DIM)).astype(np.float32)
    query = rng.standard_normal(DIM).astype(np.float32)

    index = omendb.Index(metric="l2", m=16, ef_construction=200, ef_search=EF)
    index.add(data, np.arange(N, dtype=np.uint64))
    rows = {}
    rows["omendb Index.search"] = lambda: index.search(query, k=K)

    labels = np.empty(K, np.uint64)
    distances = np.empty(K, np.float32)
    handle, search = index._handle, _ffi.lib.omendb_index_search
    q_ptr, l_ptr, d_ptr = _ffi.float_ptr(query), _ffi.u64_ptr(labels), _ffi.float_ptr(distances)
    rows["omendb raw omendb_index_search"] = lambda: search(handle, q_ptr, 1, DIM, K, 0, l_ptr, d_ptr, K, None)
    untyped, size = _ffi.untyped.omendb_index_search, _ffi.SIZE_ARGS
    untyped_args = (handle, q_ptr, size[1], size[DIM], size[K], size[0], l_ptr, d_ptr, size[K], None)
    rows["omendb raw untyped"] = lambda: untyped(*untyped_args)

    try:
        import hnswlib
    except ImportError:
        hnswlib = None
    if hnswlib is not None:
        hnsw = hnswlib.Index(space="l2", dim=DIM)
        hnsw.init_index(max_elements=N, M=16, ef_construction=200, random_seed=0)
        hnsw.add_items(data, np.arange(N))
        hnsw.set_ef(EF)
        hnsw.set_num_threads(1)
        rows["hnswlib knn_query"] = lambda: hnsw.knn_query(query, k=K)

    # the answers agree (exact on 100 points at ef=64)
    ours = index.search(query, k=K)[0]
    if hnswlib is not None:
        assert set(ours.tolist()) == set(hnsw.knn_query(query, k=K)[0][0].tolist())

    print(f"one search, d={DIM}, n={N}, k={K}, ef={EF}: thread CPU microseconds per call "
          f"(median of {args.runs} runs x {args.calls} calls)")
    print(f"{'':34s}{'median':>8s}{'min':>8s}{'max':>8s}")
    for name, call in rows.items():
        median, low, high = per_call_us(call, args.calls, args.runs)
        print(f"{name:34s}{median:8.2f}{low:8.2f}{high:8.2f}")
    index.close()


if __name__ == "__main__":
    main()
