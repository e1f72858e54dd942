"""``ShardedIndex``: one Ray actor per shard replica, searched as one index."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from .. import NO_KEY, Filter, TextStats, fuse
from ._actor import Hits, ShardServer
from ._layout import PathLike, read_manifest, shards_of

#: How deep each side of a hybrid search goes: the library's HYBRID_DEPTH (k when larger),
#: so that fusing the merged lists ranks as one index's hybrid search does.
HYBRID_DEPTH = 100


class ShardUnavailableError(RuntimeError):
    """A shard answered no replica's call within ``retry_timeout_s`` (its actors died and were
    not back in time, or are not restarted any more). ``shard`` is its number. Raised instead
    of returning results without that shard's records, unless the search asked for
    ``allow_partial=True``."""

    def __init__(self, shard: int, reason: str) -> None:
        super().__init__(f"shard {shard} is unavailable: {reason}")
        self.shard = shard


class ShardedIndex:
    """A collection built by ``omendb.ray.build``, served by Ray actors and searched as one
    index: every search goes to each shard in one call per shard (the whole batch of queries),
    and the shards' top-k lists are merged exactly.

    Args:
        path: the collection's directory (readable by every node).
        replicas: actors per shard; a search goes to one replica of each shard, in turn, and
            to another when one fails. A durable collection takes 1 (a durable directory has
            one writer).
        verify: check each shard file against the manifest's SHA-256 when an actor opens it.
        retry_timeout_s: how long a search waits for a shard whose actors died (Ray restarts
            them; the new actor reopens its shard) before ``ShardUnavailableError``.
        max_restarts: how many times Ray restarts a dead actor (-1: without limit).
        num_cpus: CPUs each actor reserves (and index threads it uses); None: Ray's default
            for actors, and the index's threads.
        actor_options: more ``ray.remote`` options of the actors (resources, scheduling).

    Failure: searches are read-only, so a call lost with its actor is sent again (to another
    replica, or to the restarted actor) until ``retry_timeout_s``. Writes are not sent again:
    a write whose actor died raises ``ShardUnavailableError`` (on a durable shard, what the
    index acknowledged before is recovered by the restarted actor; the lost call may or may
    not have been applied, so repeat it: ``upsert`` is idempotent).
    """

    def __init__(
        self,
        path: PathLike,
        replicas: int = 1,
        *,
        verify: bool = True,
        retry_timeout_s: float = 30.0,
        max_restarts: int = -1,
        num_cpus: Optional[float] = None,
        actor_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise ValueError(f"replicas must be an int >= 1, got {replicas!r}")
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self.durable = bool(self.manifest["durable"])
        if self.durable and replicas != 1:
            raise ValueError("a durable collection takes replicas=1: each shard directory has one writer")
        self.shards: int = self.manifest["shards"]
        self.dim: int = self.manifest["dim"]
        self.retry_timeout_s = float(retry_timeout_s)
        options: Dict[str, Any] = {"max_restarts": max_restarts, "max_task_retries": 0}
        if num_cpus is not None:
            options["num_cpus"] = num_cpus
        options.update(actor_options or {})
        threads = max(1, int(num_cpus)) if num_cpus else None
        server = ray.remote(ShardServer).options(**options)
        self.actors: List[List[Any]] = [
            [server.remote(str(self.path), entry, self.durable, verify, threads) for _ in range(replicas)]
            for entry in self.manifest["files"]
        ]
        self._turn = itertools.count()
        self._closed = False
        #: Calls sent again after their actor died (for monitoring).
        self.retries = 0
        try:
            self._fan_out(lambda actor, shard: actor.info.remote(), retry=False)
        except BaseException:
            self.close()
            raise

    # ---- lifetime ----

    def close(self) -> None:
        """Closes every shard (a durable one syncs and unlocks its directory) and ends the
        actors. Idempotent."""
        if self._closed:
            return
        self._closed = True
        closing = [actor.close.remote() for replicas in self.actors for actor in replicas]
        try:
            ray.get(closing, timeout=30)
        except Exception:  # an actor already dead has nothing to close
            pass
        for replicas in self.actors:
            for actor in replicas:
                ray.kill(actor, no_restart=True)

    def __enter__(self) -> "ShardedIndex":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- reads ----

    def __len__(self) -> int:
        return self.count()

    def count(self, filter: Optional[str] = None) -> int:
        """Records in every shard (matching ``filter`` when given)."""
        text = _filter_text(filter)
        parts, _ = self._fan_out(lambda actor, shard: actor.count.remote(text))
        return sum(parts)

    def shard_of(self, key: Any) -> int:
        """The shard that owns ``key``."""
        return int(shards_of([key], self.shards)[0])

    def search(
        self,
        queries: Any,
        k: int = 10,
        ef: Optional[int] = None,
        filter: Optional[str] = None,
        *,
        allow_partial: bool = False,
    ) -> Any:
        """The k nearest records to each query over all shards, as ``Index.search``: a (d,)
        query gives 1-d ``(labels, distances)`` of its hits; an (n, d) batch gives (n,
        min(k, len)) arrays padded with ``NO_KEY`` (None for string keys) and inf. Each shard
        returns its k best with exact distances; the merge keeps the k smallest, so the
        result is what one index of all records returns up to each graph's approximation.

        ``allow_partial=True``: a shard that stays unavailable is left out instead of raising
        ``ShardUnavailableError``, and the return value is ``(labels, distances, missing)``,
        ``missing`` the sorted list of shards left out.
        """
        batch, one = _queries(queries, self.dim)
        text = _filter_text(filter)
        ref = ray.put(batch)
        parts, missing = self._fan_out(lambda actor, shard: actor.search.remote(ref, k, ef, text), allow_partial)
        labels, distances = _merge_nearest([p for p in parts if p is not None], batch.shape[0], k)
        if one:
            hits = int(np.isfinite(distances[0]).sum())
            labels, distances = labels[0, :hits], distances[0, :hits]
        return (labels, distances, missing) if allow_partial else (labels, distances)

    def text_search(
        self, query: Union[str, Sequence[str]], k: int = 10, filter: Optional[str] = None, *, allow_partial: bool = False
    ) -> Any:
        """BM25 search over all shards, scored with the whole collection's statistics: each
        shard's statistics for the query are summed first (one call per shard), then every
        shard scores with the sums, so each record gets the score it has in one index of all
        records and the merge by score is exact. A str query gives ``(labels, scores)``, best
        first; a list of queries gives a list of such pairs. ``allow_partial`` as in
        ``search`` (the statistics then lack the missing shards' documents)."""
        texts = [query] if isinstance(query, str) else list(query)
        text = _filter_text(filter)
        stats, missing = self._fan_out(lambda actor, shard: actor.text_stats.remote(texts), allow_partial)
        totals = _total_stats(stats, len(texts))
        parts, more = self._fan_out(lambda actor, shard: actor.text_search.remote(texts, k, text, totals), allow_partial)
        missing = sorted(set(missing) | set(more))
        merged = [_merge_best([p[i] for p in parts if p is not None], k) for i in range(len(texts))]
        answer: Any = merged[0] if isinstance(query, str) else merged
        return (*answer, missing) if allow_partial and isinstance(query, str) else ((answer, missing) if allow_partial else answer)

    def hybrid_search(
        self,
        vector: Any,
        text: Union[str, Sequence[str]],
        k: int = 10,
        ef: Optional[int] = None,
        filter: Optional[str] = None,
        fusion: str = "rrf",
        alpha: float = 0.5,
        rrf_k: float = 60,
        *,
        allow_partial: bool = False,
    ) -> Any:
        """Hybrid search over all shards, fused after merging: the vector hits and the text
        hits (global statistics, as ``text_search``) of every shard, each ``max(k, 100)``
        deep as in ``Index.hybrid_search``, are merged into one list each, and the two lists
        are fused (``omendb.fuse``) as one index would fuse them. One vector and one text give
        ``(labels, scores)``; an (n, d) batch with n texts gives a list of pairs.
        ``allow_partial`` as in ``search``."""
        batch, one = _queries(vector, self.dim)
        texts = [text] if isinstance(text, str) else list(text)
        if len(texts) != batch.shape[0]:
            raise ValueError(f"{batch.shape[0]} vectors and {len(texts)} texts: give one text per vector")
        depth = max(int(k), HYBRID_DEPTH)
        where = _filter_text(filter)
        ref = ray.put(batch)
        first, missing = self._fan_out(lambda actor, shard: actor.hybrid_parts.remote(ref, texts, depth, ef, where), allow_partial)
        live = [p for p in first if p is not None]
        totals = _total_stats([p[1] for p in live], len(texts))
        second, more = self._fan_out(lambda actor, shard: actor.text_search.remote(texts, depth, where, totals), allow_partial)
        missing = sorted(set(missing) | set(more))
        labels, distances = _merge_nearest([p[0] for p in live], batch.shape[0], depth)
        answers = []
        for i in range(batch.shape[0]):
            hits = np.isfinite(distances[i])
            text_hits = _merge_best([p[i] for p in second if p is not None], depth)
            answers.append(_fuse_keys(labels[i][hits], distances[i][hits], text_hits, k, fusion, alpha, rrf_k))
        answer: Any = answers[0] if one else answers
        if allow_partial:
            return (*answer, missing) if one else (answer, missing)
        return answer

    # ---- writes (durable collections) ----

    def upsert(self, vectors: Any, ids: Sequence[Any], metadata: Any = None, texts: Any = None) -> int:
        """Upserts records into their owning shards (durable collections only): each shard's
        part is one all-or-nothing ``Index.upsert``, durable when this returns; a batch that
        spans shards is not atomic across them. Returns the number of records."""
        self._writable()
        rows, _ = _queries(vectors, self.dim)
        keys = list(ids) if not isinstance(ids, np.ndarray) else ids
        if len(keys) != rows.shape[0]:
            raise ValueError(f"{rows.shape[0]} vectors and {len(keys)} ids")
        owner = shards_of(keys, self.shards)
        parts: Dict[int, Callable[[Any], Any]] = {}
        for shard in np.unique(owner):
            at = np.flatnonzero(owner == shard)
            part_ids = keys[at] if isinstance(keys, np.ndarray) else [keys[i] for i in at]
            part_meta = None if metadata is None else [metadata[i] for i in at]
            part_texts = None if texts is None else [texts[i] for i in at]
            parts[int(shard)] = _call("upsert", rows[at], part_ids, part_meta, part_texts)
        done, _ = self._fan_out(lambda actor, shard: parts[shard](actor), retry=False, only=set(parts))
        return sum(d for d in done if d is not None)

    def remove(self, ids: Sequence[Any]) -> int:
        """Removes records from their owning shards (durable collections only), all or nothing
        per shard (a key not stored fails its shard's part). Returns how many."""
        self._writable()
        keys = list(ids)
        owner = shards_of(keys, self.shards)
        parts = {int(s): _call("remove", [keys[i] for i in np.flatnonzero(owner == s)]) for s in np.unique(owner)}
        done, _ = self._fan_out(lambda actor, shard: parts[shard](actor), retry=False, only=set(parts))
        return sum(d for d in done if d is not None)

    def _writable(self) -> None:
        if not self.durable:
            raise ValueError("this collection's shards are read-only index files: rebuild it with build(), or build it durable=True")

    # ---- fan-out ----

    def _fan_out(
        self,
        submit: Callable[[Any, int], Any],
        allow_partial: bool = False,
        *,
        retry: bool = True,
        only: Optional[Set[int]] = None,
    ) -> Tuple[List[Any], List[int]]:
        """Calls ``submit(actor, shard)`` on one replica of every shard (of ``only``) at once and
        returns the answers by shard (None for a shard left out) and the shards left out.

        A replica whose actor died is replaced by the next replica (or the same actor, once
        Ray restarted it), until ``retry_timeout_s``; then the shard is left out
        (``allow_partial``) or ``ShardUnavailableError`` is raised. An error raised by the index
        in the actor is raised here as itself."""
        if self._closed:
            raise ValueError("the sharded index is closed")
        shards = sorted(only) if only is not None else list(range(self.shards))
        turn = next(self._turn)
        attempt = {s: 0 for s in shards}
        pending = {s: submit(self._replica(s, turn), s) for s in shards}
        answers: List[Any] = [None] * self.shards
        missing: List[int] = []
        deadline = time.monotonic() + self.retry_timeout_s
        while pending:
            shard, ref = next(iter(pending.items()))
            try:
                answers[shard] = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
                del pending[shard]
            except RayTaskError as error:
                raise error.cause if isinstance(error.cause, Exception) else error
            except (RayActorError, GetTimeoutError) as error:
                attempt[shard] += 1
                if not retry or isinstance(error, GetTimeoutError) or time.monotonic() >= deadline:
                    del pending[shard]
                    reason = f"{type(error).__name__} after {attempt[shard]} attempt(s): {_gist(error)}"
                    if not allow_partial:
                        raise ShardUnavailableError(shard, reason) from error
                    missing.append(shard)
                    continue
                self.retries += 1
                time.sleep(min(1.0, 0.05 * 2 ** min(attempt[shard], 5)))
                pending[shard] = submit(self._replica(shard, turn + attempt[shard]), shard)
        return answers, sorted(missing)

    def _replica(self, shard: int, turn: int) -> Any:
        replicas = self.actors[shard]
        return replicas[turn % len(replicas)]


def _gist(error: Exception) -> str:
    """The line of a Ray error that says what happened: the actor's own exception when its
    constructor raised (Ray's message ends with it), else Ray's first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    raised = [line for line in lines if line.split(":")[0].endswith(("Error", "Exception"))]
    return raised[-1] if raised else (lines[0] if lines else "")


def _call(method: str, *args: Any) -> Callable[[Any], Any]:
    return lambda actor: getattr(actor, method).remote(*args)


def _filter_text(filter: Any) -> Optional[str]:
    """Filters travel to the actors as text (a ``Filter`` handle cannot be pickled)."""
    if filter is None or isinstance(filter, str):
        return filter
    if isinstance(filter, Filter):
        return filter.text
    raise TypeError(f"filter is a str or an omendb.Filter, got {type(filter).__name__}")


def _queries(queries: Any, dim: int) -> Tuple[np.ndarray, bool]:
    array = np.asarray(queries)
    if array.dtype.kind == "c":
        raise TypeError("complex vectors are not supported")
    array = np.ascontiguousarray(array, dtype=np.float32)
    one = array.ndim == 1
    if one:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise ValueError(f"queries must be a (d,) vector or an (n, d) matrix, got shape {np.shape(queries)}")
    return array, one


def _merge_nearest(parts: List[Hits], n: int, k: int) -> Hits:
    """The k smallest distances of each row over every shard's (n, w) hits (stable: equal
    distances keep shard order)."""
    if not parts:
        return np.full((n, 0), NO_KEY, np.uint64), np.full((n, 0), np.inf, np.float32)
    labels = np.concatenate([p[0] for p in parts], axis=1)
    distances = np.concatenate([p[1] for p in parts], axis=1)
    width = min(int(k), labels.shape[1])
    order = np.argsort(distances, axis=1, kind="stable")[:, :width]
    return np.take_along_axis(labels, order, axis=1), np.take_along_axis(distances, order, axis=1)


def _merge_best(parts: List[Hits], k: int) -> Hits:
    """The k highest scores over every shard's (labels, scores) of one query."""
    if not parts:
        return np.empty(0, np.uint64), np.empty(0, np.float32)
    labels = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    order = np.argsort(-scores, kind="stable")[: int(k)]
    return labels[order], scores[order]


def _total_stats(parts: List[Any], queries: int) -> List[TextStats]:
    live = [p for p in parts if p is not None]
    if not live:
        return [TextStats(0, 0, ()) for _ in range(queries)]
    return [TextStats.total(p[i] for p in live) for i in range(queries)]


def _fuse_keys(
    vector_labels: np.ndarray, distances: np.ndarray, text_hits: Hits, k: int, fusion: str, alpha: float, rrf_k: float
) -> Hits:
    """``omendb.fuse`` of two lists of keys: each key stands for its first place among both."""
    text_labels, scores = text_hits
    keys = list(dict.fromkeys([*vector_labels.tolist(), *text_labels.tolist()]))
    place = {key: i for i, key in enumerate(keys)}
    ids, fused = fuse(
        [place[key] for key in vector_labels.tolist()], distances,
        [place[key] for key in text_labels.tolist()], scores,
        k, fusion=fusion, alpha=alpha, rrf_k=rrf_k,
    )
    chosen = [keys[i] for i in ids.tolist()]
    if keys and isinstance(keys[0], str):
        labels = np.empty(len(chosen), dtype=object)
        labels[:] = chosen
    else:
        labels = np.array(chosen, dtype=np.uint64)
    return labels, fused
