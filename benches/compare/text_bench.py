#!/usr/bin/env python3
"""Text (BM25) search benchmark: OmenDB's ``Index.text_search`` against bm25s (PyPI) in the same
process, on the NPL test collection (11,426 docs, 93 queries, binary relevance judgements).

    python benches/compare/text_bench.py [--passes 5] [--no-vector-only-build]

OmenDB: one ``Index(dim=384, metric="cosine")``; ``add(minilm_vectors, ids=doc _id strings,
texts=title + " " + text)`` (one batch; its time includes the HNSW build of the vectors, so an
index with the same vectors and no texts is also built and timed, and the difference is
reported as the text-index cost). Queries: ``text_search(query, k)``, one call per query.

bm25s 0.3.16: ``BM25()`` (Lucene variant, k1=1.5, b=0.75), ``bm25s.tokenize(stopwords="en")``.
Indexing time = tokenise + index. Query latency = tokenise the one query + ``retrieve(k)`` (what a
user calls per query), and separately ``retrieve`` alone on pre-tokenised queries.

For k = 10 and k = 100: per-query latency over --passes passes of all 93 queries (median and mean
of every (query, pass) sample; one untimed call per method first; passes run round-robin over all
methods so that load from other work is spread alike), and nDCG@10 (linear gains, log2(rank + 1) discount, as pytrec_eval ndcg_cut)
and Recall@100. Hybrid: ``hybrid_search(query_vector, query_text, k, fusion="weighted", alpha=0.7)``
latency and quality, plus RRF and the vector-only ``search`` for reference.

Writes benches/compare/results/text-<UTC timestamp>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import run as harness  # noqa: E402


def read_jsonl(p: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def ndcg_at(run: Dict[str, List[str]], qrels: Dict[str, Dict[str, int]], k: int) -> float:
    vals = []
    for qid, rel in qrels.items():
        if not any(g > 0 for g in rel.values()):
            continue
        ranked = run.get(qid, [])[:k]
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked))
        ideal = sorted((g for g in rel.values() if g > 0), reverse=True)[:k]
        vals.append(dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal)))
    return float(np.mean(vals))


def recall_at(run: Dict[str, List[str]], qrels: Dict[str, Dict[str, int]], k: int) -> float:
    vals = []
    for qid, rel in qrels.items():
        pos = {d for d, g in rel.items() if g > 0}
        if pos:
            vals.append(len(pos & set(run.get(qid, [])[:k])) / len(pos))
    return float(np.mean(vals))


def timed_round_robin(methods: Dict[str, Callable[[int], List[str]]], nq: int, passes: int):
    """Run every method on every query, `passes` times, round-robin (pass 1 of all methods, then
    pass 2 ...) so that load from other work on the machine spreads over all of them alike.
    Returns {name: (latency stats in µs, results of the last pass)}."""
    for fn in methods.values():
        fn(0)  # one untimed call each (lazy initialisation, caches)
    samples: Dict[str, List[float]] = {n: [] for n in methods}
    results: Dict[str, List[Any]] = {n: [None] * nq for n in methods}
    for _ in range(passes):
        for name, fn in methods.items():
            for i in range(nq):
                t = time.perf_counter()
                r = fn(i)
                samples[name].append(time.perf_counter() - t)
                results[name][i] = r
    out = {}
    for name in methods:
        us = [x * 1e6 for x in samples[name]]
        out[name] = ({"median_us": statistics.median(us), "mean_us": statistics.fmean(us),
                      "p90_us": float(np.percentile(us, 90)), "samples": len(us)}, results[name])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "npl-ir"))
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--alpha", type=float, default=0.7)
    ap.add_argument("--no-vector-only-build", action="store_true", help="skip the vectors-only OmenDB build")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(os.cpu_count()))
    sys.path.insert(0, str(REPO / "bindings" / "python"))

    data = Path(a.data)
    corpus = read_jsonl(data / "corpus.jsonl")
    queries = read_jsonl(data / "queries.jsonl")
    qrels: Dict[str, Dict[str, int]] = {}
    for r in read_jsonl(data / "qrels.jsonl"):
        qrels.setdefault(r["query_id"], {})[r["doc_id"]] = int(r["relevance"])
    V = harness.load_vectors(data, "corpus_minilm")
    QV = harness.load_vectors(data, "queries_minilm")
    doc_ids = [d["_id"] for d in corpus]
    texts = [d["title"] + " " + d["text"] for d in corpus]
    q_ids = [q["_id"] for q in queries]
    q_texts = [q["text"] for q in queries]
    nq = len(queries)
    assert len(V) == len(corpus) and len(QV) == nq

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    doc: Dict[str, Any] = {
        "kind": "text", "timestamp": stamp,
        "config": {"collection": "npl", "docs": len(corpus), "queries": nq, "passes": a.passes, "alpha": a.alpha,
                   "doc_text": 'title + " " + text', "vectors": "all-MiniLM-L6-v2 (corpus_minilm.fvecs)",
                   "omendb_index": "dim=384, metric=cosine, M=16, ef_construction=200 (defaults)"},
        "machine": {**harness.machine_info(), "loadavg_before": list(os.getloadavg())},
        "versions": harness.library_versions(["omendb"]),
        "indexing": {}, "latency": {}, "quality": {},
    }
    try:
        from importlib.metadata import version

        doc["versions"]["bm25s"] = version("bm25s")
    except Exception as e:
        doc["versions"]["bm25s"] = f"unavailable: {e}"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"text-{stamp}.json"

    def save() -> None:
        path.write_text(json.dumps(doc, indent=1))

    def record(name: str, k: int, stats: Dict[str, Any], res: List[List[str]]) -> None:
        run = {q: [d for d in r if d is not None] for q, r in zip(q_ids, res)}
        doc["latency"].setdefault(name, {})[f"k{k}"] = stats
        qual = doc["quality"].setdefault(name, {})
        if k >= 10:
            qual[f"ndcg@10 (k={k})"] = ndcg_at(run, qrels, 10)
        if k >= 100:
            qual["recall@100"] = recall_at(run, qrels, 100)
        print(f"  {name:28s} k={k:3d} median {stats['median_us']:8.1f} µs  mean {stats['mean_us']:8.1f} µs  "
              f"nDCG@10 {qual.get(f'ndcg@10 (k={k})', float('nan')):.4f}", flush=True)
        save()

    # ---- bm25s
    import bm25s

    t = time.perf_counter()
    tok = bm25s.tokenize(texts, stopwords="en", show_progress=False)
    t_tok = time.perf_counter() - t
    retr = bm25s.BM25()
    retr.index(tok, show_progress=False)
    doc["indexing"]["bm25s"] = {"total_s": time.perf_counter() - t, "tokenize_s": t_tok}
    print(f"[bm25s] indexed in {doc['indexing']['bm25s']['total_s']:.2f}s", flush=True)
    q_tok = [bm25s.tokenize([q], stopwords="en", return_ids=False, show_progress=False) for q in q_texts]
    methods: Dict[Any, Callable[[int], List[str]]] = {}
    for k in (10, 100):
        def bm_full(i: int, k: int = k) -> List[str]:
            qt = bm25s.tokenize([q_texts[i]], stopwords="en", return_ids=False, show_progress=False)
            r, _ = retr.retrieve(qt, k=k, show_progress=False, n_threads=1)
            return [doc_ids[j] for j in r[0]]

        def bm_ret(i: int, k: int = k) -> List[str]:
            r, _ = retr.retrieve(q_tok[i], k=k, show_progress=False, n_threads=1)
            return [doc_ids[j] for j in r[0]]

        methods[("bm25s (tokenize + retrieve)", k)] = bm_full
        methods[("bm25s (retrieve only)", k)] = bm_ret

    # ---- omendb
    from omendb import Index

    if not a.no_vector_only_build:
        v_only = Index(dim=V.shape[1], metric="cosine")
        t = time.perf_counter()
        v_only.add(V, ids=doc_ids)
        doc["indexing"]["omendb (vectors only)"] = {"total_s": time.perf_counter() - t}
        v_only.close()
        del v_only
    idx = Index(dim=V.shape[1], metric="cosine")
    t = time.perf_counter()
    idx.add(V, ids=doc_ids, texts=texts)
    doc["indexing"]["omendb (vectors + texts)"] = {"total_s": time.perf_counter() - t}
    ix = doc["indexing"]
    if "omendb (vectors only)" in ix:
        ix["omendb text index (difference)"] = {
            "total_s": ix["omendb (vectors + texts)"]["total_s"] - ix["omendb (vectors only)"]["total_s"]}
    print("[omendb] " + ", ".join(f"{n} {v['total_s']:.2f}s" for n, v in ix.items() if n.startswith("omendb")), flush=True)
    save()

    def ids_of(labels: Any) -> List[str]:
        return [x for x in list(labels) if x is not None]

    for k in (10, 100):
        methods[("omendb text_search", k)] = lambda i, k=k: ids_of(idx.text_search(q_texts[i], k=k)[0])
        methods[(f"omendb hybrid weighted a={a.alpha}", k)] = lambda i, k=k: ids_of(
            idx.hybrid_search(QV[i], q_texts[i], k=k, fusion="weighted", alpha=a.alpha)[0])
        methods[("omendb hybrid rrf", k)] = lambda i, k=k: ids_of(idx.hybrid_search(QV[i], q_texts[i], k=k, fusion="rrf")[0])
        methods[("omendb vector search", k)] = lambda i, k=k: ids_of(idx.search(QV[i], k=k)[0])
    for (name, k), (stats, res) in timed_round_robin(methods, nq, a.passes).items():
        record(name, k, stats, res)
    idx.close()
    doc["machine"]["loadavg_after"] = list(os.getloadavg())
    save()
    print()
    print(markdown(doc))
    print(f"\nwrote {path}")


def markdown(doc: Dict[str, Any]) -> str:
    c = doc["config"]
    lines = [f"NPL, {c['docs']:,} docs, {c['queries']} queries, one query per call on one thread; latency over "
             f"{c['passes']} passes of all queries (median / mean of every sample).", "",
             "| indexing | seconds |", "|---|--:|"]
    for n, v in doc["indexing"].items():
        extra = f" (tokenize {v['tokenize_s']:.2f})" if "tokenize_s" in v else ""
        lines.append(f"| {n} | {v['total_s']:.2f}{extra} |")
    lines += ["", "| search | median µs k=10 | mean µs k=10 | median µs k=100 | mean µs k=100 | nDCG@10 | Recall@100 |",
              "|---|--:|--:|--:|--:|--:|--:|"]
    for n, lat in doc["latency"].items():
        q = doc["quality"].get(n, {})
        k10, k100 = lat.get("k10", {}), lat.get("k100", {})
        f = lambda d, key: f"{d[key]:,.1f}" if key in d else "n/a"  # noqa: E731
        nd = q.get("ndcg@10 (k=10)")
        rc = q.get("recall@100")
        lines.append(f"| {n} | {f(k10, 'median_us')} | {f(k10, 'mean_us')} | {f(k100, 'median_us')} | "
                     f"{f(k100, 'mean_us')} | {nd:.4f} | {rc:.4f} |" if nd is not None and rc is not None else
                     f"| {n} | {f(k10, 'median_us')} | {f(k10, 'mean_us')} | {f(k100, 'median_us')} | {f(k100, 'mean_us')} | "
                     f"{nd if nd is not None else 'n/a'} | {rc if rc is not None else 'n/a'} |")
    bm, om = doc["latency"].get("bm25s (tokenize + retrieve)", {}), doc["latency"].get("omendb text_search", {})
    for k in ("k10", "k100"):
        if k in bm and k in om:
            lines.append(f"\nomendb text_search / bm25s (tokenize + retrieve) median latency, {k}: "
                         f"{om[k]['median_us'] / bm[k]['median_us']:.2f}x (below 1 = OmenDB faster)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
