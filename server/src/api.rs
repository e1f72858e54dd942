//! The HTTP/JSON API (docs/http.md): routes, request and response shapes, the API key, limits
//! and metrics. Index calls run on tokio's blocking threads (they use all cores for batches
//! and wait for the log's fsync).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, Request, State as AxumState};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::collections::{Collection, Registry};
use crate::error::ApiError;
use crate::ops::{self, Include, OwnedKey};

/// Requests served, by (method, route template, HTTP code): (count, seconds in total).
type RequestCounts = BTreeMap<(String, String, u16), (u64, f64)>;

/// The upper bounds of the latency histogram's buckets, in seconds (Prometheus `le`).
const LATENCY_BOUNDS: [f64; 14] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0];

/// Requests by (method, route template): how many took at most each bound (one count per
/// bucket, not cumulative; the last counts those over every bound).
type Latencies = BTreeMap<(String, String), [u64; LATENCY_BOUNDS.len() + 1]>;

/// What /metrics reports of the requests served.
#[derive(Default)]
struct Served {
    counts: RequestCounts,
    latencies: Latencies,
}

/// The server's limits (flags of `omendb-server`).
pub struct Limits {
    /// The largest request body (larger: 413).
    pub max_body_bytes: usize,
    /// Requests served at once (more: 429); 0 for no limit.
    pub max_concurrent: usize,
    /// The longest a request may take (longer: 503 TIMEOUT); None for no limit.
    pub request_timeout: Option<Duration>,
}

/// What every handler shares.
pub struct State {
    pub registry: Registry,
    api_key: Option<String>,
    started: Instant,
    requests: Mutex<Served>,
    /// One permit per request in flight (None: no limit).
    permits: Option<Arc<Semaphore>>,
    request_timeout: Option<Duration>,
}

impl State {
    pub fn new(registry: Registry, api_key: Option<String>, limits: &Limits) -> State {
        State {
            registry,
            api_key,
            started: Instant::now(),
            requests: Mutex::new(Served::default()),
            permits: (limits.max_concurrent > 0).then(|| Arc::new(Semaphore::new(limits.max_concurrent))),
            request_timeout: limits.request_timeout,
        }
    }
}

impl State {
    /// Whether `authorization` (the header's value) carries the key; true when there is none.
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        let Some(key) = &self.api_key else { return true };
        matches!(authorization.and_then(|v| v.strip_prefix("Bearer ")), Some(given) if constant_time_eq(given.as_bytes(), key.as_bytes()))
    }

    /// A permit to serve one request, or TOO_MANY_REQUESTS when every one is taken (None: no limit).
    pub fn admit(&self) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        match &self.permits {
            None => Ok(None),
            Some(permits) => permits
                .clone()
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "too many requests in flight: retry later")),
        }
    }

    pub fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// The answer to a request that ran past the timeout.
    pub fn timed_out(limit: Duration) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            format!("the request took longer than {} ms (a write may still complete)", limit.as_millis()),
        )
    }

    /// Counts one request served (for /metrics) and logs it (level debug).
    pub fn record(&self, method: String, route: String, code: u16, seconds: f64) {
        tracing::debug!(%method, %route, code, ms = (seconds * 1e6).round() / 1e3, "request");
        let bucket = LATENCY_BOUNDS.iter().position(|&bound| seconds <= bound).unwrap_or(LATENCY_BOUNDS.len());
        if let Ok(mut served) = self.requests.lock() {
            served.latencies.entry((method.clone(), route.clone())).or_default()[bucket] += 1;
            let entry = served.counts.entry((method, route, code)).or_insert((0, 0.0));
            entry.0 += 1;
            entry.1 += seconds;
        }
    }
}

type Shared = Arc<State>;

pub fn router(state: Shared, limits: &Limits) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/collections", get(list_collections))
        .route("/collections/{name}", get(get_collection).put(create_collection).delete(delete_collection))
        .route("/collections/{name}/records", post(put_records))
        .route("/collections/{name}/records/{id}", get(get_record).delete(delete_record))
        .route("/collections/{name}/search", post(search))
        .route("/collections/{name}/text_search", post(text_search))
        .route("/collections/{name}/hybrid_search", post(hybrid_search))
        .fallback(|| async { ApiError::not_found("no such route") })
        // Outermost last: counted, then the key checked (a caller without one takes no
        // permit), a body declared too large refused, then admitted and timed.
        .layer(middleware::from_fn_with_state(state.clone(), limit))
        .layer(middleware::from_fn_with_state(limits.max_body_bytes, refuse_oversized))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(state)
}

/// Load shedding and the request timeout: a request that finds every permit taken is
/// answered 429 at once (`/healthz` excepted, so probes see a live server); one that runs past
/// the timeout is answered 503 TIMEOUT (its index call, on a blocking thread, runs on to its
/// end: a write answered so may still complete, and is durable if it did).
async fn limit(AxumState(state): AxumState<Shared>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let permit = match state.admit() {
        Ok(permit) => permit,
        Err(error) => {
            let mut response = error.into_response();
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return response;
        }
    };
    let Some(limit) = state.request_timeout else {
        let response = next.run(request).await;
        drop(permit);
        return response;
    };
    let mut running = Box::pin(next.run(request));
    tokio::select! {
        response = &mut running => response,
        () = tokio::time::sleep(limit) => {
            // The request runs on to its end and keeps its permit until then, so timed-out
            // work still counts against --max-concurrent.
            tokio::spawn(async move {
                let _ = running.await;
                drop(permit);
            });
            State::timed_out(limit).into_response()
        }
    }
}

// ---- middleware ----

/// Every request but `GET /healthz` needs `Authorization: Bearer <key>` when a key is set.
async fn authorize(AxumState(state): AxumState<Shared>, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if request.uri().path() == "/healthz" || state.authorized(given) {
        next.run(request).await
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "missing or wrong API key (Authorization: Bearer <key>)").into_response()
    }
}

/// Most bytes of a refused body read and dropped before its 413 goes out.
const DRAIN_MAX_BYTES: u64 = 256 << 20;
/// Longest a refused body is read for.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// A body whose Content-Length is over the limit is answered 413 at once, but only after
/// reading and dropping it (up to `DRAIN_MAX_BYTES`, for `DRAIN_TIME`): a connection closed
/// with unread bytes in its receive buffer is reset, and the reset can discard the 413 before
/// the client reads it (the client then sees only a dropped connection). Read whole, the
/// connection even stays open for the next request. A client that sent `Expect:
/// 100-continue` waits for leave to send its body, so it is answered without reading (reading
/// would grant that leave). A body sent in chunks, with no length, is cut off by the body
/// limit in `Body` instead. The drain takes no permit of `--max-concurrent`: it only reads
/// into a buffer it drops, for a bounded time.
async fn refuse_oversized(AxumState(max_body_bytes): AxumState<usize>, request: Request, next: Next) -> Response {
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let Some(declared) = declared.filter(|&n| n > max_body_bytes as u64) else {
        return next.run(request).await;
    };
    let waits_for_leave = request.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if declared <= DRAIN_MAX_BYTES && !waits_for_leave {
        let mut body = request.into_body();
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    }
    ApiError::too_large(format!("request body too large: {declared} bytes, the limit is {max_body_bytes}")).into_response()
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Counts requests by route template and code, with their time (for /metrics).
async fn count(AxumState(state): AxumState<Shared>, request: Request, next: Next) -> Response {
    // Methods the API has, or OTHER: a made-up method cannot add a series to /metrics.
    let method = match request.method().as_str() {
        m @ ("GET" | "PUT" | "POST" | "DELETE" | "HEAD") => m.to_string(),
        _ => "OTHER".to_string(),
    };
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let response = next.run(request).await;
    state.record(method, route, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

// ---- JSON bodies with our errors ----

/// `Json<T>` whose rejections are API errors: a body over the limit is 413, bad JSON 400.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::too_large(format!("request body too large: {}", e.body_text())))
            }
            Err(e) => Err(ApiError::invalid(e.body_text())),
        }
    }
}

/// Runs an index call on a blocking thread.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::from(omendb::Error::Internal(format!("task failed: {e}"))))?
}

// ---- health, metrics ----

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(AxumState(state): AxumState<Shared>) -> Response {
    let mut out = String::new();
    out.push_str("# HELP omendb_requests_total Requests served, by method, route and code (HTTP: the HTTP code; gRPC: method \"grpc\", the RPC's path and the gRPC code number).\n# TYPE omendb_requests_total counter\n");
    let (requests, latencies) = state.requests.lock().map(|r| (r.counts.clone(), r.latencies.clone())).unwrap_or_default();
    for ((method, route, code), (n, _)) in &requests {
        out.push_str(&format!("omendb_requests_total{{method=\"{method}\",route=\"{route}\",code=\"{code}\"}} {n}\n"));
    }
    out.push_str("# HELP omendb_request_seconds_sum Time spent serving requests, by method, route and code.\n# TYPE omendb_request_seconds_sum counter\n");
    for ((method, route, code), (_, seconds)) in &requests {
        out.push_str(&format!("omendb_request_seconds_sum{{method=\"{method}\",route=\"{route}\",code=\"{code}\"}} {seconds:.6}\n"));
    }
    out.push_str("# HELP omendb_request_duration_seconds How long requests took, by method and route.\n# TYPE omendb_request_duration_seconds histogram\n");
    for ((method, route), buckets) in &latencies {
        let mut below = 0;
        for (i, n) in buckets.iter().enumerate() {
            below += n;
            let le = LATENCY_BOUNDS.get(i).map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            out.push_str(&format!("omendb_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"{le}\"}} {below}\n"));
        }
        let seconds: f64 = requests.iter().filter(|((m, r, _), _)| m == method && r == route).map(|(_, (_, s))| s).sum();
        out.push_str(&format!("omendb_request_duration_seconds_sum{{method=\"{method}\",route=\"{route}\"}} {seconds:.6}\n"));
        out.push_str(&format!("omendb_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\"}} {below}\n"));
    }
    out.push_str("# HELP omendb_collection_records Records in each collection.\n# TYPE omendb_collection_records gauge\n");
    for c in state.registry.list() {
        out.push_str(&format!("omendb_collection_records{{collection=\"{}\"}} {}\n", c.name, c.index.len()));
    }
    out.push_str(&format!("# TYPE omendb_uptime_seconds gauge\nomendb_uptime_seconds {:.3}\n", state.started.elapsed().as_secs_f64()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

// ---- collections ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    dim: usize,
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    m: Option<usize>,
    #[serde(default)]
    ef_construction: Option<usize>,
    #[serde(default)]
    ef_search: Option<usize>,
    #[serde(default)]
    dtype: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    neighbor_codes: Option<u32>,
}

fn describe(c: &Collection) -> Value {
    let info = ops::describe(c);
    json!({
        "name": info.name,
        "count": info.count,
        "options": {
            "dim": info.dim, "metric": info.metric, "m": info.m, "ef_construction": info.ef_construction,
            "ef_search": info.ef_search, "dtype": info.dtype, "key": info.key,
            "neighbor_codes": info.neighbor_codes,
        },
        "memory_bytes": info.memory_bytes,
    })
}

async fn list_collections(AxumState(state): AxumState<Shared>) -> Json<Value> {
    Json(json!({ "collections": state.registry.list().iter().map(|c| describe(c)).collect::<Vec<_>>() }))
}

async fn get_collection(AxumState(state): AxumState<Shared>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let c = state.registry.get(&name)?;
    blocking(move || Ok(Json(describe(&c)))).await
}

async fn create_collection(AxumState(state): AxumState<Shared>, Path(name): Path<String>, Body(body): Body<CreateBody>) -> Result<Response, ApiError> {
    let spec = ops::CreateSpec {
        dim: body.dim,
        metric: body.metric,
        m: body.m,
        ef_construction: body.ef_construction,
        ef_search: body.ef_search,
        dtype: body.dtype,
        key: body.key,
        neighbor_codes: body.neighbor_codes,
    };
    let c = blocking(move || ops::create(&state.registry, &name, spec)).await?;
    Ok((StatusCode::CREATED, Json(describe(&c))).into_response())
}

async fn delete_collection(AxumState(state): AxumState<Shared>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    blocking(move || state.registry.delete(&name)).await?;
    Ok(Json(json!({ "deleted": true })))
}

// ---- records ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    id: Value,
    vector: Vec<f32>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsBody {
    records: Vec<Record>,
    #[serde(default)]
    upsert: bool,
}

/// A JSON id as a key: a string, or an integer in 0..2^64-1 (the collection checks the kind).
fn json_key(id: &Value, what: &str) -> Result<OwnedKey, ApiError> {
    match id {
        Value::String(s) => Ok(OwnedKey::Str(s.clone())),
        other => other.as_u64().map(OwnedKey::U64).ok_or_else(|| ApiError::invalid(format!("{what} must be a string or an integer in 0..2^64-1, got {other}"))),
    }
}

/// Adds (or upserts) records, all or nothing; answered once they are in the log and synced.
async fn put_records(AxumState(state): AxumState<Shared>, Path(name): Path<String>, Body(body): Body<RecordsBody>) -> Result<Json<Value>, ApiError> {
    let c = state.registry.get(&name)?;
    if body.records.len() > ops::MAX_BATCH {
        return Err(ApiError::too_large(format!("{} records in one request; at most {}", body.records.len(), ops::MAX_BATCH)));
    }
    blocking(move || {
        let records = body
            .records
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(ops::RecordIn {
                    id: json_key(&r.id, &format!("records[{i}].id"))?,
                    vector: r.vector,
                    metadata: r.metadata.map(|m| Value::Object(m).to_string()),
                    text: r.text,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let n = ops::put_records(&c, &records, body.upsert)?;
        Ok(Json(json!({ "count": n })))
    })
    .await
}

async fn get_record(AxumState(state): AxumState<Shared>, Path((name, id)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let c = state.registry.get(&name)?;
    blocking(move || {
        let record = ops::get_record(&c, &OwnedKey::parse(&c, &id)?)?;
        Ok(Json(json!({ "id": record.id.to_json(), "vector": record.vector, "metadata": record.metadata, "text": record.text })))
    })
    .await
}

async fn delete_record(AxumState(state): AxumState<Shared>, Path((name, id)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let c = state.registry.get(&name)?;
    blocking(move || {
        ops::delete_record(&c, &OwnedKey::parse(&c, &id)?)?;
        Ok(Json(json!({ "deleted": true })))
    })
    .await
}

// ---- searches ----

fn default_k() -> usize {
    10
}

fn hits_json(hits: Vec<ops::Hit>, value_name: &str) -> Value {
    Value::Array(
        hits.into_iter()
            .map(|h| {
                let mut hit = serde_json::Map::new();
                hit.insert("id".into(), h.id.to_json());
                hit.insert(value_name.into(), json!(h.value));
                if let Some(m) = h.metadata {
                    hit.insert("metadata".into(), m);
                }
                if let Some(v) = h.vector {
                    hit.insert("vector".into(), json!(v));
                }
                if let Some(t) = h.text {
                    hit.insert("text".into(), json!(t));
                }
                Value::Object(hit)
            })
            .collect(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    #[serde(default)]
    vector: Option<Vec<f32>>,
    #[serde(default)]
    vectors: Option<Vec<Vec<f32>>>,
    #[serde(default = "default_k")]
    k: usize,
    #[serde(default)]
    ef: Option<usize>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    include: Vec<String>,
}

async fn search(AxumState(state): AxumState<Shared>, Path(name): Path<String>, Body(body): Body<SearchBody>) -> Result<Json<Value>, ApiError> {
    let c = state.registry.get(&name)?;
    ops::check_k(body.k)?;
    let inc = Include::from_names(&body.include)?;
    let (queries, batch) = match (body.vector, body.vectors) {
        (Some(v), None) => (vec![v], false),
        (None, Some(vs)) => (vs, true),
        _ => return Err(ApiError::invalid("give one of \"vector\" or \"vectors\"")),
    };
    let inline = ops::runs_inline(&c, queries.len(), body.k, body.ef, body.filter.as_deref(), inc);
    let work = move || {
        let mut rows: Vec<Value> = ops::search(&c, &queries, body.k, body.ef, body.filter.as_deref(), inc)?
            .into_iter()
            .map(|hits| hits_json(hits, "distance"))
            .collect();
        Ok(Json(if batch { json!({ "hits": rows }) } else { json!({ "hits": rows.pop().unwrap_or_default() }) }))
    };
    if inline {
        return work();
    }
    blocking(work).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextSearchBody {
    query: String,
    #[serde(default = "default_k")]
    k: usize,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    include: Vec<String>,
}

async fn text_search(AxumState(state): AxumState<Shared>, Path(name): Path<String>, Body(body): Body<TextSearchBody>) -> Result<Json<Value>, ApiError> {
    let c = state.registry.get(&name)?;
    let inc = Include::from_names(&body.include)?;
    blocking(move || {
        let hits = ops::text_search(&c, &body.query, body.k, body.filter.as_deref(), inc)?;
        Ok(Json(json!({ "hits": hits_json(hits, "score") })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HybridBody {
    vector: Vec<f32>,
    query: String,
    #[serde(default = "default_k")]
    k: usize,
    #[serde(default)]
    ef: Option<usize>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    fusion: Option<String>,
    #[serde(default)]
    alpha: Option<f32>,
    #[serde(default)]
    include: Vec<String>,
}

async fn hybrid_search(AxumState(state): AxumState<Shared>, Path(name): Path<String>, Body(body): Body<HybridBody>) -> Result<Json<Value>, ApiError> {
    let c = state.registry.get(&name)?;
    let inc = Include::from_names(&body.include)?;
    blocking(move || {
        let hits = ops::hybrid_search(&c, &body.vector, &body.query, body.k, body.ef, body.filter.as_deref(), body.fusion.as_deref(), body.alpha, inc)?;
        Ok(Json(json!({ "hits": hits_json(hits, "score") })))
    })
    .await
}
