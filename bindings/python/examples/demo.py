"""Nearest words: a cosine index over GloVe word vectors with the words as string keys.

Reads ctests/data/sample.fvecs (2,000 GloVe-50 vectors, TEXMEX format) and
ctests/data/sample_words.txt (line i = the word of vector i) from the repository, or the two
paths given on the command line:

    python bindings/python/examples/demo.py [VECTORS.fvecs WORDS.txt] [QUERY_WORD ...]
"""

import sys
from pathlib import Path

import numpy as np

try:
    import omendb
except ImportError:  # run from the source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import omendb

REPO = Path(__file__).resolve().parents[3]
DEFAULT_QUERIES = ["france", "music", "money", "good", "water"]


def read_fvecs(path: Path) -> np.ndarray:
    """Each record: an int32 dimension d, then d little-endian float32."""
    raw = np.fromfile(path, dtype="<i4")
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].view("<f4").astype(np.float32)


def main(argv):
    if len(argv) >= 2 and argv[0].endswith(".fvecs"):
        vectors_path, words_path, queries = Path(argv[0]), Path(argv[1]), argv[2:]
    else:
        vectors_path = REPO / "ctests" / "data" / "sample.fvecs"
        words_path = REPO / "ctests" / "data" / "sample_words.txt"
        queries = argv
    vectors = read_fvecs(vectors_path)
    words = words_path.read_text(encoding="utf-8").split("\n")[: len(vectors)]
    if len(words) != len(vectors):
        sys.exit(f"{len(vectors)} vectors but {len(words)} words")

    with omendb.Index(metric="cosine") as index:
        index.add(vectors, words)  # C-contiguous float32: read in place by C
        print(f"omendb {omendb.version()}: {len(index)} words, {index.dim} dimensions, cosine")
        position = {word: i for i, word in enumerate(words)}
        queries = [q for q in (queries or DEFAULT_QUERIES) if q in position] or words[100:104]
        labels, distances = index.search(vectors[[position[q] for q in queries]], k=6)
        for query, row, dist in zip(queries, labels, distances):
            hits = [(w, d) for w, d in zip(row, dist) if w is not None and w != query][:5]
            print(f"{query:>10}: " + ", ".join(f"{w} ({1 - d:.2f})" for w, d in hits))


if __name__ == "__main__":
    main(sys.argv[1:])
