//! The gRPC service end to end: the real `omendb-server` with `--grpc 127.0.0.1:0`, called
//! through the client tonic generates from proto/omendb.proto: every call, each error case
//! (as a gRPC status with the HTTP API's status name), the API key, and writes acknowledged
//! over gRPC found again after SIGKILL and a restart; HTTP and gRPC see the same collections.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};

pub mod pb {
    tonic::include_proto!("omendb.v1");
}

use pb::omen_db_client::OmenDbClient;

struct Server {
    child: Child,
    grpc: String,
}

impl Server {
    fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_omendb-server"))
            .args(["--data", data.to_str().unwrap(), "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut http, mut grpc) = (String::new(), String::new());
        out.read_line(&mut http).unwrap();
        out.read_line(&mut grpc).unwrap();
        assert!(http.starts_with("omendb-server listening on http://"), "{http:?}");
        let addr = grpc.trim().strip_prefix("omendb-server gRPC listening on ").unwrap_or_else(|| panic!("{grpc:?}"));
        Server { child, grpc: format!("http://{addr}") }
    }

    async fn client(&self) -> OmenDbClient<Channel> {
        OmenDbClient::connect(self.grpc.clone()).await.unwrap()
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status(); // SIGTERM
        assert!(self.child.wait().unwrap().success(), "graceful shutdown");
    }
}

impl Drop for Server {
    /// A test that fails half way leaves no server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_key<T>(body: T, key: &str) -> Request<T> {
    let mut request = Request::new(body);
    request.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {key}")).unwrap());
    request
}

fn skey(s: &str) -> Option<pb::Key> {
    Some(pb::Key { kind: Some(pb::key::Kind::Str(s.into())) })
}

fn ukey(n: u64) -> Option<pb::Key> {
    Some(pb::Key { kind: Some(pb::key::Kind::U64(n)) })
}

fn ids(hits: &pb::Hits) -> Vec<String> {
    hits.hits
        .iter()
        .map(|h| match h.id.as_ref().and_then(|k| k.kind.clone()) {
            Some(pb::key::Kind::Str(s)) => s,
            Some(pb::key::Kind::U64(n)) => n.to_string(),
            None => "?".into(),
        })
        .collect()
}

/// The status name the server puts first in the message and in `omendb-status`.
fn named(status: &tonic::Status) -> String {
    let name = status.metadata().get("omendb-status").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(status.message().starts_with(&format!("{name}: ")), "{status:?}");
    name
}

#[tokio::test]
async fn every_call_and_error_over_grpc() {
    let dir = tempfile_dir("grpc-calls");
    std::fs::write(dir.join("key"), "k3y\n").unwrap();
    let server = Server::start(&dir.join("data"), &["--api-key-file", dir.join("key").to_str().unwrap()]);
    let mut c = server.client().await;
    let k = "k3y";

    // Health needs no key; everything else does.
    assert_eq!(c.health(pb::HealthRequest {}).await.unwrap().into_inner().status, "ok");
    let err = c.list_collections(pb::ListCollectionsRequest {}).await.unwrap_err();
    assert_eq!((err.code(), named(&err).as_str()), (Code::Unauthenticated, "UNAUTHORIZED"));
    let err = c.list_collections(with_key(pb::ListCollectionsRequest {}, "wrong")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let options = pb::CollectionOptions { dim: 3, metric: "cosine".into(), key: "string".into(), ..Default::default() };
    let created = c.create_collection(with_key(pb::CreateCollectionRequest { name: "docs".into(), options: Some(options.clone()) }, k)).await.unwrap().into_inner();
    assert_eq!((created.name.as_str(), created.options.as_ref().unwrap().metric.as_str()), ("docs", "cosine"));
    let err = c.create_collection(with_key(pb::CreateCollectionRequest { name: "docs".into(), options: Some(options.clone()) }, k)).await.unwrap_err();
    assert_eq!((err.code(), named(&err).as_str()), (Code::AlreadyExists, "CONFLICT"));
    let err = c.create_collection(with_key(pb::CreateCollectionRequest { name: "../x".into(), options: Some(options) }, k)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // Neighbour codes: echoed back, and checked by the library.
    let coded = pb::CollectionOptions { dim: 3, neighbor_codes: 8, ..Default::default() };
    let created = c.create_collection(with_key(pb::CreateCollectionRequest { name: "coded".into(), options: Some(coded) }, k)).await.unwrap().into_inner();
    assert_eq!(created.options.as_ref().unwrap().neighbor_codes, 8);
    let bad = pb::CollectionOptions { dim: 3, neighbor_codes: 5, ..Default::default() };
    let err = c.create_collection(with_key(pb::CreateCollectionRequest { name: "bad".into(), options: Some(bad) }, k)).await.unwrap_err();
    assert_eq!((err.code(), named(&err).as_str()), (Code::InvalidArgument, "INVALID_ARGUMENT"));

    let record = |id: &str, v: [f32; 3], meta: &str, text: Option<&str>| pb::Record {
        id: skey(id),
        vector: v.to_vec(),
        metadata_json: meta.into(),
        text: text.map(str::to_string),
    };
    let records = vec![
        record("a", [1.0, 0.0, 0.0], r#"{"genre": "jazz"}"#, Some("blue in green")),
        record("b", [0.0, 1.0, 0.0], r#"{"genre": "rock"}"#, Some("rock and roll")),
        record("c", [0.0, 0.0, 1.0], "", None),
        record("d", [1.0, 1.0, 0.0], r#"{"genre": "jazz", "year": 1959}"#, Some("kind of blue")),
    ];
    let put = pb::PutRecordsRequest { collection: "docs".into(), records: records.clone(), upsert: false };
    assert_eq!(c.put_records(with_key(put.clone(), k)).await.unwrap().into_inner().count, 4);
    let err = c.put_records(with_key(put, k)).await.unwrap_err();
    assert_eq!((err.code(), named(&err).as_str()), (Code::AlreadyExists, "DUPLICATE_KEY"));
    let bad_meta = pb::PutRecordsRequest { collection: "docs".into(), records: vec![record("e", [1.0, 0.0, 0.0], "[1, 2]", None)], upsert: false };
    assert_eq!(c.put_records(with_key(bad_meta, k)).await.unwrap_err().code(), Code::InvalidArgument);
    let wrong_kind = pb::PutRecordsRequest { collection: "docs".into(), records: vec![pb::Record { id: ukey(5), vector: vec![1.0, 0.0, 0.0], ..Default::default() }], upsert: false };
    assert_eq!(c.put_records(with_key(wrong_kind, k)).await.unwrap_err().code(), Code::InvalidArgument);

    let got = c.get_record(with_key(pb::RecordRef { collection: "docs".into(), id: skey("d") }, k)).await.unwrap().into_inner();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&got.metadata_json).unwrap()["year"], 1959);

    let search = pb::SearchRequest {
        collection: "docs".into(),
        queries: vec![pb::Vector { values: vec![1.0, 0.0, 0.0] }, pb::Vector { values: vec![0.0, 1.0, 0.1] }],
        k: 2,
        filter: r#"genre = "jazz""#.into(),
        include: Some(pb::Include { metadata: true, vector: false, text: false }),
        ..Default::default()
    };
    let reply = c.search(with_key(search, k)).await.unwrap().into_inner();
    assert_eq!(reply.results.len(), 2);
    assert_eq!(ids(&reply.results[0]), ["a", "d"]);
    assert!(reply.results[0].hits[1].metadata_json.contains("1959"));

    let include = Some(pb::Include { text: true, ..Default::default() });
    let text = c.text_search(with_key(pb::TextSearchRequest { collection: "docs".into(), query: "blue".into(), k: 5, include, ..Default::default() }, k)).await.unwrap().into_inner();
    assert_eq!(ids(&text).len(), 2);
    assert!(text.hits.iter().all(|h| h.text.as_deref().is_some_and(|t| t.contains("blue"))), "{text:?}");
    let hybrid = pb::HybridSearchRequest { collection: "docs".into(), vector: vec![0.0, 1.0, 0.0], query: "roll".into(), k: 1, fusion: "weighted".into(), alpha: Some(0.5), ..Default::default() };
    assert_eq!(ids(&c.hybrid_search(with_key(hybrid, k)).await.unwrap().into_inner()), ["b"]);

    let err = c.search(with_key(pb::SearchRequest { collection: "docs".into(), queries: vec![pb::Vector { values: vec![1.0, 0.0] }], ..Default::default() }, k)).await.unwrap_err();
    assert_eq!((err.code(), named(&err).as_str()), (Code::InvalidArgument, "DIMENSION_MISMATCH"));
    let err = c.search(with_key(pb::SearchRequest { collection: "docs".into(), queries: vec![pb::Vector { values: vec![1.0, 0.0, 0.0] }], filter: "genre = ".into(), ..Default::default() }, k)).await.unwrap_err();
    assert_eq!(named(&err), "FILTER_SYNTAX");
    let err = c.search(with_key(pb::SearchRequest { collection: "nope".into(), queries: vec![pb::Vector { values: vec![1.0] }], ..Default::default() }, k)).await.unwrap_err();
    assert_eq!((err.code(), named(&err).as_str()), (Code::NotFound, "NOT_FOUND"));
    let none = c.search(with_key(pb::SearchRequest { collection: "docs".into(), ..Default::default() }, k)).await.unwrap();
    assert!(none.into_inner().results.is_empty(), "no query, no answer (as HTTP's \"vectors\": [])");
    let err = c.search(with_key(pb::SearchRequest { collection: "docs".into(), queries: vec![pb::Vector { values: vec![1.0, 0.0, 0.0] }], k: 20_000, ..Default::default() }, k)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    c.delete_record(with_key(pb::RecordRef { collection: "docs".into(), id: skey("b") }, k)).await.unwrap();
    let err = c.get_record(with_key(pb::RecordRef { collection: "docs".into(), id: skey("b") }, k)).await.unwrap_err();
    assert_eq!((err.code(), named(&err).as_str()), (Code::NotFound, "KEY_NOT_FOUND"));
    let info = c.get_collection(with_key(pb::CollectionName { name: "docs".into() }, k)).await.unwrap().into_inner();
    assert_eq!(info.count, 3);
    assert_eq!(c.list_collections(with_key(pb::ListCollectionsRequest {}, k)).await.unwrap().into_inner().collections.len(), 2);
    assert!(c.delete_collection(with_key(pb::CollectionName { name: "docs".into() }, k)).await.unwrap().into_inner().deleted);
    let err = c.get_collection(with_key(pb::CollectionName { name: "docs".into() }, k)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // A client that keeps its channel open does not hold up the shutdown past its grace.
    let start = std::time::Instant::now();
    server.stop();
    assert!(start.elapsed() < std::time::Duration::from_secs(25));
    drop(c);
}

#[tokio::test]
async fn grpc_writes_survive_sigkill_and_oversized_messages_are_refused() {
    let dir = tempfile_dir("grpc-kill");
    let data = dir.join("data");
    let server = Server::start(&data, &["--max-body-bytes", "100000"]);
    let mut c = server.client().await;
    let options = pb::CollectionOptions { dim: 2, key: "u64".into(), ..Default::default() };
    c.create_collection(pb::CreateCollectionRequest { name: "nums".into(), options: Some(options) }).await.unwrap();
    for batch in 0..10u64 {
        let records = (0..20u64).map(|i| pb::Record { id: ukey(batch * 20 + i), vector: vec![(batch * 20 + i) as f32, 1.0], ..Default::default() }).collect();
        c.put_records(pb::PutRecordsRequest { collection: "nums".into(), records, upsert: false }).await.unwrap();
    }
    c.delete_record(pb::RecordRef { collection: "nums".into(), id: ukey(7) }).await.unwrap();
    let big = (0..20_000u64).map(|i| pb::Record { id: ukey(10_000 + i), vector: vec![1.0, 2.0], ..Default::default() }).collect();
    let err = c.put_records(pb::PutRecordsRequest { collection: "nums".into(), records: big, upsert: false }).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}"); // tonic's own check of --max-body-bytes
    server.kill();

    let server = Server::start(&data, &[]);
    let mut c = server.client().await;
    assert_eq!(c.get_collection(pb::CollectionName { name: "nums".into() }).await.unwrap().into_inner().count, 199);
    let err = c.get_record(pb::RecordRef { collection: "nums".into(), id: ukey(7) }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let near = c.search(pb::SearchRequest { collection: "nums".into(), queries: vec![pb::Vector { values: vec![150.0, 1.0] }], k: 1, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(ids(&near.results[0]), ["150"]);
    drop(c);
    server.stop();
}

/// A fresh directory under the target directory's temporary space.
fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("omendb-server-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The key is checked before the message is read: without it, even a message over
/// --max-body-bytes is refused as UNAUTHENTICATED (tonic never decodes it); with it, the size
/// check speaks. /metrics counts made-up paths as one "unmatched" route.
#[tokio::test]
async fn the_key_is_checked_before_the_message_is_decoded() {
    let dir = tempfile_dir("grpc-key-first");
    std::fs::write(dir.join("key"), "k3y\n").unwrap();
    let server = Server::start(&dir.join("data"), &["--api-key-file", dir.join("key").to_str().unwrap(), "--max-body-bytes", "1000"]);
    let mut c = server.client().await;
    let big = || pb::PutRecordsRequest {
        collection: "c".into(),
        records: (0..500u64).map(|i| pb::Record { id: ukey(i), vector: vec![1.0, 2.0], ..Default::default() }).collect(),
        upsert: false,
    };
    let err = c.put_records(big()).await.unwrap_err();
    assert_eq!((err.code(), named(&err).as_str()), (Code::Unauthenticated, "UNAUTHORIZED"), "{err:?}");
    let err = c.put_records(with_key(big(), "k3y")).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert_eq!(c.health(pb::HealthRequest {}).await.unwrap().into_inner().status, "ok");
    // The test runtime keeps the channel's connection open, which a graceful stop would wait
    // out (10 s); shutdown is tested elsewhere.
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
