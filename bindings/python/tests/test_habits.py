"""The habits users bring from hnswlib, FAISS and USearch (issue #25): one vocabulary of names
with their aliases, an ef_search that can change after creation, hnswlib's argument order
answered with a hint."""

import numpy as np
import pytest

import omendb
from omendb import Index, InvalidArgumentError


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


def test_pickle_round_trips_through_bytes(rng):
    import pickle

    vectors = rng.standard_normal((200, 8)).astype(np.float32)
    with Index(dim=8, metric="cosine") as index:
        index.add(vectors, ids=[f"k{i}" for i in range(200)], metadata=[{"i": i} for i in range(200)])
        index.ef_search = 99
        copy = pickle.loads(pickle.dumps(index))
        with copy:
            assert len(copy) == 200 and copy.ef_search == 99 and copy.metric == "cosine"
            assert copy.metadata("k7") == {"i": 7}
            want = index.search(vectors[:5], k=4)
            got = copy.search(vectors[:5], k=4)
            assert (want[0] == got[0]).all() and np.array_equal(want[1], got[1])
        data = index.to_bytes()
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(omendb.CorruptError):
        Index.from_bytes(bytes(damaged))
    with pytest.raises(omendb.CorruptError):
        Index.from_bytes(b"")


def test_progress_is_reported_per_chunk_and_keys_come_back_in_order(rng, capsys):
    vectors = rng.standard_normal((250, 4)).astype(np.float32)
    seen = []
    with Index(dim=4) as index:
        keys = index.add(vectors, progress=lambda done, total: seen.append((done, total)), chunk_size=100)
        assert seen == [(100, 250), (200, 250), (250, 250)]
        assert keys.tolist() == list(range(250)) and len(index) == 250
        ids = [f"s{i}" for i in range(250)]
    with Index(dim=4) as index:
        assert index.add(vectors, ids=ids, texts=ids, progress=True, chunk_size=100) == ids
        assert "added 250 / 250 (100 %)" in capsys.readouterr().err
        labels, _ = index.text_search("s249", k=1)
        assert labels.tolist() == ["s249"]


def test_an_interrupted_add_leaves_nothing(rng):
    vectors = rng.standard_normal((300, 4)).astype(np.float32)

    def interrupt(done, total):
        if done == 200:  # Ctrl-C arriving between the second and the third chunk
            raise KeyboardInterrupt

    with Index(dim=4) as index:
        index.add(vectors[:10], ids=list(range(10_000, 10_010)))
        with pytest.raises(KeyboardInterrupt):
            index.add(vectors, ids=list(range(300)), progress=interrupt, chunk_size=100)
        assert len(index) == 10 and 150 not in index and 10_005 in index
        # An error in a later chunk (a key already stored) rolls back the earlier ones too.
        clash = list(range(299)) + [10_003]
        with pytest.raises(omendb.DuplicateKeyError):
            index.add(vectors, ids=clash, chunk_size=100)
        assert len(index) == 10 and index.count() == 10
        # Automatic keys: the interrupted chunks' keys are removed as well.
        with pytest.raises(KeyboardInterrupt):
            index.add(vectors, progress=interrupt, chunk_size=100)
        assert len(index) == 10
        # ... and the whole batch goes in once nothing stops it.
        index.add(vectors, ids=list(range(300)), chunk_size=100)
        assert len(index) == 310


def test_ctrl_c_during_a_long_add_is_honoured(tmp_path):
    """A real SIGINT, sent while a chunked add runs in a child process: the add stops with
    KeyboardInterrupt between chunks and the index holds none of the batch."""
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    from conftest import BINDING_DIR

    script = textwrap.dedent(
        """
        import os, sys
        if os.environ.get("OMENDB_TEST_INSTALLED") != "1":
            sys.path.insert(0, %r)
        import numpy as np
        from omendb import Index
        vectors = np.random.default_rng(1).standard_normal((2_000_000, 16)).astype(np.float32)
        index = Index(dim=16, m=8, ef_construction=40)
        try:
            index.add(vectors, chunk_size=2_000, progress=lambda done, total: print("chunk", done, flush=True))
            print("FINISHED", len(index), flush=True)
        except KeyboardInterrupt:
            print("INTERRUPTED", len(index), flush=True)
        """
        % str(BINDING_DIR)
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    for line in child.stdout:  # wait for two chunks to be in
        if line.startswith("chunk") and int(line.split()[1]) >= 4_000:
            break
    time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    assert "INTERRUPTED 0" in out, out


def _omendb_threads() -> int:
    """Threads of this process named by an index's own pool (omendb-<i>), from /proc."""
    import glob

    names = []
    for comm in glob.glob("/proc/self/task/*/comm"):
        try:
            with open(comm) as f:
                names.append(f.read().strip())
        except OSError:
            pass  # a thread that ended meanwhile
    return sum(1 for n in names if n.startswith("omendb-"))


def _wait_for_threads(want, seconds=10.0) -> int:
    """The count once it equals `want` (pool threads start and end asynchronously), or the
    last count seen when `seconds` pass."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        n = _omendb_threads()
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.01)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/task"), reason="needs /proc")
def test_threads_setting_gives_the_index_its_own_pool(rng):
    vectors = rng.standard_normal((2_000, 8)).astype(np.float32)
    with Index(dim=8) as index:
        assert index.threads == 0
        assert _wait_for_threads(0) == 0  # no other index of this process has a pool
        index.threads = 3
        assert index.threads == 3 and _wait_for_threads(3) == 3
        index.add(vectors)
        labels, _ = index.search(vectors[:50], k=5)
        index.threads = 1
        again, _ = index.search(vectors[:50], k=5)
        assert (labels == again).all() and (labels[:, 0] == np.arange(50)).all()
        index.threads = 0
        assert index.threads == 0
        with pytest.raises(omendb.InvalidArgumentError, match="threads"):
            index.threads = 5000
        with pytest.raises(omendb.InvalidArgumentError):
            index.threads = -1
    import gc

    gc.collect()
    assert _wait_for_threads(0) == 0  # the pool went with its setting


def test_metadata_null_and_lists_of_numbers(rng, tmp_path):
    vectors = rng.standard_normal((6, 4)).astype(np.float32)
    metadata = [
        {"scores": [1, 2.5, 3], "note": None},
        {"scores": [3.0, 4], "note": "x"},
        {"scores": ["3"], "note": 0},
        {"deep": {"gone": None}},
        None,
        {"scores": [7]},
    ]
    with Index(dim=4) as index:
        index.add(vectors, ids=list(range(6)), metadata=metadata)
        assert index.metadata(0) == {"scores": [1, 2.5, 3], "note": None}
        assert index.metadata(3) == {"deep": {"gone": None}}
        assert sorted(index.keys(filter="scores CONTAINS 3")) == [0, 1]
        assert sorted(index.keys(filter='scores CONTAINS "3"')) == [2]
        assert sorted(index.keys(filter="note = null OR deep.gone = NULL")) == [0, 3]
        assert sorted(index.keys(filter="note IN (null, 0)")) == [0, 2]
        assert index.count(filter="EXISTS note") == 3
        labels, _ = index.search(vectors[1], k=6, filter="scores CONTAINS 4")
        assert labels.tolist() == [1]
        with pytest.raises(omendb.InvalidArgumentError, match="list of numbers"):
            index.add(vectors[:1], ids=[9], metadata=[{"v": [1, "a"]}])
        with pytest.raises(omendb.FilterSyntaxError, match="not null"):
            index.count(filter="note < null")
        index.save(tmp_path / "v6.omendb")
    with open(tmp_path / "v6.omendb", "rb") as f:
        assert int.from_bytes(f.read(12)[8:12], "little") == 6  # the format version that holds them
    with Index.load(tmp_path / "v6.omendb") as loaded:
        assert loaded.metadata(1) == {"scores": [3.0, 4], "note": "x"}
        assert sorted(loaded.keys(filter="scores CONTAINS 2.5")) == [0]


def test_text_options_change_what_matches_and_are_saved(tmp_path):
    texts = ["Measuring the weather", "a measurement of THE rain", "the and of", "Zoë's café"]
    vectors = np.eye(4, dtype=np.float32)
    with Index(dim=4) as plain:
        plain.add(vectors, ids=[0, 1, 2, 3], texts=texts)
        assert plain.text_search("measure", k=4)[0].tolist() == []  # no stemming by default
        assert plain.text_search("the", k=4)[0].tolist() == []  # English stop words by default
        stats = plain.stats()
        assert stats["text"]["stemmer"] == "none" and stats["text"]["stop_words"] == "english"
        assert stats["bm25"] == {"k1": 1.5, "b": 0.75}
    with Index(dim=4, stemmer="english", stop_words=["weather"], token_chars=(1, 40), bm25=(0.9, 0.4)) as tuned:
        tuned.add(vectors, ids=[0, 1, 2, 3], texts=texts)
        assert sorted(tuned.text_search("measure", k=4)[0].tolist()) == [0, 1]  # stemmed
        assert sorted(tuned.text_search("the", k=4)[0].tolist()) == [0, 1, 2]  # "the" is kept
        assert tuned.text_search("weather", k=4)[0].tolist() == []  # the custom stop word
        stats = tuned.stats()
        assert stats["text"]["stop_words"] == ["weather"] and stats["text"]["min_token_chars"] == 1
        assert stats["bm25"]["k1"] == pytest.approx(0.9) and stats["bm25"]["b"] == pytest.approx(0.4)
        tuned.save(tmp_path / "text.omendb")
    with Index.load(tmp_path / "text.omendb") as loaded:
        assert sorted(loaded.text_search("measure", k=4)[0].tolist()) == [0, 1]
        assert loaded.stats()["text"]["stemmer"] == "english"
    with Index(dim=4, lowercase=False) as cased:
        cased.add(vectors, ids=[0, 1, 2, 3], texts=texts)
        assert cased.text_search("rain", k=4)[0].tolist() == [1] and cased.text_search("Rain", k=4)[0].tolist() == []
    with pytest.raises(omendb.InvalidArgumentError, match="english"):
        Index(stemmer="klingon")
    with pytest.raises(omendb.InvalidArgumentError, match="stop_words"):
        Index(stop_words="french")
    with pytest.raises(omendb.InvalidArgumentError, match="bm25"):
        Index(bm25=(1.2, 1.5))
    with pytest.raises(omendb.InvalidArgumentError, match="token_chars"):
        Index(token_chars=(5, 2))
    # A durable index compares the text options given with the stored ones.
    with Index(path=tmp_path / "durable", dim=4, stemmer="english") as durable:
        durable.add(vectors, ids=[0, 1, 2, 3], texts=texts)
    with pytest.raises(omendb.InvalidArgumentError, match="text"):
        Index(path=tmp_path / "durable", stemmer="none")
    with Index(path=tmp_path / "durable") as reopened:
        assert sorted(reopened.text_search("measure", k=4)[0].tolist()) == [0, 1]


def test_faiss_users_get_minus_one_for_missing_hits(rng):
    """A batch row with fewer hits than its width is padded with NO_KEY (UINT64_MAX), which
    reads as FAISS's -1 through an int64 view of the labels (README, "Installing")."""
    vectors = rng.standard_normal((10, 4)).astype(np.float32)
    with Index(dim=4) as index:
        index.add(vectors, ids=list(range(10)), metadata=[{"even": i % 2 == 0} for i in range(10)])
        labels, distances = index.search(vectors[:3], k=8, filter="even = true")
        as_faiss = labels.view(np.int64)
        assert labels.shape == (3, 8)
        assert (as_faiss[:, 5:] == -1).all() and np.isinf(distances[:, 5:]).all()
        assert set(as_faiss[0, :5].tolist()) == {0, 2, 4, 6, 8}


def test_text_stats_and_fuse_for_shards():
    """Index.text_stats summed over shards, passed back as text_search(stats=), scores as one
    index; stats that do not fit are refused; omendb.fuse fuses caller-held lists."""
    from omendb import TextStats, fuse

    docs = ["red fox jumps", "blue fox", "red red hen", "green field", "fox and hen", "red field"]
    whole = Index(dim=2)
    shards = [Index(dim=2), Index(dim=2)]
    for i, text in enumerate(docs):
        for index in (whole, shards[i % 2]):
            index.add(np.array([[i, 1.0]], np.float32), ids=[i], texts=[text])
    query = "red fox fox"
    total = TextStats.total(s.text_stats(query) for s in shards)
    assert total == whole.text_stats(query) and total.doc_freqs == (3, 3)  # fox, red
    want = dict(zip(*[a.tolist() for a in whole.text_search(query, k=10)]))
    got = {}
    for s in shards:
        labels, scores = s.text_search(query, k=10, stats=total)
        got.update(zip(labels.tolist(), scores.tolist()))
    assert got == want
    with pytest.raises(InvalidArgumentError, match="distinct terms"):
        shards[0].text_search(query, stats=shards[0].text_stats("red"))
    with pytest.raises(InvalidArgumentError, match="below"):
        shards[0].text_search(query, stats=TextStats(total.docs, 0, total.doc_freqs))
    with pytest.raises(InvalidArgumentError, match="out of range"):
        shards[0].text_search(query, stats=TextStats(-1, total.tokens, total.doc_freqs))
    with pytest.raises(TypeError):
        shards[0].text_search(query, stats=(1, 2, (1, 1)))
    with pytest.raises(ValueError, match="cannot be added"):
        total + shards[0].text_stats("red")
    ids, scores = fuse([10, 20, 30], [0.1, 0.2, 0.3], [30, 40, 10], [9.0, 5.0, 1.0], k=10)
    assert ids.tolist() == [10, 30, 20, 40] and scores[0] == scores[1]
    ids, _ = fuse([10, 20, 30], [0.1, 0.2, 0.3], [30, 40, 10], [9.0, 5.0, 1.0], k=2, fusion="weighted", alpha=1.0)
    assert ids.tolist() == [10, 20]
    with pytest.raises(InvalidArgumentError):
        fuse([1], [0.1], [], [], k=3, fusion="weighted", alpha=2.0)
    with pytest.raises(ValueError, match="differ in length"):
        fuse([1, 2], [0.1], [], [], k=3)
    for index in (whole, *shards):
        index.close()
