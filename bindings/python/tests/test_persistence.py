"""Index.save / Index.load / Index.open (memory-mapped, read-only): round trips answer exactly
as the saved index, with metadata, texts, filters and hybrid search; bad files raise IoError,
CorruptError or UnsupportedVersionError."""

import struct

import numpy as np
import pytest

import omendb
from omendb import Index

D = 8


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), bitwise: enough to re-seal a header in a test."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283


@pytest.mark.parametrize("keys", ["u64", "string"])
def test_round_trip(tmp_path, rng, keys):
    data = rng.standard_normal((300, D)).astype(np.float32)
    queries = rng.standard_normal((20, D)).astype(np.float32)
    ids = list(range(300)) if keys == "u64" else [f"doc{i}" for i in range(300)]
    with Index(metric="cosine", m=8, ef_construction=64, ef_search=40, seed=9) as index:
        index.add(data, ids)
        for i in ids[::7]:
            index.remove(i)
        path = tmp_path / "index.omendb"
        index.save(path)
        with Index.load(path) as loaded:
            assert len(loaded) == len(index) == 300 - len(ids[::7])
            assert (loaded.dim, loaded.metric, loaded.key_kind) == (D, "cosine", index.key_kind)
            assert ids[0] not in loaded and ids[1] in loaded
            l1, d1 = index.search(queries, k=10)
            l2, d2 = loaded.search(queries, k=10)
            assert l1.tolist() == l2.tolist()
            assert np.array_equal(d1, d2)
            # further adds work the same on both
            new = ["x", "y"] if keys == "string" else [10_000, 10_001]
            index.add(data[:2] + 0.5, new)
            loaded.add(data[:2] + 0.5, new)
            assert index.search(queries, k=10)[0].tolist() == loaded.search(queries, k=10)[0].tolist()
        # str paths work too, and saving replaces the file
        index.save(str(path))
        assert len(Index.load(str(path))) == len(index)


def test_bad_files(tmp_path):
    with pytest.raises(omendb.IoError) as info:
        Index.load(tmp_path / "missing.omendb")
    assert "missing.omendb" in info.value.message and info.value.status == 13
    with pytest.raises(omendb.IoError):
        Index.load(tmp_path)  # a directory

    foreign = tmp_path / "foreign.omendb"
    foreign.write_text("just some text")
    with pytest.raises(omendb.CorruptError, match="not an OmenDB index"):
        Index.load(foreign)

    index = Index(dim=D)
    index.add(np.ones((3, D), np.float32) * np.arange(1, 4)[:, None], [1, 2, 3])
    good = tmp_path / "good.omendb"
    index.save(good)
    raw = good.read_bytes()
    bad = tmp_path / "bad.omendb"
    bad.write_bytes(raw[:-1])
    with pytest.raises(omendb.CorruptError, match="truncated"):
        Index.load(bad)
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x01
    bad.write_bytes(bytes(flipped))
    with pytest.raises(omendb.CorruptError):
        Index.load(bad)

    newer = bytearray(raw)
    current = struct.unpack("<I", raw[8:12])[0]
    assert current == 2
    newer[8:12] = struct.pack("<I", current + 7)  # 3 to 8 are readable (quantized, binary, packed records, metadata kinds, texts, neighbour codes)
    newer[60:64] = struct.pack("<I", crc32c(bytes(newer[:60])))
    bad.write_bytes(bytes(newer))
    with pytest.raises(omendb.UnsupportedVersionError) as info:
        Index.load(bad)
    assert info.value.status_name == "OMENDB_STATUS_UNSUPPORTED_VERSION"
    with pytest.raises(omendb.UnsupportedVersionError):
        Index.open(bad)
    for opener in (Index.load, Index.open):
        with pytest.raises(omendb.IoError):
            opener(tmp_path / "missing.omendb")
        with pytest.raises(omendb.CorruptError, match="not an OmenDB index"):
            opener(foreign)
        bad.write_bytes(raw[:-64])
        with pytest.raises(omendb.CorruptError, match="truncated"):
            opener(bad)

    with pytest.raises(omendb.IoError):
        index.save(tmp_path / "no" / "such" / "dir.omendb")
    index.close()
    with pytest.raises(omendb.IndexClosedError):
        index.save(good)


@pytest.mark.parametrize("keys", ["u64", "string"])
def test_open_mmap_answers_as_load_and_is_read_only(tmp_path, rng, keys):
    n = 2500
    data = rng.standard_normal((n, D)).astype(np.float32)
    queries = rng.standard_normal((10, D)).astype(np.float32)
    ids = list(range(n)) if keys == "u64" else [f"doc{i}" for i in range(n)]
    genres = ["jazz", "rock", "folk"]
    metadata = [{"genre": genres[i % 3], "n": i} if i % 4 else None for i in range(n)]
    texts = [f"word{i % 17} common tune{i % 5}" if i % 3 else None for i in range(n)]
    path = tmp_path / "open.omendb"
    with Index(metric="l2", m=8, ef_construction=64, seed=3) as index:
        index.add(data, ids, metadata=metadata, texts=texts)
        index.remove(ids[5])
        index.save(path)
        for opened, read_only in ((Index.open(path), True), (Index.open(path, mmap=False), False), (Index.load(path), False)):
            with opened:
                assert opened.read_only == read_only
                assert len(opened) == len(index)
                assert ids[5] not in opened and ids[6] in opened
                assert opened.metadata(ids[7]) == index.metadata(ids[7])
                for want, got in [
                    (index.search(queries, k=10), opened.search(queries, k=10)),
                    (index.search(queries, k=5, filter='genre = "jazz" AND n > 100'),
                     opened.search(queries, k=5, filter='genre = "jazz" AND n > 100')),
                    (index.text_search("word3 tune1", k=10), opened.text_search("word3 tune1", k=10)),
                    (index.hybrid_search(queries[0], "common word9", k=10, fusion="weighted", alpha=0.6),
                     opened.hybrid_search(queries[0], "common word9", k=10, fusion="weighted", alpha=0.6)),
                ]:
                    assert want[0].tolist() == got[0].tolist()
                    assert np.array_equal(want[1], got[1])
    with Index.open(path) as opened:
        assert opened.read_only
        new = ["new"] if keys == "string" else [99_999]
        for call in (lambda: opened.add(data[:1], new), lambda: opened.upsert(data[:1], new),
                     lambda: opened.remove(ids[6]), lambda: opened.compact()):
            with pytest.raises(omendb.InvalidArgumentError, match="read-only"):
                call()
        assert len(opened) == n - 1
        # saving an opened index, even over its own file, works
        opened.save(path)
        opened.save(tmp_path / "copy.omendb")
    assert (tmp_path / "copy.omendb").read_bytes() == path.read_bytes()
    with Index.load(path) as loaded:
        assert not loaded.read_only
