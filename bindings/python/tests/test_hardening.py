"""Regression tests of issue #21 "Hardening", Python side.

1. A huge k costs no memory: results are sized by min(k, records), never by k.
2. ``close()`` while other threads use the index or a filter is safe (no use after free).
3. Argument checks: negative ints are InvalidArgumentError (a ValueError), bools are not ids,
   complex input is refused, and a wrong-typed entry names its argument.
4. Results hold only real hits: a single query gets as many as were found; a batch is
   (n, min(k, len)) with NO_KEY / None and inf where a row has fewer.

The thread-safety tests run in a subprocess, so a segfault fails the test instead of killing
pytest.
"""

import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import omendb
from omendb import NO_KEY, Index

D = 8
HUGE = 2**40
BINDING_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def u64_index():
    rng = np.random.default_rng(21)
    data = rng.standard_normal((20, D)).astype(np.float32)
    meta = [{"even": i % 2 == 0, "i": i} for i in range(20)]
    texts = [f"word{i} common" for i in range(20)]
    index = Index(dim=D)
    index.add(data, np.arange(100, 120, dtype=np.uint64), metadata=meta, texts=texts)
    yield index, data
    index.close()


@pytest.fixture
def str_index():
    rng = np.random.default_rng(22)
    data = rng.standard_normal((12, D)).astype(np.float32)
    keys = [f"k{i}" for i in range(12)]
    index = Index(dim=D)
    index.add(data, keys, metadata=[{"i": i} for i in range(12)], texts=[f"w{i} common" for i in range(12)])
    yield index, data, keys
    index.close()


# ---- 1. huge k ----


def test_huge_k_single_and_batch_u64(u64_index):
    index, data = u64_index
    labels, distances = index.search(data[3], k=HUGE)
    assert labels.shape == distances.shape == (20,)
    assert labels[0] == 103 and distances[0] == 0
    assert sorted(labels.tolist()) == list(range(100, 120))
    assert np.all(np.diff(distances) >= 0)
    labels, distances = index.search(data[:3], k=HUGE)
    assert labels.shape == distances.shape == (3, 20)
    assert labels[:, 0].tolist() == [100, 101, 102]
    assert (labels != NO_KEY).all() and np.isfinite(distances).all()
    # 2**30 (the example: gigabytes before) and a k one past the records.
    assert index.search(data[:2], k=2**30)[0].shape == (2, 20)
    assert index.search(data[0], k=21)[0].shape == (20,)
    assert index.search(data[0], k=5000)[0].shape == (20,)  # past the single-query fast path


def test_huge_k_string_keys_filtered_text_hybrid(u64_index, str_index):
    index, data = u64_index
    labels, distances = index.search(data[2], k=HUGE, filter="even = true")
    assert labels.shape == distances.shape == (10,) and labels[0] == 102
    assert all(int(x) % 2 == 0 for x in labels)
    labels, distances = index.search(data[:2], k=HUGE, filter="even = true")
    assert labels.shape == distances.shape == (2, 20)  # min(k, len): rows padded past 10 matches
    assert (labels[:, 10:] == NO_KEY).all() and np.isinf(distances[:, 10:]).all()
    labels, scores = index.text_search("common", k=HUGE)
    assert labels.shape == scores.shape == (20,) and len(set(labels.tolist())) == 20
    labels, scores = index.text_search("word7", k=HUGE)
    assert labels.tolist() == [107]
    labels, scores = index.hybrid_search(data[7], "word7", k=HUGE)
    assert 1 <= len(labels) <= len(index) and labels[0] == 107

    sindex, sdata, keys = str_index
    labels, distances = sindex.search(sdata[5], k=HUGE)
    assert labels.shape == (12,) and labels[0] == "k5" and sorted(labels.tolist()) == sorted(keys)
    labels, distances = sindex.search(sdata[:2], k=HUGE)
    assert labels.shape == distances.shape == (2, 12) and labels[:, 0].tolist() == ["k0", "k1"]
    labels, _ = sindex.search(sdata[4], k=HUGE, filter="i < 3")
    assert sorted(labels.tolist()) == ["k0", "k1", "k2"]
    labels, _ = sindex.text_search("common", k=HUGE)
    assert len(labels) == 12
    labels, _ = sindex.hybrid_search(sdata[1], "w1", k=HUGE)
    assert 1 <= len(labels) <= 12 and labels[0] == "k1"


def test_big_k_allocates_by_records_not_by_k(u64_index):
    """k = 10**6 on 20 records: well under a megabyte is allocated (8 MB before, by k)."""
    index, data = u64_index
    queries = data[:2].copy()
    for kwargs in ({}, {"filter": "even = true"}):
        tracemalloc.start()
        try:
            labels, _ = index.search(queries, k=10**6, **kwargs)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert labels.shape == (2, 20)
        assert peak < 2**20, f"{peak} bytes allocated for k = 10**6 on 20 records {kwargs}"


def test_huge_k_on_an_empty_index_still_checks_the_queries():
    with Index(dim=D) as index:
        labels, distances = index.search(np.ones(D, np.float32), k=HUGE)
        assert labels.shape == distances.shape == (0,)
        assert labels.dtype == np.uint64 and distances.dtype == np.float32
        labels, distances = index.search(np.ones((3, D), np.float32), k=HUGE)
        assert labels.shape == distances.shape == (3, 0)
        labels, distances = index.search(np.ones((2, D), np.float32), k=HUGE, filter="x = 1")
        assert labels.shape == (2, 0)
        assert index.text_search("anything", k=HUGE)[0].shape == (0,)
        assert index.hybrid_search(np.ones(D), "anything", k=HUGE)[0].shape == (0,)
        # The queries are still checked by C, as before.
        nan = np.ones(D, np.float32)
        nan[1] = np.nan
        for query in (nan, nan[None, :]):
            with pytest.raises(omendb.NonFiniteError):
                index.search(query, k=HUGE)
            with pytest.raises(omendb.NonFiniteError):
                index.search(query, k=3)
        for query in (np.ones(D + 1, np.float32), np.ones((2, D + 1), np.float32)):
            with pytest.raises(omendb.DimensionMismatchError):
                index.search(query, k=HUGE)
        with pytest.raises(omendb.InvalidArgumentError):
            index.search(np.ones(D, np.float32), k=0)
        with pytest.raises(omendb.InvalidArgumentError):
            index.search(np.ones((2, D), np.float32), k=0)
        assert len(index) == 0
    with Index() as index:  # dim=0: no dimension to check against yet
        labels, _ = index.search(np.ones((2, 3), np.float32), k=HUGE)
        assert labels.shape == (2, 0)


# ---- 2. close() while other threads use the index or a filter ----


def run_script(body, timeout=120):
    """Runs `body` in a fresh interpreter that imports omendb from this checkout; returns its
    output. A crash (a negative return code: a signal) or any failure fails the test."""
    script = "import sys\nsys.path.insert(0, %r)\n" % str(BINDING_DIR) + textwrap.dedent(body)
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"return code {done.returncode}\n{done.stdout}\n{done.stderr[-4000:]}"
    assert "OK" in done.stdout, done.stdout + done.stderr[-4000:]
    return done.stdout


def test_close_waits_for_a_running_call_to_free():
    """A search blocked inside its C call while close() runs: close marks the index closed at
    once (new calls raise IndexClosedError), the running search finishes with its real answer,
    and the C index is freed once, after that search returns."""
    run_script(
        """
        import threading
        import numpy as np
        import omendb
        from omendb import _ffi

        data = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
        events = []
        entered, go_on = threading.Event(), threading.Event()

        class Blocking:
            def __init__(self, real):
                self.real = real
            def __getattr__(self, name):
                function = getattr(self.real, name)
                if name not in ("omendb_index_search", "omendb_index_search_filtered",
                                "omendb_index_text_search"):
                    return function
                def call(*args):
                    entered.set()
                    go_on.wait()
                    events.append(name)
                    return function(*args)
                return call

        def free(handle, real=_ffi.lib.omendb_index_free):
            events.append("omendb_index_free")
            real(handle)

        def free_filter(handle, real=_ffi.lib.omendb_filter_free):
            events.append("omendb_filter_free")
            real(handle)

        def blocked(call, close):
            entered.clear(); go_on.clear(); del events[:]
            out = {}
            def run():
                try:
                    out["result"] = call()
                except BaseException as error:
                    out["error"] = error
            thread = threading.Thread(target=run, daemon=True)  # dies with a failed assert
            thread.start()
            assert entered.wait(10), "the call never reached C"
            close()
            assert events == [], events  # nothing freed while the call runs
            go_on.set()
            thread.join(10)
            assert not thread.is_alive()
            assert "error" not in out, out
            return out["result"]

        real_lib = _ffi.lib
        _ffi.lib = Blocking(real_lib)
        _ffi.untyped = Blocking(_ffi.untyped)

        # Index.close() during a single-query search (the fast path), a batch search, a
        # filtered search, a text search.
        calls = [
            lambda index: index.search(data[3], k=5),
            lambda index: index.search(data[:4], k=5),
            lambda index: index.search(data[3], k=5, filter="i >= 0"),
            lambda index: index.text_search("common", k=5),
        ]
        for call in calls:
            index = omendb.Index()
            index.add(data, np.arange(50), metadata=[{"i": i} for i in range(50)],
                      texts=["common"] * 50)
            labels, distances = blocked(lambda: call(index), lambda: index.close(_free=free))
            assert len(labels) in (4, 5) and np.all(np.asarray(labels) != omendb.NO_KEY)
            assert events[-1] == "omendb_index_free" and events.count("omendb_index_free") == 1, events
            assert index.closed
            try:
                index.search(data[3], k=5)
            except omendb.IndexClosedError:
                pass
            else:
                raise AssertionError("a search after close() did not raise IndexClosedError")
            index.close()
            assert events.count("omendb_index_free") == 1, events

        # Filter.close() during a search that uses it: freed after the search returns.
        index = omendb.Index()
        index.add(data, np.arange(50), metadata=[{"i": i} for i in range(50)])
        f = omendb.Filter("i < 10")
        labels, _ = blocked(lambda: index.search(data[3], k=5, filter=f), lambda: f.close(_free=free_filter))
        assert sorted(labels.tolist())[-1] < 10 and labels[0] == 3
        assert events[-1] == "omendb_filter_free" and events.count("omendb_filter_free") == 1, events
        try:
            index.search(data[3], k=5, filter=f)
        except omendb.IndexClosedError as error:
            assert "filter is closed" in str(error), error
        else:
            raise AssertionError("a closed filter was used")
        index.close()
        print("OK")
        """
    )


def test_close_while_threads_search_and_add_never_crashes():
    """Threads hammer one index (single-query and batch searches, filtered searches with a
    shared Filter, u64 adds, len / contains / text search) while the main thread closes the
    filter and the index, 60 times over. Every worker must end on IndexClosedError and
    nothing else. Before the fix this was a use-after-free: a segfault within a few rounds."""
    out = run_script(
        """
        import random
        import threading
        import numpy as np
        import omendb

        rng = np.random.default_rng(0)
        data = rng.standard_normal((300, 8)).astype(np.float32)
        meta = [{"i": i} for i in range(300)]
        unexpected = []
        closed_seen = [0]

        def worker(index, f, kind, start):
            start.wait()
            n = 0
            try:
                while True:
                    n += 1
                    if kind == 0:
                        index.search(data[n % 300], k=10)
                    elif kind == 1:
                        index.search(data[:16], k=10)
                    elif kind == 2:
                        index.search(data[n % 300], k=5, filter=f)
                    elif kind == 3:
                        index.add(data[:2], np.array([10**6 + 2 * n, 10**6 + 2 * n + 1], np.uint64))
                    else:
                        len(index); index.key_kind; (5 in index); index.text_search("x", k=3)
            except omendb.IndexClosedError:
                closed_seen[0] += 1
            except BaseException as error:
                unexpected.append(repr(error))

        for round in range(60):
            index = omendb.Index(ef_construction=40)
            index.add(data, np.arange(300), metadata=meta)
            f = omendb.Filter("i < 150")
            start = threading.Event()
            threads = [threading.Thread(target=worker, args=(index, f, kind % 5, start)) for kind in range(6)]
            for t in threads:
                t.start()
            start.set()
            # Close while the workers run: the filter first or the index first.
            threading.Event().wait(random.Random(round).uniform(0.0005, 0.01))
            if round % 2:
                f.close()
            index.close()
            f.close()
            for t in threads:
                t.join(30)
                assert not t.is_alive(), "a worker hung"
        assert not unexpected, unexpected[:5]
        assert closed_seen[0] > 0
        print("OK", closed_seen[0])
        """,
        timeout=180,
    )
    assert out.startswith("OK")


# ---- 3. argument checks ----


@pytest.mark.parametrize(
    "call",
    [
        lambda index, q: index.search(q, k=-1),
        lambda index, q: index.search(q, k=3, ef=-5),
        lambda index, q: index.search(q[None, :], k=3, ef=-5),
        lambda index, q: index.search(q, k=2**64),
        lambda index, q: index.text_search("a", k=-1),
        lambda index, q: index.hybrid_search(q, "a", k=3, ef=-5),
        lambda index, q: index.remove(-3),
        lambda index, q: index.add(q, [-1]),
        lambda index, q: index.add(q, np.array([-1])),
        lambda index, q: Index(dim=-1),
        lambda index, q: Index(m=-3),
        lambda index, q: Index(ef_search=-1),
    ],
)
def test_negative_ints_are_value_errors(u64_index, call):
    index, data = u64_index
    with pytest.raises(omendb.InvalidArgumentError) as error:
        call(index, data[0])
    assert isinstance(error.value, ValueError)
    assert len(index) == 20


def test_bools_are_not_ids(u64_index):
    index, data = u64_index
    for ids in ([True], [np.True_], np.array([True]), (False,)):
        with pytest.raises(TypeError, match="bool"):
            index.add(data[:1] + 5, ids)
        with pytest.raises(TypeError, match="bool"):
            index.upsert(data[:1] + 5, ids)
    with pytest.raises(TypeError, match="bool"):
        index.add(data[0] + 5, True)
    for call in (index.remove, index.metadata, index.__contains__):
        with pytest.raises(TypeError, match="bool"):
            call(True)
    assert len(index) == 20 and 1 not in index and 0 not in index


def test_complex_input_is_refused(u64_index):
    index, data = u64_index
    complex_rows = data[:2].astype(np.complex64)
    for vectors in (complex_rows, complex_rows.tolist(), [[1 + 0j] * D]):
        with pytest.raises(TypeError, match="complex"):
            index.add(vectors, [500, 501][: len(vectors)])
    assert len(index) == 20
    for query in (complex_rows[0], complex_rows, complex_rows[0].astype(np.complex128)):
        with pytest.raises(TypeError, match="complex"):
            index.search(query, k=3)
    with pytest.raises(TypeError, match="complex"):
        index.hybrid_search(complex_rows[0], "word", k=3)


def test_wrong_typed_entries_name_their_argument(u64_index, str_index):
    index, data = u64_index
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        index.add(data[:1] + 5, [900], texts=[5])
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        index.add(data[:1] + 5, ["x"], texts=[5])
    with pytest.raises(TypeError, match=r"metadata\[1\]"):
        index.add(data[:2] + 5, [900, 901], metadata=[None, {"a": object()}])  # not JSON
    with pytest.raises(omendb.InvalidArgumentError, match="metadata"):
        index.add(data[:1] + 5, [900], metadata=[5])  # JSON, but C wants an object
    with pytest.raises(TypeError, match="ids"):
        index.add(data[:2] + 5, [900, "b"])
    sindex, sdata, _ = str_index
    with pytest.raises(TypeError, match="ids"):
        sindex.add(sdata[:2] + 5, ["a", 5])
    with pytest.raises(TypeError, match="query"):
        index.text_search(5, k=3)
    assert len(index) == 20 and len(sindex) == 12


# ---- 4. results hold only real hits ----


def test_single_query_returns_only_real_hits(u64_index, str_index):
    with Index() as index:
        labels, distances = index.search(np.ones(4, np.float32), k=3)  # empty index
        assert labels.shape == distances.shape == (0,)
        index.add(np.eye(4, dtype=np.float32)[:2], [1, 2])
        for k in (3, 4096, 5000):  # the fast path, its last k, and the general path
            labels, distances = index.search(np.ones(4, np.float32), k=k)
            assert sorted(labels.tolist()) == [1, 2] and np.isfinite(distances).all()
            labels, distances = index.search(np.ones(4), k=k)  # float64: converted first
            assert sorted(labels.tolist()) == [1, 2]
        labels, distances = index.search(np.ones((2, 4), np.float32), k=5)
        assert labels.shape == distances.shape == (2, 2) and (labels != NO_KEY).all()
    uindex, data = u64_index
    labels, distances = uindex.search(data[0], k=3, filter="i = 7")
    assert labels.tolist() == [107] and distances.shape == (1,)
    labels, distances = uindex.search(data[0], k=3, filter="i > 1000")
    assert labels.shape == distances.shape == (0,)
    sindex, sdata, _ = str_index
    labels, distances = sindex.search(sdata[0], k=40)
    assert labels.shape == (12,) and None not in labels.tolist() and np.isfinite(distances).all()
    labels, _ = sindex.search(sdata[0], k=5, filter='i = 3')
    assert labels.tolist() == ["k3"]


def test_batch_rows_are_padded_to_min_k_len(u64_index, str_index):
    index, data = u64_index
    labels, distances = index.search(data[:3], k=5, filter="i = 7")
    assert labels.shape == distances.shape == (3, 5)
    assert (labels[:, 0] == 107).all()
    assert (labels[:, 1:] == NO_KEY).all() and np.isinf(distances[:, 1:]).all()
    labels, distances = index.search(data[:2], k=3, filter="i > 1000")
    assert labels.shape == (2, 3) and (labels == NO_KEY).all() and np.isinf(distances).all()
    sindex, sdata, _ = str_index
    labels, distances = sindex.search(sdata[:2], k=40, filter="i < 2")
    assert labels.shape == distances.shape == (2, 12)
    assert sorted(labels[0, :2].tolist()) == ["k0", "k1"] and labels[:, 2:].tolist() == [[None] * 10] * 2
    assert np.isinf(distances[:, 2:]).all()
