//! TLS for both APIs (`--tls-cert`, `--tls-key`): rustls with the ring provider. HTTP gets a
//! listener that hands axum connections whose handshake is done; gRPC gets tonic's own TLS
//! from the same PEM files.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A slow or silent client gets this long to finish its handshake (HTTP and gRPC).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTPS handshakes under way at once; further connections wait in the listen backlog (not
/// accepted) until one ends, so silent clients can delay others but not exhaust descriptors.
const MAX_HANDSHAKES: usize = 1024;

/// The certificate chain and key, read and checked once at start.
pub struct Identity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    acceptor: TlsAcceptor,
}

impl Identity {
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, String> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("{}: holds no certificate", cert.display()));
        }
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("{}: no PEM private key: {e}", key.display()))?;
        // ring, as tonic's TLS uses: one provider, built without cmake (aws-lc-rs, the one with
        // post-quantum key exchange, needs it).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Identity { cert_pem, key_pem, acceptor: TlsAcceptor::from(Arc::new(config)) })
    }

    /// tonic's TLS settings from the same files, with the same handshake timeout (tonic sets
    /// none by default: a silent client would hold its connection forever).
    pub fn grpc(&self) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem))
            .timeout(HANDSHAKE_TIMEOUT)
    }
}

/// An axum listener over TLS: connections are accepted and their handshakes run in tasks of
/// their own (a slow client holds up no one), and axum gets only finished ones.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` until `stop` turns true.
    pub fn new(tcp: TcpListener, identity: &Identity, mut stop: watch::Receiver<bool>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (send, ready) = mpsc::channel(64);
        let acceptor = identity.acceptor.clone();
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                // A permit first: past MAX_HANDSHAKES, connections wait unaccepted.
                let permit = tokio::select! {
                    permit = handshakes.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => return,
                    },
                    _ = stop.wait_for(|stop| *stop) => return,
                };
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    _ = stop.wait_for(|stop| *stop) => return,
                };
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of descriptors and the like: wait a little rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, send) = (acceptor.clone(), send.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = send.send((tls, peer)).await;
                            drop(permit);
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop has stopped (shutdown): no connection will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
