//! The server end to end: the real `omendb-server` binary on loopback (port 0), spoken to over
//! TCP with plain HTTP/1.1 requests; killed with SIGKILL and restarted to check that
//! acknowledged writes survive.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_omendb-server"))
            .args(["--data", data.to_str().unwrap(), "--http", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().rsplit("http://").next().unwrap().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{line:?}");
        Server { child, addr }
    }

    /// One request; returns (HTTP code, body as JSON, or as a string for text bodies).
    fn call(&self, method: &str, path: &str, body: Option<&Value>, key: Option<&str>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, &body, key)
    }

    fn raw(&self, method: &str, path: &str, body: &str, key: Option<&str>) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        let code: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let content = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
        let value = serde_json::from_str(&content).unwrap_or(Value::String(content));
        (code, value)
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn stop(mut self) {
        // SIGTERM: a graceful shutdown.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    /// A test that fails leaves no server behind (it would hold the test's output pipes open).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, tail) = rest.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("omendb-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn error_status(v: &Value) -> &str {
    v["error"]["status"].as_str().unwrap_or_else(|| panic!("not an error body: {v}"))
}

#[test]
fn collections_records_and_searches() {
    let data = temp_dir("api");
    let s = Server::start(&data, &[]);
    assert_eq!(s.call("GET", "/healthz", None, None), (200, Value::String("ok\n".into())));

    let (code, created) = s.call("PUT", "/collections/docs", Some(&json!({"dim": 3, "metric": "cosine", "m": 8, "key": "string"})), None);
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["options"]["metric"], "cosine");
    let (code, again) = s.call("PUT", "/collections/docs", Some(&json!({"dim": 3})), None);
    assert_eq!((code, error_status(&again)), (409, "CONFLICT"));
    let (code, bad) = s.call("PUT", "/collections/..%2Fescape", Some(&json!({"dim": 3})), None);
    assert_eq!((code, error_status(&bad)), (400, "INVALID_ARGUMENT"));
    let (code, bad) = s.call("PUT", "/collections/other", Some(&json!({"dim": 3, "metric": "hamming"})), None);
    assert_eq!((code, error_status(&bad)), (400, "INVALID_ARGUMENT"));
    assert!(bad["error"]["message"].as_str().unwrap().contains("cosine (cos, angular)"));

    let records = json!({"records": [
        {"id": "a", "vector": [1, 0, 0], "metadata": {"genre": "jazz", "year": 1959}, "text": "kind of blue trumpet"},
        {"id": "b", "vector": [0, 1, 0], "metadata": {"genre": "rock"}, "text": "loud guitar"},
        {"id": "c", "vector": [1, 1, 0], "metadata": {"genre": "jazz", "year": 1964}, "text": "love supreme saxophone"}
    ]});
    assert_eq!(s.call("POST", "/collections/docs/records", Some(&records), None), (200, json!({"count": 3})));
    // All or nothing: one bad vector, nothing stored.
    let partly_bad = json!({"records": [{"id": "d", "vector": [1, 2, 3]}, {"id": "e", "vector": [1, 2]}]});
    let (code, err) = s.call("POST", "/collections/docs/records", Some(&partly_bad), None);
    assert_eq!((code, error_status(&err)), (400, "DIMENSION_MISMATCH"));
    let (code, err) = s.call("POST", "/collections/docs/records", Some(&json!({"records": [{"id": "a", "vector": [1, 0, 0]}]})), None);
    assert_eq!((code, error_status(&err)), (409, "DUPLICATE_KEY"));
    let (code, err) = s.call("POST", "/collections/docs/records", Some(&json!({"records": [{"id": 7, "vector": [1, 0, 0]}]})), None);
    assert_eq!((code, error_status(&err)), (400, "INVALID_ARGUMENT"));
    let (_, info) = s.call("GET", "/collections/docs", None, None);
    assert_eq!(info["count"], 3);

    let (code, found) = s.call("POST", "/collections/docs/search", Some(&json!({"vector": [1, 0.1, 0], "k": 2, "include": ["metadata"]})), None);
    assert_eq!(code, 200, "{found}");
    assert_eq!(found["hits"][0]["id"], "a");
    assert_eq!(found["hits"][0]["metadata"]["genre"], "jazz");
    assert_eq!(found["hits"].as_array().unwrap().len(), 2);
    let (_, filtered) = s.call("POST", "/collections/docs/search", Some(&json!({"vector": [0, 1, 0], "k": 5, "filter": "genre = \"jazz\" AND year > 1960"})), None);
    assert_eq!(filtered["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect::<Vec<_>>(), ["c"]);
    let (_, batch) = s.call("POST", "/collections/docs/search", Some(&json!({"vectors": [[1, 0, 0], [0, 1, 0]], "k": 1})), None);
    assert_eq!((batch["hits"][0][0]["id"].as_str(), batch["hits"][1][0]["id"].as_str()), (Some("a"), Some("b")));
    let (code, err) = s.call("POST", "/collections/docs/search", Some(&json!({"vector": [1, 0], "k": 2})), None);
    assert_eq!((code, error_status(&err)), (400, "DIMENSION_MISMATCH"));
    let (code, err) = s.call("POST", "/collections/docs/search", Some(&json!({"vector": [1, 0, 0], "filter": "genre ="})), None);
    assert_eq!((code, error_status(&err)), (400, "FILTER_SYNTAX"));
    let (code, err) = s.call("POST", "/collections/docs/search", Some(&json!({"vector": [1, 0, 0], "k": 1_000_000})), None);
    assert_eq!((code, error_status(&err)), (400, "INVALID_ARGUMENT"));

    let (_, text) = s.call("POST", "/collections/docs/text_search", Some(&json!({"query": "saxophone", "k": 3, "include": ["text"]})), None);
    assert_eq!(text["hits"][0]["id"], "c");
    assert_eq!(text["hits"][0]["text"], "love supreme saxophone");
    let (_, near) = s.call("POST", "/collections/docs/search", Some(&json!({"vector": [1, 0, 0], "k": 1, "include": ["text", "metadata"]})), None);
    assert_eq!((&near["hits"][0]["text"], &near["hits"][0]["metadata"]["year"]), (&json!("kind of blue trumpet"), &json!(1959)));
    let (_, record) = s.call("GET", "/collections/docs/records/b", None, None);
    assert_eq!(record["text"], "loud guitar");
    let (_, hybrid) = s.call("POST", "/collections/docs/hybrid_search", Some(&json!({"vector": [0, 1, 0], "query": "trumpet", "k": 3, "fusion": "rrf"})), None);
    assert_eq!(hybrid["hits"].as_array().unwrap().len(), 3);
    let (_, weighted) = s.call("POST", "/collections/docs/hybrid_search", Some(&json!({"vector": [0, 1, 0], "query": "trumpet", "k": 1, "fusion": "linear", "alpha": 1.0})), None);
    assert_eq!(weighted["hits"][0]["id"], "b"); // alpha 1: the vector side alone
    let (code, err) = s.call("POST", "/collections/docs/hybrid_search", Some(&json!({"vector": [0, 1, 0], "query": "x", "fusion": "weighted", "alpha": 1.5})), None);
    assert_eq!((code, error_status(&err)), (400, "INVALID_ARGUMENT"));
    let (code, err) = s.call("POST", "/collections/docs/hybrid_search", Some(&json!({"vector": [0, 1, 0], "query": "x", "fusion": "max"})), None);
    assert_eq!((code, error_status(&err)), (400, "INVALID_ARGUMENT"));
    assert!(err["error"]["message"].as_str().unwrap().contains("rrf (reciprocal_rank) or weighted (linear)"));

    let (code, rec) = s.call("GET", "/collections/docs/records/c", None, None);
    assert_eq!(code, 200);
    assert_eq!(rec["metadata"]["year"], 1964);
    let v: Vec<f64> = rec["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert!((v[0] - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-6, "{v:?}"); // cosine: stored normalised
    assert_eq!(s.call("DELETE", "/collections/docs/records/b", None, None).0, 200);
    let (code, err) = s.call("GET", "/collections/docs/records/b", None, None);
    assert_eq!((code, error_status(&err)), (404, "KEY_NOT_FOUND"));
    let (code, err) = s.call("GET", "/collections/missing", None, None);
    assert_eq!((code, error_status(&err)), (404, "NOT_FOUND"));

    let (code, metrics) = s.call("GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap().to_string();
    assert_eq!(code, 200);
    assert!(metrics.contains("omendb_requests_total{method=\"POST\",route=\"/collections/{name}/search\",code=\"200\"} 4"), "{metrics}");
    assert!(metrics.contains("omendb_collection_records{collection=\"docs\"} 2"), "{metrics}");
    // The latency histogram of the search route: cumulative buckets ending in every search
    // request, whatever its code.
    let value = |line: &str| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
    let search = "route=\"/collections/{name}/search\"";
    let searches: f64 = metrics.lines().filter(|l| l.starts_with("omendb_requests_total") && l.contains(search)).map(value).sum();
    let buckets: Vec<f64> = metrics.lines().filter(|l| l.starts_with("omendb_request_duration_seconds_bucket") && l.contains(search)).map(value).collect();
    assert_eq!(buckets.len(), 15, "{metrics}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{metrics}");
    assert_eq!(buckets.last().copied(), Some(searches), "{metrics}");
    assert!(metrics.contains(&format!("omendb_request_duration_seconds_count{{method=\"POST\",{search}}} {searches}")), "{metrics}");

    assert_eq!(s.call("DELETE", "/collections/docs", None, None).0, 200);
    assert_eq!(s.call("GET", "/collections/docs", None, None).0, 404);
    assert!(!data.join("docs").exists());
    s.stop();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let data = temp_dir("kill");
    let s = Server::start(&data, &[]);
    assert_eq!(s.call("PUT", "/collections/ints", Some(&json!({"dim": 2, "key": "u64"})), None).0, 201);
    for batch in 0..10u64 {
        let records: Vec<Value> = (0..20u64).map(|i| json!({"id": batch * 100 + i, "vector": [batch as f32 + 1.0, i as f32]})).collect();
        assert_eq!(s.call("POST", "/collections/ints/records", Some(&json!({"records": records})), None).0, 200);
    }
    assert_eq!(s.call("DELETE", "/collections/ints/records/5", None, None).0, 200);
    // A collection with 4-bit neighbour codes (learned once it holds 256 records).
    let (code, created) = s.call("PUT", "/collections/coded", Some(&json!({"dim": 8, "key": "u64", "neighbor_codes": 4})), None);
    assert_eq!((code, &created["options"]["neighbor_codes"]), (201, &json!(4)), "{created}");
    let point = |i: u64| -> Vec<f32> { (0..8u64).map(|j| ((i * 7 + j * 13) % 31) as f32 + (i as f32) * 0.01).collect() };
    let records: Vec<Value> = (0..300u64).map(|i| json!({"id": i, "vector": point(i)})).collect();
    assert_eq!(s.call("POST", "/collections/coded/records", Some(&json!({"records": records})), None).0, 200);
    let (code, bad) = s.call("PUT", "/collections/bad", Some(&json!({"dim": 8, "neighbor_codes": 3})), None);
    assert_eq!((code, error_status(&bad)), (400, "INVALID_ARGUMENT"));
    assert!(bad["error"]["message"].as_str().unwrap().contains("0, 4 or 8"), "{bad}");
    s.kill();
    // What a create killed before its first snapshot leaves: an empty directory, removed at
    // the next start (nothing in it was acknowledged).
    std::fs::create_dir(data.join("half")).unwrap();
    // Restarted on the same directory: every acknowledged write is there, the removal too.
    let s = Server::start(&data, &[]);
    assert!(!data.join("half").exists());
    assert_eq!(s.call("PUT", "/collections/half", Some(&json!({"dim": 2})), None).0, 201);
    let (_, info) = s.call("GET", "/collections/ints", None, None);
    assert_eq!(info["count"], 199, "{info}");
    assert_eq!(info["options"]["key"], "u64");
    assert_eq!(s.call("GET", "/collections/ints/records/905", None, None).0, 200);
    assert_eq!(s.call("GET", "/collections/ints/records/5", None, None).0, 404);
    let (_, info) = s.call("GET", "/collections/coded", None, None);
    assert_eq!((&info["count"], &info["options"]["neighbor_codes"]), (&json!(300), &json!(4)), "{info}");
    let (code, found) = s.call("POST", "/collections/coded/search", Some(&json!({"vector": point(123), "k": 1, "ef": 64})), None);
    assert_eq!((code, &found["hits"][0]["id"]), (200, &json!(123)), "{found}");
    s.stop();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn api_key_and_body_limit() {
    let data = temp_dir("auth");
    std::fs::create_dir_all(&data).unwrap();
    let key_file = data.join("key.txt");
    std::fs::write(&key_file, "s3cret\n").unwrap();
    let s = Server::start(&data.join("db"), &["--api-key-file", key_file.to_str().unwrap(), "--max-body-bytes", "2000"]);
    assert_eq!(s.call("GET", "/healthz", None, None).0, 200); // no key needed
    let (code, err) = s.call("GET", "/collections", None, None);
    assert_eq!((code, error_status(&err)), (401, "UNAUTHORIZED"));
    assert_eq!(s.call("GET", "/collections", None, Some("wrong")).0, 401);
    assert_eq!(s.call("GET", "/metrics", None, Some("s3cre")).0, 401);
    assert_eq!(s.call("PUT", "/collections/c", Some(&json!({"dim": 2})), Some("s3cret")).0, 201);
    let big: Vec<Value> = (0..200).map(|i| json!({"id": format!("k{i}"), "vector": [1.0, i as f32]})).collect();
    let (code, err) = s.call("POST", "/collections/c/records", Some(&json!({"records": big})), Some("s3cret"));
    assert_eq!((code, error_status(&err)), (413, "PAYLOAD_TOO_LARGE"));
    let (code, err) = s.raw("POST", "/collections/c/records", "{not json", Some("s3cret"));
    assert_eq!((code, error_status(&err)), (400, "INVALID_ARGUMENT"));
    s.stop();
    let _ = std::fs::remove_dir_all(&data);
}

/// A body declared over `--max-body-bytes` is read and dropped before its 413 goes out, so the
/// client always gets the answer (unread bytes would make the close a reset, which can discard
/// it) and the connection stays open: ten refused megabyte bodies and then a GET on one
/// connection.
#[test]
fn oversized_bodies_are_answered_on_a_kept_connection() {
    let data = temp_dir("drain");
    std::fs::create_dir_all(&data).unwrap();
    let s = Server::start(&data.join("db"), &["--max-body-bytes", "2000"]);
    let stream = TcpStream::connect(&s.addr).unwrap();
    // A regression fails the test instead of hanging it.
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    stream.set_write_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let body = format!("{{\"records\": [{}]}}", vec!["{\"id\": \"k\", \"vector\": [1.0, 2.0]}"; 30_000].join(","));
    for round in 0..10 {
        let head = format!(
            "POST /collections/c/records HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            s.addr,
            body.len()
        );
        writer.write_all(head.as_bytes()).unwrap();
        writer.write_all(body.as_bytes()).unwrap();
        let (code, reply) = read_response(&mut reader);
        assert_eq!((code, error_status(&reply)), (413, "PAYLOAD_TOO_LARGE"), "round {round}: {reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains("limit is 2000"), "{reply}");
    }
    writer.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr).as_bytes()).unwrap();
    assert_eq!(read_response(&mut reader), (200, Value::String("ok\n".into())));
    // A client that waits for leave to send its body is refused at once, not invited to
    // upload it (the answer is a 413, not "100 Continue").
    let head = format!(
        "POST /collections/c/records HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        s.addr,
        body.len()
    );
    writer.write_all(head.as_bytes()).unwrap();
    let (code, reply) = read_response(&mut reader);
    assert_eq!((code, error_status(&reply)), (413, "PAYLOAD_TOO_LARGE"), "{reply}");
    s.stop();
    let _ = std::fs::remove_dir_all(&data);
}

/// One response of a kept-alive connection (its length from Content-Length): (code, body as
/// JSON, or as a string).
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, Value) {
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let code: u16 = status.split_whitespace().nth(1).unwrap_or_else(|| panic!("no status line: {status:?}")).parse().unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut content = vec![0; length];
    reader.read_exact(&mut content).unwrap();
    let content = String::from_utf8(content).unwrap();
    (code, serde_json::from_str(&content).unwrap_or(Value::String(content)))
}

/// One POST that may fail (the server may die under it): the HTTP code, or None.
fn try_post(addr: &str, path: &str, body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// SIGKILL at random moments while a client writes batches of 10 records, then a restart:
/// every acknowledged batch is there, and a batch in flight at the kill is there whole or not
/// at all. `OMENDB_SERVER_KILLS` rounds (RELIABILITY.md runs 50; `make test` 3).
#[test]
fn sigkill_loop_keeps_every_acknowledged_batch() {
    let rounds: usize = std::env::var("OMENDB_SERVER_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let data = temp_dir("kill-loop");
    let s = Server::start(&data, &[]);
    assert_eq!(s.call("PUT", "/collections/c", Some(&json!({"dim": 4, "key": "u64"})), None).0, 201);
    s.stop();
    let mut acked: Vec<u64> = Vec::new();
    let mut in_doubt: Vec<u64> = Vec::new();
    let mut next = 0u64;
    let mut seed = u64::from(std::process::id()) ^ 0x9E37_79B9_7F4A_7C15;
    let check = |s: &Server, acked: &[u64], in_doubt: &[u64]| {
        let present = |key: u64| s.call("GET", &format!("/collections/c/records/{key}"), None, None).0 == 200;
        for &b in acked {
            assert!(present(b * 10) && present(b * 10 + 9), "acknowledged batch {b} lost");
        }
        let mut landed = 0;
        for &b in in_doubt {
            let (first, last) = (present(b * 10), present(b * 10 + 9));
            assert_eq!(first, last, "batch {b} is there in part");
            landed += usize::from(first);
        }
        let count = s.call("GET", "/collections/c", None, None).1["count"].as_u64().unwrap();
        assert_eq!(count as usize, 10 * (acked.len() + landed));
        landed
    };
    for round in 0..rounds {
        let s = Server::start(&data, &[]);
        check(&s, &acked, &in_doubt);
        let addr = s.addr.clone();
        let start = next;
        let writer = std::thread::spawn(move || {
            let mut done = Vec::new();
            for b in start.. {
                let records: Vec<Value> = (0..10u64).map(|i| json!({"id": b * 10 + i, "vector": [b as f32, i as f32, 1.0, round as f32]})).collect();
                match try_post(&addr, "/collections/c/records", &json!({ "records": records }).to_string()) {
                    Some(200) => done.push(b),
                    Some(code) => panic!("batch {b}: HTTP {code}"),
                    None => return (done, b),
                }
            }
            unreachable!()
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(std::time::Duration::from_millis(30 + seed % 300));
        s.kill();
        let (done, cut) = writer.join().unwrap();
        acked.extend(&done);
        in_doubt.push(cut); // sent, no answer: may or may not have been applied
        next = cut + 1;
    }
    let s = Server::start(&data, &[]);
    let landed = check(&s, &acked, &in_doubt);
    eprintln!("{rounds} kills: {} acknowledged batches kept, {landed} of {} in flight landed whole", acked.len(), in_doubt.len());
    s.stop();
}
