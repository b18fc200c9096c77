//! The blocking HTTP client shared by the network exporters: ureq over
//! rustls (certificates verified against the webpki roots, or against the
//! certificates of a CA file when one is configured, as
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` means), a timeout on every request,
//! bounded response bodies.

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
    /// The [`crate::model::SERVER_HEADER`] value: the request reached an
    /// Osprey server (of that version).
    pub osprey_server: Option<String>,
}

impl HttpResponse {
    /// The error for a rejected request: the status and a printable excerpt
    /// of the body, for the log line.
    pub fn rejected(&self) -> ExportError {
        ExportError::Rejected {
            status: self.status,
            body: printable(&String::from_utf8_lossy(&self.body)),
        }
    }
}

/// Characters of collector-supplied text kept for a log line.
const MAX_LOGGED_CHARS: usize = 256;

/// At most `MAX_LOGGED_CHARS` (256) characters of `text`, control characters
/// replaced, so a hostile answer cannot forge or flood log lines.
pub fn printable(text: &str) -> String {
    text.chars()
        .take(MAX_LOGGED_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A configured client.
#[derive(Clone, Debug)]
pub struct HttpClient {
    agent: Agent,
}

impl HttpClient {
    /// A client whose requests time out after `timeout`, trusting the webpki
    /// roots, or, when `ca_file` is given, only the PEM certificates in it.
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
        self.send(url, headers, body, None)
            .map_err(ExportError::from)
    }

    /// Like [`post`](Self::post), with this request's timeout (when given)
    /// replacing the client's, and failures kept apart by whether a retry
    /// can help.
    pub fn send(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Option<Duration>,
    ) -> Result<HttpResponse, SendError> {
        let mut request = self.agent.post(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(t) = timeout {
            request = request.config().timeout_global(Some(t)).build();
        }
        let mut response = request.send(body).map_err(classify)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let osprey_server = response
            .headers()
            .get(crate::model::SERVER_HEADER)
            .map(|v| printable(&String::from_utf8_lossy(v.as_bytes())));
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
            osprey_server,
        })
    }
}

/// Why a request got no HTTP response.
#[derive(Debug)]
pub enum SendError {
    /// No complete answer within the timeout.
    Timeout,
    /// The connection could not be made or broke (refused, reset, DNS):
    /// worth retrying.
    Connect(String),
    /// A failure a retry cannot fix (bad URL, TLS certificate, malformed
    /// response).
    Fatal(String),
}

impl SendError {
    /// True for timeouts and connection failures.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Fatal(_))
    }
}

impl From<SendError> for ExportError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Timeout => Self::Timeout,
            SendError::Connect(m) | SendError::Fatal(m) => Self::Transport(m),
        }
    }
}

/// The seconds form of `Retry-After`; the HTTP-date form is ignored (the
/// caller then falls back to its own backoff).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn classify(e: ureq::Error) -> SendError {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Timeout(_) | ureq::Error::BodyStalled => SendError::Timeout,
        // A certificate the configured roots do not trust (or another TLS
        // refusal) stays so: no retry.
        ureq::Error::Io(io) if is_tls_refusal(&io) => SendError::Fatal(format!("TLS: {io}")),
        ureq::Error::Io(io) if matches!(io.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            SendError::Timeout
        }
        e @ (ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound) => {
            SendError::Connect(e.to_string())
        }
        other => SendError::Fatal(other.to_string()),
    }
}

/// Whether an I/O error is rustls refusing the handshake.
fn is_tls_refusal(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_parse_and_dates_are_ignored() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn only_connection_failures_and_timeouts_are_retryable() {
        assert!(SendError::Timeout.is_retryable());
        assert!(SendError::Connect("refused".into()).is_retryable());
        assert!(!SendError::Fatal("bad certificate".into()).is_retryable());
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            classify(ureq::Error::Io(refused)),
            SendError::Connect(_)
        ));
        assert!(matches!(
            classify(ureq::Error::BadUri("x".into())),
            SendError::Fatal(_)
        ));
        let untrusted = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(
            classify(ureq::Error::Io(untrusted)),
            SendError::Fatal(_)
        ));
    }
}
