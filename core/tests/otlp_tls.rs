//! TLS to the collector: a certificate nobody vouches for is refused by
//! default (the batch is dropped and counted); trusting its CA through
//! `ca_file` (`OTEL_EXPORTER_OTLP_CERTIFICATE`) delivers. The collector is a
//! rustls server on 127.0.0.1 with a self-signed certificate for localhost.
#![cfg(all(feature = "otlp", feature = "enable"))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osprey::Config;
use osprey::export::otlp::OtlpConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Serves HTTPS on 127.0.0.1 and records each request's path.
fn start_tls_collector(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = paths.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64).flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
            // One request per connection; a failed handshake just ends it.
            let mut line = String::new();
            if tls.read_line(&mut line).is_err() || line.is_empty() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if tls.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = tls.read_exact(&mut body);
            seen.lock()
                .unwrap()
                .push(line.split_whitespace().nth(1).unwrap_or("").to_owned());
            let stream = tls.get_mut();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.flush();
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    });
    (port, paths)
}

fn export_one(otlp: OtlpConfig) -> osprey::Stats {
    let guard = osprey::init(
        Config::default()
            .batch_delay(Duration::from_millis(20))
            .exporter_spec(otlp),
    )
    .unwrap();
    osprey::transaction("GET /secure").server().begin().end();
    let _ = osprey::flush(Duration::from_secs(10));
    assert!(guard.shutdown(Duration::from_secs(10)));
    osprey::stats()
}

#[test]
fn certificates_are_verified_and_a_configured_ca_is_trusted() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = certified.cert.der().clone();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let (port, paths) = start_tls_collector(cert_der, key_der);
    let endpoint = format!("https://localhost:{port}");
    let quick = || {
        OtlpConfig::default()
            .endpoint(&endpoint)
            .timeout(Duration::from_secs(2))
            .max_retry_time(Duration::from_secs(1))
    };

    // Not trusted by default: nothing delivered, the failure names the certificate.
    let stats = export_one(quick());
    let otlp = &stats.exporters[0];
    assert_eq!((otlp.delivered, otlp.dropped), (0, 1), "{stats:?}");
    let error = otlp
        .last_error
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        error.contains("certificate") || error.contains("issuer"),
        "{error}"
    );
    assert!(paths.lock().unwrap().is_empty(), "no request got through");

    // Trusted through the CA file: delivered.
    let ca = std::env::temp_dir().join(format!("osprey-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, certified.cert.pem()).unwrap();
    let mut trusting = quick();
    trusting.ca_file = Some(ca.clone());
    let stats = export_one(trusting);
    let _ = std::fs::remove_file(&ca);
    assert_eq!(stats.exporters[0].delivered, 1, "{stats:?}");
    let paths = paths.lock().unwrap();
    assert!(paths.iter().any(|p| p == "/v1/traces"), "{paths:?}");
}
