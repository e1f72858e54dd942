"""Reading records back and acting on many at once: get / get_many (the stored vector, bit for
bit; normalised under cosine; every dtype; after save/load and open), count, remove(filter=),
remove_many, and search(exact=True) against a NumPy brute force on the bundled sample (GloVe
words, ctests/data/sample.fvecs)."""

import numpy as np
import pytest

import omendb
from omendb import Index

from conftest import REPO_ROOT, read_fvecs

SAMPLE = REPO_ROOT / "ctests" / "data" / "sample.fvecs"


@pytest.mark.parametrize("dtype", ["f32", "f16", "int8", "binary"])
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_get_returns_the_stored_vector(tmp_path, dtype, metric, rng):
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    index = Index(dim=16, metric=metric, dtype=dtype)
    index.add(vectors, ids=np.arange(300, dtype=np.uint64))
    want = vectors / np.linalg.norm(vectors, axis=1, keepdims=True) if metric == "cosine" else vectors
    got = index.get_many([5, 0, 299])
    if metric == "cosine":
        np.testing.assert_allclose(got, want[[5, 0, 299]], rtol=0, atol=1e-6)
    else:
        assert got.tobytes() == want[[5, 0, 299]].tobytes()  # bit for bit
    assert index.get(5).tobytes() == got[0].tobytes()
    path = tmp_path / "i.omendb"
    index.save(path)
    for again in (Index.load(path), Index.open(path)):
        assert again.get_many([5, 0, 299]).tobytes() == got.tobytes()
        again.close()
    with pytest.raises(omendb.KeyNotFoundError):
        index.get(1000)
    with pytest.raises(omendb.KeyNotFoundError, match="1000"):
        index.get_many([1, 1000])
    with pytest.raises(omendb.InvalidKeyError):
        index.get("a")


def test_string_keys_count_and_removal(rng):
    index = Index(dim=4)
    ids = [f"doc{i}" for i in range(40)]
    vectors = rng.standard_normal((40, 4)).astype(np.float32)
    index.add(vectors, ids=ids, metadata=[{"doc": i // 10, "even": i % 2 == 0} for i in range(40)])
    assert index.get("doc3").tobytes() == vectors[3].tobytes()
    assert index.get_many(["doc9", "doc0"]).tobytes() == vectors[[9, 0]].tobytes()
    assert index.count() == 40 and index.count("doc = 1") == 10 and index.count("even = true") == 20
    with pytest.raises(omendb.FilterSyntaxError):
        index.count("doc = ")
    # remove_many: all or nothing.
    with pytest.raises(omendb.KeyNotFoundError):
        index.remove_many(["doc1", "nope"])
    with pytest.raises(omendb.DuplicateKeyError):
        index.remove_many(["doc1", "doc1"])
    assert len(index) == 40
    assert index.remove_many(["doc1", "doc2"]) == 2
    # remove(filter=): the matches, and only them.
    assert index.remove(filter="doc = 1") == 10
    assert index.count("doc = 1") == 0 and len(index) == 28
    assert "doc15" not in index and "doc25" in index
    assert index.remove(filter="doc = 1") == 0
    with pytest.raises(TypeError):
        index.remove("doc3", filter="doc = 0")
    with pytest.raises(TypeError):
        index.remove()


def brute_force(base, queries, k, cosine):
    if cosine:
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        d = 1 - queries @ base.T
    else:
        d = (queries**2).sum(1)[:, None] - 2 * queries @ base.T + (base**2).sum(1)[None, :]
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_exact_search_equals_brute_force(metric):
    base = read_fvecs(SAMPLE)
    queries = base[::37][:30] + 0.01
    index = Index(dim=base.shape[1], metric=metric, m=4, ef_construction=8)  # a poor graph on purpose
    index.add(base, ids=np.arange(len(base), dtype=np.uint64))
    labels, distances = index.search(queries, k=10, exact=True)
    want, want_d = brute_force(base.astype(np.float64), queries.astype(np.float64), 10, metric == "cosine")
    # Ties aside (none in this sample): the same keys, in order, at the same distances.
    assert (labels == want).mean() == 1.0
    np.testing.assert_allclose(distances, want_d, rtol=1e-4, atol=1e-4)
    # With a filter: the brute force over the matching rows.
    index2 = Index(dim=base.shape[1], metric=metric)
    index2.add(base, ids=np.arange(len(base), dtype=np.uint64), metadata=[{"odd": i % 2 == 1} for i in range(len(base))])
    labels, _ = index2.search(queries[0], k=5, exact=True, filter="odd = true")
    odd = np.arange(1, len(base), 2)
    want, _ = brute_force(base[odd].astype(np.float64), queries[:1].astype(np.float64), 5, metric == "cosine")
    assert list(labels) == list(odd[want[0]])


def test_range_search_is_the_brute_force_set_and_stats(tmp_path):
    base = read_fvecs(SAMPLE)
    index = Index(dim=base.shape[1], metric="l2")
    index.add(base, ids=np.arange(len(base), dtype=np.uint64), metadata=[{"odd": i % 2 == 1} for i in range(len(base))])
    q = base[17] + 0.05
    d = ((base.astype(np.float64) - q) ** 2).sum(1)
    ranked = np.sort(d)
    # Midway between consecutive distances: no rounding puts a record on the edge.
    for radius in (ranked[[0, 9, 99]] + ranked[[1, 10, 100]]) / 2:
        labels, distances = index.range_search(q, radius)
        assert sorted(labels.tolist()) == sorted(np.nonzero(d <= radius)[0].tolist())
        assert np.all(np.diff(distances) >= 0) and np.all(distances <= radius)
    radius = (ranked[99] + ranked[100]) / 2
    labels, _ = index.range_search(q, radius, limit=7)
    assert list(labels) == list(np.argsort(d, kind="stable")[:7])
    labels, _ = index.range_search(q, radius, filter="odd = true")
    assert sorted(labels.tolist()) == sorted(i for i in np.nonzero(d <= radius)[0].tolist() if i % 2 == 1)
    with pytest.raises(omendb.InvalidArgumentError):
        index.range_search(q, float("nan"))
    with pytest.raises(omendb.DimensionMismatchError):
        index.range_search(q[:10], radius)
    stats = index.stats()
    assert stats["records"] == len(base) and stats["dim"] == base.shape[1] and stats["metric"] == "l2"
    assert sum(stats["levels"]) == len(base) and 1 < stats["mean_layer0_degree"] <= 32
    assert stats["memory"]["total"] >= stats["memory"]["graph"] > 0 and stats["durable"] is None
    durable = Index(path=tmp_path / "d", dim=4)
    durable.add(np.ones((1, 4), dtype=np.float32), ids=[1])
    assert durable.stats()["durable"]["log_bytes"] > 32
    durable.close()


def test_keys_iteration_and_scan_are_snapshots(rng):
    index = Index(dim=3)
    vectors = rng.standard_normal((30, 3)).astype(np.float32)
    index.add(vectors, ids=list(range(129, 99, -1)), metadata=[{"n": k} for k in range(129, 99, -1)])
    assert index.keys() == list(range(100, 130))
    assert index.keys(filter="n < 105") == [100, 101, 102, 103, 104]
    seen = []
    for key in index:  # writes during the iteration change nothing it yields
        seen.append(key)
        if key == 100:
            index.remove(129)
            index.add(np.ones((1, 3), dtype=np.float32), ids=[5])
    assert seen == list(range(100, 130))
    rows = list(index.scan(batch=7))
    assert [r["id"] for r in rows] == [5] + list(range(100, 129))
    assert rows[1]["metadata"] == {"n": 100} and rows[1]["vector"].tobytes() == vectors[29].tobytes()
    assert [r for r in index.scan(filter="n = 101", include=("metadata",))] == [{"id": 101, "metadata": {"n": 101}}]
    assert [r for r in index.scan(filter="n = 101", include=("text",))] == [{"id": 101, "text": None}]
    with pytest.raises(ValueError):
        list(index.scan(include=("score",)))
    named = Index(dim=3)
    named.add(vectors[:3], ids=["b", "a", "c\x00d"])
    assert named.keys() == ["a", "b", "c\x00d"] and list(named) == named.keys()
