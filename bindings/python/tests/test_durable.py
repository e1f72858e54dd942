"""Durable indexes: ``Index(path=..., sync=...)``. Writes survive close and reopen (options
not given take the stored ones), the directory admits one writer (LockedError), conflicting
options are refused, and a child process killed with SIGKILL while writing loses none of the
writes it acknowledged."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import omendb
from omendb import Index

D = 8


def vectors_for(keys, version):
    rng = np.random.default_rng(version)
    table = rng.standard_normal((max(keys) + 1, D)).astype(np.float32)
    return table[list(keys)]


def test_writes_come_back_after_reopen(tmp_path):
    path = tmp_path / "docs"
    with Index(path=path, dim=D, metric="cosine", sync="always") as index:
        index.add(vectors_for(range(20), 1), ids=[f"doc{i}" for i in range(20)],
                  metadata=[{"n": i} for i in range(20)], texts=[f"word{i}" for i in range(20)])
        index.upsert(vectors_for([3], 2), ids=["doc3"], metadata=[{"n": 300}], texts=["replaced"])
        index.remove("doc5")
    with Index(path=path) as index:
        assert index.recovery == {"records_replayed": 3, "bytes_dropped": 0}
        assert len(index) == 19 and "doc5" not in index
        assert index.metadata("doc3") == {"n": 300}
        assert index.text("doc3") == "replaced" and index.text("doc4") == "word4"
        labels, _ = index.text_search("replaced", k=3)
        assert list(labels) == ["doc3"]
        index.checkpoint()
        index.add(vectors_for([40], 3), ids=["doc40"])
    with Index(path=str(path), sync="off") as index:
        assert len(index) == 20 and "doc40" in index
        assert index.text("doc3") == "replaced" and index.text("doc40") is None  # through the checkpoint
        labels, distances = index.search(vectors_for([7], 1)[0], k=1)
        assert labels[0] == "doc7" and distances[0] < 1e-5


def test_one_writer_and_conflicting_options(tmp_path):
    path = tmp_path / "idx"
    first = Index(path=path, dim=D, metric="l2")
    with pytest.raises(omendb.LockedError, match=str(os.getpid())):
        Index(path=path)
    first.close()
    with pytest.raises(omendb.InvalidArgumentError, match="metric"):
        Index(path=path, metric="cosine")
    with pytest.raises(omendb.InvalidArgumentError, match="dim"):
        Index(path=path, dim=D + 1)
    with pytest.raises(omendb.InvalidArgumentError, match="sync"):
        Index(path=path, sync="sometimes")
    Index(path=path, dim=D, metric="l2").close()
    with pytest.raises(omendb.InvalidArgumentError):
        Index(dim=D).checkpoint()


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from omendb import Index
    path, start = sys.argv[1], int(sys.argv[2])
    index = Index(path=path, dim=8, sync="always")
    rng = np.random.default_rng(start)
    key = start
    while True:
        n = int(rng.integers(1, 20))
        keys = list(range(key, key + n))
        index.add(rng.standard_normal((n, 8)).astype(np.float32), ids=keys,
                  metadata=[{"batch": key}] * n)
        key += n
        print(key, flush=True)  # every key below this is acknowledged
    """
)


def test_sigkill_loses_no_acknowledged_write(tmp_path):
    path = tmp_path / "kill"
    acknowledged = []
    for round_ in range(5):
        start = round_ * 1_000_000
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(start)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )
        upto = start
        deadline = time.monotonic() + 60
        target = 5 + round_ * 7
        lines = 0
        while lines < target and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            upto = int(line)
            lines += 1
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate()
        for line in rest.split():
            upto = int(line)
        assert child.returncode == -signal.SIGKILL
        assert lines == target, "the child stopped before it was killed"
        acknowledged.extend(range(start, upto))
        with Index(path=path) as index:
            missing = [k for k in acknowledged if k not in index]
            assert missing == []
            # The batch in flight at the kill is there whole or not at all.
            extra = len(index) - len(acknowledged)
            if extra:
                batch = list(range(upto, upto + extra))
                assert all(k in index for k in batch)
                assert all(index.metadata(k) == {"batch": upto} for k in batch)
                assert upto + extra not in index
                acknowledged.extend(batch)
