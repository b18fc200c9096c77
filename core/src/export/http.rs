//! The blocking HTTP client shared by the network exporters: ureq over
//! rustls (certificates verified against the webpki roots plus an optional
//! CA file), a timeout on every request, bounded response bodies.

use std::path::Path;
use std::time::Duration;

use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::export::ExportError;

/// Largest response body read; the rest is ignored (a hostile or broken
/// collector cannot make us buffer without bound).
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// A response: status, `Retry-After` if any, and at most
/// [`MAX_RESPONSE_BYTES`] of body.
#[derive(Debug)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Parsed `Retry-After` (seconds form).
    pub retry_after: Option<Duration>,
    /// Body bytes, truncated.
    pub body: Vec<u8>,
}

/// A configured client.
#[derive(Clone, Debug)]
pub struct HttpClient {
    agent: Agent,
}

impl HttpClient {
    /// A client whose requests time out after `timeout`, trusting the webpki
    /// roots and, when given, the PEM certificates in `ca_file`.
    pub fn new(timeout: Duration, ca_file: Option<&Path>) -> Result<Self, ExportError> {
        let roots = match ca_file {
            None => RootCerts::WebPki,
            Some(path) => {
                let pem = std::fs::read(path)?;
                let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(ExportError::Transport(format!(
                        "no certificate found in {}",
                        path.display()
                    )));
                }
                RootCerts::new_with_certs(&certs)
            }
        };
        let config = Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .user_agent(concat!("osprey/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            agent: config.into(),
        })
    }

    /// POSTs `body`; `headers` are sent as given (content type, encoding,
    /// credentials). Network failures and timeouts are errors; any HTTP
    /// status is a response.
    pub fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse, ExportError> {
        let mut request = self.agent.post(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let mut response = request.send(body).map_err(classify)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .unwrap_or_default();
        Ok(HttpResponse {
            status,
            retry_after,
            body,
        })
    }
}

fn classify(e: ureq::Error) -> ExportError {
    match e {
        ureq::Error::Timeout(_) => ExportError::Timeout,
        other => ExportError::Transport(other.to_string()),
    }
}
