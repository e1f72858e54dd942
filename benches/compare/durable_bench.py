#!/usr/bin/env python3
"""What durability costs: write throughput of a durable index (``Index(path=..., sync=...)``)
against the same index without a path, and against SQLite doing the same writes, in one
process and one run; then recovery time, and checkpoint time with the stall it causes writers.

1. Writes: the npl-ir MiniLM embeddings (384-d, cosine; cycled to ``--n`` vectors) added in
   batches of 1, 100 and 10,000 to: OmenDB without a path (in memory), OmenDB with
   ``sync="off"``, ``"batch"`` (100 ms) and ``"always"``, and SQLite in WAL mode (one row per
   vector: an integer key and the vector as a blob, one transaction per batch) with
   ``synchronous=NORMAL`` and ``FULL``. Each round runs every configuration once, in turn, in a
   fresh directory on the same file system; the figure is the median over the rounds of vectors
   per second by wall clock (a durable write waits for the disk, which CPU time would not
   show). Ratios divide by OmenDB in memory with the same batch size.
2. Recovery: ``--recovery-n`` vectors (glove-50, cycled with a small perturbation) written with
   ``sync="off"`` and no checkpoint, so reopening replays a log of all of them; reopen time
   against building the same index in memory (replay re-inserts every vector: the graph is not
   in the log).
3. Checkpoint: on that index, a writer thread adds batches of 100 in a loop while the main
   thread runs ``checkpoint()``; reported: the checkpoint's duration, the writer's longest call
   during it and its median call outside it.

    python benches/compare/durable_bench.py [--n 11426] [--rounds 3] [--recovery-n 1000000] [--dir DIR]

``--dir`` must be on a real disk (fsync is what is measured); default: a temporary directory
under the repository. Results go to benches/compare/results/durable-*.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))
import omendb  # noqa: E402

DATA = Path(os.environ.get("OMENDB_DATA", REPO.parent / "shared" / "data"))


def read_fvecs(path: Path, limit: int = -1) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)[:, 1:].view(np.float32)
    return np.ascontiguousarray(rows if limit < 0 else rows[:limit])


def cycled(base: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """`n` rows: `base` repeated, each repetition after the first slightly perturbed."""
    reps = -(-n // len(base))
    rng = np.random.default_rng(seed)
    parts = [base] + [base + rng.normal(0, 0.01, base.shape).astype(np.float32) for _ in range(reps - 1)]
    return np.ascontiguousarray(np.concatenate(parts)[:n])


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def omendb_writer(sync):
    def run(vectors: np.ndarray, batch: int, where: Path) -> float:
        kwargs = dict(dim=vectors.shape[1], metric="cosine")
        if sync is not None:
            kwargs.update(path=where / "idx", sync=sync, checkpoint_bytes=0)
        index = omendb.Index(**kwargs)
        start = time.perf_counter()
        for i in range(0, len(vectors), batch):
            index.add(vectors[i:i + batch], ids=np.arange(i, min(i + batch, len(vectors)), dtype=np.uint64))
        elapsed = time.perf_counter() - start
        index.close()
        return len(vectors) / elapsed

    return run


def sqlite_writer(synchronous: str):
    def run(vectors: np.ndarray, batch: int, where: Path) -> float:
        db = sqlite3.connect(where / "vectors.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("CREATE TABLE v (id INTEGER PRIMARY KEY, vec BLOB NOT NULL)")
        start = time.perf_counter()
        for i in range(0, len(vectors), batch):
            rows = [(i + j, vectors[i + j].tobytes()) for j in range(min(batch, len(vectors) - i))]
            db.execute("BEGIN")
            db.executemany("INSERT INTO v VALUES (?, ?)", rows)
            db.execute("COMMIT")
        elapsed = time.perf_counter() - start
        db.close()
        return len(vectors) / elapsed

    return run


CONFIGS = {
    "omendb memory": omendb_writer(None),
    "omendb off": omendb_writer("off"),
    "omendb batch": omendb_writer("batch"),
    "omendb always": omendb_writer("always"),
    "sqlite NORMAL": sqlite_writer("NORMAL"),
    "sqlite FULL": sqlite_writer("FULL"),
}


def writes(vectors: np.ndarray, rounds: int, root: Path) -> dict:
    out = {}
    for batch, n in ((1, min(2000, len(vectors))), (100, len(vectors)), (10_000, len(vectors))):
        rates = {name: [] for name in CONFIGS}
        # One run discarded: the first configuration would otherwise pay for warming up.
        tmp = Path(tempfile.mkdtemp(dir=root))
        CONFIGS["omendb memory"](vectors[:n], batch, tmp)
        shutil.rmtree(tmp)
        for r in range(rounds):
            for name, run in CONFIGS.items():
                where = Path(tempfile.mkdtemp(dir=root))
                rates[name].append(run(vectors[:n], batch, where))
                shutil.rmtree(where)
        med = {name: statistics.median(v) for name, v in rates.items()}
        base = med["omendb memory"]
        out[str(batch)] = {
            name: {"vectors_per_s": round(v, 1), "ratio_to_memory": round(v / base, 3), "runs": [round(x, 1) for x in rates[name]]}
            for name, v in med.items()
        }
        print(f"\nbatch {batch} ({n} vectors, median of {rounds})")
        for name, v in med.items():
            print(f"  {name:15s} {v:12.0f} vectors/s  {v / base:6.3f}x memory")
    return out


def recovery_and_checkpoint(n: int, root: Path) -> dict:
    base = read_fvecs(DATA / "glove-50-angular" / "base.fvecs")
    vectors = cycled(base, n)
    ids = np.arange(n, dtype=np.uint64)
    where = root / "recovery"
    shutil.rmtree(where, ignore_errors=True)

    start = time.perf_counter()
    memory = omendb.Index(dim=50, metric="cosine")
    for i in range(0, n, 10_000):
        memory.add(vectors[i:i + 10_000], ids=ids[i:i + 10_000])
    build_s = time.perf_counter() - start
    memory.close()

    index = omendb.Index(path=where, dim=50, metric="cosine", sync="off", checkpoint_bytes=0)
    for i in range(0, n, 10_000):
        index.add(vectors[i:i + 10_000], ids=ids[i:i + 10_000])
    index.close()
    log_bytes = sum(f.stat().st_size for f in where.glob("log-*.wal"))

    start = time.perf_counter()
    index = omendb.Index(path=where)
    recover_s = time.perf_counter() - start
    assert len(index) == n

    # Checkpoint while a writer adds batches of 100.
    latencies, during, stop = [], [], threading.Event()
    extra = cycled(base[:1000], 100_000, seed=2)
    window = [None, None]

    def writer():
        k = n
        while not stop.is_set():
            t0 = time.perf_counter()
            index.add(extra[(k - n) % 99_900:(k - n) % 99_900 + 100], ids=np.arange(k, k + 100, dtype=np.uint64))
            t1 = time.perf_counter()
            latencies.append((t0, t1 - t0))
            k += 100

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1.0)
    window[0] = time.perf_counter()
    index.checkpoint()
    window[1] = time.perf_counter()
    time.sleep(1.0)
    stop.set()
    thread.join()
    checkpoint_s = window[1] - window[0]
    inside = [d for t, d in latencies if t + d >= window[0] and t <= window[1]]
    outside = [d for t, d in latencies if t + d < window[0] or t > window[1]]
    snapshot_bytes = sum(f.stat().st_size for f in where.glob("snapshot-*.omendb"))
    index.close()
    shutil.rmtree(where, ignore_errors=True)
    result = {
        "vectors": n,
        "log_bytes": log_bytes,
        "build_in_memory_s": round(build_s, 2),
        "reopen_replaying_log_s": round(recover_s, 2),
        "checkpoint_s": round(checkpoint_s, 3),
        "snapshot_bytes": snapshot_bytes,
        "writer_longest_call_during_checkpoint_s": round(max(inside), 4) if inside else None,
        "writer_median_call_outside_s": round(statistics.median(outside), 5) if outside else None,
        "writer_calls_during_checkpoint": len(inside),
    }
    print(f"\nrecovery: {n} vectors, log {log_bytes / 1e6:.0f} MB: reopen {recover_s:.1f} s; "
          f"the same build in memory {build_s:.1f} s")
    print(f"checkpoint: {checkpoint_s:.2f} s ({snapshot_bytes / 1e6:.0f} MB); a writer's longest call during it "
          f"{result['writer_longest_call_during_checkpoint_s']} s, median outside {result['writer_median_call_outside_s']} s")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=11_426)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--recovery-n", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="durable-bench-", dir=args.dir or REPO / "target"))
    try:
        vectors = cycled(read_fvecs(DATA / "npl-ir" / "corpus_minilm.fvecs"), args.n)
        print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; directory {root}")
        result = {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "sqlite": sqlite3.sqlite_version,
            "writes": writes(vectors, args.rounds, root),
        }
        if args.recovery_n > 0:
            result["recovery"] = recovery_and_checkpoint(args.recovery_n, root)
        out = REPO / "benches" / "compare" / "results" / f"durable-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {out}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
