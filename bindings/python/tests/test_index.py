"""Index round trips: u64, string and automatic keys; upsert; remove; contains/len; inspection;
lifetime."""

import gc

import numpy as np
import pytest

import omendb
from omendb import NO_KEY, Index


def vectors(rng, n, d=16):
    return rng.standard_normal((n, d)).astype(np.float32)


def test_u64_round_trip(rng):
    data = vectors(rng, 200)
    ids = np.arange(1000, 1200, dtype=np.uint64)
    with Index(metric="l2", seed=7) as index:
        assert index.add(data, ids) is ids  # a uint64 array goes to C as is and comes back
        assert len(index) == 200 and index.dim == 16 and index.key_kind == "u64"
        labels, distances = index.search(data, k=1)
        assert labels.shape == (200, 1) and labels.dtype == np.uint64 and distances.dtype == np.float32
        assert (labels[:, 0] == ids).mean() >= 0.99
        assert np.allclose(distances[labels[:, 0] == ids, 0], 0.0, atol=1e-4)
        one_labels, one_distances = index.search(data[5], k=10)
        assert one_labels.shape == (10,) and one_labels[0] == 1005
        assert np.all(np.diff(one_distances) >= 0)
        # exact distances: squared L2
        row = data[(one_labels - 1000).astype(np.int64)]
        assert np.allclose(one_distances, ((row - data[5]) ** 2).sum(1), rtol=1e-4, atol=1e-4)


def test_python_int_ids_and_list_vectors(rng):
    with Index() as index:
        returned = index.add([[1.0, 0.0], [0.0, 1.0]], [7, 2**64 - 2])
        assert returned.dtype == np.uint64 and returned.tolist() == [7, 2**64 - 2]
        assert 7 in index and 2**64 - 2 in index and 8 not in index
        assert index.search([0.0, 1.0], k=1)[0][0] == 2**64 - 2
        index.add(np.array([3.0, 3.0]), 9)  # a lone vector with a lone id
        assert 9 in index and len(index) == 3
        index.add(np.ones((1, 2)), np.array([11], dtype=np.int32))  # a signed array is fine
        assert 11 in index


def test_id_array_kinds(rng):
    data = vectors(rng, 3, 4)
    with Index() as index:
        index.add(data, np.array([2**64 - 2, 5, 6], dtype=object))  # Python ints in an object array
        assert 2**64 - 2 in index and len(index) == 3
    with Index() as index:
        assert index.add(data, np.array(["a", "b", "c"])) == ["a", "b", "c"]
        index.add(data, np.array([b"d", b"e", b"f"]))
        assert "e" in index and len(index) == 6


def test_string_round_trip(rng):
    data = vectors(rng, 50)
    words = [f"word-{i}" for i in range(50)]
    with Index(metric="cosine") as index:
        assert index.add(data, words) == words
        assert index.key_kind == "string" and len(index) == 50 and "word-3" in index and "nope" not in index
        labels, distances = index.search(data[:4], k=3)
        assert labels.shape == (4, 3) and labels.dtype == object and distances.shape == (4, 3)
        assert labels[:, 0].tolist() == words[:4]
        assert np.allclose(distances[:, 0], 0.0, atol=1e-5)
        # distances agree with 1 - cos
        unit = data / np.linalg.norm(data, axis=1, keepdims=True)
        rows = unit[[int(w.split("-")[1]) for w in labels[2]]]
        assert np.allclose(distances[2], 1 - rows @ unit[2], atol=1e-5)
        label, distance = index.search(data[7], k=1)
        assert label.tolist() == ["word-7"] and distance.shape == (1,)


def test_unusual_string_keys(rng):
    keys = ["a\x00b", "ключ", "🙂", "x" * 65536, b"raw-bytes"]
    data = vectors(rng, len(keys), 4)
    with Index() as index:
        index.add(data, keys)
        for i, key in enumerate(keys):
            assert key in index
            expected = key.decode() if isinstance(key, bytes) else key
            assert index.search(data[i], k=1)[0][0] == expected
        assert "a" not in index  # the NUL byte is part of the key
        index.remove("a\x00b")
        assert "a\x00b" not in index and len(index) == 4


def test_auto_ids_count_up(rng):
    with Index() as index:
        first = index.add(vectors(rng, 10))
        second = index.add(vectors(rng, 5))
        assert first.tolist() == list(range(10)) and second.tolist() == list(range(10, 15))
        assert second.dtype == np.uint64 and len(index) == 15
        single = index.add(vectors(rng, 1)[0])
        assert single.tolist() == [15]


def test_results_hold_real_hits_only(rng):
    """k above the records: one query gets the hits only; a batch is (n, min(k, len))."""
    with Index() as index:
        labels, distances = index.search(np.ones(4, np.float32), k=3)  # empty index
        assert labels.shape == distances.shape == (0,)
        index.add(vectors(rng, 2, 4), [1, 2])
        labels, distances = index.search(np.ones((2, 4), np.float32), k=5)
        assert labels.shape == (2, 2) and (labels != NO_KEY).all() and np.isfinite(distances).all()
        assert sorted(labels[0].tolist()) == [1, 2]
    with Index() as index:
        index.add(vectors(rng, 2, 4), ["a", "b"])
        labels, distances = index.search(np.ones(4, np.float32), k=4)
        assert sorted(labels.tolist()) == ["a", "b"] and np.isfinite(distances).all()
        labels, distances = index.search(np.ones((3, 4), np.float32), k=4)
        assert labels.shape == distances.shape == (3, 2) and None not in labels.ravel().tolist()


def test_empty_batches(rng):
    with Index(dim=4) as index:
        assert index.add(np.zeros((0, 4), np.float32), []).tolist() == []
        assert index.add(np.zeros((0, 4), np.float32)).tolist() == []
        labels, distances = index.search(np.zeros((0, 4), np.float32), k=3)
        assert labels.shape == (0, 0) and distances.shape == (0, 0)  # (n, min(k, len))
        assert len(index) == 0
        index.add(np.ones((2, 4), np.float32))
        labels, distances = index.search(np.zeros((0, 4), np.float32), k=3)
        assert labels.shape == (0, 2) and distances.shape == (0, 2)


def test_upsert(rng):
    data = vectors(rng, 20, 8)
    with Index() as index:
        index.add(data, np.arange(20))
        new = vectors(rng, 2, 8) * 10
        index.upsert(new, [3, 99])  # 3 replaced, 99 added
        assert len(index) == 21 and 99 in index
        labels, distances = index.search(new[0], k=1)
        assert labels[0] == 3 and distances[0] == pytest.approx(0, abs=1e-3)
        assert index.search(data[3], k=1)[0][0] != 3
    with Index(metric="ip") as index:
        index.add(data[:3], ["a", "b", "c"])
        index.upsert(data[3:5], ["b", "z"])
        assert len(index) == 4
        assert index.search(data[3] * 1, k=4)[0].tolist().count("b") == 1
    with pytest.raises(TypeError):
        Index().upsert(data, None)


def test_remove_contains_len(rng):
    data = vectors(rng, 100, 8)
    with Index() as index:
        index.add(data, np.arange(100))
        for key in range(0, 100, 2):
            index.remove(key)
        assert len(index) == 50
        assert 2 not in index and 3 in index and np.uint64(3) in index
        labels, _ = index.search(data, k=5)
        valid = labels[labels != NO_KEY]
        assert (valid % 2 == 1).all()
        index.compact()
        assert len(index) == 50
        index.add(data[:10:2], np.arange(0, 10, 2))  # removed keys may come back
        assert len(index) == 55 and 4 in index
    with Index() as index:
        index.add(data[:2], ["x", "y"])
        index.remove("x")
        index.remove(b"y")
        assert len(index) == 0 and "x" not in index


def test_inspection():
    for name in ("l2", "ip", "cosine"):
        with Index(metric=name) as index:
            assert index.metric == name
    with Index(dim=12, m=4, ef_construction=10, ef_search=5, seed=3) as index:
        assert index.dim == 12 and index.key_kind == "none" and len(index) == 0
        before = index.memory_bytes()
        assert isinstance(before, int)
        index.add(np.random.default_rng(0).standard_normal((500, 12)), np.arange(500))
        assert index.memory_bytes() > before
        assert "dim=12" in repr(index) and "len=500" in repr(index)
    with Index() as index:
        assert index.dim == 0
        index.add(np.ones((1, 3)), [1])
        assert index.dim == 3


def test_ef_parameter(rng):
    data = vectors(rng, 300, 8)
    with Index(ef_search=1) as index:
        index.add(data, np.arange(300))
        labels, _ = index.search(data[:50], k=10, ef=200)
        assert (labels[:, 0] == np.arange(50)).all()
        labels, _ = index.search(data[:5], k=10, ef=1)  # raised to k by C
        assert (labels != NO_KEY).all()


def test_close_is_idempotent_and_use_after_close_raises(rng):
    index = Index()
    index.add(vectors(rng, 3, 4))
    index.close()
    index.close()
    assert index.closed and repr(index) == "<omendb.Index closed>"
    calls = [
        lambda: len(index), lambda: index.dim, lambda: index.metric, lambda: index.key_kind,
        lambda: index.memory_bytes(), lambda: index.compact(), lambda: 1 in index,
        lambda: index.add(np.ones((1, 4))), lambda: index.upsert(np.ones((1, 4)), [1]),
        lambda: index.remove(1), lambda: index.search(np.ones(4)),
    ]
    for call in calls:
        with pytest.raises(omendb.IndexClosedError) as info:
            call()
        assert isinstance(info.value, omendb.NullPointerError)
        assert info.value.status == 2 and info.value.status_name == "OMENDB_STATUS_NULL_POINTER"
    with Index() as other:
        pass
    assert other.closed


def test_garbage_collection_frees(rng):
    for _ in range(50):
        index = Index()
        index.add(vectors(rng, 10, 4))
        del index
    gc.collect()
    index = Index()
    index.close()
    index.__del__()  # after close: harmless
