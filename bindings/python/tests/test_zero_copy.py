"""Zero copy: a C-contiguous float32 (or uint64 key) array reaches C in place.

How this is proven: `_ffi.lib` (and `_ffi.untyped`, the same functions without argtypes that
the single-query path calls) is replaced by a spy that records the address each pointer
argument carries into the C function, and the test compares it with the address of the
caller's own array (`array.ctypes.data`). Same address = C read the caller's memory, no copy
was made. Converted input (float64, Fortran order, strided views, lists) must show a different
address: it is converted once, into a new array.
"""

import ctypes

import numpy as np
import pytest

import omendb
from omendb import _ffi


def address(argument):
    """The address a ctypes argument (byref(...), a pointer, or None) points at."""
    if argument is None:
        return 0
    if type(argument).__name__ == "CArgObject":  # ctypes.byref(...)
        return ctypes.addressof(argument._obj)
    if isinstance(argument, ctypes.Array):  # passed as the pointer to its first element
        return ctypes.addressof(argument)
    return ctypes.cast(argument, ctypes.c_void_p).value


class Spy:
    """Stands in for the CDLL: records the arguments of every call, then makes the call.
    Several spies may share one list of calls."""

    def __init__(self, real, calls=None):
        self.real = real
        self.calls = [] if calls is None else calls

    def __getattr__(self, name):
        function = getattr(self.real, name)

        def record(*args):
            self.calls.append((name, args))
            return function(*args)

        return record

    def last(self, name):
        return [args for called, args in self.calls if called == name][-1]


@pytest.fixture
def spy(monkeypatch):
    recorder = Spy(_ffi.lib)
    monkeypatch.setattr(_ffi, "lib", recorder)
    monkeypatch.setattr(_ffi, "untyped", Spy(_ffi.untyped, recorder.calls))
    return recorder


def test_ascontiguousarray_returns_the_same_object():
    x = np.ones((10, 4), np.float32)
    assert np.ascontiguousarray(x, dtype=np.float32) is x
    ids = np.arange(10, dtype=np.uint64)
    assert np.ascontiguousarray(ids, dtype=np.uint64) is ids


def test_add_and_search_read_the_callers_arrays(spy):
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    ids = np.arange(64, dtype=np.uint64)
    with omendb.Index() as index:
        index.add(x, ids)
        args = spy.last("omendb_index_add_batch")
        assert address(args[1]) == ids.ctypes.data
        assert address(args[3]) == x.ctypes.data

        index.upsert(x[:4], ids[:4])  # a row slice of a C-contiguous array is C-contiguous
        assert address(spy.last("omendb_index_upsert_batch")[3]) == x[:4].ctypes.data

        index.search(x, k=3)
        assert address(spy.last("omendb_index_search")[1]) == x.ctypes.data
        index.search(x[7], k=3)  # one (d,) query: a reshaped view, same memory
        assert address(spy.last("omendb_index_search")[1]) == x[7].ctypes.data

        auto = np.ones((3, 8), np.float32)
        index.add(auto)  # automatic keys, past the ones above
        assert address(spy.last("omendb_index_add_auto")[1]) == auto.ctypes.data

    with omendb.Index() as index:
        index.add(x[:2], ["a", "b"])
        assert address(spy.last("omendb_index_add_batch_str")[4]) == x.ctypes.data
        index.search(x, k=1)
        assert address(spy.last("omendb_index_search_results")[1]) == x.ctypes.data


def test_read_only_arrays_are_not_copied_either(spy):
    x = np.random.default_rng(1).standard_normal((16, 4)).astype(np.float32)
    x.setflags(write=False)
    with omendb.Index() as index:
        index.add(x, np.arange(16))
        assert address(spy.last("omendb_index_add_batch")[3]) == x.ctypes.data
        labels, _ = index.search(x, k=1)
        assert address(spy.last("omendb_index_search")[1]) == x.ctypes.data
        assert (labels[:, 0] == np.arange(16)).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x.astype(np.float64),
        lambda x: np.asfortranarray(x),
        lambda x: np.repeat(x, 2, axis=1)[:, ::2],
    ],
    ids=["float64", "fortran", "strided"],
)
def test_other_input_is_converted_once(spy, make):
    base = np.random.default_rng(2).standard_normal((8, 4)).astype(np.float32)
    x = make(base)
    with omendb.Index() as index:
        index.add(x, np.arange(8))
        assert address(spy.last("omendb_index_add_batch")[3]) != x.ctypes.data
        labels, distances = index.search(x, k=1)
        assert (labels[:, 0] == np.arange(8)).all() and np.allclose(distances, 0, atol=1e-5)


def test_search_writes_into_the_arrays_it_returns(spy):
    x = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    with omendb.Index() as index:
        index.add(x, np.arange(5))
        labels, distances = index.search(x, k=2)
        args = spy.last("omendb_index_search")
        assert address(args[6]) == labels.ctypes.data
        assert address(args[7]) == distances.ctypes.data


def test_one_query_writes_into_new_arrays_it_returns(spy):
    x = np.random.default_rng(4).standard_normal((5, 4)).astype(np.float32)
    with omendb.Index() as index:
        index.add(x, np.arange(5))
        labels, distances = index.search(x[2], k=7)
        args = spy.last("omendb_index_search")
        assert address(args[1]) == x[2].ctypes.data
        assert address(args[6]) == labels.ctypes.data
        assert address(args[7]) == distances.ctypes.data
        assert labels.dtype == np.uint64 and distances.dtype == np.float32
        assert labels.shape == distances.shape == (5,)  # 5 records: the hits only
        assert labels.flags.writeable and labels.flags.c_contiguous and distances.flags.writeable
        assert labels[0] == 2 and distances[0] == 0
        # A second call returns other arrays: the first call's results stay as they were.
        before = labels.copy(), distances.copy()
        again, again_distances = index.search(x[4], k=7)
        assert not np.shares_memory(again, labels) and not np.shares_memory(again_distances, distances)
        assert (labels == before[0]).all() and (distances == before[1]).all()
        assert again[0] == 4
