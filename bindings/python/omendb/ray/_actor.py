"""The Ray actor that serves one shard: it opens the shard's index (memory-mapped index file,
or durable directory) when created, and again when Ray restarts it after a crash."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import Index, TextStats
from ._layout import file_sha256

Hits = Tuple[np.ndarray, np.ndarray]


class ShardServer:
    """One shard replica. Every method takes a batch and answers it in one call."""

    def __init__(self, directory: str, entry: Dict[str, Any], durable: bool, verify: bool, threads: Optional[int]) -> None:
        target = Path(directory) / entry["name"]
        if durable:
            self.index = Index(path=str(target))
        else:
            expected = entry.get("sha256")
            if verify and expected and file_sha256(target) != expected:
                raise ValueError(f"{target} does not match the SHA-256 of the manifest: the file was changed or damaged")
            self.index = Index.open(target)
        if threads:
            self.index.threads = threads

    def info(self) -> Dict[str, Any]:
        return {"count": len(self.index), "pid": os.getpid(), "dim": self.index.dim, "key_kind": self.index.key_kind}

    def search(self, queries: np.ndarray, k: int, ef: Optional[int], filter: Optional[str]) -> Hits:
        return self.index.search(queries, k=k, ef=ef, filter=filter)

    def contains(self, keys: List[Any]) -> List[bool]:
        return [key in self.index for key in keys]

    def text_stats(self, texts: List[str]) -> List[TextStats]:
        return [self.index.text_stats(t) for t in texts]

    def text_search(self, texts: List[str], k: int, filter: Optional[str], stats: List[TextStats]) -> List[Hits]:
        return [self.index.text_search(t, k, filter, stats=s) for t, s in zip(texts, stats)]

    def hybrid_parts(
        self, queries: np.ndarray, texts: List[str], depth: int, ef: Optional[int], filter: Optional[str]
    ) -> Tuple[Hits, List[TextStats]]:
        """The vector side of a hybrid search (``depth`` deep) and the text statistics, in one call."""
        return self.search(queries, depth, ef, filter), self.text_stats(texts)

    def count(self, filter: Optional[str]) -> int:
        return self.index.count(filter)

    def upsert(self, vectors: np.ndarray, ids: Any, metadata: Any, texts: Any) -> int:
        self.index.upsert(vectors, ids, metadata=metadata, texts=texts)
        return len(ids)

    def remove(self, ids: Any) -> int:
        return self.index.remove_many(ids)

    def close(self) -> None:
        self.index.close()
