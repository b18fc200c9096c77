//! The listener: our own accept loop over hyper, so that the server caps
//! connections, times out TLS handshakes and request headers, and serves
//! TLS (rustls). HTTP/1.1, and HTTP/2 as gRPC clients speak it: by ALPN
//! `h2` over TLS, by prior knowledge (the HTTP/2 preface) in plain text. Request bodies are timed by the router
//! ([`super::router`]). Shutdown is graceful: in-flight requests finish.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// PEM files of the server's certificate chain and private key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Listener limits and TLS.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Serve TLS with these files (`--tls-cert`, `--tls-key`).
    pub tls: Option<TlsFiles>,
    /// Most connections at once; more are closed at once (plain HTTP: after
    /// a `503`). Default 1024.
    pub max_connections: usize,
    /// Time for a TLS handshake and for each request's headers (idle
    /// keep-alive connections included). Default 10 s.
    pub header_timeout: Duration,
    /// Time to receive a request body once its headers are in; slower is
    /// `408` and the connection closes. Default 30 s.
    pub body_timeout: Duration,
    /// A second address serving the same routes, for OTLP/gRPC clients that
    /// default to port 4317 (`--grpc-listen`; `osprey serve` uses
    /// `127.0.0.1:4317`). Default none.
    pub grpc_listen: Option<SocketAddr>,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            tls: None,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            grpc_listen: None,
        }
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// A TLS acceptor from PEM files, offering `h2` and `http/1.1` by ALPN.
pub fn tls_acceptor(files: &TlsFiles) -> io::Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| invalid(format!("{}: {e}", files.cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(format!("{}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "{}: no PEM certificate in the file",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| invalid(format!("{}: {e}", files.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("TLS certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What a plain-HTTP client over the connection cap reads before the close.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
content-length: 25\r\nconnection: close\r\n\r\ntoo many connections, retry";

/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);

/// The connection slots of `net`: one set shared by every listener of a
/// server, so `max_connections` caps them together.
pub fn connection_slots(net: &NetConfig) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(net.max_connections.max(1)))
}

/// Serves `router` on `listener` until `stop` completes, taking a slot of
/// `slots` per connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    net: NetConfig,
    tls: Option<TlsAcceptor>,
    slots: Arc<Semaphore>,
    stop: impl std::future::Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    eprintln!("osprey: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if tls.is_none() {
                // Best effort, never blocks: the socket buffer takes it.
                let _ = stream.try_write(BUSY);
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let (router, net, tls) = (router.clone(), net.clone(), tls.clone());
        tokio::spawn(async move {
            connection(stream, peer, router, &net, tls, watcher).await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {}
    }
}

/// Serves one connection (TLS handshake first when configured).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    net: &NetConfig,
    tls: Option<TlsAcceptor>,
    watcher: Watcher,
) {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move { tower_service::Service::call(&mut router, req).await }
    });
    let Some(tls) = tls else {
        // Plain: HTTP/2 with prior knowledge (h2c, as insecure gRPC
        // channels speak) when the client opens with the HTTP/2 preface.
        match tokio::time::timeout(net.header_timeout, h2_preface(&stream)).await {
            Ok(Ok(true)) => {
                let _ = watcher
                    .watch(http2(net).serve_connection(TokioIo::new(stream), service))
                    .await;
            }
            Ok(Ok(false)) => {
                let _ = watcher
                    .watch(http1(net).serve_connection(TokioIo::new(stream), service))
                    .await;
            }
            // Closed, or nothing (or too little) sent in time.
            _ => {}
        }
        return;
    };
    let stream = match tokio::time::timeout(net.header_timeout, tls.accept(stream)).await {
        Ok(Ok(s)) => s,
        // Handshake failed (an untrusted certificate, not TLS) or too slow.
        _ => return,
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    if h2 {
        let conn = http2(net).serve_connection(TokioIo::new(stream), service);
        let _ = watcher.watch(conn).await;
    } else {
        let conn = http1(net).serve_connection(TokioIo::new(stream), service);
        let _ = watcher.watch(conn).await;
    }
}

/// The client's first bytes, as an HTTP/2 connection opens.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client opens with the HTTP/2 preface: peeks (reads
/// nothing) until the bytes so far differ from it or all of it is there.
async fn h2_preface(stream: &TcpStream) -> io::Result<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(false);
        }
        if n == H2_PREFACE.len() {
            return Ok(true);
        }
        // A prefix of the preface so far: wait for more.
        stream.readable().await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn http2(net: &NetConfig) -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .keep_alive_interval(Some(net.header_timeout))
        .keep_alive_timeout(net.header_timeout);
    b
}

fn http1(net: &NetConfig) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(net.header_timeout);
    b
}
