"""Every error class provoked through Index; after each error the index is unchanged (same
len, same search results): C batches are all or nothing."""

import numpy as np
import pytest

import omendb
from omendb import Index

D = 8
QUERIES = np.random.default_rng(99).standard_normal((5, D)).astype(np.float32)


def snapshot(index):
    labels, distances = index.search(QUERIES, k=5)
    return len(index), labels.tolist(), distances.tolist()


@pytest.fixture(params=["u64", "string"])
def filled(request):
    rng = np.random.default_rng(5)
    index = Index(metric="cosine")
    data = rng.standard_normal((40, D)).astype(np.float32)
    if request.param == "u64":
        keys = list(range(40))
    else:
        keys = [f"k{i}" for i in range(40)]
    index.add(data, keys)
    yield index, keys, data
    index.close()


def expect_unchanged(index, error, call):
    before = snapshot(index)
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, omendb.OmenDBError)
    assert info.value.status == error.status
    assert info.value.status_name == error.status_name
    assert info.value.message  # C says what was wrong
    assert snapshot(index) == before
    return info.value


def fresh_keys(keys, n):
    if isinstance(keys[0], str):
        return [f"new{i}" for i in range(n)]
    return list(range(1000, 1000 + n))


def test_wrong_dimensions(filled):
    index, keys, data = filled
    expect_unchanged(index, omendb.DimensionMismatchError, lambda: index.add(np.ones((2, D + 1)), fresh_keys(keys, 2)))
    expect_unchanged(index, omendb.DimensionMismatchError, lambda: index.upsert(np.ones((1, D - 1)), keys[:1]))
    expect_unchanged(index, omendb.DimensionMismatchError, lambda: index.search(np.ones(D + 3)))
    assert issubclass(omendb.DimensionMismatchError, ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(filled, bad):
    index, keys, data = filled
    batch = np.ones((3, D), np.float32)
    batch[2, 4] = bad
    expect_unchanged(index, omendb.NonFiniteError, lambda: index.add(batch, fresh_keys(keys, 3)))
    expect_unchanged(index, omendb.NonFiniteError, lambda: index.upsert(batch, keys[:3]))
    expect_unchanged(index, omendb.NonFiniteError, lambda: index.search(batch))


def test_zero_vector_with_cosine(filled):
    index, keys, data = filled
    batch = np.ones((2, D), np.float32)
    batch[1] = 0
    expect_unchanged(index, omendb.ZeroVectorError, lambda: index.add(batch, fresh_keys(keys, 2)))
    expect_unchanged(index, omendb.ZeroVectorError, lambda: index.search(np.zeros(D)))


def one_query_errors():
    """(query, k, ef) of one float32 (d,) query, each wrong in one way: the shape of call that
    `Index.search` sends to C without its generic conversions."""
    nan = np.ones(D, np.float32)
    nan[3] = np.nan
    return [
        (np.ones(D + 3, np.float32), 5, None),  # DIMENSION_MISMATCH
        (nan, 5, None),  # NON_FINITE
        (np.zeros(D, np.float32), 5, None),  # ZERO_VECTOR (cosine)
        (np.ones(D, np.float32), 0, None),  # INVALID_ARGUMENT (k = 0)
        (np.ones(0, np.float32), 5, None),  # DIMENSION_MISMATCH (an empty query)
    ]


def test_one_query_errors_match_the_batch_errors(filled):
    """One (d,) float32 query fails with the exception and message of the same query sent as
    a (1, d) batch, and leaves the index unchanged."""
    index, keys, data = filled
    for query, k, ef in one_query_errors():
        with pytest.raises(omendb.OmenDBError) as batch:
            index.search(query[None, :], k=k, ef=ef)
        error = expect_unchanged(index, type(batch.value), lambda: index.search(query, k=k, ef=ef))
        assert str(error) == str(batch.value) and error.status == batch.value.status


def test_one_query_of_each_kind_matches_the_batch(filled):
    """One (d,) query answers as row 0 of the same query as a (1, d) batch, whatever the
    input: float32, float64, read-only, strided, large k, an explicit ef."""
    index, keys, data = filled
    read_only = data[3].copy()
    read_only.setflags(write=False)
    for query, k, ef in [
        (data[3], 5, None),
        (data[3].astype(np.float64), 5, None),
        (read_only, 5, None),
        (np.repeat(data[3], 2)[::2], 5, None),
        (data[3], 45, None),  # more than the 40 records: the 40 hits, no padding
        (data[3], 5000, None),  # beyond the direct path's k
        (data[3], 5, 0),
        (data[3], 5, 3),
        (data[3], 5, 2**40),
    ]:
        labels, distances = index.search(query, k=k, ef=ef)
        batch_labels, batch_distances = index.search(np.asarray(query)[None, :], k=k, ef=ef)
        assert labels.shape == distances.shape == (min(k, 40),)
        assert batch_labels.shape == batch_distances.shape == (1, min(k, 40))
        assert labels.tolist() == batch_labels[0].tolist()
        assert distances.tolist() == batch_distances[0].tolist()
        assert labels.dtype == batch_labels.dtype and distances.dtype == np.float32


def test_one_query_on_a_closed_index():
    index = Index()
    index.add(np.ones((1, D), np.float32), [1])
    index.close()
    with pytest.raises(omendb.IndexClosedError):
        index.search(np.ones(D, np.float32), k=1)


def test_k_zero(filled):
    index, keys, data = filled
    error = expect_unchanged(index, omendb.InvalidArgumentError, lambda: index.search(QUERIES, k=0))
    assert isinstance(error, ValueError)


def test_duplicate_key_in_batch(filled):
    index, keys, data = filled
    new = fresh_keys(keys, 3)
    batch = np.ones((3, D), np.float32)
    expect_unchanged(index, omendb.DuplicateKeyError, lambda: index.add(batch, [new[0], new[1], new[0]]))
    expect_unchanged(index, omendb.DuplicateKeyError, lambda: index.upsert(batch, [new[0], new[1], new[1]]))
    assert new[0] not in index and new[1] not in index  # all or nothing


def test_existing_key(filled):
    index, keys, data = filled
    new = fresh_keys(keys, 2)
    expect_unchanged(index, omendb.DuplicateKeyError, lambda: index.add(np.ones((3, D)), [new[0], keys[7], new[1]]))
    assert new[0] not in index


def test_unknown_key_on_remove(filled):
    index, keys, data = filled
    unknown = fresh_keys(keys, 1)[0]
    error = expect_unchanged(index, omendb.KeyNotFoundError, lambda: index.remove(unknown))
    assert isinstance(error, KeyError)


def test_mixing_key_kinds(filled):
    index, keys, data = filled
    other = [5, 6] if isinstance(keys[0], str) else ["a", "b"]
    expect_unchanged(index, omendb.InvalidKeyError, lambda: index.add(np.ones((2, D)), other))
    expect_unchanged(index, omendb.InvalidKeyError, lambda: index.upsert(np.ones((2, D)), other))
    expect_unchanged(index, omendb.InvalidKeyError, lambda: index.remove(other[0]))
    assert other[0] not in index  # contains answers False, it is not an error


def test_auto_keys_on_string_index_or_past_the_keys_in_use(filled):
    index, keys, data = filled
    if isinstance(keys[0], str):
        expect_unchanged(index, omendb.InvalidKeyError, lambda: index.add(np.ones((3, D))))
        return
    # Automatic keys skip the keys added by hand (they used to collide with them forever).
    largest = max(int(k) for k in keys)
    assert list(index.add(np.ones((3, D)))) == [largest + 1, largest + 2, largest + 3]
    assert list(index.add(np.ones((1, D)))) == [largest + 4]


def test_bad_string_keys():
    with Index() as index:
        index.add(np.ones((1, D)), ["ok"])
        expect_unchanged(index, omendb.InvalidKeyError, lambda: index.add(np.ones((2, D)), ["fine", ""]))
        expect_unchanged(index, omendb.InvalidKeyError, lambda: index.add(np.ones((1, D)), ["x" * 65537]))
        expect_unchanged(index, omendb.InvalidUtf8Error, lambda: index.add(np.ones((2, D)), ["fine", b"\xff\xfe"]))
        expect_unchanged(index, omendb.InvalidUtf8Error, lambda: index.add(np.ones((1, D)), ["\ud800"]))
        expect_unchanged(index, omendb.InvalidUtf8Error, lambda: index.remove(b"\xc3"))
        assert "fine" not in index


def test_reserved_u64_key():
    with Index() as index:
        index.add(np.ones((1, D)), [1])
        expect_unchanged(index, omendb.InvalidKeyError, lambda: index.add(np.ones((1, D)), [omendb.NO_KEY]))


def test_bad_options():
    with pytest.raises(omendb.InvalidArgumentError) as info:
        Index(metric="hamming")
    assert "hamming" in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(omendb.InvalidArgumentError):
        Index(metric=7)
    with pytest.raises(omendb.InvalidArgumentError):
        Index(m=1)
    with pytest.raises(omendb.InvalidArgumentError):
        Index(dim=70000)
    with pytest.raises(omendb.InvalidArgumentError):
        Index(ef_search=0)
    with pytest.raises(omendb.InvalidArgumentError):
        Index(ef_construction=0)


def test_zero_dim_batch():
    with Index() as index:
        expect_unchanged(index, omendb.InvalidArgumentError, lambda: index.add(np.ones((2, 0)), [1, 2]))


def test_binding_side_errors():
    """Errors raised in Python before C is called: only where C could not tell (lengths it
    cannot see, ctypes conversions that would silently wrap)."""
    with Index() as index:
        index.add(np.ones((1, D)), [1])
        with pytest.raises(ValueError):
            index.add(np.ones((2, D)), [2])  # 1 id for 2 vectors: C would read past the ids
        with pytest.raises(ValueError):
            index.search(np.ones((2, 2, D)))
        with pytest.raises(omendb.InvalidArgumentError):  # not OverflowError: a ValueError
            index.add(np.ones((1, D)), [-1])
        with pytest.raises(omendb.InvalidArgumentError):
            index.add(np.ones((1, D)), np.array([-1]))
        with pytest.raises(omendb.InvalidArgumentError):
            index.search(np.ones(D), k=-1)
        with pytest.raises(omendb.InvalidArgumentError):
            index.remove(-3)
        with pytest.raises(TypeError):
            index.add(np.ones((1, D)), [True])
        with pytest.raises(TypeError):
            index.add(np.ones((1, D)), [1.5])
        with pytest.raises(TypeError):
            index.add(np.ones((2, D)), ["a", 2])
        with pytest.raises(TypeError):
            index.add(np.ones((1, D)), np.array([1.0]))
        assert len(index) == 1
