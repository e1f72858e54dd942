"""Recall@10 >= 0.95 on GloVe-50 (cosine) through the Python API, against ground truth
recomputed by brute force in NumPy. Subsample: the first 20,000 base vectors, 200 queries.
Data: $OMENDB_DATA or <repo>/../shared/data (skipped when absent)."""

import numpy as np
import pytest

from omendb import Index
from conftest import data_dir, read_fvecs

GLOVE = data_dir() / "glove-50-angular"
N_BASE, N_QUERIES, K = 20_000, 200, 10


@pytest.mark.skipif(not (GLOVE / "base.fvecs").is_file(), reason=f"no GloVe data in {GLOVE}")
def test_recall_at_10_glove50_cosine():
    base = read_fvecs(GLOVE / "base.fvecs", N_BASE)
    queries = read_fvecs(GLOVE / "query.fvecs", N_QUERIES)
    assert base.shape == (N_BASE, 50) and queries.shape == (N_QUERIES, 50)

    unit_base = base / np.linalg.norm(base, axis=1, keepdims=True)
    unit_queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    similarity = unit_queries @ unit_base.T
    truth = np.argpartition(-similarity, K, axis=1)[:, :K]

    with Index(metric="cosine", seed=42) as index:
        index.add(base)  # automatic keys 0.. = row numbers
        labels, distances = index.search(queries, k=K)

    hits = sum(len(set(labels[i].tolist()) & set(truth[i].tolist())) for i in range(N_QUERIES))
    recall = hits / (N_QUERIES * K)
    print(f"recall@{K} = {recall:.4f}")
    assert recall >= 0.95
    # distances are 1 - cos of the returned rows
    rows = unit_base[labels[0].astype(np.int64)]
    assert np.allclose(distances[0], 1 - rows @ unit_queries[0], atol=1e-4)
