//! The server's load benchmark (issue #27): the real `omendb-server` on loopback against the
//! library called in this process, on the same data, in one run.
//!
//! ```sh
//! cargo bench -p omendb-server --bench load -- [--n 100000] [--duration 10] [--clients 1,8,64]
//! cargo bench -p omendb-server --bench load -- --soak 600        # mixed load at 8 clients, RSS
//! ```
//!
//! One run: reads the data set (TEXMEX `.fvecs` / `.bvecs`), builds the same vectors into an
//! in-memory index here and times it (one query a call on one thread; the batch search on all
//! cores), then starts the server binary on `127.0.0.1:0` with a temporary `--data`, creates a
//! durable collection, loads the vectors over HTTP in batches and drives it with closed-loop
//! clients (one keep-alive HTTP/1.1 connection each, hyper): search only, then 90 % search /
//! 10 % single-record upserts, at each client count. Every answer other than a 200 with the
//! expected body counts as an error. Prints a Markdown report for BENCHMARKS.md. With
//! `--soak SECONDS` it runs the mixed load only, sampling the server's resident set.
//!
//! The server is killed when the run ends, fails or panics (`ServerProcess`'s Drop), and on
//! SIGINT / SIGTERM of this process. SIGKILL runs no Drop: `timeout -s KILL` kills the whole
//! process group, server included, and the next run removes the data directory left behind.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use omendb::index::SearchRequest;
use omendb::{Index, IndexOptions, KeyRef, Keys, Metric};

/// Qdrant was the third column the issue asked for; no Qdrant server could be installed here.
const QDRANT_NOTE: &str = "Qdrant: not measured. No Qdrant server installs from the package registries this \
machine reaches (crates.io `qdrant` is an empty 0.0.0 placeholder; PyPI has only clients and the in-process \
`qdrant-edge-py`; npm only clients; no Debian package; Docker Hub unreachable). See BENCHMARKS.md.";

#[derive(Parser, Debug)]
#[command(about = "Load benchmark of omendb-server against the library in process")]
struct Args {
    /// Data set folder: base.fvecs or base.bvecs, query.fvecs or query.bvecs.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/glove-50-angular"))]
    data: PathBuf,
    /// Base vectors loaded (the first N of the file).
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Metric (default: cosine for a folder named *angular*, l2 for *euclidean*).
    #[arg(long)]
    metric: Option<String>,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Beam width of every search (the collection's ef_search too).
    #[arg(long, default_value_t = 64)]
    ef: usize,
    #[arg(long, default_value_t = 16)]
    m: usize,
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Client counts, one step each (search only, then mixed).
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    clients: Vec<usize>,
    /// Measured seconds of each step.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before each step's measurement (not timed; errors still count).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Share of upserts in the mixed load, in percent.
    #[arg(long, default_value_t = 10)]
    upsert_percent: u64,
    /// Records per HTTP request while loading.
    #[arg(long, default_value_t = 10_000)]
    load_batch: usize,
    /// Queries whose recall@k is checked against brute force, for the server and in process.
    #[arg(long, default_value_t = 200)]
    recall_queries: usize,
    /// Soak mode: the mixed load at --soak-clients for this many seconds, sampling the
    /// server's RSS (no steps, no in-process comparison).
    #[arg(long)]
    soak: Option<f64>,
    #[arg(long, default_value_t = 8)]
    soak_clients: usize,
    /// Soak: seconds before the "after warm-up" RSS and the latency statistics (at most a
    /// third of the soak).
    #[arg(long, default_value_t = 60.0)]
    soak_warmup: f64,
    /// Soak: seconds between RSS samples.
    #[arg(long, default_value_t = 5.0)]
    rss_every: f64,
    /// The server binary (default: the one cargo built with this bench).
    #[arg(long, default_value = env!("CARGO_BIN_EXE_omendb-server"))]
    server: PathBuf,
    /// Where the server's temporary data directory goes (the disk decides upsert latency).
    #[arg(long)]
    tmp: Option<PathBuf>,
    /// Threads of the load generator's runtime (0: one per core).
    #[arg(long, default_value_t = 0)]
    client_threads: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: error: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---- data ----

/// A TEXMEX file (`.fvecs`: int32 dim then float32s; `.bvecs`: int32 dim then uint8s), at
/// most `limit` rows, as one row-major f32 array; returns (dim, rows, values).
fn read_vecs(path: &Path, limit: usize) -> Result<(usize, usize, Vec<f32>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let width = match path.extension().and_then(|e| e.to_str()) {
        Some("fvecs") => 4,
        Some("bvecs") => 1,
        _ => return Err(format!("{}: expected .fvecs or .bvecs", path.display())),
    };
    let Some(head) = bytes.get(..4) else { return Err(format!("{} is empty", path.display())) };
    let dim = i32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let record = 4 + dim * width;
    if dim == 0 || !bytes.len().is_multiple_of(record) {
        return Err(format!("{}: not a {}-dimensional TEXMEX file", path.display(), dim));
    }
    let rows = (bytes.len() / record).min(limit);
    let mut values = Vec::with_capacity(rows * dim);
    for r in bytes.chunks_exact(record).take(rows) {
        let body = &r[4..];
        if width == 4 {
            values.extend(body.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        } else {
            values.extend(body.iter().map(|&b| f32::from(b)));
        }
    }
    Ok((dim, rows, values))
}

/// `<dir>/<stem>.fvecs` or `.bvecs`, whichever exists.
fn vecs_file(dir: &Path, stem: &str) -> Result<PathBuf, String> {
    ["fvecs", "bvecs"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .find(|p| p.exists())
        .ok_or_else(|| format!("no {stem}.fvecs or {stem}.bvecs in {}", dir.display()))
}

struct Data {
    name: String,
    dim: usize,
    metric: Metric,
    /// Every base row of the file (rows past `n` feed the upserts).
    base: Vec<f32>,
    base_rows: usize,
    /// Rows loaded into the indexes.
    n: usize,
    queries: Vec<f32>,
    query_rows: usize,
}

impl Data {
    fn row(&self, i: usize) -> &[f32] {
        &self.base[i * self.dim..(i + 1) * self.dim]
    }

    fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dim..(i + 1) * self.dim]
    }
}

fn load_data(args: &Args) -> Result<Data, String> {
    let name = args.data.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let metric = match &args.metric {
        Some(m) => Metric::from_name(m).map_err(|e| e.to_string())?,
        None if name.contains("angular") => Metric::Cosine,
        None if name.contains("euclidean") => Metric::L2,
        None => return Err(format!("cannot tell the metric of {name:?}: give --metric")),
    };
    let (dim, base_rows, base) = read_vecs(&vecs_file(&args.data, "base")?, usize::MAX)?;
    let (qdim, query_rows, queries) = read_vecs(&vecs_file(&args.data, "query")?, usize::MAX)?;
    if qdim != dim {
        return Err(format!("queries have {qdim} dimensions, base vectors {dim}"));
    }
    if args.n == 0 || args.n > base_rows {
        return Err(format!("--n {} is out of range (1..={base_rows})", args.n));
    }
    Ok(Data { name, dim, metric, base, base_rows, n: args.n, queries, query_rows })
}

/// Distance for the recall check, computed here in f64 (only its order matters).
fn exact_distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        Metric::L2 => a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum(),
        Metric::InnerProduct => -a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>(),
        Metric::Cosine => {
            let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
            for (x, y) in a.iter().zip(b) {
                let (x, y) = (f64::from(*x), f64::from(*y));
                dot += x * y;
                na += x * x;
                nb += y * y;
            }
            1.0 - dot / (na.sqrt() * nb.sqrt()).max(f64::MIN_POSITIVE)
        }
    }
}

/// The k-th smallest exact distance of each of the first `count` queries over the first n
/// base rows (brute force, on all cores).
fn kth_distances(data: &Data, count: usize, k: usize) -> Vec<f64> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = vec![0.0; count];
    let per = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (c, chunk) in out.chunks_mut(per).enumerate() {
            scope.spawn(move || {
                for (j, slot) in chunk.iter_mut().enumerate() {
                    let q = data.query(c * per + j);
                    let mut d: Vec<f64> = (0..data.n).map(|i| exact_distance(data.metric, q, data.row(i))).collect();
                    let kk = k.min(d.len()) - 1;
                    d.select_nth_unstable_by(kk, f64::total_cmp);
                    *slot = d[kk];
                }
            });
        }
    });
    out
}

/// Recall@k, tie-safe: a returned id counts when its exact distance is at most the k-th
/// exact distance (plus 1e-4 relative), so any of several equidistant k-th neighbours counts.
fn recall(data: &Data, kth: &[f64], k: usize, results: &[Vec<u64>]) -> f64 {
    let mut hits = 0usize;
    for (qi, ids) in results.iter().enumerate() {
        let q = data.query(qi);
        let limit = kth[qi] + 1e-4 * kth[qi].abs().max(1e-6);
        let mut seen = std::collections::HashSet::new();
        hits += ids
            .iter()
            .filter(|&&id| (id as usize) < data.n && seen.insert(id) && exact_distance(data.metric, q, data.row(id as usize)) <= limit)
            .count()
            .min(k);
    }
    hits as f64 / (results.len() * k).max(1) as f64
}

// ---- latency statistics ----

/// Latencies of one kind of request, nanoseconds.
#[derive(Default)]
struct Latencies(Vec<u64>);

impl Latencies {
    fn push(&mut self, d: Duration) {
        self.0.push(d.as_nanos() as u64);
    }

    fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn finish(&mut self) {
        self.0.sort_unstable();
    }

    /// Nearest-rank percentile in milliseconds (call `finish` first); None if empty.
    fn percentile_ms(&self, p: f64) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        let rank = ((p / 100.0 * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        Some(self.0[rank - 1] as f64 / 1e6)
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

// ---- the server process ----

/// The running server; killed (SIGKILL) and its data directory removed when dropped, so an
/// error or a panic in this process leaves no server behind.
struct ServerProcess {
    child: Arc<Mutex<Option<Child>>>,
    pid: u32,
    addr: SocketAddr,
    data_dir: PathBuf,
}

impl ServerProcess {
    fn start(binary: &Path, data_dir: &Path) -> Result<ServerProcess, String> {
        let mut child = Command::new(binary)
            .arg("--data")
            .arg(data_dir)
            .args(["--http", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e} (build it: cargo build --release -p omendb-server)", binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("no stdout of the server")?;
        // Owned before the first fallible step, so the child is killed if the line is wrong.
        let mut server = ServerProcess { child: Arc::new(Mutex::new(Some(child))), pid, addr: "127.0.0.1:0".parse().expect("literal"), data_dir: data_dir.to_path_buf() };
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        lines.read_line(&mut line).map_err(|e| format!("cannot read the server's first line: {e}"))?;
        let addr = line.trim().rsplit("http://").next().unwrap_or_default();
        server.addr = addr.parse().map_err(|_| format!("unexpected first line from the server: {line:?}"))?;
        // Anything more it prints is passed on (a pipe nobody reads would block it once full).
        std::thread::spawn(move || {
            for l in lines.lines().map_while(Result::ok) {
                eprintln!("omendb-server: {l}");
            }
        });
        Ok(server)
    }

    /// Kills the server once SIGINT or SIGTERM reaches this process, then exits.
    fn kill_on_signal(&self, runtime: &tokio::runtime::Runtime) {
        let child = self.child.clone();
        let data_dir = self.data_dir.clone();
        runtime.spawn(async move {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            kill(&child);
            let _ = std::fs::remove_dir_all(&data_dir);
            eprintln!("load: interrupted; server killed");
            std::process::exit(130);
        });
    }

    /// Resident set (VmRSS) in KiB.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU seconds (user + system) used so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(&format!("/proc/{}/stat", self.pid))
    }
}

fn kill(child: &Mutex<Option<Child>>) {
    let mut guard = child.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(mut c) = guard.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        kill(&self.child);
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// User + system CPU seconds from a `/proc/.../stat` file (clock ticks of 1/100 s: Linux's
/// USER_HZ on every architecture it runs on).
fn cpu_seconds_of(stat: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(stat) else { return 0.0 };
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

// ---- HTTP client ----

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Connection, String> {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection { sender })
    }

    /// Sends one request and reads the whole answer.
    async fn call(&mut self, method: Method, path: &str, body: Bytes) -> Result<(StatusCode, Bytes), String> {
        self.sender.ready().await.map_err(|e| format!("connection: {e}"))?;
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let response = self.sender.send_request(request).await.map_err(|e| format!("request: {e}"))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
        Ok((status, body))
    }

    async fn json(&mut self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let (status, answer) = self.call(method.clone(), path, bytes).await?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status}: {}", String::from_utf8_lossy(&answer)));
        }
        serde_json::from_slice(&answer).map_err(|e| format!("{method} {path}: not JSON: {e}"))
    }
}

/// A small fast generator for the request mix (xorshift64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What every client shares.
struct Workload {
    addr: SocketAddr,
    search_path: String,
    records_path: String,
    /// One search body per query, serialised once.
    search_bodies: Vec<Bytes>,
    data: Arc<Data>,
    k: usize,
}

impl Workload {
    /// A single-record upsert: a random loaded key gets another row's vector (rows past n when
    /// the file has them), so the record count stays n.
    fn upsert_body(&self, rng: &mut Rng) -> Bytes {
        let data = &self.data;
        let key = rng.below(data.n as u64);
        let spare = data.base_rows - data.n;
        let row = if spare > 0 { data.n + rng.below(spare as u64) as usize } else { rng.below(data.n as u64) as usize };
        let vector = serde_json::to_string(data.row(row)).expect("floats serialise");
        Bytes::from(format!(r#"{{"records":[{{"id":{key},"vector":{vector}}}],"upsert":true}}"#))
    }

    /// A search answer is right when it holds k hits (`"id"` k times).
    fn search_ok(&self, body: &[u8]) -> bool {
        body.starts_with(br#"{"hits":["#) && body.windows(5).filter(|w| w == br#""id":"#).count() == self.k.min(self.data.n)
    }
}

#[derive(Default)]
struct ClientResult {
    search: Latencies,
    upsert: Latencies,
    /// Requests started in the measured window.
    measured: u64,
    errors: u64,
    first_error: Option<String>,
}

impl ClientResult {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn merge(&mut self, other: ClientResult) {
        self.search.merge(other.search);
        self.upsert.merge(other.upsert);
        self.measured += other.measured;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// One closed-loop client: a request, its whole answer, the next, until `end`; latencies of
/// requests started from `measure_from` on are kept. A broken connection is an error and is
/// replaced.
async fn client(work: Arc<Workload>, id: usize, upsert_percent: u64, measure_from: Instant, end: Instant) -> ClientResult {
    let mut out = ClientResult::default();
    let mut rng = Rng::new(id as u64 + 1);
    let mut next_query = (id * 7919) % work.search_bodies.len();
    let mut conn: Option<Connection> = None;
    while Instant::now() < end {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Connection::open(work.addr).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    out.error(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let upsert = upsert_percent > 0 && rng.below(100) < upsert_percent;
        let (path, body) = if upsert {
            (&work.records_path, work.upsert_body(&mut rng))
        } else {
            next_query = (next_query + 1) % work.search_bodies.len();
            (&work.search_path, work.search_bodies[next_query].clone())
        };
        let started = Instant::now();
        let answer = c.call(Method::POST, path, body).await;
        let took = started.elapsed();
        let measured = started >= measure_from;
        match answer {
            Ok((StatusCode::OK, body)) if (upsert && &body[..] == br#"{"count":1}"#) || (!upsert && work.search_ok(&body)) => {
                if measured {
                    out.measured += 1;
                    if upsert { out.upsert.push(took) } else { out.search.push(took) }
                }
            }
            Ok((status, body)) => out.error(format!("{} {status}: {}", if upsert { "upsert" } else { "search" }, String::from_utf8_lossy(&body[..body.len().min(200)]))),
            Err(e) => {
                out.error(e);
                conn = None;
            }
        }
    }
    out
}

/// Runs `clients` clients for warm-up + measured time; returns their merged results.
async fn load_step(work: &Arc<Workload>, clients: usize, upsert_percent: u64, warmup: Duration, measure: Duration) -> ClientResult {
    let start = Instant::now();
    let (measure_from, end) = (start + warmup, start + warmup + measure);
    let tasks: Vec<_> = (0..clients).map(|id| tokio::spawn(client(work.clone(), id, upsert_percent, measure_from, end))).collect();
    let mut all = ClientResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => all.merge(r),
            Err(e) => all.error(format!("client task failed: {e}")),
        }
    }
    all.search.finish();
    all.upsert.finish();
    all
}

// ---- the report ----

struct Row {
    label: String,
    clients: String,
    requests: u64,
    errors: u64,
    qps: f64,
    search_p50: Option<f64>,
    search_p99: Option<f64>,
    upsert_p50: Option<f64>,
    upsert_p99: Option<f64>,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
    rss_mib: Option<f64>,
}

fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| load | clients | requests | errors | QPS | search p50 ms | search p99 ms | upsert p50 ms | upsert p99 ms | server CPU s | client CPU s | server RSS MiB |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let opt = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.clients,
            thousands(r.requests),
            r.errors,
            thousands(r.qps.round() as u64),
            ms(r.search_p50),
            ms(r.search_p99),
            ms(r.upsert_p50),
            ms(r.upsert_p99),
            opt(r.server_cpu, 1),
            opt(r.client_cpu, 1),
            opt(r.rss_mib, 1),
        );
    }
    t
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map_or("unknown CPU".into(), |(_, m)| m.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or("?".into(), |s| s.split_whitespace().take(3).collect::<Vec<_>>().join("/"))
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    format!("cargo bench -p omendb-server --bench load -- {}", args.join(" ")).trim_end().to_string()
}

fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|k| k as f64 / 1024.0)
}

// ---- in process ----

struct InProcess {
    build_s: f64,
    single: Row,
    single_p50: f64,
    batch: Row,
    recall: f64,
}

/// The same vectors in an in-memory index in this process, in the server's batches: one query
/// a call on this thread (search_visit, as the server calls it), then the batch search on
/// every core, each for warm-up + measured time.
fn in_process(args: &Args, data: &Data, kth: &[f64]) -> Result<InProcess, String> {
    let err = |e: omendb::Error| e.to_string();
    let index = Index::new(IndexOptions { dim: data.dim, metric: data.metric, m: args.m, ef_construction: args.ef_construction, ef_search: args.ef, ..Default::default() }).map_err(err)?;
    let started = Instant::now();
    let mut first = 0;
    while first < data.n {
        let last = (first + args.load_batch).min(data.n);
        let keys: Vec<u64> = (first as u64..last as u64).collect();
        index.add(Keys::U64(&keys), &data.base[first * data.dim..last * data.dim]).map_err(err)?;
        first = last;
    }
    let build_s = started.elapsed().as_secs_f64();
    let request = SearchRequest::new(args.k, Some(args.ef));
    let key_of = |key: KeyRef<'_>| match key {
        KeyRef::U64(k) => k,
        KeyRef::Str(_) => u64::MAX,
    };

    let mut results = Vec::with_capacity(kth.len());
    for qi in 0..kth.len() {
        let mut ids = Vec::new();
        index.search_visit(data.query(qi), request, |key, _| ids.push(key_of(key))).map_err(err)?;
        results.push(ids);
    }
    let recall = recall(data, kth, args.k, &results);

    let mut latencies = Latencies::default();
    let mut hits: Vec<(u64, f32)> = Vec::with_capacity(args.k);
    let mut qi = 0;
    let mut one = |qi: &mut usize| -> Result<(), String> {
        hits.clear();
        index.search_visit(data.query(*qi), request, |key, d| hits.push((key_of(key), d))).map_err(err)?;
        *qi = (*qi + 1) % data.query_rows;
        Ok(())
    };
    let warm_until = Instant::now() + secs(args.warmup);
    while Instant::now() < warm_until {
        one(&mut qi)?;
    }
    let cpu_from = cpu_seconds_of("/proc/thread-self/stat");
    let end = Instant::now() + secs(args.duration);
    loop {
        let t = Instant::now();
        if t >= end {
            break;
        }
        one(&mut qi)?;
        latencies.push(t.elapsed());
    }
    let single_cpu = cpu_seconds_of("/proc/thread-self/stat") - cpu_from;
    latencies.finish();
    let single_p50 = latencies.percentile_ms(50.0).unwrap_or(f64::NAN);
    let single = Row {
        label: "in process, one query a call".into(),
        clients: "1 thread".into(),
        requests: latencies.len() as u64,
        errors: 0,
        qps: latencies.len() as f64 / args.duration,
        search_p50: latencies.percentile_ms(50.0),
        search_p99: latencies.percentile_ms(99.0),
        upsert_p50: None,
        upsert_p99: None,
        server_cpu: None,
        client_cpu: Some(single_cpu),
        rss_mib: None,
    };

    let mut sinks: Vec<Vec<u64>> = vec![Vec::with_capacity(args.k); data.query_rows];
    let batch = |sinks: &mut [Vec<u64>]| -> Result<(), String> {
        sinks.iter_mut().for_each(Vec::clear);
        index.search_batch(&data.queries, request, sinks, |sink, _, key, _| sink.push(key_of(key))).map_err(err)
    };
    let warm_until = Instant::now() + secs(args.warmup);
    while Instant::now() < warm_until {
        batch(&mut sinks)?;
    }
    let cpu_from = cpu_seconds_of("/proc/self/stat");
    let measured_from = Instant::now();
    let mut queries = 0u64;
    while measured_from.elapsed() < secs(args.duration) {
        batch(&mut sinks)?;
        queries += data.query_rows as u64;
    }
    let batch_s = measured_from.elapsed().as_secs_f64();
    let batch = Row {
        label: format!("in process, batches of {} queries", thousands(data.query_rows as u64)),
        clients: "all cores".into(),
        requests: queries,
        errors: 0,
        qps: queries as f64 / batch_s,
        search_p50: None,
        search_p99: None,
        upsert_p50: None,
        upsert_p99: None,
        server_cpu: None,
        client_cpu: Some(cpu_seconds_of("/proc/self/stat") - cpu_from),
        rss_mib: None,
    };
    Ok(InProcess { build_s, single, single_p50, batch, recall })
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

// ---- the run ----

const COLLECTION: &str = "load";
/// The server's data directory is `<tmp>/omendb-load-<pid of this process>-<nanoseconds>`.
const DIR_PREFIX: &str = "omendb-load-";

/// Removes the data directories of earlier runs that were killed with SIGKILL (no Drop ran):
/// those whose process is gone.
fn remove_stale_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix(DIR_PREFIX).and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.k == 0 || args.clients.contains(&0) || args.upsert_percent > 100 || args.load_batch == 0 {
        return Err("--k, --clients and --load-batch must be above 0, --upsert-percent at most 100".into());
    }
    let load_before = load_average();
    let data = Arc::new(load_data(args)?);
    let recall_queries = args.recall_queries.min(data.query_rows);
    eprintln!("load: {} x {} from {}; exact top-{} of {} queries...", data.n, data.dim, args.data.display(), args.k, recall_queries);
    let kth = kth_distances(&data, recall_queries, args.k);

    let local = if args.soak.is_none() {
        eprintln!("load: in process: build, one query a call, batches...");
        Some(in_process(args, &data, &kth)?)
    } else {
        None
    };

    let threads = if args.client_threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { args.client_threads };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().map_err(|e| e.to_string())?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let parent = args.tmp.clone().unwrap_or_else(std::env::temp_dir);
    remove_stale_dirs(&parent);
    let data_dir = parent.join(format!("{DIR_PREFIX}{}-{nanos}", std::process::id()));
    let server = ServerProcess::start(&args.server, &data_dir)?;
    server.kill_on_signal(&runtime);
    eprintln!("load: server pid {} on {}, data {}", server.pid, server.addr, data_dir.display());

    let report = runtime.block_on(drive(args, data.clone(), &kth, &server, local, threads));
    drop(server);
    let mut report = report?;
    let _ = writeln!(report, "\nLoad average (1/5/15 min) {load_before} before, {} after.", load_average());
    println!("{report}");
    Ok(())
}

async fn drive(args: &Args, data: Arc<Data>, kth: &[f64], server: &ServerProcess, local: Option<InProcess>, threads: usize) -> Result<String, String> {
    let mut conn = Connection::open(server.addr).await?;
    let metric = data.metric.name();
    let spec = serde_json::json!({"dim": data.dim, "metric": metric, "m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef, "key": "u64"});
    let collection_path = format!("/collections/{COLLECTION}");
    conn.json(Method::PUT, &collection_path, Some(&spec)).await?;

    // Load in batches over HTTP, as a client would.
    let records_path = format!("{collection_path}/records");
    let rss_start = server.rss_kib();
    let started = Instant::now();
    let mut first = 0;
    while first < data.n {
        let last = (first + args.load_batch).min(data.n);
        let mut body = String::from(r#"{"records":["#);
        for i in first..last {
            if i > first {
                body.push(',');
            }
            let _ = write!(body, r#"{{"id":{i},"vector":{}}}"#, serde_json::to_string(data.row(i)).expect("floats serialise"));
        }
        body.push_str("]}");
        let (status, answer) = conn.call(Method::POST, &records_path, Bytes::from(body)).await?;
        if status != StatusCode::OK {
            return Err(format!("loading rows {first}..{last}: {status}: {}", String::from_utf8_lossy(&answer)));
        }
        first = last;
    }
    let load_s = started.elapsed().as_secs_f64();
    let rss_loaded = server.rss_kib();
    eprintln!("load: {} vectors loaded over HTTP in {load_s:.1} s", data.n);

    // Recall through the server: the same queries, answers parsed.
    let search_path = format!("{collection_path}/search");
    let mut results = Vec::with_capacity(kth.len());
    for qi in 0..kth.len() {
        let body = serde_json::json!({"vector": data.query(qi), "k": args.k, "ef": args.ef});
        let answer = conn.json(Method::POST, &search_path, Some(&body)).await?;
        let ids = answer["hits"].as_array().map(|h| h.iter().filter_map(|hit| hit["id"].as_u64()).collect()).unwrap_or_default();
        results.push(ids);
    }
    let server_recall = recall(&data, kth, args.k, &results);
    drop(conn);

    let search_bodies = (0..data.query_rows)
        .map(|qi| Bytes::from(format!(r#"{{"vector":{},"k":{},"ef":{}}}"#, serde_json::to_string(data.query(qi)).expect("floats serialise"), args.k, args.ef)))
        .collect();
    let work = Arc::new(Workload { addr: server.addr, search_path, records_path, search_bodies, data: data.clone(), k: args.k });

    let mut out = String::new();
    let _ = writeln!(out, "## Server load (issue #27)\n");
    let _ = writeln!(
        out,
        "{}, first {} of {} base vectors, d = {}, {}; {} queries; k = {}, ef = {}, M = {}, ef_construction = {}. \
         Machine: {}. Commit {}. omendb-server on 127.0.0.1 with a durable collection (every write synced before \
         its answer); closed-loop clients, one keep-alive HTTP/1.1 connection each, on a tokio runtime of {} threads \
         in the benchmark process (it shares the cores with the server).\n",
        data.name,
        thousands(data.n as u64),
        thousands(data.base_rows as u64),
        data.dim,
        metric,
        thousands(data.query_rows as u64),
        args.k,
        args.ef,
        args.m,
        args.ef_construction,
        machine(),
        commit(),
        threads,
    );
    let _ = writeln!(out, "Command: `{}`\n", command_line());
    let _ = writeln!(
        out,
        "Loading over HTTP (batches of {}): {load_s:.1} s ({} vectors/s); server RSS {:.1} MiB before, {:.1} MiB after.",
        thousands(args.load_batch as u64),
        thousands((data.n as f64 / load_s) as u64),
        mib(rss_start).unwrap_or(f64::NAN),
        mib(rss_loaded).unwrap_or(f64::NAN),
    );

    if let Some(soak_s) = args.soak {
        soak(args, &work, server, soak_s, &mut out).await?;
        let _ = writeln!(out, "\nRecall@{} through the server ({} queries, exact brute force): {server_recall:.4}.", args.k, kth.len());
        return Ok(out);
    }
    let local = local.ok_or("no in-process measurement")?;
    let _ = writeln!(
        out,
        "In-process build (the same batches, in memory): {:.1} s. Recall@{} ({} queries, exact brute force, tie-safe): server {server_recall:.4}, in process {:.4}.\n",
        local.build_s,
        args.k,
        kth.len(),
        local.recall
    );
    let _ = writeln!(out, "Each step: {} s of load, then {} s measured.\n", args.warmup, args.duration);

    let mut rows = vec![];
    let mut search_p50_at_1 = None;
    let mut search_qps_at_64 = None;
    for (mix, upsert_percent) in [("search", 0), ("mixed", args.upsert_percent)] {
        for &clients in &args.clients {
            eprintln!("load: {mix}, {clients} clients...");
            let (server_cpu, client_cpu) = (server.cpu_seconds(), cpu_seconds_of("/proc/self/stat"));
            // CPU is counted over the whole step (warm-up included), scaled to the measured part.
            let r = load_step(&work, clients, upsert_percent, secs(args.warmup), secs(args.duration)).await;
            let scale = args.duration / (args.warmup + args.duration);
            let row = Row {
                label: if upsert_percent == 0 { "server, search".into() } else { format!("server, {} % search / {upsert_percent} % upsert", 100 - upsert_percent) },
                clients: clients.to_string(),
                requests: r.measured,
                errors: r.errors,
                qps: r.measured as f64 / args.duration,
                search_p50: r.search.percentile_ms(50.0),
                search_p99: r.search.percentile_ms(99.0),
                upsert_p50: r.upsert.percentile_ms(50.0),
                upsert_p99: r.upsert.percentile_ms(99.0),
                server_cpu: Some((server.cpu_seconds() - server_cpu) * scale),
                client_cpu: Some((cpu_seconds_of("/proc/self/stat") - client_cpu) * scale),
                rss_mib: mib(server.rss_kib()),
            };
            if let Some(e) = &r.first_error {
                eprintln!("load: {} errors; first: {e}", r.errors);
            }
            if upsert_percent == 0 && clients == 1 {
                search_p50_at_1 = row.search_p50;
            }
            if upsert_percent == 0 && clients == 64 {
                search_qps_at_64 = Some(row.qps);
            }
            rows.push(row);
        }
    }
    let batch_qps = local.batch.qps;
    let single_p50 = local.single_p50;
    let mut all = vec![local.single, local.batch];
    all.extend(rows);
    out.push_str(&table(&all));
    let _ = writeln!(out, "\nCPU seconds are those of the measured part (the step's total scaled to it); client CPU is this benchmark process.\n");
    let verdict = |ok: bool| if ok { "met" } else { "not met" };
    match search_p50_at_1 {
        Some(p50) => {
            let extra = p50 - single_p50;
            let _ = writeln!(out, "- Server p50 at 1 client minus in-process p50: {p50:.3} - {single_p50:.3} = **{extra:+.3} ms** (target <= 0.3 ms: {}).", verdict(extra <= 0.3));
        }
        None => out.push_str("- Server p50 at 1 client: not measured (no 1-client step).\n"),
    }
    match search_qps_at_64 {
        Some(qps) => {
            let ratio = qps / batch_qps;
            let _ = writeln!(
                out,
                "- Server QPS at 64 clients / in-process batch QPS: {} / {} = **{ratio:.2}x** (target >= 0.7x: {}).",
                thousands(qps.round() as u64),
                thousands(batch_qps.round() as u64),
                verdict(ratio >= 0.7)
            );
        }
        None => out.push_str("- Server QPS at 64 clients: not measured (no 64-client step).\n"),
    }
    let total_errors: u64 = all.iter().map(|r| r.errors).sum();
    let _ = writeln!(out, "- Errors (any answer but a 200 with the expected body, or a broken connection), all steps: **{total_errors}**.");
    let _ = writeln!(out, "- {QDRANT_NOTE}");
    Ok(out)
}

/// The mixed load at --soak-clients for `seconds`, the server's RSS sampled throughout.
async fn soak(args: &Args, work: &Arc<Workload>, server: &ServerProcess, seconds: f64, out: &mut String) -> Result<(), String> {
    let warmup = args.soak_warmup.min(seconds / 3.0);
    eprintln!("load: soak, {} clients, {seconds} s (warm-up {warmup:.0} s)...", args.soak_clients);
    let before = collection_info(server.addr).await?;
    let (server_cpu, client_cpu) = (server.cpu_seconds(), cpu_seconds_of("/proc/self/stat"));
    let start = Instant::now();
    let (measure_from, end) = (start + secs(warmup), start + secs(seconds));
    let tasks: Vec<_> = (0..args.soak_clients).map(|id| tokio::spawn(client(work.clone(), id, args.upsert_percent, measure_from, end))).collect();
    let done = Arc::new(AtomicBool::new(false));
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let sampler = {
        let done = done.clone();
        let pid = server.pid;
        let every = secs(args.rss_every.max(0.1));
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let t0 = Instant::now();
            while !done.load(Ordering::Acquire) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                if let Some(kib) = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()) {
                    samples.push((t0.elapsed().as_secs_f64(), kib));
                }
                tokio::time::sleep(every).await;
            }
            samples
        })
    };
    let mut r = ClientResult::default();
    for t in tasks {
        match t.await {
            Ok(c) => r.merge(c),
            Err(e) => r.error(format!("client task failed: {e}")),
        }
    }
    done.store(true, Ordering::Release);
    samples.extend(sampler.await.map_err(|e| e.to_string())?);
    if let Some(kib) = server.rss_kib() {
        samples.push((start.elapsed().as_secs_f64(), kib));
    }
    r.search.finish();
    r.upsert.finish();
    let after = collection_info(server.addr).await?;
    let measured_s = seconds - warmup;
    let at = |t: f64| samples.iter().find(|(s, _)| *s >= t).or(samples.last()).map(|&(_, k)| k as f64 / 1024.0);
    let (rss_start, rss_warm, rss_end) = (samples.first().map(|&(_, k)| k as f64 / 1024.0), at(warmup), samples.last().map(|&(_, k)| k as f64 / 1024.0));
    // Least-squares slope of RSS over time after the warm-up, in MiB per minute.
    let tail: Vec<(f64, f64)> = samples.iter().filter(|(t, _)| *t >= warmup).map(|&(t, k)| (t, k as f64 / 1024.0)).collect();
    let slope = if tail.len() >= 2 {
        let n = tail.len() as f64;
        let (mt, mr) = (tail.iter().map(|p| p.0).sum::<f64>() / n, tail.iter().map(|p| p.1).sum::<f64>() / n);
        let cov: f64 = tail.iter().map(|p| (p.0 - mt) * (p.1 - mr)).sum();
        let var: f64 = tail.iter().map(|p| (p.0 - mt).powi(2)).sum();
        (var > 0.0).then(|| cov / var * 60.0)
    } else {
        None
    };
    let opt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    let _ = writeln!(
        out,
        "\nSoak: {} % search / {} % upsert at {} clients for {seconds} s; latencies and QPS over the {measured_s:.0} s after a {warmup:.0} s warm-up; errors over the whole soak. \
         RSS (VmRSS of /proc/PID/status) sampled every {} s.\n",
        100 - args.upsert_percent,
        args.upsert_percent,
        args.soak_clients,
        args.rss_every
    );
    out.push_str(
        "| clients | seconds | requests | errors | QPS | search p50 ms | search p99 ms | upsert p50 ms | upsert p99 ms | server CPU s | RSS start MiB | after warm-up | end | slope after warm-up MiB/min |\n\
         |--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let _ = writeln!(
        out,
        "| {} | {seconds} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
        args.soak_clients,
        thousands(r.measured),
        r.errors,
        thousands((r.measured as f64 / measured_s).round() as u64),
        ms(r.search.percentile_ms(50.0)),
        ms(r.search.percentile_ms(99.0)),
        ms(r.upsert.percentile_ms(50.0)),
        ms(r.upsert.percentile_ms(99.0)),
        server.cpu_seconds() - server_cpu,
        opt(rss_start),
        opt(rss_warm),
        opt(rss_end),
        slope.map_or("-".into(), |s| format!("{s:+.2}")),
    );
    let _ = writeln!(out, "\nClient CPU s: {:.1}. Records: {} before, {} after (upserts replace loaded keys); the index's own count of its memory: {:.1} MiB before, {:.1} MiB after.", cpu_seconds_of("/proc/self/stat") - client_cpu, thousands(before.0), thousands(after.0), before.1, after.1);
    if let Some(e) = &r.first_error {
        let _ = writeln!(out, "First error: {e}");
    }
    let list: Vec<String> = samples.iter().map(|(t, k)| format!("{t:.0}:{:.1}", *k as f64 / 1024.0)).collect();
    let _ = writeln!(out, "\nRSS samples (s:MiB): {}", list.join(" "));
    Ok(())
}

/// (record count, the index's memory_bytes in MiB) of the benchmark's collection.
async fn collection_info(addr: SocketAddr) -> Result<(u64, f64), String> {
    let mut conn = Connection::open(addr).await?;
    let info = conn.json(Method::GET, &format!("/collections/{COLLECTION}"), None).await?;
    Ok((info["count"].as_u64().unwrap_or(0), info["memory_bytes"].as_u64().unwrap_or(0) as f64 / (1024.0 * 1024.0)))
}
