//! Serving the router on a socket, over plain HTTP or HTTPS (rustls), one task per connection.
//!
//! This is axum's `serve` written out with hyper so the service owns each connection's byte
//! stream: the TLS handshake happens here, and a connection is served by hyper's HTTP/1 with
//! a header-read timeout, so a client that opens a socket and says nothing holds a task for at
//! most that long. Shutdown stops accepting, lets requests in flight finish (up to
//! [`DRAIN`]), then returns.

use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::request_target::EncodeTargets;

/// How long a client has to finish the TLS handshake, and to send a request's headers.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight.
pub const DRAIN: Duration = Duration::from_secs(30);

/// A server certificate chain and its private key, loaded once at start.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl Tls {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1), as IBM License Service takes them; an error names the file and what is wrong.
    /// A key file that other local users can read is served, with a warning.
    pub fn from_pem_files(cert: &Path, key: &Path) -> anyhow::Result<Tls> {
        let chain = CertificateDer::pem_file_iter(cert)
            .with_context(|| format!("reading the TLS certificate {}", cert.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("the TLS certificate {} is not PEM", cert.display()))?;
        if chain.is_empty() {
            anyhow::bail!(
                "the TLS certificate {} holds no CERTIFICATE block",
                cert.display()
            );
        }
        let private = PrivateKeyDer::from_pem_file(key).with_context(|| {
            format!(
                "reading the TLS private key {} (a PEM PRIVATE KEY block)",
                key.display()
            )
        })?;
        warn_if_readable_by_others(key);
        Tls::from_der(chain, private).with_context(|| {
            format!(
                "the TLS key {} and certificate {}",
                key.display(),
                cert.display()
            )
        })
    }

    /// A certificate chain and key already in memory (DER).
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> anyhow::Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the private key does not match the certificate, or is not usable")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(key)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "the TLS private key {} can be read by other local users (mode {:o}); chmod 600 it",
            key.display(),
            meta.permissions().mode() & 0o777
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

/// Serves `router` on `listener` until `shutdown` resolves: HTTPS when `tls` is given (plain
/// HTTP is then refused by the handshake), plain HTTP otherwise. Returns after the requests
/// in flight have finished or [`DRAIN`] has passed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            router.clone(),
            tls.clone(),
            graceful.watcher(),
        ));
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: requests still running after {DRAIN:?} were cut off");
    }
    Ok(())
}

/// One connection: the handshake if TLS, then HTTP/1 until the client closes it.
async fn connection(
    stream: TcpStream,
    router: Router,
    tls: Option<Tls>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = TowerToHyperService::new(router);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT);
    let served =
        match tls {
            None => {
                watcher
                    .watch(http.serve_connection(TokioIo::new(EncodeTargets::new(stream)), service))
                    .await
            }
            Some(tls) => {
                match tokio::time::timeout(CLIENT_TIMEOUT, tls.acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        watcher
                            .watch(http.serve_connection(
                                TokioIo::new(EncodeTargets::new(stream)),
                                service,
                            ))
                            .await
                    }
                    Ok(Err(e)) => {
                        tracing::debug!("TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                }
            }
        };
    if let Err(e) = served {
        tracing::debug!("connection ended: {e}");
    }
}
