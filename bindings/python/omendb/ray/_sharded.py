"""``ShardedIndex``: one Ray actor per shard replica, searched as one index."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
import ray
from ray.exceptions import RayActorError, RayTaskError

from .. import NO_KEY, Filter, InvalidKeyError, TextStats, fuse
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
        retry_timeout_s: how long a search goes on sending a call again, counted from the
            first failure, to a shard whose actors died (Ray restarts them; the new actor
            reopens its shard) before ``ShardUnavailableError``.
        call_timeout_s: the most a call waits for a shard's answer (None: no limit), for a
            shard whose actor hangs rather than dies; a healthy call slower than this (a large
            batch) is reported unavailable too, so leave room.
        open_timeout_s: the most the constructor waits for every actor to have opened its
            shard (actors that cannot be placed, shards that take long to verify).
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
        call_timeout_s: Optional[float] = None,
        open_timeout_s: float = 300.0,
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
        self.call_timeout_s = call_timeout_s
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
        self._lock = threading.Lock()
        #: Calls sent again after their actor died (for monitoring).
        self.retries = 0
        try:
            infos, _ = self._fan_out(lambda actor, shard: actor.info.remote(), retry=False, timeout=open_timeout_s)
        except BaseException:
            self.close()
            raise
        kinds = {info["key_kind"] for info in infos} - {"none"}
        #: "u64", "string", or "none" while every shard is empty.
        self.key_kind: str = kinds.pop() if kinds else self.manifest["key_kind"]

    # ---- lifetime ----

    def close(self) -> None:
        """Closes every shard (a durable one syncs and unlocks its directory) and ends the
        actors. Idempotent."""
        if self._closed:
            return
        self._closed = True
        closing = [actor.close.remote() for replicas in self.actors for actor in replicas]
        for ref in closing:  # each waited for: a durable shard syncs and unlocks
            try:
                ray.get(ref, timeout=30)
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
        batch, one = _queries(queries)
        text = _filter_text(filter)
        ref = ray.put(batch)
        parts, missing = self._fan_out(lambda actor, shard: actor.search.remote(ref, k, ef, text), allow_partial)
        labels, distances = _merge_nearest([p for p in parts if p is not None], batch.shape[0], k, self._strings())
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
        # Only the shards counted in the statistics score with them.
        counted = {s for s, p in enumerate(stats) if p is not None}
        parts, more = self._scored(lambda actor, shard: actor.text_search.remote(texts, k, text, totals), counted, allow_partial)
        missing = sorted(set(missing) | set(more))
        merged = [_merge_best([p[i] for p in parts if p is not None], k, self._strings()) for i in range(len(texts))]
        answer: Any = merged[0] if isinstance(query, str) else merged
        if not allow_partial:
            return answer
        return (*answer, missing) if isinstance(query, str) else (answer, missing)

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
        batch, one = _queries(vector)
        texts = [text] if isinstance(text, str) else list(text)
        if len(texts) != batch.shape[0]:
            raise ValueError(f"{batch.shape[0]} vectors and {len(texts)} texts: give one text per vector")
        depth = max(int(k), HYBRID_DEPTH)
        where = _filter_text(filter)
        ref = ray.put(batch)
        first, missing = self._fan_out(lambda actor, shard: actor.hybrid_parts.remote(ref, texts, depth, ef, where), allow_partial)
        totals = _total_stats([None if p is None else p[1] for p in first], len(texts))
        counted = {s for s, p in enumerate(first) if p is not None}
        second, more = self._scored(lambda actor, shard: actor.text_search.remote(texts, depth, where, totals), counted, allow_partial)
        missing = sorted(set(missing) | set(more))
        # A shard lost in the second call drops out of both sides.
        live = [p[0] for s, p in enumerate(first) if p is not None and second[s] is not None]
        strings = self._strings()
        labels, distances = _merge_nearest(live, batch.shape[0], depth, strings)
        answers = []
        for i in range(batch.shape[0]):
            hits = np.isfinite(distances[i])
            text_hits = _merge_best([p[i] for p in second if p is not None], depth, strings)
            answers.append(_fuse_keys(labels[i][hits], distances[i][hits], text_hits, k, fusion, alpha, rrf_k, strings))
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
        rows, _ = _queries(vectors)
        keys = list(ids) if not isinstance(ids, np.ndarray) else ids
        if len(keys) != rows.shape[0]:
            raise ValueError(f"{rows.shape[0]} vectors and {len(keys)} ids")
        kind = _key_kind(keys)
        if self.key_kind not in ("none", kind):
            raise InvalidKeyError(f"this collection holds {self.key_kind} keys, not {kind} keys")
        owner = shards_of(keys, self.shards)
        parts: Dict[int, Callable[[Any], Any]] = {}
        for shard in np.unique(owner):
            at = np.flatnonzero(owner == shard)
            part_ids = keys[at] if isinstance(keys, np.ndarray) else [keys[i] for i in at]
            part_meta = None if metadata is None else [metadata[i] for i in at]
            part_texts = None if texts is None else [texts[i] for i in at]
            parts[int(shard)] = _call("upsert", rows[at], part_ids, part_meta, part_texts)
        done, _ = self._fan_out(lambda actor, shard: parts[shard](actor), retry=False, only=set(parts))
        self.key_kind = kind
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

    def _strings(self) -> bool:
        return self.key_kind == "string"

    def _scored(
        self, submit: Callable[[Any, int], Any], counted: Set[int], allow_partial: bool
    ) -> Tuple[List[Any], List[int]]:
        """The second call of a text or hybrid search, to the shards ``counted`` in the
        statistics only (none: nothing to ask)."""
        if not counted:
            return [None] * self.shards, []
        return self._fan_out(submit, allow_partial, only=counted)

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
        timeout: Optional[float] = None,
    ) -> Tuple[List[Any], List[int]]:
        """Calls ``submit(actor, shard)`` on one replica of every shard (of ``only``) at once and
        returns the answers by shard (None for a shard left out) and the shards left out.

        Answers are taken as they come (``ray.wait``). A call whose actor died goes at once to
        the shard's next replica, or, after a pause, to the same actor once Ray restarted it,
        until ``retry_timeout_s`` after the shard's first failure; a call with no answer
        within ``timeout`` (default ``call_timeout_s``) is not sent again. Such a shard is
        left out (``allow_partial``) or ``ShardUnavailableError`` is raised. An error raised by
        the index in the actor is raised here as itself."""
        if self._closed:
            raise ValueError("the sharded index is closed")
        shards = sorted(only) if only is not None else list(range(self.shards))
        turn = next(self._turn)
        attempts = {s: 0 for s in shards}
        first_failure: Dict[int, float] = {}
        pending = {submit(self._replica(s, turn), s): s for s in shards}
        answers: List[Any] = [None] * self.shards
        missing: List[int] = []
        limit = self.call_timeout_s if timeout is None else timeout
        deadline = None if limit is None else time.monotonic() + limit

        def give_up(shard: int, reason: str, error: Optional[BaseException]) -> None:
            if not allow_partial:
                raise ShardUnavailableError(shard, reason) from error
            missing.append(shard)

        while pending:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=wait)
            if not ready:
                for shard in sorted(pending.values()):
                    give_up(shard, f"no answer within {limit} s", None)
                break
            shard = pending.pop(ready[0])
            try:
                answers[shard] = ray.get(ready[0])
            except RayTaskError as error:
                raise error.cause if isinstance(error.cause, Exception) else error
            except RayActorError as error:
                attempts[shard] += 1
                now = time.monotonic()
                since = now - first_failure.setdefault(shard, now)
                if not retry or self._closed or since >= self.retry_timeout_s:
                    give_up(shard, f"{type(error).__name__} after {attempts[shard]} attempt(s): {_gist(error)}", error)
                    continue
                replicas = len(self.actors[shard])
                if attempts[shard] % replicas == 0:  # every replica tried: wait for a restart
                    time.sleep(min(1.0, 0.05 * 2 ** min(attempts[shard] // replicas, 5), self.retry_timeout_s - since))
                with self._lock:
                    self.retries += 1
                pending[submit(self._replica(shard, turn + attempts[shard]), shard)] = shard
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


def _key_kind(keys: Any) -> str:
    """"string" or "u64" for a batch of keys of one kind (TypeError otherwise)."""
    if isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
        return "u64"
    if all(isinstance(k, (str, bytes)) for k in keys):
        return "string"
    if all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in keys):
        return "u64"
    raise TypeError("ids are all str or all non-negative ints")


def _queries(queries: Any) -> Tuple[np.ndarray, bool]:
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


def _no_labels(shape: Tuple[int, ...], strings: bool) -> np.ndarray:
    return np.full(shape, None, dtype=object) if strings else np.full(shape, NO_KEY, np.uint64)


def _merge_nearest(parts: List[Hits], n: int, k: int, strings: bool) -> Hits:
    """The k smallest distances of each row over every shard's (n, w) hits (stable: equal
    distances keep shard order)."""
    parts = [p for p in parts if p[0].shape[1]]
    if not parts:
        return _no_labels((n, 0), strings), np.full((n, 0), np.inf, np.float32)
    labels = np.concatenate([p[0] for p in parts], axis=1)
    distances = np.concatenate([p[1] for p in parts], axis=1)
    width = min(int(k), labels.shape[1])
    order = np.argsort(distances, axis=1, kind="stable")[:, :width]
    return np.take_along_axis(labels, order, axis=1), np.take_along_axis(distances, order, axis=1)


def _merge_best(parts: List[Hits], k: int, strings: bool) -> Hits:
    """The k highest scores over every shard's (labels, scores) of one query."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return _no_labels((0,), strings), np.empty(0, np.float32)
    labels = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    order = np.argsort(-scores, kind="stable")[: int(k)]
    return labels[order], scores[order]


def _total_stats(parts: List[Any], queries: int) -> List[TextStats]:
    """Per query, the sum of the statistics of the shards that answered (None: no answer)."""
    live = [p for p in parts if p is not None]
    if not live:
        return [TextStats(0, 0, ()) for _ in range(queries)]
    return [TextStats.total(p[i] for p in live) for i in range(queries)]


def _fuse_keys(
    vector_labels: np.ndarray, distances: np.ndarray, text_hits: Hits, k: int, fusion: str, alpha: float, rrf_k: float,
    strings: bool,
) -> Hits:
    """``omendb.fuse`` of two lists of keys: each key stands for its first place among both
    (equal fused scores rank by that place; one index ranks them by slot)."""
    text_labels, scores = text_hits
    keys = list(dict.fromkeys([*vector_labels.tolist(), *text_labels.tolist()]))
    place = {key: i for i, key in enumerate(keys)}
    ids, fused = fuse(
        [place[key] for key in vector_labels.tolist()], distances,
        [place[key] for key in text_labels.tolist()], scores,
        k, fusion=fusion, alpha=alpha, rrf_k=rrf_k,
    )
    chosen = [keys[i] for i in ids.tolist()]
    if strings:
        labels = np.empty(len(chosen), dtype=object)
        labels[:] = chosen
    else:
        labels = np.array(chosen, dtype=np.uint64)
    return labels, fused
