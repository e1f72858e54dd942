//! TLS, the configuration file and structured logs, end to end: the real `omendb-server` started
//! from a TOML file only (`--config`), serving HTTPS and gRPC over TLS with a certificate made
//! here (rcgen); a client that trusts it is served, a plain-text one is not; the JSON logs on
//! stderr are parsed line by line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde_json::Value;
use tokio_rustls::rustls::{self, pki_types::pem::PemObject, pki_types::CertificateDer, ClientConfig, ClientConnection, StreamOwned};

pub mod pb {
    tonic::include_proto!("omendb.v1");
}

/// The server, its stderr going to a file so the test can read the logs.
struct Server {
    child: Child,
    http: String,
    grpc: String,
}

impl Server {
    fn start(args: &[&str], log: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_omendb-server"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut http, mut grpc) = (String::new(), String::new());
        out.read_line(&mut http).unwrap();
        out.read_line(&mut grpc).unwrap();
        let http = http.trim().strip_prefix("omendb-server listening on https://").unwrap_or_else(|| panic!("{http:?}")).to_string();
        let grpc = grpc.trim().strip_prefix("omendb-server gRPC listening on ").unwrap_or_else(|| panic!("{grpc:?}")).to_string();
        Server { child, http, grpc }
    }

    fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status(); // SIGTERM
        assert!(self.child.wait().unwrap().success(), "graceful shutdown");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("omendb-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A client configuration that trusts only `cert_pem`.
fn trusting(cert_pem: &str) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()).unwrap();
    #[allow(deprecated)] // the provider the server uses (see server/src/tls.rs)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// One HTTPS request (HTTP/1.1, Connection: close): (code, body).
fn https(addr: &str, client: &Arc<ClientConfig>, method: &str, path: &str, body: &str, key: &str) -> (u16, String) {
    let tcp = TcpStream::connect(addr).unwrap();
    let connection = ClientConnection::new(client.clone(), "localhost".try_into().unwrap()).unwrap();
    let mut tls = StreamOwned::new(connection, tcp);
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    // The server may close without close_notify after the reply; what came is what counts.
    let _ = tls.read_to_end(&mut raw);
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no reply: {text:?}"));
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), rest.to_string())
}

#[test]
fn a_config_file_serves_https_and_grpc_over_tls_with_json_logs() {
    let dir = temp_dir("tls");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("key.txt"), "k3y\n").unwrap();
    // Relative paths: from the file's directory.
    std::fs::write(
        dir.join("server.toml"),
        "data = \"db\"\nhttp = \"127.0.0.1:0\"\ngrpc = \"127.0.0.1:0\"\napi_key_file = \"key.txt\"\n\
         tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\nlog_format = \"json\"\nlog_level = \"debug\"\n",
    )
    .unwrap();
    let log = dir.join("stderr.log");
    let s = Server::start(&["--config", dir.join("server.toml").to_str().unwrap()], &log);
    assert!(dir.join("db").is_dir(), "the data directory is taken from the file's directory");

    // HTTPS with a client that trusts the certificate; the key from the file is required.
    let client = trusting(&cert_pem);
    assert_eq!(https(&s.http, &client, "PUT", "/collections/c", r#"{"dim": 2}"#, "k3y").0, 201);
    let (code, body) = https(&s.http, &client, "POST", "/collections/c/records", r#"{"records": [{"id": "a", "vector": [1, 0]}]}"#, "k3y");
    assert_eq!(code, 200, "{body}");
    let (code, body) = https(&s.http, &client, "POST", "/collections/c/search", r#"{"vector": [1, 0], "k": 1}"#, "k3y");
    assert_eq!(code, 200, "{body}");
    let hits: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(hits["hits"][0]["id"], "a");
    assert_eq!(https(&s.http, &client, "GET", "/collections", "", "wrong").0, 401);

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(&s.http).unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw);
    assert!(!String::from_utf8_lossy(&raw).contains("200 OK"), "plain HTTP served on the TLS port");

    // A client that does not trust the certificate fails its handshake.
    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let untrusting = trusting(&stranger.cert.pem());
    let tcp = TcpStream::connect(&s.http).unwrap();
    let mut tls = StreamOwned::new(ClientConnection::new(untrusting, "localhost".try_into().unwrap()).unwrap(), tcp);
    assert!(tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").and_then(|()| tls.flush()).is_err(), "a certificate nobody vouched for was accepted");

    // A client that connects and never starts its handshake is cut off (5 s), on both ports.
    let silent: Vec<_> = [s.http.clone(), s.grpc.clone()]
        .into_iter()
        .map(|addr| {
            std::thread::spawn(move || {
                let mut idle = TcpStream::connect(&addr).unwrap();
                idle.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
                let start = std::time::Instant::now();
                let closed = matches!(idle.read(&mut [0u8; 1]), Ok(0)) || start.elapsed() < std::time::Duration::from_secs(29);
                (addr, closed, start.elapsed())
            })
        })
        .collect();
    for t in silent {
        let (addr, closed, waited) = t.join().unwrap();
        assert!(closed && waited < std::time::Duration::from_secs(15), "{addr}: a silent client held its connection {waited:?}");
    }

    // gRPC over TLS, the same collection.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(&cert_pem)).domain_name("localhost");
        let channel = tonic::transport::Channel::from_shared(format!("https://{}", s.grpc)).unwrap().tls_config(tls).unwrap().connect().await.unwrap();
        let mut grpc = pb::omen_db_client::OmenDbClient::new(channel);
        let mut request = tonic::Request::new(pb::CollectionName { name: "c".into() });
        request.metadata_mut().insert("authorization", "Bearer k3y".parse().unwrap());
        let info = grpc.get_collection(request).await.unwrap().into_inner();
        assert_eq!(info.count, 1);
        // Plain-text gRPC to the TLS port fails.
        let plain = tonic::transport::Channel::from_shared(format!("http://{}", s.grpc)).unwrap().connect().await;
        if let Ok(channel) = plain {
            let mut grpc = pb::omen_db_client::OmenDbClient::new(channel);
            assert!(grpc.health(pb::HealthRequest {}).await.is_err(), "plain-text gRPC served on the TLS port");
        }
    });
    drop(runtime); // closes the channels, so the shutdown waits on no idle connection
    s.stop();

    // Every stderr line is one JSON object; requests were logged at debug with route and code.
    let logs = std::fs::read_to_string(&log).unwrap();
    let events: Vec<Value> = logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))).collect();
    assert!(events.iter().any(|e| e["message"] == "HTTP listening" && e["scheme"] == "https"), "{logs}");
    assert!(events.iter().any(|e| e["message"] == "request" && e["route"] == "/collections/{name}/search" && e["code"] == 200), "{logs}");
    assert!(events.iter().any(|e| e["message"] == "request" && e["method"] == "grpc" && e["route"] == "/omendb.v1.OmenDB/GetCollection"), "{logs}");
    assert!(events.iter().any(|e| e["message"] == "collection checkpointed" && e["collection"] == "c"), "{logs}");
    assert!(events.iter().any(|e| e["message"] == "stopped"), "{logs}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_are_refused_with_a_message() {
    let dir = temp_dir("bad-config");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_omendb-server")).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} started");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    std::fs::write(dir.join("typo.toml"), "data = \"db\"\nmax_concurent = 3\n").unwrap();
    assert!(run(&["--config", dir.join("typo.toml").to_str().unwrap()]).contains("max_concurent"));
    std::fs::write(dir.join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(dir.join("key.pem"), "not a key").unwrap();
    let err = run(&[
        "--data",
        dir.join("db").to_str().unwrap(),
        "--tls-cert",
        dir.join("cert.pem").to_str().unwrap(),
        "--tls-key",
        dir.join("key.pem").to_str().unwrap(),
    ]);
    assert!(err.contains("cert.pem"), "{err}");
    assert!(run(&["--http", "127.0.0.1:0"]).contains("--data"));
    let _ = std::fs::remove_dir_all(&dir);
}
