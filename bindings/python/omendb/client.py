"""``omendb.Client``: the HTTP/JSON API of ``omendb-server`` (docs/http.md) from Python, with
the standard library's ``http.client`` only.

>>> client = omendb.Client("http://127.0.0.1:7700", api_key=None)
>>> client.create_collection("docs", dim=3, metric="cosine")
>>> client.upsert("docs", ids=["a", "b"], vectors=[[1, 0, 0], [0, 1, 0]], metadata=[{"genre": "jazz"}, None])
>>> client.search("docs", [1, 0.1, 0], k=5, filter='genre = "jazz"', include=["metadata"])
[{'id': 'a', 'distance': 0.0049..., 'metadata': {'genre': 'jazz'}}]

Errors the server answers are raised as the ``omendb`` exception of the same status
(``DimensionMismatchError`` for DIMENSION_MISMATCH, ...) or, for the server's own statuses
(UNAUTHORIZED, NOT_FOUND, CONFLICT, PAYLOAD_TOO_LARGE, TOO_MANY_REQUESTS, TIMEOUT),
``ServerError``; each carries ``http_status``. A connection that fails raises ``OSError``; a
write whose connection broke after it was sent is not sent again (it may have been applied:
read back, or upsert).
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .errors import _BY_STATUS, OmenDBError

Json = Any


class ServerError(OmenDBError):
    """An error of omendb-server's own: ``status_name`` is UNAUTHORIZED (401), NOT_FOUND (404:
    no such collection or route), CONFLICT (409: the collection exists), PAYLOAD_TOO_LARGE
    (413), TOO_MANY_REQUESTS (429), TIMEOUT (503), or another status the server sent."""


_BY_NAME = {cls.status_name[len("OMENDB_STATUS_"):]: cls for cls in _BY_STATUS.values()}


def _error(http_status: int, body: bytes) -> OmenDBError:
    try:
        error = json.loads(body)["error"]
        name, message = str(error["status"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        name, message = "HTTP_%d" % http_status, body.decode("utf-8", "replace")[:500]
    cls = _BY_NAME.get(name)
    exc: OmenDBError = cls(message) if cls is not None else ServerError(message, status_name=name)
    exc.http_status = http_status  # type: ignore[attr-defined]
    return exc


def _list(vector: Any) -> List[float]:
    return vector.tolist() if hasattr(vector, "tolist") else list(vector)


class Client:
    """A client of one ``omendb-server``. Thread safe: each thread keeps a connection of its
    own (HTTP/1.1 keep-alive), opened on first use and again after the server closed it.

    Args:
        url: ``http://host:port``, or ``https://host:port`` for a server with TLS.
        api_key: sent as ``Authorization: Bearer <key>`` (needed when the server has one).
        timeout: seconds a request may take (socket timeout).
        ca_file: for ``https``, a PEM file of the certificates to trust (a self-signed
            server's own certificate, say) instead of the system's.
    """

    def __init__(self, url: str = "http://127.0.0.1:7700", api_key: Optional[str] = None, timeout: float = 30.0,
                 ca_file: Optional[str] = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"url must be http://host:port or https://host:port, got {url!r}")
        if ca_file is not None and parsed.scheme != "https":
            raise ValueError("ca_file is for an https:// url")
        self.url = url
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._tls = ssl.create_default_context(cafile=ca_file) if parsed.scheme == "https" else None
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json"}
        if api_key is not None:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._local = threading.local()

    # ---- transport ----

    def _connection(self) -> Tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it served a request before."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            sock = connection.sock
            # An idle kept-alive socket that is readable was closed by the server (it may
            # close after an answer it sent before reading a whole body): start afresh.
            if sock is None or select.select([sock], [], [], 0)[0]:
                self._drop_connection()
            else:
                return connection, True
        if self._tls is None:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        else:
            connection = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._tls)
        self._local.connection = connection
        return connection, False

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
        self._local.connection = None

    def _request(self, method: str, path: str, body: Optional[Json] = None, raw: bool = False) -> Json:
        data = None if body is None else json.dumps(body).encode("utf-8")
        while True:
            connection, reused = self._connection()
            cut_short = False
            try:
                try:
                    connection.request(method, path, body=data, headers=self._headers)
                except (BrokenPipeError, ConnectionResetError):
                    # The server may have answered before reading the whole body (413, 503)
                    # and closed: its answer is still there to read.
                    cut_short = True
                response = connection.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop_connection()
                # A kept-alive connection the server had closed while idle: a GET is sent
                # again on a new one. Anything else may have run: the caller decides.
                if reused and method == "GET":
                    continue
                raise
            except BaseException:
                # A timeout or an interrupt leaves the connection mid-request: never reuse it.
                self._drop_connection()
                raise
            if response.will_close or cut_short:
                self._drop_connection()
            break
        if response.status >= 400:
            raise _error(response.status, payload)
        if raw:
            return payload.decode("utf-8")
        return json.loads(payload) if payload else None

    def close(self) -> None:
        """Closes this thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @staticmethod
    def _path(*parts: Union[str, int]) -> str:
        return "/" + "/".join(urllib.parse.quote(str(p), safe="") for p in parts)

    # ---- server ----

    def health(self) -> bool:
        """Whether ``GET /healthz`` answers ok."""
        text: str = self._request("GET", "/healthz", raw=True)
        return text.strip() == "ok"

    def metrics(self) -> str:
        """The Prometheus text of ``GET /metrics``."""
        text: str = self._request("GET", "/metrics", raw=True)
        return text

    # ---- collections ----

    def collections(self) -> List[Dict[str, Any]]:
        """Every collection (``GET /collections``)."""
        answer: List[Dict[str, Any]] = self._request("GET", "/collections")["collections"]
        return answer

    def create_collection(
        self,
        name: str,
        dim: int,
        metric: Optional[str] = None,
        *,
        m: Optional[int] = None,
        ef_construction: Optional[int] = None,
        ef_search: Optional[int] = None,
        dtype: Optional[str] = None,
        key: str = "string",
        neighbor_codes: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Creates a durable collection (``PUT /collections/{name}``); ``key`` is "string" or
        "u64"; ``neighbor_codes`` 4 or 8 as ``Index(neighbor_codes=)``. Options left as None
        take the server's defaults. Returns the collection."""
        body = {"dim": dim, "metric": metric, "m": m, "ef_construction": ef_construction, "ef_search": ef_search,
                "dtype": dtype, "key": key, "neighbor_codes": neighbor_codes}
        answer: Dict[str, Any] = self._request("PUT", self._path("collections", name), {k: v for k, v in body.items() if v is not None})
        return answer

    def collection(self, name: str) -> Dict[str, Any]:
        """A collection's count, options and memory (``GET /collections/{name}``)."""
        answer: Dict[str, Any] = self._request("GET", self._path("collections", name))
        return answer

    def delete_collection(self, name: str) -> None:
        """Deletes a collection and its directory (``DELETE /collections/{name}``)."""
        self._request("DELETE", self._path("collections", name))

    # ---- records ----

    def add(
        self,
        name: str,
        ids: Sequence[Union[str, int]],
        vectors: Any,
        metadata: Optional[Sequence[Optional[Dict[str, Any]]]] = None,
        texts: Optional[Sequence[Optional[str]]] = None,
        *,
        upsert: bool = False,
    ) -> int:
        """Adds records, all or nothing, answered once durable (``POST .../records``); a key
        already stored is a ``DuplicateKeyError`` unless ``upsert``. Returns the count."""
        rows = [_list(v) for v in vectors]
        if len(rows) != len(ids):
            raise ValueError(f"{len(ids)} ids and {len(rows)} vectors")
        records: List[Dict[str, Any]] = []
        for i, key in enumerate(ids):
            record: Dict[str, Any] = {"id": key if isinstance(key, str) else int(key), "vector": rows[i]}
            if metadata is not None and metadata[i] is not None:
                record["metadata"] = metadata[i]
            if texts is not None and texts[i] is not None:
                record["text"] = texts[i]
            records.append(record)
        count: int = self._request("POST", self._path("collections", name, "records"), {"records": records, "upsert": upsert})["count"]
        return count

    def upsert(self, name: str, ids: Sequence[Union[str, int]], vectors: Any, metadata: Any = None, texts: Any = None) -> int:
        """``add`` with ``upsert=True``: a stored key gets the new record."""
        return self.add(name, ids, vectors, metadata, texts, upsert=True)

    def get(self, name: str, id: Union[str, int]) -> Dict[str, Any]:
        """One record: ``{"id", "vector", "metadata", "text"}`` (``text`` None if it has none;
        ``KeyNotFoundError`` if absent)."""
        answer: Dict[str, Any] = self._request("GET", self._path("collections", name, "records", id))
        return answer

    def delete(self, name: str, id: Union[str, int]) -> None:
        """Removes one record, durably (``KeyNotFoundError`` if absent)."""
        self._request("DELETE", self._path("collections", name, "records", id))

    # ---- searches ----

    def search(
        self,
        name: str,
        vector: Any = None,
        *,
        vectors: Any = None,
        k: int = 10,
        ef: Optional[int] = None,
        filter: Optional[str] = None,
        include: Optional[Sequence[str]] = None,
    ) -> List[Any]:
        """The k nearest records: for ``vector``, a list of hits ``{"id", "distance", ...}``,
        nearest first; for ``vectors``, one such list per query. ``include`` may name
        "metadata", "vector" and "text"."""
        if (vector is None) == (vectors is None):
            raise TypeError("give vector or vectors")
        body: Dict[str, Any] = {"k": k}
        if vector is not None:
            body["vector"] = _list(vector)
        else:
            body["vectors"] = [_list(v) for v in vectors]
        body.update({k_: v for k_, v in (("ef", ef), ("filter", filter)) if v is not None})
        if include is not None:
            body["include"] = list(include)
        hits: List[Any] = self._request("POST", self._path("collections", name, "search"), body)["hits"]
        return hits

    def text_search(
        self, name: str, query: str, k: int = 10, filter: Optional[str] = None, include: Optional[Sequence[str]] = None
    ) -> List[Dict[str, Any]]:
        """BM25 search: hits ``{"id", "score"}``, best first."""
        body: Dict[str, Any] = {"query": query, "k": k}
        if filter is not None:
            body["filter"] = filter
        if include is not None:
            body["include"] = list(include)
        hits: List[Dict[str, Any]] = self._request("POST", self._path("collections", name, "text_search"), body)["hits"]
        return hits

    def hybrid_search(
        self,
        name: str,
        vector: Any,
        query: str,
        k: int = 10,
        *,
        ef: Optional[int] = None,
        filter: Optional[str] = None,
        fusion: Optional[str] = None,
        alpha: Optional[float] = None,
    ) -> List[Dict[str, Any]]:
        """Vector and text search fused: hits ``{"id", "score"}``, best first; ``fusion`` "rrf"
        (default) or "weighted" with ``alpha``."""
        body: Dict[str, Any] = {"vector": _list(vector), "query": query, "k": k}
        body.update({k_: v for k_, v in (("ef", ef), ("filter", filter), ("fusion", fusion), ("alpha", alpha)) if v is not None})
        hits: List[Dict[str, Any]] = self._request("POST", self._path("collections", name, "hybrid_search"), body)["hits"]
        return hits
