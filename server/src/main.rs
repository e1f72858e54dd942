//! `omendb-server`: OmenDB's durable collections over HTTP/JSON (docs/http.md).
//!
//! Each collection is a durable index directory under `--data` (the library's write-ahead log
//! and checkpoints), so a write is acknowledged only once it is in the log and synced. Index
//! calls run on tokio's blocking threads; the library parallelises batches itself.

mod api;
mod ops;
mod collections;
mod error;
mod grpc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;

/// Serve the durable collections of a directory over HTTP/JSON.
#[derive(Parser, Debug)]
#[command(name = "omendb-server", version)]
struct Args {
    /// The directory holding the collections (created if missing).
    #[arg(long)]
    data: PathBuf,
    /// Where to listen for HTTP (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:7700")]
    http: SocketAddr,
    /// Where to listen for gRPC (proto/omendb.proto), e.g. 127.0.0.1:7701; none: HTTP only.
    /// Port 0: any free port (printed).
    #[arg(long)]
    grpc: Option<SocketAddr>,
    /// A file holding the API key: every request but GET /healthz then needs
    /// `Authorization: Bearer <key>`.
    #[arg(long)]
    api_key_file: Option<PathBuf>,
    /// The largest request body accepted, in bytes (larger: 413).
    #[arg(long, default_value_t = 64 << 20)]
    max_body_bytes: usize,
    /// Requests served at once; more are answered 429 at once (0: no limit).
    #[arg(long, default_value_t = 1024)]
    max_concurrent: usize,
    /// The most a request may take, in milliseconds, before it is answered 503 TIMEOUT (0: no
    /// limit). A write answered so may still complete: it is durable if it did.
    #[arg(long, default_value_t = 30_000)]
    request_timeout_ms: u64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omendb-server: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let api_key = match &args.api_key_file {
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
    let registry = collections::Registry::open(&args.data).map_err(|e| e.to_string())?;
    let limits = api::Limits {
        max_body_bytes: args.max_body_bytes,
        max_concurrent: args.max_concurrent,
        request_timeout: (args.request_timeout_ms > 0).then(|| std::time::Duration::from_millis(args.request_timeout_ms)),
    };
    let state = Arc::new(api::State::new(registry, api_key, &limits));
    let app = api::router(state.clone(), &limits);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let grpc_state = state.clone();
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.http).await.map_err(|e| format!("cannot listen on {}: {e}", args.http))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let grpc_listener = match args.grpc {
            None => None,
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?),
        };
        // Tests and scripts read these lines to learn the ports when asked for port 0.
        println!("omendb-server listening on http://{bound}");
        if let Some(l) = &grpc_listener {
            println!("omendb-server gRPC listening on {}", l.local_addr().map_err(|e| e.to_string())?);
        }
        // One signal stops both servers: each finishes its running requests.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown().await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let http = axum::serve(listener, app).with_graceful_shutdown(stopped(stop_rx.clone()));
        let grpc_stop = stopped(stop_rx.clone());
        let servers = async move {
            match grpc_listener {
                None => http.await.map_err(|e| e.to_string()),
                Some(l) => {
                    let grpc = tonic::transport::Server::builder()
                        .add_service(grpc::service(grpc_state, args.max_body_bytes))
                        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(l), grpc_stop);
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
    drop(state);
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
