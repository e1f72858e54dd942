"""OmenDB past one machine: collections split into shards, built and served by Ray
(``pip install omendb[ray]``).

>>> import omendb.ray
>>> omendb.ray.build({"id": ids, "vector": vectors}, "/shared/docs", shards=4, metric="cosine")
>>> with omendb.ray.ShardedIndex("/shared/docs") as index:
...     labels, distances = index.search(queries, k=10)

``build`` partitions records by a stable hash of their key and builds each shard in a Ray
task; ``ShardedIndex`` opens one actor per shard replica and merges the shards' answers
exactly (text search with the whole collection's BM25 statistics). See docs/ray.md.
"""

try:
    import ray as _ray  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("omendb.ray needs Ray: pip install 'omendb[ray]' (or 'ray[data]')") from error

from ._build import build
from ._layout import KEY_RULE, read_manifest, shard_of
from ._sharded import ShardedIndex, ShardUnavailableError

__all__ = ["build", "ShardedIndex", "ShardUnavailableError", "shard_of", "read_manifest", "KEY_RULE"]
