//! OTLP/HTTP protobuf exporter (traces to `/v1/traces`, aggregates to
//! `/v1/metrics`), built on the `opentelemetry-proto` message types.
//!
//! One [`Exporter::export`] call is one unit: the traces request (when the
//! batch has sampled transactions) and then the metrics request (when it
//! has aggregates). Throttling, unavailability and connection failures are
//! retried with backoff until [`OtlpConfig::max_retry_time`] has passed;
//! other statuses fail the batch at once; a partial success is logged and
//! counts as delivered.

mod config;
mod encode;
#[cfg(feature = "grpc")]
mod grpc;
mod retry;
mod wire;

pub(crate) use config::ENTRY;
pub use config::{Compression, OtlpConfig, Protocol};

use std::borrow::Cow;
use std::io::Write;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use crate::diag;
use crate::export::http::{HttpClient, HttpResponse, SendError};
use crate::export::{ExportError, Exporter};
use crate::model::ExportBatch;
use crate::names::NameMirror;
use retry::Backoff;

/// Longest piece of a collector's text put in a log line or error.
/// The two OTLP signals Osprey sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn as_str(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
        }
    }
}

/// How requests reach the collector.
enum Transport {
    Http(HttpClient),
    #[cfg(feature = "grpc")]
    Grpc(grpc::GrpcClient),
}

/// Sends batches to an OTLP collector.
pub struct OtlpExporter {
    transport: Transport,
    config: OtlpConfig,
    backoff: Backoff,
    stopped: bool,
    /// The traces request, reused from batch to batch.
    traces_body: Vec<u8>,
    /// Span and attribute names, looked up without a lock.
    names: NameMirror,
}

/// A reused request buffer grown past this is given back after the batch.
const MAX_KEPT_BODY: usize = 16 << 20;

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers may carry credentials: never printed.
        f.debug_struct("OtlpExporter")
            .field("traces_endpoint", &self.config.traces_endpoint)
            .field("metrics_endpoint", &self.config.metrics_endpoint)
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Builds the exporter; fails on an unusable endpoint or CA file.
    pub fn new(config: OtlpConfig) -> Result<Self, ExportError> {
        let transport = match config.protocol {
            Protocol::HttpProtobuf => {
                for url in [&config.traces_endpoint, &config.metrics_endpoint] {
                    check_endpoint(url)?;
                }
                Transport::Http(HttpClient::new(config.timeout, config.ca_file.as_deref())?)
            }
            #[cfg(feature = "grpc")]
            Protocol::Grpc => {
                check_endpoint(&config.grpc_endpoint)?;
                Transport::Grpc(grpc::GrpcClient::new(&config)?)
            }
            #[cfg(not(feature = "grpc"))]
            Protocol::Grpc => {
                return Err(ExportError::Transport(
                    "OTLP/gRPC needs the `grpc` feature of the osprey crate".into(),
                ));
            }
        };
        Ok(Self {
            transport,
            config,
            backoff: Backoff::from_os(),
            stopped: false,
            traces_body: Vec::new(),
            names: NameMirror::default(),
        })
    }

    /// Sends one encoded request, retrying until `deadline`.
    fn deliver(
        &mut self,
        signal: Signal,
        message: &[u8],
        deadline: Instant,
    ) -> Result<(), ExportError> {
        // gRPC compresses per message itself.
        let body = match self.transport {
            Transport::Http(_) => self.compress(message)?,
            #[cfg(feature = "grpc")]
            Transport::Grpc(_) => Cow::Borrowed(message),
        };
        let body = &body[..];
        let mut retries = 0u32;
        loop {
            let timeout = self.attempt_timeout(retries, deadline);
            let (error, retry_after) = match self.attempt(signal, body, timeout) {
                Ok(response) if is_success(response.status) => {
                    check_partial_success(signal, &response.body);
                    return Ok(());
                }
                Ok(response) => match rejection(response) {
                    Rejection::Final(e) => return Err(e),
                    Rejection::Retry(e, after) => (e, after),
                },
                Err(e) if e.is_retryable() => (e.into(), None),
                Err(e) => return Err(e.into()),
            };
            let delay = self.backoff.delay(retries, retry_after);
            if Instant::now() + delay >= deadline {
                return Err(give_up(error, retries));
            }
            std::thread::sleep(delay);
            retries += 1;
        }
    }

    /// The first attempt gets the full request timeout; retries get no more
    /// than what is left before the deadline.
    fn attempt_timeout(&self, retries: u32, deadline: Instant) -> Duration {
        if retries == 0 {
            return self.config.timeout;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.config.timeout.min(left).max(Duration::from_millis(1))
    }

    #[cfg_attr(not(feature = "grpc"), allow(clippy::infallible_destructuring_match))]
    fn attempt(
        &self,
        signal: Signal,
        body: &[u8],
        timeout: Duration,
    ) -> Result<HttpResponse, SendError> {
        let client = match &self.transport {
            Transport::Http(client) => client,
            #[cfg(feature = "grpc")]
            Transport::Grpc(client) => return client.send(signal, body, timeout),
        };
        let url = match signal {
            Signal::Traces => &self.config.traces_endpoint,
            Signal::Metrics => &self.config.metrics_endpoint,
        };
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/x-protobuf")];
        if self.config.compression == Compression::Gzip {
            headers.push(("content-encoding", "gzip"));
        }
        headers.extend(
            self.config
                .headers
                .iter()
                .filter(|(k, _)| !is_reserved_header(k))
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        client.send(url, &headers, body, Some(timeout))
    }

    fn compress<'m>(&self, message: &'m [u8]) -> Result<Cow<'m, [u8]>, ExportError> {
        match self.config.compression {
            Compression::None => Ok(Cow::Borrowed(message)),
            Compression::Gzip => {
                let out = Vec::with_capacity(message.len() / 4 + 64);
                let mut gz = GzEncoder::new(out, flate2::Compression::fast());
                gz.write_all(message)
                    .and_then(|()| gz.finish())
                    .map(Cow::Owned)
                    .map_err(|e| ExportError::Encode(format!("gzip: {e}")))
            }
        }
    }
}

impl Exporter for OtlpExporter {
    fn name(&self) -> &'static str {
        "otlp"
    }

    /// Spans are sent for kept trees only; the rest are counted in the
    /// aggregates.
    fn wants_unsampled(&self) -> bool {
        false
    }

    fn export(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        if self.stopped {
            return Err(ExportError::Transport("exporter is shut down".into()));
        }
        let deadline = Instant::now() + self.config.max_retry_time;
        let mut body = std::mem::take(&mut self.traces_body);
        self.names.sync();
        let traces = match wire::encode_traces(batch, &self.names, &mut body) {
            Some(start) => self.deliver(Signal::Traces, &body[start..], deadline),
            None => Ok(()),
        };
        if body.capacity() <= MAX_KEPT_BODY {
            self.traces_body = body;
        }
        // The aggregates go even when the traces failed: they count every
        // transaction, and they are not the transactions the result reports.
        if let Some(request) = encode::metrics_request(batch)
            && let Err(e) = self.deliver(Signal::Metrics, &request.encode_to_vec(), deadline)
        {
            crate::diag::warn("otlp-metrics", &format!("OTLP metrics export failed: {e}"));
        }
        traces
    }

    /// Nothing is buffered between exports, so this returns at once.
    fn shutdown(&mut self, _timeout: Duration) -> Result<(), ExportError> {
        self.stopped = true;
        Ok(())
    }
}

/// What a non-2xx answer means.
enum Rejection {
    /// Not worth another attempt.
    Final(ExportError),
    /// Worth another attempt, after `Retry-After` when given.
    Retry(ExportError, Option<Duration>),
}

fn rejection(response: HttpResponse) -> Rejection {
    let error = response.rejected();
    if retry::is_retryable_status(response.status) {
        Rejection::Retry(error, response.retry_after)
    } else {
        Rejection::Final(error)
    }
}

/// The error returned once retrying stops: the failure itself when there
/// was no retry, otherwise how many attempts were made and the last failure.
fn give_up(last: ExportError, retries: u32) -> ExportError {
    if retries == 0 {
        return last;
    }
    ExportError::RetriesExhausted(format!("{} attempts, last: {last}", retries + 1))
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Logs (rate limited) a 2xx answer that reports rejected items. A body
/// that does not decode is ignored: the request was accepted.
fn check_partial_success(signal: Signal, body: &[u8]) {
    let (rejected, message) = match signal {
        Signal::Traces => match ExportTraceServiceResponse::decode(body) {
            Ok(ExportTraceServiceResponse {
                partial_success: Some(p),
            }) => (p.rejected_spans, p.error_message),
            _ => return,
        },
        Signal::Metrics => match ExportMetricsServiceResponse::decode(body) {
            Ok(ExportMetricsServiceResponse {
                partial_success: Some(p),
            }) => (p.rejected_data_points, p.error_message),
            _ => return,
        },
    };
    if rejected <= 0 && message.is_empty() {
        return;
    }
    let what = signal.as_str();
    diag::warn(
        &format!("otlp-partial-{what}"),
        &format!(
            "OTLP collector accepted {what} partially ({rejected} rejected): {}",
            crate::export::http::printable(&message)
        ),
    );
}

/// Headers the exporter sets itself; configured ones with these names are
/// ignored.
fn is_reserved_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("content-encoding")
}

fn check_endpoint(url: &str) -> Result<(), ExportError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(())
    } else {
        Err(ExportError::Transport(format!(
            "OTLP endpoint must be an http:// or https:// URL: {}",
            crate::export::http::printable(url)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_http_urls() {
        assert!(OtlpExporter::new(OtlpConfig::default()).is_ok());
        let bad = OtlpConfig {
            traces_endpoint: "localhost:4318".into(),
            ..OtlpConfig::default()
        };
        assert!(OtlpExporter::new(bad).is_err());
    }

    #[test]
    fn retryable_statuses_are_retried_and_others_are_final() {
        let response = |status| HttpResponse {
            status,
            retry_after: Some(Duration::from_secs(1)),
            body: b"no\n".to_vec(),
        };
        assert!(matches!(
            rejection(response(503)),
            Rejection::Retry(_, Some(d)) if d == Duration::from_secs(1)
        ));
        match rejection(response(400)) {
            Rejection::Final(ExportError::Rejected { status, body }) => {
                assert_eq!(status, 400);
                assert_eq!(body, "no ");
            }
            _ => panic!("400 must be final"),
        }
    }

    #[test]
    fn giving_up_reports_the_failure_and_attempts() {
        assert!(matches!(
            give_up(ExportError::Timeout, 0),
            ExportError::Timeout
        ));
        let e = give_up(ExportError::Timeout, 2);
        assert!(e.to_string().contains("3 attempts"), "{e}");
    }

    #[test]
    fn gzip_round_trips() {
        let gzip = OtlpConfig::default().compression(Compression::Gzip);
        let exporter = OtlpExporter::new(gzip).unwrap();
        let packed = exporter.compress(b"hello hello hello").unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed[..]), &mut out)
            .unwrap();
        assert_eq!(out, "hello hello hello");
    }
}
