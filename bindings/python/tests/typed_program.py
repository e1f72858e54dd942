"""A user's program with type hints: `mypy --strict` must accept it against the installed package
(bindings/python/dist_check.sh runs both mypy and the program in the wheel's venv)."""
import pickle
from typing import List

import numpy as np
import numpy.typing as npt

import omendb


def build(vectors: npt.NDArray[np.float32], words: List[str]) -> omendb.Index:
    index = omendb.Index(dim=vectors.shape[1], metric="cosine", stemmer="english", bm25=(1.2, 0.75))
    index.add(vectors, ids=words, metadata=[{"n": i} for i in range(len(words))], progress=False)
    index.ef_search = 128
    index.threads = 2
    return index


def nearest(index: omendb.Index, query: npt.NDArray[np.float32]) -> List[str]:
    labels, distances = index.search(query, k=5, filter="n >= 0")
    best: float = float(distances[0]) if len(distances) else float("inf")
    assert best >= 0.0
    return [str(label) for label in labels]


def main() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((100, 8)).astype(np.float32)
    words = [f"w{i}" for i in range(100)]
    with build(vectors, words) as index:
        print(nearest(index, vectors[0]), len(index), index.stats()["records"])
        copy: omendb.Index = pickle.loads(pickle.dumps(index))
        copy.close()
        try:
            omendb.Index(metric="hamming")
        except omendb.InvalidArgumentError as error:
            print(error.status_name)


if __name__ == "__main__":
    main()
