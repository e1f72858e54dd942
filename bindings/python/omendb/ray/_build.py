"""``build``: a sharded collection from a Ray Dataset, Parquet files or NumPy columns, each
shard built by a Ray task of its own."""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import ray

from .. import Index
from ._layout import FORMAT, KEY_RULE, MANIFEST, VERSION, PathLike, file_sha256, shard_name, shards_of, write_manifest

#: The column ``build`` adds to a Dataset: the shard of each row.
SHARD_COLUMN = "__omendb_shard"

Columns = Union[str, Sequence[str], None]


def build(
    source: Any,
    path: PathLike,
    shards: int,
    *,
    key: str = "id",
    vector: str = "vector",
    metadata: Columns = None,
    text: Optional[str] = None,
    durable: bool = False,
    overwrite: bool = False,
    num_cpus: float = 1,
    **index_options: Any,
) -> Dict[str, Any]:
    """Builds a sharded collection under ``path`` (a directory every node can read).

    Records go to shard ``blake2b64(key) % shards`` (see ``KEY_RULE``), so a key's shard is
    known without asking anyone. Each shard is built by one Ray task (``num_cpus`` CPUs, and
    as many index threads), in parallel, and written as ``shard-NNNN.omendb`` (an index file,
    opened memory-mapped by ``ShardedIndex``) or, with ``durable=True``, as a durable index
    directory ``shard-NNNN/`` that ``ShardedIndex`` can update. ``manifest.json`` is written
    last (options, shard count, key rule, counts, SHA-256 of each file); a directory without
    it is not a collection.

    Args:
        source: a ``ray.data.Dataset``; a Parquet file or directory, or a list of files (read with
            ``ray.data.read_parquet``); or a mapping of column name to NumPy array or list
            (partitioned in this process, each shard's part sent to its task).
        key: the key column: str keys or non-negative ints (u64); required, unique.
        vector: the vector column: a 2-d array, or one array (list) per row.
        metadata: None; a column holding dicts or JSON object strings; or a list of columns,
            each stored as a metadata field of that name (a null value leaves the field out).
            Arrow gives a dict column every field of every row, missing ones as null: use
            JSON strings or a list of columns to keep a field absent.
        text: None, or a column of str (or null) searched by text and hybrid search.
        durable: build durable index directories instead of index files.
        overwrite: replace a collection already at ``path`` (else FileExistsError): the old
            one is removed, manifest first, before the new one is built.
        num_cpus: CPUs of each shard's build task.
        index_options: the options of ``omendb.Index`` (dim, metric, m, ef_construction,
            ef_search, dtype, text options...), the same for every shard.

    Returns:
        The manifest written (a dict).

    Raises:
        ValueError, TypeError: bad arguments or columns; the index errors of ``Index.add``
        (raised from the shard task that met them), in which case no manifest is written.
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be an int >= 1, got {shards!r}")
    if "path" in index_options:
        raise TypeError("build takes the collection's path as its second argument; durable=True makes durable shards")
    Index(**index_options).close()  # bad options fail here, before any task runs
    directory = Path(path)
    _prepare(directory, overwrite)
    build_one = functools.partial(
        _build_shard, directory=str(directory), durable=durable, index_options=index_options, threads=max(1, int(num_cpus))
    )
    names = _columns(key, vector, metadata, text)
    if isinstance(source, Mapping):
        rows = _build_from_columns(source, names, shards, build_one, num_cpus)
    else:
        dataset = _as_dataset(source)
        missing = [c for c in names.all() if c not in dataset.schema().names]
        if missing:
            raise ValueError(f"the dataset has no column {missing[0]!r} (it has {dataset.schema().names})")
        assign = functools.partial(_assign_shards, key=key, shards=shards)
        grouped = dataset.select_columns(names.all()).map_batches(assign, batch_format="numpy").groupby(SHARD_COLUMN)
        group_fn = functools.partial(_build_group, names=names, build_one=build_one)
        table = grouped.map_groups(group_fn, batch_format="numpy", num_cpus=num_cpus).take_all()
        rows = [json.loads(row["row"]) for row in table]
    return _finish(directory, rows, shards, durable, index_options)


class _Names:
    """The columns ``build`` reads."""

    def __init__(self, key: str, vector: str, metadata: Columns, text: Optional[str]) -> None:
        self.key, self.vector, self.text = key, vector, text
        self.metadata_column = metadata if isinstance(metadata, str) else None
        self.metadata_fields = list(metadata) if metadata is not None and not isinstance(metadata, str) else []

    def all(self) -> List[str]:
        extra = ([self.metadata_column] if self.metadata_column else []) + self.metadata_fields
        return [self.key, self.vector] + extra + ([self.text] if self.text else [])


def _columns(key: str, vector: str, metadata: Columns, text: Optional[str]) -> _Names:
    for name, value in (("key", key), ("vector", vector)):
        if not isinstance(value, str):
            raise TypeError(f"{name} is a column name, got {value!r}")
    if metadata is not None and not isinstance(metadata, str):
        if not all(isinstance(c, str) for c in metadata):
            raise TypeError(f"metadata is a column name or a list of column names, got {metadata!r}")
    if text is not None and not isinstance(text, str):
        raise TypeError(f"text is a column name, got {text!r}")
    return _Names(key, vector, metadata, text)


def _prepare(directory: Path, overwrite: bool) -> None:
    if (directory / MANIFEST).exists():
        if not overwrite:
            raise FileExistsError(f"{directory} already holds a collection (overwrite=True replaces it)")
        os.remove(directory / MANIFEST)  # first: a half-replaced collection is never opened
        for entry in directory.glob("shard-*"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def _as_dataset(source: Any) -> Any:
    if isinstance(source, ray.data.Dataset):
        return source
    if isinstance(source, (str, os.PathLike)) or (isinstance(source, (list, tuple)) and source and isinstance(source[0], (str, os.PathLike))):
        paths = [os.fspath(p) for p in source] if isinstance(source, (list, tuple)) else os.fspath(source)
        return ray.data.read_parquet(paths)
    raise TypeError(f"source is a ray.data.Dataset, Parquet path(s) or a mapping of columns, got {type(source).__name__}")


def _assign_shards(batch: Dict[str, np.ndarray], key: str, shards: int) -> Dict[str, np.ndarray]:
    batch[SHARD_COLUMN] = shards_of(_keys(batch[key]), shards)
    return batch


def _build_group(batch: Dict[str, np.ndarray], names: _Names, build_one: Any) -> Dict[str, List[str]]:
    shard = int(batch[SHARD_COLUMN][0])
    row = build_one(shard, **_records(batch, names))
    return {"row": [json.dumps(row)]}


def _build_from_columns(source: Mapping[str, Any], names: _Names, shards: int, build_one: Any, num_cpus: float) -> List[Dict[str, Any]]:
    missing = [c for c in names.all() if c not in source]
    if missing:
        raise ValueError(f"the source has no column {missing[0]!r} (it has {sorted(source)})")
    lengths = {c: len(source[c]) for c in names.all()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the columns differ in length: {lengths}")
    keys = _keys(source[names.key])
    owner = shards_of(keys, shards)
    task = ray.remote(num_cpus=num_cpus)(_build_task)
    refs = []
    for shard in range(shards):
        rows = np.flatnonzero(owner == shard)
        if rows.size:
            part = {c: _take(source[c], rows) for c in names.all()}
            refs.append(task.remote(build_one, shard, _records(part, names)))
    return list(ray.get(refs))


def _build_task(build_one: Any, shard: int, records: Dict[str, Any]) -> Dict[str, Any]:
    entry: Dict[str, Any] = build_one(shard, **records)
    return entry


def _take(column: Any, rows: np.ndarray) -> Any:
    if isinstance(column, np.ndarray):
        return column[rows]
    return [column[i] for i in rows]


def _keys(column: Any) -> Union[List[str], np.ndarray]:
    """Str keys as a list, int keys as uint64 (negative ones refused)."""
    array = np.asarray(column)
    if array.dtype.kind in "iu":
        if array.dtype.kind == "i" and array.size and array.min() < 0:
            raise ValueError(f"a key is negative ({array.min()}): int keys are u64")
        return array.astype(np.uint64)
    values = list(column)
    for v in values:
        if isinstance(v, bytes):
            continue
        if not isinstance(v, str):
            raise TypeError(f"a key is a str or an int, got {type(v).__name__}: {v!r}")
    return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]


def _records(batch: Mapping[str, Any], names: _Names) -> Dict[str, Any]:
    """A shard's records as ``Index.add`` takes them."""
    column = batch[names.vector]
    vectors = np.asarray(column)
    if vectors.dtype == object or vectors.ndim == 1:
        vectors = np.stack([np.asarray(v, dtype=np.float32) for v in column]) if len(column) else np.empty((0, 0), np.float32)
    records: Dict[str, Any] = {"keys": _keys(batch[names.key]), "vectors": np.ascontiguousarray(vectors, dtype=np.float32)}
    n = len(records["keys"])
    if names.metadata_column:
        records["metadata"] = [_metadata_value(v) for v in batch[names.metadata_column]]
    elif names.metadata_fields:
        records["metadata"] = [
            {f: _plain(batch[f][i]) for f in names.metadata_fields if _plain(batch[f][i]) is not None} for i in range(n)
        ]
    if names.text:
        records["texts"] = [None if t is None else str(t) for t in batch[names.text]]
    return records


def _metadata_value(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    plain = _plain(value)
    if not isinstance(plain, dict):
        raise TypeError(f"a metadata value is a dict, a JSON object string or None, got {type(value).__name__}")
    return plain


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays (as Ray's batches hold them) as the JSON types they stand for."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:  # NaN: Arrow's null in a float column
        return None
    return value


def _build_shard(
    shard: int,
    keys: Any,
    vectors: np.ndarray,
    metadata: Any = None,
    texts: Any = None,
    *,
    directory: str,
    durable: bool,
    index_options: Dict[str, Any],
    threads: int,
) -> Dict[str, Any]:
    """Builds and writes one shard; returns its manifest entry."""
    name = shard_name(shard, durable)
    target = Path(directory) / name
    options = dict(index_options)
    if durable:
        if target.exists():
            shutil.rmtree(target)
        options["path"] = str(target)
    with Index(**options) as index:
        index.threads = threads
        if len(keys):
            index.add(vectors, ids=keys, metadata=metadata, texts=texts)
        entry = {"shard": shard, "name": name, "count": len(index), "dim": index.dim, "key_kind": index.key_kind}
        if durable:
            index.checkpoint()
        else:
            index.save(target)
    if not durable:
        entry.update(sha256=file_sha256(target), bytes=target.stat().st_size)
    return entry


def _finish(directory: Path, rows: List[Dict[str, Any]], shards: int, durable: bool, index_options: Dict[str, Any]) -> Dict[str, Any]:
    """Writes the shards that got no record, checks that all agree, writes the manifest."""
    by_shard = {row["shard"]: row for row in rows}
    dims = {row["dim"] for row in rows}
    kinds = {row["key_kind"] for row in rows} - {"none"}
    if len(dims) > 1:
        raise ValueError(f"the shards' vectors differ in dimension: {sorted(dims)}")
    if len(kinds) > 1:
        raise ValueError("the keys mix strings and ints: one collection holds one kind")
    dim = dims.pop() if dims else index_options.get("dim") or 0
    for shard in range(shards):
        if shard not in by_shard:  # no key hashed here: an empty index of the same options
            empty = dict(index_options, dim=dim) if dim else index_options
            by_shard[shard] = _build_shard(
                shard, [], np.empty((0, dim), np.float32), directory=str(directory), durable=durable, index_options=empty, threads=1
            )
    files = [by_shard[s] for s in range(shards)]
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "shards": shards,
        "key_rule": KEY_RULE,
        "key_kind": kinds.pop() if kinds else "none",
        "dim": dim,
        "durable": durable,
        "count": sum(f["count"] for f in files),
        "options": json.loads(json.dumps(index_options, default=str)),
        "files": [{k: v for k, v in f.items() if k not in ("dim", "key_kind")} for f in files],
    }
    write_manifest(directory, manifest)
    return manifest
