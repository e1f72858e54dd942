"""Neighbour codes through Python (``Index(..., neighbor_codes=8|4)``): recall on MiniLM
embeddings (NPL, 384-d, cosine; skipped when the data is absent) against the f32 index, exact
distances, the codes kept by save and load and rebuilt by a mapped open, and the errors."""

import numpy as np
import pytest

from omendb import Index, InvalidArgumentError
from conftest import data_dir, read_fvecs

NPL = data_dir() / "npl-ir"


@pytest.mark.parametrize("bits", [8, 4])
def test_codes_find_stored_vectors_at_exact_distances(bits, rng):
    base = rng.standard_normal((1500, 48)).astype(np.float32)
    with Index(neighbor_codes=bits) as index:
        index.add(base)
        stats = index.stats()
        assert stats["neighbor_codes"] == bits and stats["neighbor_codes_in_use"]
        labels, distances = index.search(base[:20], k=5, ef=128)
    assert (labels[:, 0] == np.arange(20)).all()
    exact = ((base[labels[0].astype(np.int64)] - base[0]) ** 2).sum(axis=1)
    assert np.allclose(distances[0], exact, rtol=1e-4, atol=1e-3)


@pytest.mark.skipif(not (NPL / "corpus_minilm.fvecs").is_file(), reason=f"no MiniLM data in {NPL}")
def test_recall_minilm_4_bit():
    base = read_fvecs(NPL / "corpus_minilm.fvecs", 4000)
    queries = read_fvecs(NPL / "queries_minilm.fvecs", 93)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    uq = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argsort(-(uq @ unit.T), axis=1)[:, :10]
    recalls = {}
    for bits in (0, 4):
        with Index(metric="cosine", neighbor_codes=bits) as index:
            index.add(base)
            labels, _ = index.search(queries, k=10, ef=64)
        recalls[bits] = np.mean([len(set(labels[i].tolist()) & set(truth[i].tolist())) / 10 for i in range(len(queries))])
    print(f"recall@10 at ef 64: f32 {recalls[0]:.4f}, 4-bit codes {recalls[4]:.4f}")
    assert recalls[4] >= 0.95 and recalls[4] >= recalls[0] - 0.02


def test_save_load_and_mapped_open(rng, tmp_path):
    base = rng.standard_normal((1200, 32)).astype(np.float32)
    path = tmp_path / "codes.omendb"
    with Index(neighbor_codes=8) as index:
        index.add(base[:600])
        index.add(base[600:])
        before = index.search(base[:50], k=10, ef=32)
        index.save(path)
    with Index.load(path) as loaded:
        assert loaded.stats()["neighbor_codes_in_use"]
        after = loaded.search(base[:50], k=10, ef=32)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    # Mapped, the codes are derived from the file's vectors at open: the same answers.
    with Index.open(path, mmap=True) as mapped:
        assert mapped.stats()["neighbor_codes_in_use"]
        assert mapped.stats()["neighbor_codes_layout"] == "per_node"
        opened = mapped.search(base[:50], k=10, ef=32)
    assert np.array_equal(before[0], opened[0]) and np.array_equal(before[1], opened[1])


def test_bad_neighbor_codes_raise():
    with pytest.raises(InvalidArgumentError, match="neighbor_codes must be 0, 4 or 8"):
        Index(neighbor_codes=5)
    with pytest.raises(InvalidArgumentError, match="neighbor_codes"):
        Index(neighbor_codes=2**32 + 8)
    with pytest.raises(InvalidArgumentError, match="f32 only"):
        Index(dtype="int8", neighbor_codes=8)
