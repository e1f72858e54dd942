"""A sharded collection on disk: the manifest, the shard files, and the rule that sends a key
to its shard.

``path/manifest.json`` (written last, atomically, by ``build``) names everything a reader
needs: the options every shard was built with, the shard count, the key rule, and per shard
its file (or durable directory), record count and SHA-256. A directory without a manifest is
not a collection, so a build that stopped half way is never opened.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Union

import numpy as np

MANIFEST = "manifest.json"
FORMAT = "omendb-sharded"
VERSION = 1
#: The key rule, as the manifest names it: the first 8 bytes of BLAKE2b (digest_size=8) of
#: the key, read little-endian, modulo the shard count. A string key hashes its UTF-8 bytes,
#: a u64 key its 8 little-endian bytes. Stable across processes, machines and Python
#: versions (Python's own hash() of a str is salted per process).
KEY_RULE = "blake2b64-le mod shards; key bytes: utf-8 (string keys) or u64 little-endian"

PathLike = Union[str, "os.PathLike[str]"]


def key_bytes(key: Any) -> bytes:
    """The bytes the key rule hashes: UTF-8 for a str (bytes taken as given), 8 little-endian
    bytes for an int key."""
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, bytes):
        return key
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
        raise TypeError(f"a key is a str or a non-negative int, got {type(key).__name__}")
    value = int(key)
    if not 0 <= value < 2**64 - 1:
        raise ValueError(f"an int key is in [0, 2**64 - 2], got {value}")
    return value.to_bytes(8, "little")


def shard_of(key: Any, shards: int) -> int:
    """The shard that owns ``key`` among ``shards`` (see ``KEY_RULE``)."""
    digest = hashlib.blake2b(key_bytes(key), digest_size=8).digest()
    return int.from_bytes(digest, "little") % shards


def shards_of(keys: Iterable[Any], shards: int) -> np.ndarray:
    """``shard_of`` of every key, as an int64 array."""
    return np.fromiter((shard_of(k, shards) for k in keys), dtype=np.int64)


def shard_name(shard: int, durable: bool) -> str:
    """The file (or, durable, directory) of shard ``shard`` under the collection's path."""
    return f"shard-{shard:04d}" if durable else f"shard-{shard:04d}.omendb"


def file_sha256(path: PathLike) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(path: PathLike, manifest: Dict[str, Any]) -> None:
    """Writes ``manifest.json`` under ``path`` atomically (temporary file, fsync, rename,
    fsync of the directory): a reader sees the old manifest or the new, never a part."""
    directory = Path(path)
    tmp = directory / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(path: PathLike) -> Dict[str, Any]:
    """The manifest of the collection at ``path``, checked: its format and version, and one
    entry per shard whose file is there.

    Raises:
        FileNotFoundError: no manifest (not a collection, or a build that did not finish).
        ValueError: a manifest of another format or a newer version, or that lists a shard
            whose file is missing.
    """
    directory = Path(path)
    try:
        with open(directory / MANIFEST, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{directory} holds no {MANIFEST}: not a sharded collection built by omendb.ray.build") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{directory / MANIFEST} is not an {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(f"{directory / MANIFEST} has version {manifest.get('version')!r}; this omendb reads {VERSION}")
    shards: List[Dict[str, Any]] = manifest.get("files", [])
    if len(shards) != manifest.get("shards"):
        raise ValueError(f"{directory / MANIFEST} lists {len(shards)} shard files for {manifest.get('shards')} shards")
    for entry in shards:
        if not (directory / entry["name"]).exists():
            raise ValueError(f"shard file {directory / entry['name']} of {directory / MANIFEST} is missing")
    return manifest
