//! `omendb-server`: OmenDB's durable collections over HTTP/JSON (docs/http.md).
//!
//! Each collection is a durable index directory under `--data` (the library's write-ahead log
//! and checkpoints), so a write is acknowledged only once it is in the log and synced. Index
//! calls run on tokio's blocking threads; the library parallelises batches itself.

mod api;
mod ops;
mod collections;
mod error;

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
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.http).await.map_err(|e| format!("cannot listen on {}: {e}", args.http))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        // Tests and scripts read this line to learn the port when asked for port 0.
        println!("omendb-server listening on http://{bound}");
        axum::serve(listener, app).with_graceful_shutdown(shutdown()).await.map_err(|e| e.to_string())
    })?;
    // Every collection's log is synced and its lock released as the registry drops.
    drop(state);
    Ok(())
}

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
