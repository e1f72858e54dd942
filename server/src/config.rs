//! The server's settings: command-line flags, or a TOML file (`--config`) holding the same
//! settings under the flags' names with underscores (`max_body_bytes = 1048576`). A flag given on
//! the command line wins over the file; relative paths in the file are taken from the file's
//! directory, so a configuration can travel with its certificates and key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

/// Serve the durable collections of a directory over HTTP/JSON (and gRPC).
///
/// Every setting can also come from a TOML file (--config) under its name with underscores,
/// e.g. `data = "/var/lib/omendb"`, `max_concurrent = 256`; flags win over the file.
#[derive(Parser, Deserialize, Debug, Default)]
#[command(name = "omendb-server", version)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// A TOML file of settings (flags given here win over it).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The directory holding the collections (created if missing). Required, here or in the file.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to listen for HTTP [default: 127.0.0.1:7700] (port 0: any free port; printed).
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// Where to listen for gRPC (proto/omendb.proto), e.g. 127.0.0.1:7701; none: HTTP only.
    /// Port 0: any free port (printed).
    #[arg(long)]
    pub grpc: Option<SocketAddr>,
    /// A file holding the API key: every request but GET /healthz then needs
    /// `Authorization: Bearer <key>`.
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// A PEM certificate chain: HTTP and gRPC are then served over TLS (needs --tls-key).
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// The largest request body accepted, in bytes (larger: 413) [default: 67108864].
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Requests served at once; more are answered 429 at once (0: no limit) [default: 1024].
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    /// The most a request may take, in milliseconds, before it is answered 503 TIMEOUT (0: no
    /// limit). A write answered so may still complete: it is durable if it did [default: 30000].
    #[arg(long)]
    pub request_timeout_ms: Option<u64>,
    /// How logs are written to stderr: `text` (for people) or `json` (one object per line).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Which logs are written: error, warn, info (start, stop, failed requests), debug (every
    /// request), or a tracing filter such as `omendb_server=debug` [default: info].
    #[arg(long)]
    pub log_level: Option<String>,
}

#[derive(clap::ValueEnum, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The settings with the file read and the defaults filled in.
#[derive(Debug)]
pub struct Config {
    pub data: PathBuf,
    pub http: SocketAddr,
    pub grpc: Option<SocketAddr>,
    pub api_key_file: Option<PathBuf>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_body_bytes: usize,
    pub max_concurrent: usize,
    pub request_timeout_ms: u64,
    pub log_format: LogFormat,
    pub log_level: String,
}

impl Settings {
    /// Merges the file named by `--config` under the flags and fills in the defaults.
    pub fn resolve(self) -> Result<Config, String> {
        let file = match &self.config {
            None => Settings::default(),
            Some(path) => read_file(path)?,
        };
        let merged = Settings {
            config: None,
            data: self.data.or(file.data),
            http: self.http.or(file.http),
            grpc: self.grpc.or(file.grpc),
            api_key_file: self.api_key_file.or(file.api_key_file),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes),
            max_concurrent: self.max_concurrent.or(file.max_concurrent),
            request_timeout_ms: self.request_timeout_ms.or(file.request_timeout_ms),
            log_format: self.log_format.or(file.log_format),
            log_level: self.log_level.or(file.log_level),
        };
        let tls = match (merged.tls_cert, merged.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert, key)),
            _ => return Err("--tls-cert and --tls-key go together: give both or neither".into()),
        };
        Ok(Config {
            data: merged.data.ok_or("no data directory: give --data DIR (or data = \"DIR\" in the --config file)")?,
            http: merged.http.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7700))),
            grpc: merged.grpc,
            api_key_file: merged.api_key_file,
            tls,
            max_body_bytes: merged.max_body_bytes.unwrap_or(64 << 20),
            max_concurrent: merged.max_concurrent.unwrap_or(1024),
            request_timeout_ms: merged.request_timeout_ms.unwrap_or(30_000),
            log_format: merged.log_format.unwrap_or_default(),
            log_level: merged.log_level.unwrap_or_else(|| "info".into()),
        })
    }
}

/// Reads a settings file; its relative paths are made relative to its directory.
fn read_file(path: &Path) -> Result<Settings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut settings: Settings = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [&mut settings.data, &mut settings.api_key_file, &mut settings.tls_cert, &mut settings.tls_key].into_iter().flatten() {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("omendb-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("server.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn flags_win_over_the_file_and_paths_follow_the_file() {
        let path = write("merge", "data = \"db\"\nhttp = \"127.0.0.1:9000\"\nmax_concurrent = 7\nlog_format = \"json\"\n");
        let flags = Settings::parse_from(["omendb-server", "--config", path.to_str().unwrap(), "--max-concurrent", "3"]);
        let config = flags.resolve().unwrap();
        assert_eq!(config.data, path.parent().unwrap().join("db"));
        assert_eq!(config.http, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.max_concurrent, 3);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.request_timeout_ms, 30_000);
    }

    #[test]
    fn unknown_settings_and_half_tls_are_refused() {
        let path = write("unknown", "data = \"db\"\nmax_concurent = 7\n");
        let err = Settings::parse_from(["omendb-server", "--config", path.to_str().unwrap()]).resolve().unwrap_err();
        assert!(err.contains("max_concurent"), "{err}");
        let err = Settings::parse_from(["omendb-server", "--data", "d", "--tls-cert", "c.pem"]).resolve().unwrap_err();
        assert!(err.contains("--tls-key"), "{err}");
        let err = Settings::parse_from(["omendb-server"]).resolve().unwrap_err();
        assert!(err.contains("--data"), "{err}");
    }
}
