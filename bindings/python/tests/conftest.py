"""Test setup: import `omendb` from this source checkout (bindings/python), unless
OMENDB_TEST_INSTALLED=1 asks to test the installed package instead. OMENDB_REPO names the
checkout whose files the tests read (the header, Cargo.toml, ctests/data) when the tests run
from a copy elsewhere (bindings/python/dist_check.sh)."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

BINDING_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = Path(os.environ.get("OMENDB_REPO", BINDING_DIR.parents[1]))

if os.environ.get("OMENDB_TEST_INSTALLED") != "1":
    sys.path.insert(0, str(BINDING_DIR))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def data_dir() -> Path:
    """$OMENDB_DATA, or <repo>/../shared/data."""
    return Path(os.environ.get("OMENDB_DATA", REPO_ROOT.parent / "shared" / "data"))


def read_fvecs(path: Path, count: int = -1) -> np.ndarray:
    """The first `count` records (all for -1) of a TEXMEX .fvecs file."""
    dim = int(np.fromfile(path, dtype=np.int32, count=1)[0])
    raw = np.fromfile(path, dtype=np.int32, count=-1 if count < 0 else count * (dim + 1))
    return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32).copy()
