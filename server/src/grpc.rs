//! The gRPC service of `proto/omendb.proto` (tonic): the calls of `ops.rs`, with the HTTP
//! API's API key, load shedding and request timeout, and errors as gRPC statuses whose
//! message starts with the HTTP API's status name (also in the `omendb-status` metadata).

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tonic::codegen::http;
use tonic::{Code, Request, Response, Status};

use crate::api::{blocking, State};
use crate::error::ApiError;
use crate::ops::{self, Include, OwnedKey};

/// The generated messages, service trait and client.
pub mod pb {
    tonic::include_proto!("omendb.v1");
}

use pb::omen_db_server::{OmenDb, OmenDbServer};

/// The service: the shared server state.
pub struct Service {
    state: Arc<State>,
}

/// The service, ready to add to a tonic server; messages up to `max_message_bytes` in.
pub fn service(state: Arc<State>, max_message_bytes: usize) -> RequireKey {
    let inner = OmenDbServer::new(Service { state: state.clone() }).max_decoding_message_size(max_message_bytes).max_encoding_message_size(usize::MAX);
    RequireKey { inner, state }
}

/// The service's path prefix and the calls under it (anything else is counted as "unmatched",
/// so made-up paths cannot grow /metrics).
const PREFIX: &str = "/omendb.v1.OmenDB/";
const CALLS: [&str; 11] = [
    "Health",
    "CreateCollection",
    "ListCollections",
    "GetCollection",
    "DeleteCollection",
    "PutRecords",
    "GetRecord",
    "DeleteRecord",
    "Search",
    "TextSearch",
    "HybridSearch",
];

/// The service behind the API key, checked from the request's headers before tonic reads the
/// message, as HTTP checks it before the body: a caller without the key cannot make the
/// server take in and decode a message of up to --max-body-bytes. Health needs no key.
#[derive(Clone)]
pub struct RequireKey {
    inner: OmenDbServer<Service>,
    state: Arc<State>,
}

impl tonic::server::NamedService for RequireKey {
    const NAME: &'static str = <OmenDbServer<Service> as tonic::server::NamedService>::NAME;
}

impl<B> tonic::codegen::Service<http::Request<B>> for RequireKey
where
    OmenDbServer<Service>: tonic::codegen::Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = std::convert::Infallible>,
    <OmenDbServer<Service> as tonic::codegen::Service<http::Request<B>>>::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let call = path.strip_prefix(PREFIX).filter(|c| CALLS.contains(c));
        let given = request.headers().get("authorization").and_then(|v| v.to_str().ok());
        if call != Some("Health") && !self.state.authorized(given) {
            let route = call.map_or_else(|| "unmatched".to_string(), |c| format!("{PREFIX}{c}"));
            self.state.record("grpc".into(), route, Code::Unauthenticated as u16, 0.0);
            let refused = status(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "missing or wrong API key (metadata authorization: Bearer <key>)",
            ));
            return Box::pin(std::future::ready(Ok(refused.into_http())));
        }
        Box::pin(self.inner.call(request))
    }
}

fn status(error: ApiError) -> Status {
    error.log_server_fault();
    let code = match error.status {
        "INVALID_ARGUMENT" | "DIMENSION_MISMATCH" | "NON_FINITE" | "ZERO_VECTOR" | "INVALID_KEY" | "FILTER_SYNTAX" => Code::InvalidArgument,
        "NOT_FOUND" | "KEY_NOT_FOUND" => Code::NotFound,
        "CONFLICT" | "DUPLICATE_KEY" => Code::AlreadyExists,
        "LOCKED" => Code::FailedPrecondition,
        "PAYLOAD_TOO_LARGE" | "TOO_MANY_REQUESTS" => Code::ResourceExhausted,
        "UNAUTHORIZED" => Code::Unauthenticated,
        "TIMEOUT" => Code::DeadlineExceeded,
        _ => Code::Internal,
    };
    let mut status = Status::new(code, format!("{}: {}", error.status, error.message));
    if let Ok(value) = error.status.parse() {
        status.metadata_mut().insert("omendb-status", value);
    }
    status
}

impl Service {
    /// Runs one call (its key was checked by `RequireKey`): a permit (unless `open`), `work` on
    /// a blocking thread within the request timeout, and the call counted for /metrics as
    /// ("grpc", rpc, gRPC code).
    async fn serve<R: Send + 'static>(
        &self,
        rpc: &'static str,
        open: bool,
        inline: bool,
        work: impl FnOnce(Arc<State>) -> Result<R, ApiError> + Send + 'static,
    ) -> Result<Response<R>, Status> {
        let start = Instant::now();
        let result = self.run(open, inline, work).await;
        let code = match &result {
            Ok(_) => Code::Ok,
            Err(e) => e.code(),
        };
        self.state.record("grpc".into(), format!("{PREFIX}{rpc}"), code as u16, start.elapsed().as_secs_f64());
        result.map(Response::new)
    }

    async fn run<R: Send + 'static>(
        &self,
        open: bool,
        inline: bool,
        work: impl FnOnce(Arc<State>) -> Result<R, ApiError> + Send + 'static,
    ) -> Result<R, Status> {
        // Health takes no permit (a probe sees a live server under load); the others hold
        // theirs until the index call ends, even past a timeout.
        let permit = if open { None } else { self.state.admit().map_err(status)? };
        let state = self.state.clone();
        if inline {
            // A small search (ops::runs_inline): here, without the trip to the blocking pool.
            let _permit = permit;
            return work(state).map_err(status);
        }
        let call = blocking(move || {
            let _permit = permit;
            work(state)
        });
        match self.state.request_timeout() {
            None => call.await.map_err(status),
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(result) => result.map_err(status),
                Err(_) => Err(status(State::timed_out(limit))),
            },
        }
    }
}

// ---- conversions ----

fn key_in(key: Option<pb::Key>, what: &str) -> Result<OwnedKey, ApiError> {
    match key.and_then(|k| k.kind) {
        Some(pb::key::Kind::Str(s)) => Ok(OwnedKey::Str(s)),
        Some(pb::key::Kind::U64(n)) => Ok(OwnedKey::U64(n)),
        None => Err(ApiError::invalid(format!("{what} is missing"))),
    }
}

fn key_out(key: OwnedKey) -> pb::Key {
    pb::Key {
        kind: Some(match key {
            OwnedKey::Str(s) => pb::key::Kind::Str(s),
            OwnedKey::U64(n) => pb::key::Kind::U64(n),
        }),
    }
}

fn some_text(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn some_size(n: u32) -> Option<usize> {
    (n != 0).then_some(n as usize)
}

fn k_of(k: u32) -> usize {
    if k == 0 {
        10
    } else {
        k as usize
    }
}

fn include_of(include: Option<pb::Include>) -> Include {
    include.map_or_else(Include::default, |i| Include { metadata: i.metadata, vector: i.vector, text: i.text })
}

fn collection_out(c: &crate::collections::Collection) -> pb::Collection {
    let info = ops::describe(c);
    let small = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    pb::Collection {
        name: info.name,
        count: info.count,
        options: Some(pb::CollectionOptions {
            dim: small(info.dim),
            metric: info.metric,
            m: small(info.m),
            ef_construction: small(info.ef_construction),
            ef_search: small(info.ef_search),
            dtype: info.dtype,
            key: info.key.to_string(),
            neighbor_codes: small(info.neighbor_codes),
        }),
        memory_bytes: info.memory_bytes,
    }
}

fn hits_out(hits: Vec<ops::Hit>) -> pb::Hits {
    pb::Hits {
        hits: hits
            .into_iter()
            .map(|h| pb::Hit {
                id: Some(key_out(h.id)),
                distance: h.value,
                metadata_json: h.metadata.map(|m| m.to_string()).unwrap_or_default(),
                vector: h.vector.unwrap_or_default(),
                text: h.text.flatten(),
            })
            .collect(),
    }
}

fn metadata_in(text: String, what: &str) -> Result<Option<String>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(_)) => Ok(Some(text)),
        _ => Err(ApiError::invalid(format!("{what} must be a JSON object"))),
    }
}

// ---- the service ----

#[tonic::async_trait]
impl OmenDb for Service {
    async fn health(&self, _request: Request<pb::HealthRequest>) -> Result<Response<pb::HealthReply>, Status> {
        self.serve("Health", true, false, |_| Ok(pb::HealthReply { status: "ok".into() })).await
    }

    async fn create_collection(&self, request: Request<pb::CreateCollectionRequest>) -> Result<Response<pb::Collection>, Status> {
        let body = request.into_inner();
        self.serve("CreateCollection", false, false, move |state| {
            let o = body.options.unwrap_or_default();
            let spec = ops::CreateSpec {
                dim: o.dim as usize,
                metric: some_text(o.metric),
                m: some_size(o.m),
                ef_construction: some_size(o.ef_construction),
                ef_search: some_size(o.ef_search),
                dtype: some_text(o.dtype),
                key: some_text(o.key),
                neighbor_codes: (o.neighbor_codes != 0).then_some(o.neighbor_codes),
            };
            let c = ops::create(&state.registry, &body.name, spec)?;
            Ok(collection_out(&c))
        })
        .await
    }

    async fn list_collections(&self, _request: Request<pb::ListCollectionsRequest>) -> Result<Response<pb::ListCollectionsReply>, Status> {
        self.serve("ListCollections", false, false, |state| {
            Ok(pb::ListCollectionsReply { collections: state.registry.list().iter().map(|c| collection_out(c)).collect() })
        })
        .await
    }

    async fn get_collection(&self, request: Request<pb::CollectionName>) -> Result<Response<pb::Collection>, Status> {
        let name = request.into_inner().name;
        self.serve("GetCollection", false, false, move |state| {
            let c = state.registry.get(&name)?;
            Ok(collection_out(&c))
        })
        .await
    }

    async fn delete_collection(&self, request: Request<pb::CollectionName>) -> Result<Response<pb::DeleteReply>, Status> {
        let name = request.into_inner().name;
        self.serve("DeleteCollection", false, false, move |state| {
            state.registry.delete(&name)?;
            Ok(pb::DeleteReply { deleted: true })
        })
        .await
    }

    async fn put_records(&self, request: Request<pb::PutRecordsRequest>) -> Result<Response<pb::PutRecordsReply>, Status> {
        let body = request.into_inner();
        self.serve("PutRecords", false, false, move |state| {
            let c = state.registry.get(&body.collection)?;
            let records = body
                .records
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    Ok(ops::RecordIn {
                        id: key_in(r.id, &format!("records[{i}].id"))?,
                        vector: r.vector,
                        metadata: metadata_in(r.metadata_json, &format!("records[{i}].metadata_json"))?,
                        text: r.text,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok(pb::PutRecordsReply { count: ops::put_records(&c, &records, body.upsert)? as u64 })
        })
        .await
    }

    async fn get_record(&self, request: Request<pb::RecordRef>) -> Result<Response<pb::Record>, Status> {
        let body = request.into_inner();
        self.serve("GetRecord", false, false, move |state| {
            let c = state.registry.get(&body.collection)?;
            let record = ops::get_record(&c, &key_in(body.id, "id")?)?;
            Ok(pb::Record { id: Some(key_out(record.id)), vector: record.vector, metadata_json: record.metadata.to_string(), text: record.text })
        })
        .await
    }

    async fn delete_record(&self, request: Request<pb::RecordRef>) -> Result<Response<pb::DeleteReply>, Status> {
        let body = request.into_inner();
        self.serve("DeleteRecord", false, false, move |state| {
            let c = state.registry.get(&body.collection)?;
            ops::delete_record(&c, &key_in(body.id, "id")?)?;
            Ok(pb::DeleteReply { deleted: true })
        })
        .await
    }

    async fn search(&self, request: Request<pb::SearchRequest>) -> Result<Response<pb::SearchReply>, Status> {
        let body = request.into_inner();
        let filter = (!body.filter.is_empty()).then_some(body.filter.as_str());
        let inc = include_of(body.include);
        let inline = self.state.registry.get(&body.collection).is_ok_and(|c| ops::runs_inline(&c, body.queries.len(), k_of(body.k), some_size(body.ef), filter, inc));
        self.serve("Search", false, inline, move |state| {
            let c = state.registry.get(&body.collection)?;
            let queries: Vec<Vec<f32>> = body.queries.into_iter().map(|q| q.values).collect();
            let rows = ops::search(&c, &queries, k_of(body.k), some_size(body.ef), (!body.filter.is_empty()).then_some(body.filter.as_str()), inc)?;
            Ok(pb::SearchReply { results: rows.into_iter().map(hits_out).collect() })
        })
        .await
    }

    async fn text_search(&self, request: Request<pb::TextSearchRequest>) -> Result<Response<pb::Hits>, Status> {
        let body = request.into_inner();
        self.serve("TextSearch", false, false, move |state| {
            let c = state.registry.get(&body.collection)?;
            let filter = (!body.filter.is_empty()).then_some(body.filter.as_str());
            Ok(hits_out(ops::text_search(&c, &body.query, k_of(body.k), filter, include_of(body.include))?))
        })
        .await
    }

    async fn hybrid_search(&self, request: Request<pb::HybridSearchRequest>) -> Result<Response<pb::Hits>, Status> {
        let body = request.into_inner();
        self.serve("HybridSearch", false, false, move |state| {
            let c = state.registry.get(&body.collection)?;
            let filter = (!body.filter.is_empty()).then_some(body.filter.as_str());
            let fusion = (!body.fusion.is_empty()).then_some(body.fusion.as_str());
            let hits = ops::hybrid_search(&c, &body.vector, &body.query, k_of(body.k), some_size(body.ef), filter, fusion, body.alpha, include_of(body.include))?;
            Ok(hits_out(hits))
        })
        .await
    }
}
