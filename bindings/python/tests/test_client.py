"""omendb.Client against the real omendb-server on a loopback port (started here from
<repo>/target/release/omendb-server, which `make test` builds; skipped with a message where it
is not built): every endpoint, each error case, several threads, load shedding (429), the
request timeout, and records acknowledged before a SIGKILL found after a restart."""

import os
import signal
import ssl
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import omendb
from omendb import Client, ServerError
from conftest import REPO_ROOT

SERVER = Path(os.environ.get("OMENDB_SERVER", REPO_ROOT / "target" / "release" / "omendb-server"))
pytestmark = pytest.mark.skipif(not SERVER.is_file(), reason=f"{SERVER} is not built (cargo build --release -p omendb-server)")
KEY = "s3cret-key"


class Server:
    """One omendb-server process on 127.0.0.1, port 0 (it prints the port it took)."""

    def __init__(self, data: Path, *flags: str, api_key: bool = True) -> None:
        args = [str(SERVER), "--data", str(data), "--http", "127.0.0.1:0", *flags]
        if api_key:
            key_file = data.parent / "key.txt"
            key_file.write_text(KEY + "\n")
            args += ["--api-key-file", str(key_file)]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert line.startswith("omendb-server listening on "), line + self.process.stderr.read()
        self.url = line.split()[-1]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.process.stdout.close()
        self.process.stderr.close()
        if sig == signal.SIGTERM:
            assert code == 0, "graceful shutdown failed"


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path / "data", "--max-body-bytes", "2000000")
    yield running
    running.stop()


def test_every_endpoint_and_error(server):
    client = Client(server.url, api_key=KEY)
    assert client.health()
    with pytest.raises(ServerError) as caught:
        Client(server.url, api_key="wrong").collections()
    assert caught.value.status_name == "UNAUTHORIZED" and caught.value.http_status == 401
    with pytest.raises(ServerError) as caught:
        Client(server.url).collections()
    assert caught.value.http_status == 401

    created = client.create_collection("docs", dim=3, metric="cosine", m=8, key="string")
    assert created["name"] == "docs" and created["options"]["metric"] == "cosine"
    with pytest.raises(ServerError) as caught:
        client.create_collection("docs", dim=3)
    assert caught.value.status_name == "CONFLICT" and caught.value.http_status == 409
    with pytest.raises(omendb.InvalidArgumentError, match="bad collection name") as caught:
        client.create_collection("../etc", dim=3)
    assert caught.value.http_status == 400
    with pytest.raises(omendb.InvalidArgumentError, match="0, 4 or 8"):
        client.create_collection("coded", dim=3, neighbor_codes=6)
    assert [c["name"] for c in client.collections()] == ["docs"]

    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32)
    count = client.add("docs", ["a", "b", "c", "d"], vectors,
                       metadata=[{"genre": "jazz"}, {"genre": "rock"}, None, {"genre": "jazz", "year": 1999}],
                       texts=["blue in green", "rock and roll", None, "kind of blue"])
    assert count == 4 and client.collection("docs")["count"] == 4
    with pytest.raises(omendb.DuplicateKeyError) as caught:
        client.add("docs", ["a"], vectors[:1])
    assert caught.value.http_status == 409
    assert client.upsert("docs", ["a"], [[1, 0.1, 0]], metadata=[{"genre": "jazz", "year": 1959}]) == 1
    record = client.get("docs", "a")
    assert record["id"] == "a" and record["metadata"] == {"genre": "jazz", "year": 1959}

    hits = client.search("docs", [1, 0, 0], k=3, filter='genre = "jazz"', include=["metadata"])
    assert [h["id"] for h in hits] == ["a", "d"] and hits[0]["metadata"]["year"] == 1959
    many = client.search("docs", vectors=vectors[:2], k=1, include=["vector"])
    assert [h[0]["id"] for h in many] == ["a", "b"] and len(many[1][0]["vector"]) == 3
    text = client.text_search("docs", "blue", k=5, include=["text"])
    assert [h["id"] for h in text] == ["d"]  # the upsert gave "a" no text: its old one is gone
    assert text[0]["text"] == "kind of blue"
    assert client.get("docs", "d")["text"] == "kind of blue" and client.get("docs", "a")["text"] is None
    fused = client.hybrid_search("docs", [0, 0, 1], "blue", k=2, fusion="weighted", alpha=0.5)
    assert len(fused) == 2 and fused[0]["score"] >= fused[1]["score"]

    with pytest.raises(omendb.DimensionMismatchError) as caught:
        client.search("docs", [1, 0], k=1)
    assert caught.value.http_status == 400
    with pytest.raises(omendb.FilterSyntaxError):
        client.search("docs", [1, 0, 0], k=1, filter="genre = ")
    with pytest.raises(omendb.InvalidArgumentError):
        client.search("docs", [1, 0, 0], k=0)
    with pytest.raises(ServerError) as caught:
        client.search("nope", [1, 0, 0])
    assert caught.value.status_name == "NOT_FOUND" and caught.value.http_status == 404
    with pytest.raises(ServerError) as caught:
        client.add("docs", [f"k{i}" for i in range(60_000)], np.ones((60_000, 3), np.float32))  # > 2 MB
    assert caught.value.status_name == "PAYLOAD_TOO_LARGE" and caught.value.http_status == 413

    client.delete("docs", "b")
    with pytest.raises(omendb.KeyNotFoundError):
        client.get("docs", "b")
    with pytest.raises(omendb.KeyNotFoundError):
        client.delete("docs", "b")
    metrics = client.metrics()
    assert "omendb_requests_total" in metrics and 'omendb_collection_records{collection="docs"} 3' in metrics
    client.delete_collection("docs")
    assert client.collections() == []


def test_threads_share_a_client(server):
    client = Client(server.url, api_key=KEY)
    client.create_collection("nums", dim=4, key="u64")
    rng = np.random.default_rng(0)
    vectors = rng.random((400, 4), dtype=np.float32)
    client.add("nums", list(range(400)), vectors)
    errors = []

    def work(start):
        try:
            for i in range(start, 400, 8):
                assert client.search("nums", vectors[i], k=1)[0]["id"] == i
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_load_shedding_and_timeout(tmp_path):
    busy = Server(tmp_path / "busy", "--max-concurrent", "1", api_key=False)
    try:
        client = Client(busy.url)
        client.create_collection("c", dim=8, key="u64")
        client.add("c", list(range(2000)), np.random.default_rng(1).random((2000, 8), dtype=np.float32))
        codes, names, healthy = [], [], []

        def hammer():
            mine = Client(busy.url)
            for _ in range(40):
                try:
                    mine.search("c", vectors=np.ones((200, 8), np.float32), k=10)
                    codes.append(200)
                except ServerError as error:
                    codes.append(error.http_status)
                    names.append(error.status_name)
                except Exception as error:  # recorded: an assert in a thread would be lost
                    codes.append(repr(error))
                healthy.append(mine.health())  # /healthz is never shed

        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(codes) <= {200, 429} and 429 in codes and 200 in codes, codes
        assert set(names) == {"TOO_MANY_REQUESTS"} and all(healthy) and len(healthy) == 240
    finally:
        busy.stop()
    slow = Server(tmp_path / "slow", "--request-timeout-ms", "1", api_key=False)
    try:
        client = Client(slow.url)
        try:
            client.create_collection("c", dim=64, key="u64")
        except ServerError as error:  # even this may take over 1 ms: then it went on in the background
            assert error.status_name == "TIMEOUT"
        with pytest.raises(ServerError) as caught:
            client.add("c", list(range(20_000)), np.ones((20_000, 64), np.float32) + np.arange(20_000)[:, None])
        assert caught.value.status_name == "TIMEOUT" and caught.value.http_status == 503
    finally:
        slow.stop()


def test_acknowledged_records_survive_sigkill(tmp_path):
    data = tmp_path / "data"
    first = Server(data)
    client = Client(first.url, api_key=KEY)
    client.create_collection("c", dim=2, key="u64")
    for batch in range(5):
        client.add("c", [batch * 10 + i for i in range(10)], np.full((10, 2), batch + 1.0) + np.arange(10)[:, None])
    client.delete("c", 7)
    first.stop(signal.SIGKILL)
    second = Server(data)
    try:
        again = Client(second.url, api_key=KEY)
        assert again.collection("c")["count"] == 49
        assert again.get("c", 42)["id"] == 42
        with pytest.raises(omendb.KeyNotFoundError):
            again.get("c", 7)
    finally:
        second.stop()


def test_openapi_file_describes_the_server(server):
    """docs/openapi.json: every path and method it lists is a route of the server (no
    'no such route' 404, no 405), and answers with one of the codes listed for it."""
    import http.client
    import json
    from urllib.parse import urlsplit

    spec = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    client = Client(server.url, api_key=KEY)
    client.create_collection("spec", dim=2, key="string")
    client.add("spec", ["x"], [[1, 2]])
    examples = {
        "CreateCollection": {"dim": 2},
        "Records": {"records": [{"id": "y", "vector": [0.5, 0.5]}], "upsert": True},
        "Search": {"vector": [1, 0], "k": 1},
        "TextSearch": {"query": "word"},
        "HybridSearch": {"vector": [1, 0], "query": "word"},
    }
    address = urlsplit(server.url)
    checked = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            target = "spec2" if path == "/collections/{name}" and method in ("put", "delete") else "spec"
            concrete = path.replace("{name}", target).replace("{id}", "x")
            body = None
            if "requestBody" in operation:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
                body = json.dumps(examples[schema])
            connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
            connection.request(method.upper(), concrete, body=body,
                               headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            connection.close()
            assert str(response.status) in operation["responses"], (method, concrete, response.status, payload)
            assert b"no such route" not in payload and response.status != 405, (method, concrete)
            checked += 1
    assert checked == 12


def test_https_with_a_certificate_to_trust(tmp_path):
    """A server with --tls-cert / --tls-key: the client speaks HTTPS when it trusts the
    certificate (ca_file), and refuses a server whose certificate nobody vouched for."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    running = Server(tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert running.url.startswith("https://127.0.0.1:")
        client = Client(running.url, api_key=KEY, ca_file=str(cert))
        client.create_collection("c", dim=2)
        assert client.add("c", ["x", "y"], np.array([[1, 0], [0, 1]], np.float32)) == 2
        assert [h["id"] for h in client.search("c", [1, 0.1], k=1)] == ["x"]
        with pytest.raises(ssl.SSLCertVerificationError):  # the system trusts no such certificate
            Client(running.url, api_key=KEY).health()
        with pytest.raises(ValueError, match="ca_file"):
            Client(running.url.replace("https", "http"), ca_file=str(cert))
    finally:
        running.stop()
