"""The habits users bring from hnswlib, FAISS and USearch (issue #25): one vocabulary of names
with their aliases, an ef_search that can change after creation, hnswlib's argument order
answered with a hint."""

import numpy as np
import pytest

import omendb
from omendb import Index


@pytest.mark.parametrize(
    "name, canonical",
    [("l2", "l2"), ("euclidean", "l2"), ("L2SQ", "l2"), ("ip", "ip"), ("dot", "ip"), ("inner_product", "ip"),
     ("cosine", "cosine"), ("cos", "cosine"), ("angular", "cosine")],
)
def test_metric_aliases_are_the_c_vocabulary(name, canonical):
    with Index(dim=4, metric=name) as index:
        assert index.metric == canonical


def test_unknown_names_list_the_accepted_ones(rng):
    with pytest.raises(omendb.InvalidArgumentError, match=r"unknown metric \"hamming\": expected l2 \(euclidean, l2sq\)"):
        Index(metric="hamming")
    with pytest.raises(omendb.InvalidArgumentError, match=r"float64.*f16 \(float16, half\)"):
        Index(dtype="float64")
    with pytest.raises(omendb.InvalidArgumentError, match=r"unknown sync mode \"sometimes\": expected always"):
        Index(path="/nonexistent/x", sync="sometimes")
    with pytest.raises(TypeError, match="metric must be a name"):
        Index(metric=1.5)
    vectors = rng.standard_normal((20, 4)).astype(np.float32)
    with Index(dim=4) as index:
        index.add(vectors, ids=list(range(20)), texts=[f"word{i}" for i in range(20)])
        with pytest.raises(omendb.InvalidArgumentError, match=r"unknown fusion \"max\": expected rrf \(reciprocal_rank\) or weighted"):
            index.hybrid_search(vectors[0], "word1", fusion="max")
        # the aliases work here too
        a = index.hybrid_search(vectors[0], "word1", k=5, fusion="reciprocal_rank")
        b = index.hybrid_search(vectors[0], "word1", k=5, fusion="rrf")
        assert a[0].tolist() == b[0].tolist()
    assert Index(dim=4, dtype="half").stats()["dtype"] == "f16"


def test_hnswlib_argument_order_gets_a_hint():
    with pytest.raises(TypeError, match=r"Index\(dim=384, metric='cosine'\)"):
        Index("cosine", 384)
    with pytest.raises(TypeError, match=r"Index\(metric='cosine'\)"):
        Index("cosine")


def test_ef_search_changes_after_creation_and_is_saved(rng, tmp_path):
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    with Index(dim=8, ef_search=16) as index:
        index.add(vectors)
        assert index.ef_search == 16 and index.ef == 16
        index.ef_search = 300
        assert index.ef_search == 300 and index.stats()["ef_search"] == 300
        # ef = len: the beam holds every record, so the search is exact
        labels, _ = index.search(vectors[:20], k=10)
        exact, _ = index.search(vectors[:20], k=10, exact=True)
        assert (labels == exact).all()
        index.set_ef(40)
        assert index.ef == 40
        for bad in (0, 2**20 + 1):
            with pytest.raises(omendb.InvalidArgumentError, match="ef_search"):
                index.ef_search = bad
        with pytest.raises(omendb.InvalidArgumentError):
            index.ef_search = -1
        assert index.ef_search == 40
        index.save(tmp_path / "ef.omendb")
    with Index.load(tmp_path / "ef.omendb") as loaded:
        assert loaded.ef_search == 40
    with Index.open(tmp_path / "ef.omendb") as opened:
        opened.ef_search = 80  # a setting, allowed on a read-only mapping
        assert opened.ef_search == 80
