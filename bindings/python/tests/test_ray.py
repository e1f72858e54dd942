"""omendb.ray on a real local Ray (2 CPUs): sharded builds from a Ray Dataset, NumPy columns
and Parquet; search, filters, text and hybrid search against one index of the same records;
recall on a GloVe-50 subset; actors killed during a stream of searches; durable shards
updated through their owners. Skipped, with the reason, where Ray is not installed (the CI
installs it: .ci/setup).

Data: $OMENDB_DATA or <repo>/../shared/data (glove-50-angular, npl-ir); those tests are
skipped when absent."""

import json
import logging
import os
import signal
import threading
import time

import numpy as np
import pytest

from conftest import BINDING_DIR, data_dir, read_fvecs

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[data]'); .ci/setup installs it")
pytest.importorskip("pyarrow", reason="Ray Data needs pyarrow (pip install 'ray[data]')")

import omendb  # noqa: E402
import omendb.ray as oray  # noqa: E402

GLOVE = data_dir() / "glove-50-angular"
NPL = data_dir() / "npl-ir"


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    if os.environ.get("OMENDB_TEST_INSTALLED") != "1":
        # The actors and tasks import omendb in processes of their own: from this checkout.
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BINDING_DIR), os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    yield
    ray.shutdown()


def small_records(n=3000, d=8, seed=5):
    rng = np.random.default_rng(seed)
    words = "river stone forest cloud ember harbor meadow glass iron salt".split()
    # 20 to 60 words of 310 (Zipf-like weights): long enough that BM25 scores rarely tie.
    vocabulary = words + [f"term{i}" for i in range(300)]
    weights = 1.0 / np.arange(1, len(vocabulary) + 1) ** 0.8
    weights /= weights.sum()
    return {
        "id": np.arange(n, dtype=np.uint64) * 7 + 3,
        "vector": rng.random((n, d), dtype=np.float32),
        "meta": [json.dumps({"cat": i % 5, "tag": words[i % 10]}) for i in range(n)],
        "text": [" ".join(rng.choice(vocabulary, size=int(rng.integers(20, 61)), p=weights)) for _ in range(n)],
    }


def single_index(records, **options):
    index = omendb.Index(**options)
    index.add(records["vector"], ids=records["id"], metadata=records["meta"], texts=records["text"])
    return index


def same_up_to_ties(labels_a, values_a, labels_b, values_b):
    """Equal values rank for rank (bit for bit), and equal labels except where the values
    tie (the order among equal values, and which of them the cut at k keeps, is free)."""
    assert np.array_equal(values_a, values_b)
    for value in np.unique(values_a):
        a = {x for x, v in zip(labels_a.tolist(), values_a) if v == value}
        b = {x for x, v in zip(labels_b.tolist(), values_b) if v == value}
        if value != values_a[-1]:
            assert a == b
        else:  # the group the cut at k runs through: same size, members may differ
            assert len(a) == len(b)


def test_build_numpy_columns_then_search_like_one_index(tmp_path):
    records = small_records()
    manifest = oray.build(records, tmp_path / "c", shards=4, metadata="meta", text="text", metric="l2", seed=9)
    assert manifest["shards"] == 4 and manifest["count"] == 3000
    assert sum(f["count"] for f in manifest["files"]) == 3000 and min(f["count"] for f in manifest["files"]) > 500
    assert oray.read_manifest(tmp_path / "c")["files"][0]["sha256"] == manifest["files"][0]["sha256"]
    queries = np.random.default_rng(1).random((30, 8), dtype=np.float32)
    with oray.ShardedIndex(tmp_path / "c") as sharded, single_index(records, metric="l2") as one:
        assert len(sharded) == 3000 and sharded.count("cat = 1") == one.count("cat = 1") == 600
        labels, distances = sharded.search(queries, k=10, ef=500)
        want_labels, want_distances = one.search(queries, k=10, ef=500)
        assert labels.shape == (30, 10) and labels.dtype == np.uint64
        assert (labels == want_labels).mean() >= 0.99 and np.allclose(distances, want_distances, atol=1e-6)
        for shard, replicas in enumerate(sharded.actors):  # each hit lives in its key's shard
            owned = [key for key in labels[0].tolist() if sharded.shard_of(key) == shard]
            assert all(ray.get(replicas[0].contains.remote(owned)))
            others = [key for key in labels[0].tolist() if sharded.shard_of(key) != shard]
            assert not any(ray.get(replicas[0].contains.remote(others)))
        # Several threads at once answer as one at a time.
        results = [None] * 4

        def search_in_thread(i):
            results[i] = sharded.search(queries, k=10, ef=500)

        threads = [threading.Thread(target=search_in_thread, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(np.array_equal(r[0], labels) for r in results)
        # One query, a filter as text and as a Filter, k above the records.
        got = sharded.search(queries[0], k=5, filter="cat = 2 AND tag = \"stone\"", ef=omendb_exact())
        want = one.search(queries[0], k=5, filter="cat = 2 AND tag = \"stone\"", ef=omendb_exact())
        assert np.array_equal(got[0], want[0]) and got[0].ndim == 1
        with omendb.Filter("cat = 3") as f:
            assert sharded.count(f) == 600
            hits, _ = sharded.search(queries[0], k=5000, filter=f)
            assert len(hits) == 600
        # Text: the sharded BM25 scores are the single index's, bit for bit.
        for query in ["ember salt", "stone stone forest", "glass", "nothing-here"]:
            a = sharded.text_search(query, k=25)
            b = one.text_search(query, k=25)
            same_up_to_ties(a[0], a[1], b[0], b[1])
        filtered = sharded.text_search(["ember", "iron salt"], k=10, filter="cat < 2")
        assert len(filtered) == 2
        for (a_labels, a_scores), query in zip(filtered, ["ember", "iron salt"]):
            b_labels, b_scores = one.text_search(query, k=10, filter="cat < 2")
            same_up_to_ties(a_labels, a_scores, b_labels, b_scores)
        # Hybrid: fused after merging, with an exact vector side: one index's ranking, but
        # for BM25 ties (tied texts are ordered by shard here, by slot there, which moves
        # their RRF scores).
        for fusion in ("rrf", "weighted"):
            a = sharded.hybrid_search(queries[2], "river meadow", k=10, ef=omendb_exact(), fusion=fusion)
            b = one.hybrid_search(queries[2], "river meadow", k=10, ef=omendb_exact(), fusion=fusion)
            assert len(a[0]) == 10 and np.all(np.diff(a[1]) <= 0)
            assert len(set(a[0].tolist()) & set(b[0].tolist())) >= 9


def omendb_exact():
    from omendb._ffi import OMENDB_EF_EXACT

    return OMENDB_EF_EXACT


def test_build_from_ray_dataset_and_parquet(tmp_path):
    records = small_records(1200, 4)
    rows = [
        {"key": f"doc-{i}", "embedding": records["vector"][i], "cat": i % 5, "body": records["text"][i]}
        for i in range(1200)
    ]
    dataset = ray.data.from_items(rows)
    manifest = oray.build(dataset, tmp_path / "ds", shards=4, key="key", vector="embedding", metadata=["cat"], text="body")
    assert manifest["key_kind"] == "string" and manifest["count"] == 1200
    per_shard = [f["count"] for f in manifest["files"]]
    want = np.bincount([oray.shard_of(f"doc-{i}", 4) for i in range(1200)], minlength=4).tolist()
    assert per_shard == want  # partitioned by the documented key rule
    dataset.write_parquet(str(tmp_path / "parquet"))
    from_parquet = oray.build(str(tmp_path / "parquet"), tmp_path / "pq", shards=4, key="key", vector="embedding", metadata=["cat"], text="body")
    assert [f["count"] for f in from_parquet["files"]] == per_shard
    with oray.ShardedIndex(tmp_path / "ds") as a, oray.ShardedIndex(tmp_path / "pq", replicas=2) as b:
        q = records["vector"][7]
        la, da = a.search(q, k=3)
        lb, db = b.search(q, k=3)
        assert la[0] == "doc-7" and da[0] == 0.0 and list(la) == list(lb)
        assert a.count("cat = 4") == 240
        text_hits = b.text_search("ember", k=5)[0]
        assert len(text_hits) == 5 and text_hits.dtype == object and text_hits[0].startswith("doc-")


def test_bad_arguments_and_damaged_shards(tmp_path):
    records = small_records(400, 4)
    with pytest.raises(ValueError, match="shards"):
        oray.build(records, tmp_path / "x", shards=0)
    with pytest.raises(ValueError, match="no column 'vec'"):
        oray.build(records, tmp_path / "x", shards=2, vector="vec")
    with pytest.raises(omendb.InvalidArgumentError):
        oray.build(records, tmp_path / "x", shards=2, metric="hamming")
    oray.build(records, tmp_path / "c", shards=2)
    with pytest.raises(FileExistsError):
        oray.build(records, tmp_path / "c", shards=2)
    oray.build(records, tmp_path / "c", shards=3, overwrite=True)
    assert oray.read_manifest(tmp_path / "c")["shards"] == 3
    with pytest.raises(FileNotFoundError, match="not a sharded collection"):
        oray.ShardedIndex(tmp_path)
    with oray.ShardedIndex(tmp_path / "c") as sharded:
        with pytest.raises(omendb.DimensionMismatchError):
            sharded.search(np.zeros(5, np.float32), k=3)
        with pytest.raises(omendb.FilterSyntaxError):
            sharded.search(records["vector"][0], k=3, filter="cat = ")
        with pytest.raises(ValueError, match="read-only"):
            sharded.upsert(records["vector"][:1], [1])
    with pytest.raises(ValueError, match="replicas"):
        oray.ShardedIndex(tmp_path / "c", replicas=0)
    shard_file = tmp_path / "c" / "shard-0001.omendb"
    data = bytearray(shard_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard_file.write_bytes(bytes(data))
    with pytest.raises(oray.ShardUnavailableError, match="SHA-256"):
        oray.ShardedIndex(tmp_path / "c", max_restarts=0)


def test_more_shards_than_records_string_keys(tmp_path):
    """Shards no key hashes to are empty indexes; every search still answers, with string
    labels and None / inf padding for a batch, as Index does."""
    vectors = np.eye(3, 4, dtype=np.float32) + 0.1
    manifest = oray.build({"id": ["a", "b", "c"], "vector": vectors, "text": ["red fox", "blue fox", "red hen"]},
                          tmp_path / "c", shards=8, text="text")
    assert sum(f["count"] == 0 for f in manifest["files"]) >= 5 and manifest["key_kind"] == "string"
    with oray.ShardedIndex(tmp_path / "c") as sharded:
        labels, distances = sharded.search(vectors, k=5)
        assert labels.shape == (3, 3) and labels.dtype == object and labels[:, 0].tolist() == ["a", "b", "c"]
        one, _ = sharded.search(vectors[0], k=5, filter="nothing = 1")
        assert len(one) == 0 and one.dtype == object
        hits, scores = sharded.text_search("red", k=5)
        assert sorted(hits.tolist()) == ["a", "c"] and scores[0] == scores[1]
        fused, _ = sharded.hybrid_search(vectors[1], "fox", k=2)
        assert fused[0] == "b" and fused.dtype == object
        assert sharded.text_search("zebra", k=5)[0].dtype == object


def test_killed_actor_during_a_stream_of_searches(tmp_path):
    """SIGKILL of a shard's actor process while searches stream: the driver does not crash,
    the searches in flight are sent again once Ray restarted the actor (which reopens its
    shard), and every answer is complete and equal to the answer before the kill."""
    records = small_records(4000, 8)
    oray.build(records, tmp_path / "c", shards=4)
    queries = np.random.default_rng(2).random((16, 8), dtype=np.float32)
    with oray.ShardedIndex(tmp_path / "c") as sharded:
        reference = sharded.search(queries, k=10)
        old_pid = ray.get(sharded.actors[1][0].info.remote())["pid"]
        answers, errors, stop = [], [], threading.Event()

        def stream():
            while not stop.is_set():
                try:
                    answers.append(sharded.search(queries, k=10))
                except Exception as error:  # recorded, the test fails on it below
                    errors.append(error)

        worker = threading.Thread(target=stream)
        worker.start()
        while len(answers) < 5:
            time.sleep(0.01)
        os.kill(old_pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (sharded.retries == 0 or len(answers) < 40):
            time.sleep(0.05)
        stop.set()
        worker.join()
        assert errors == []
        assert sharded.retries >= 1, "no search met the dead actor"
        assert all(np.array_equal(a[0], reference[0]) and np.array_equal(a[1], reference[1]) for a in answers)
        new_pid = ray.get(sharded.actors[1][0].info.remote())["pid"]
        assert new_pid != old_pid
        print(f"{len(answers)} searches, {sharded.retries} sent again after the kill")


def test_a_shard_that_stays_down_raises_or_is_flagged(tmp_path):
    records = small_records(2000, 8)
    oray.build(records, tmp_path / "c", shards=3, text="text")
    q = records["vector"][0]
    with oray.ShardedIndex(tmp_path / "c", max_restarts=0, retry_timeout_s=2) as sharded:
        pid = ray.get(sharded.actors[2][0].info.remote())["pid"]
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(oray.ShardUnavailableError) as caught:
            sharded.search(q, k=10)
        assert caught.value.shard == 2 and time.monotonic() - started < 20
        labels, distances, missing = sharded.search(q, k=10, allow_partial=True)
        assert missing == [2] and len(labels) == 10
        assert all(sharded.shard_of(key) != 2 for key in labels.tolist())
        text_labels, _, missing = sharded.text_search("ember", k=5, allow_partial=True)
        assert missing == [2] and len(text_labels) == 5 and all(sharded.shard_of(key) != 2 for key in text_labels.tolist())
        pairs, missing = sharded.text_search(["ember", "salt"], k=5, allow_partial=True)
        assert missing == [2] and len(pairs) == 2 and len(pairs[1][0]) == 5
        fused, scores, missing = sharded.hybrid_search(q, "ember", k=5, allow_partial=True)
        assert missing == [2] and len(fused) == 5 and all(sharded.shard_of(key) != 2 for key in fused.tolist())
        with pytest.raises(oray.ShardUnavailableError):
            sharded.hybrid_search(q, "ember", k=5)


def test_replicas_answer_while_one_is_down(tmp_path):
    records = small_records(2000, 8)
    oray.build(records, tmp_path / "c", shards=2)
    with oray.ShardedIndex(tmp_path / "c", replicas=2, max_restarts=0, retry_timeout_s=5) as sharded:
        want = sharded.search(records["vector"][:4], k=5)
        os.kill(ray.get(sharded.actors[0][0].info.remote())["pid"], signal.SIGKILL)
        for _ in range(6):  # every other call picks the dead replica first
            got = sharded.search(records["vector"][:4], k=5)
            assert np.array_equal(got[0], want[0])
        assert sharded.retries >= 3


def test_durable_shards_take_upserts_and_removes_at_their_owner(tmp_path):
    records = small_records(1500, 8)
    oray.build(records, tmp_path / "d", shards=3, durable=True, metadata="meta", text="text")
    rng = np.random.default_rng(3)
    new_keys = list(range(10**6, 10**6 + 60))
    new_vectors = rng.random((60, 8), dtype=np.float32) + 5.0
    with pytest.raises(ValueError, match="replicas=1"):
        oray.ShardedIndex(tmp_path / "d", replicas=2)
    with oray.ShardedIndex(tmp_path / "d") as sharded:
        counts_before = [ray.get(r[0].info.remote())["count"] for r in sharded.actors]
        assert sharded.upsert(new_vectors, new_keys, texts=["zebra"] * 60) == 60
        removed = records["id"][:20].tolist()
        assert sharded.remove(removed) == 20
        assert len(sharded) == 1500 + 60 - 20
        counts_after = [ray.get(r[0].info.remote())["count"] for r in sharded.actors]
        owners = np.bincount([sharded.shard_of(k) for k in new_keys], minlength=3)
        gone = np.bincount([sharded.shard_of(k) for k in removed], minlength=3)
        assert (np.array(counts_after) - counts_before).tolist() == (owners - gone).tolist()
        # Kill the owner of a new key: the restarted actor recovers its durable directory.
        key = new_keys[0]
        owner = sharded.shard_of(key)
        os.kill(ray.get(sharded.actors[owner][0].info.remote())["pid"], signal.SIGKILL)
        labels, distances = sharded.search(new_vectors[0], k=1)
        assert labels[0] == key and distances[0] == 0.0
        assert len(sharded.text_search("zebra", k=100)[0]) == 60
        with pytest.raises(omendb.KeyNotFoundError):
            sharded.remove([removed[0]])
        with pytest.raises(omendb.InvalidKeyError, match="u64 keys"):
            sharded.upsert(new_vectors[:1], ["a-string-key"])
    with oray.ShardedIndex(tmp_path / "d") as reopened:
        assert len(reopened) == 1540 and reopened.search(new_vectors[5], k=1)[0][0] == new_keys[5]


@pytest.mark.skipif(not (GLOVE / "base.fvecs").is_file(), reason=f"no GloVe data in {GLOVE}")
def test_recall_glove50_sharded_matches_one_index(tmp_path):
    """Recall@10 of 4 shards within 0.01 of one index with the same parameters (a 50,000
    vector subset of glove-50-angular, 500 queries, exact ground truth on the subset)."""
    n, nq, k = 50_000, 500, 10
    base = read_fvecs(GLOVE / "base.fvecs", n)
    queries = read_fvecs(GLOVE / "query.fvecs", nq)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    unit_q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argpartition(-(unit_q @ unit.T), k, axis=1)[:, :k]
    options = dict(metric="cosine", m=12, ef_construction=100, seed=7)
    ids = np.arange(n, dtype=np.uint64)
    oray.build({"id": ids, "vector": base}, tmp_path / "g", shards=4, **options)
    with oray.ShardedIndex(tmp_path / "g") as sharded, omendb.Index(**options) as one:
        one.add(base, ids=ids)
        for ef in (16, 40):
            a, _ = sharded.search(queries, k=k, ef=ef)
            b, _ = one.search(queries, k=k, ef=ef)
            recall_sharded = np.mean([len(set(a[i].tolist()) & set(truth[i].tolist())) / k for i in range(nq)])
            recall_one = np.mean([len(set(b[i].tolist()) & set(truth[i].tolist())) / k for i in range(nq)])
            print(f"ef={ef}: recall@10 sharded (4) {recall_sharded:.4f}, one index {recall_one:.4f}")
            assert recall_sharded >= recall_one - 0.01


@pytest.mark.skipif(not (NPL / "corpus.jsonl").is_file(), reason=f"no npl-ir data in {NPL}")
def test_npl_text_and_hybrid_sharded_equal_one_index(tmp_path):
    """npl-ir (11,426 abstracts, MiniLM vectors) in 4 shards built from a Ray Dataset: every
    one of the 93 queries' text_search equals one index's (scores bit for bit, keys up to
    ties), and hybrid search agrees with one index's on at least 9 of 10 hits on average."""
    docs = [json.loads(line) for line in open(NPL / "corpus.jsonl", encoding="utf-8")]
    queries = [json.loads(line)["text"] for line in open(NPL / "queries.jsonl", encoding="utf-8")]
    vectors = read_fvecs(NPL / "corpus_minilm.fvecs")
    query_vectors = read_fvecs(NPL / "queries_minilm.fvecs")
    texts = [(d["title"] + " " + d["text"]).strip() for d in docs]
    keys = [d["_id"] for d in docs]
    dataset = ray.data.from_items([{"id": keys[i], "vector": vectors[i], "text": texts[i]} for i in range(len(docs))])
    options = dict(metric="cosine", m=16, ef_construction=100, seed=3)
    oray.build(dataset, tmp_path / "npl", shards=4, text="text", **options)
    with oray.ShardedIndex(tmp_path / "npl") as sharded, omendb.Index(**options) as one:
        one.add(vectors, ids=keys, texts=texts)
        many = sharded.text_search(queries, k=10)
        for query, (labels, scores) in zip(queries, many):
            want_labels, want_scores = one.text_search(query, k=10)
            same_up_to_ties(labels, scores, want_labels, want_scores)
        overlap = []
        fused = sharded.hybrid_search(query_vectors, queries, k=10, ef=200)
        for i, (labels, _) in enumerate(fused):
            want, _ = one.hybrid_search(query_vectors[i], queries[i], k=10, ef=200)
            overlap.append(len(set(labels.tolist()) & set(want.tolist())) / 10)
        print(f"hybrid overlap with one index: {np.mean(overlap):.3f}")
        assert np.mean(overlap) >= 0.9
