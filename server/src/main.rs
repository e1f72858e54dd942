//! `omendb-server`: OmenDB's durable collections over HTTP/JSON (docs/http.md).
//!
//! Each collection is a durable index directory under `--data` (the library's write-ahead log
//! and checkpoints), so a write is acknowledged only once it is in the log and synced. Index
//! calls run on tokio's blocking threads; the library parallelises batches itself.

mod api;
mod collections;
mod config;
mod error;
mod grpc;
mod ops;
mod tls;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use axum::serve::ListenerExt;
use clap::Parser;

use config::{Config, LogFormat, Settings};

fn main() -> std::process::ExitCode {
    let config = match Settings::parse().resolve() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("omendb-server: error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = start_logs(&config) {
        eprintln!("omendb-server: error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    match run(config) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries only the lines that give the listening addresses).
fn start_logs(config: &Config) -> Result<(), String> {
    // A bare word must be a level: EnvFilter would take a typo ("inf") as a target name and
    // log nothing.
    let level = config.log_level.trim();
    if !level.contains('=') && !["error", "warn", "info", "debug", "trace", "off"].contains(&level.to_ascii_lowercase().as_str()) {
        return Err(format!("--log-level {level}: expected error, warn, info, debug, trace, off or a filter such as omendb_server=debug"));
    }
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|e| format!("--log-level {level}: {e}"))?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    match config.log_format {
        LogFormat::Text => logs.with_ansi(false).init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
    }
    Ok(())
}

/// The HTTP server running, over plain TCP or TLS (two listener types, one future type).
type HttpServing = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

fn run(config: Config) -> Result<(), String> {
    let api_key = match &config.api_key_file {
        None => None,
        Some(path) => {
            let key = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let key = key.trim().to_string();
            if key.is_empty() {
                return Err(format!("{} holds no key", path.display()));
            }
            Some(key)
        }
    };
    let identity = match &config.tls {
        None => None,
        Some((cert, key)) => Some(tls::Identity::load(cert, key)?),
    };
    let registry = collections::Registry::open(&config.data).map_err(|e| e.to_string())?;
    let limits = api::Limits {
        max_body_bytes: config.max_body_bytes,
        max_concurrent: config.max_concurrent,
        request_timeout: (config.request_timeout_ms > 0).then(|| std::time::Duration::from_millis(config.request_timeout_ms)),
    };
    let state = Arc::new(api::State::new(registry, api_key, &limits));
    tracing::info!(
        data = %config.data.display(),
        collections = state.registry.list().len(),
        tls = identity.is_some(),
        api_key = config.api_key_file.is_some(),
        "collections opened"
    );
    let app = api::router(state.clone(), &limits);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let grpc_state = state.clone();
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.http).await.map_err(|e| format!("cannot listen on {}: {e}", config.http))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let grpc_listener = match config.grpc {
            None => None,
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?),
        };
        // Tests and scripts read these lines to learn the ports when asked for port 0.
        let scheme = if identity.is_some() { "https" } else { "http" };
        println!("omendb-server listening on {scheme}://{bound}");
        if let Some(l) = &grpc_listener {
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            println!("omendb-server gRPC listening on {addr}");
            tracing::info!(%addr, tls = identity.is_some(), "gRPC listening");
        }
        tracing::info!(addr = %bound, %scheme, "HTTP listening");
        // One signal stops both servers: each finishes its running requests.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown().await;
            tracing::info!("shutting down: running requests get {} s", SHUTDOWN_GRACE.as_secs());
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let http: HttpServing = match &identity {
            None => {
                // Replies go out at once rather than wait on Nagle's algorithm.
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                Box::pin(axum::serve(listener, app).with_graceful_shutdown(stopped(stop_rx.clone())).into_future())
            }
            Some(identity) => {
                let listener = tls::TlsListener::new(listener, identity, stop_rx.clone()).map_err(|e| e.to_string())?;
                Box::pin(axum::serve(listener, app).with_graceful_shutdown(stopped(stop_rx.clone())).into_future())
            }
        };
        let grpc_stop = stopped(stop_rx.clone());
        let servers = async move {
            match grpc_listener {
                None => http.await.map_err(|e| e.to_string()),
                Some(l) => {
                    let mut builder = tonic::transport::Server::builder();
                    if let Some(identity) = &identity {
                        builder = builder.tls_config(identity.grpc()).map_err(|e| format!("gRPC TLS: {e}"))?;
                    }
                    let incoming = tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true));
                    let grpc = builder.add_service(grpc::service(grpc_state, config.max_body_bytes)).serve_with_incoming_shutdown(incoming, grpc_stop);
                    let (h, g) = tokio::join!(http, grpc);
                    h.map_err(|e| e.to_string())?;
                    g.map_err(|e| e.to_string())
                }
            }
        };
        // Running requests get SHUTDOWN_GRACE to finish; connections a client keeps open past
        // that (an idle HTTP/2 channel) do not hold the server up.
        let grace = async {
            stopped(stop_rx).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
            tracing::warn!("shutdown grace over: connections still open are closed");
        };
        tokio::select! {
            result = servers => result,
            () = grace => Ok(()),
        }
    });
    // Index calls still running on blocking threads get the grace period too; every write
    // acknowledged so far is durable already (answered only once synced). The registry syncs
    // and unlocks each collection as the last reference drops, here or, if a call outlived the
    // grace, when the process exits (the lock goes with the process).
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    // A checkpoint of each collection written to since its last one, so the next start loads
    // snapshots instead of replaying logs. Safe beside a call that outlived the grace (a
    // checkpoint holds writers back only while it serialises), and a kill during it loses
    // nothing: the snapshot is written atomically and the log is kept until it is in place.
    for c in state.registry.list().into_iter().filter(|c| c.index.log_bytes().unwrap_or(0) > 0) {
        let start = std::time::Instant::now();
        match c.index.checkpoint() {
            Ok(()) => tracing::info!(collection = %c.name, ms = start.elapsed().as_millis() as u64, "collection checkpointed"),
            Err(e) => tracing::warn!(collection = %c.name, error = %e, "checkpoint failed: the log will be replayed at the next start"),
        }
    }
    drop(state);
    tracing::info!("stopped");
    result
}

/// How long a shutdown waits for running requests.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Resolves on SIGINT or SIGTERM: in-flight requests finish, new connections are refused.
async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}
