//! OTLP/HTTP protobuf exporter (traces to `/v1/traces`, aggregates to
//! `/v1/metrics`), built on the `opentelemetry-proto` message types.
//!
//! One [`Exporter::export`] call is one unit: the traces request (when the
//! batch has sampled transactions) and then the metrics request (when it
//! has aggregates). Throttling, unavailability and connection failures are
//! retried with backoff until [`OtlpConfig::max_retry_time`] has passed;
//! other statuses fail the batch at once; a partial success is logged and
//! counts as delivered.
//!
//! Transactions whose call tree was left out (sampling, the tree budget)
//! travel as summary spans (the root span alone, `osprey.tree=omitted`)
//! when [`OtlpConfig::summaries`] says so: by default only to an Osprey
//! server, recognised by the `osprey-server` header on its answers (see
//! [`Summaries`]).

mod config;
mod encode;
#[cfg(feature = "grpc")]
mod grpc;
mod retry;
mod wire;

pub(crate) use config::ENTRY;
pub use config::{Compression, OtlpConfig, Protocol, Summaries};

use std::borrow::Cow;
use std::io::Write;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use crate::diag;
use crate::export::http::{HttpClient, HttpResponse, SendError};
use crate::export::{ExportError, Exporter, UnsampledDemand};
use crate::model::ExportBatch;
use crate::names::NameMirror;
use retry::Backoff;
use wire::Spans;

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
    /// Whether summaries are sent now.
    summaries: SummarySwitch,
}

/// [`Summaries`] and what the answers said about the collector.
#[derive(Debug)]
struct SummarySwitch {
    mode: Summaries,
    /// Whether the last successful answer came from an Osprey server;
    /// `None` before the first.
    osprey: Option<bool>,
    /// The collector's side: whether to build records for tree-less
    /// transactions (attached before the first batch).
    demand: Option<UnsampledDemand>,
}

impl SummarySwitch {
    fn new(mode: Summaries) -> Self {
        Self {
            mode,
            osprey: None,
            demand: None,
        }
    }

    /// Whether the collector should build records for tree-less
    /// transactions: `auto` wants them until an answer says the collector
    /// is not Osprey.
    fn wanted(&self) -> bool {
        match self.mode {
            Summaries::On => true,
            Summaries::Off => false,
            Summaries::Auto => self.osprey != Some(false),
        }
    }

    /// Whether summaries are sent now.
    fn sending(&self) -> bool {
        match self.mode {
            Summaries::On => true,
            Summaries::Off => false,
            Summaries::Auto => self.osprey == Some(true),
        }
    }

    /// Takes in a successful answer: `server` is its `osprey-server` header.
    fn answered(&mut self, server: Option<&str>) {
        let osprey = server.is_some();
        if self.mode != Summaries::Auto || self.osprey == Some(osprey) {
            return;
        }
        self.osprey = Some(osprey);
        let wanted = self.wanted();
        if let Some(d) = &mut self.demand {
            d.set(wanted);
        }
        if let Some(version) = server {
            diag::warn(
                "otlp-summaries",
                &format!(
                    "OTLP collector is an Osprey server ({version}): transactions \
                     without a call tree are sent as summary spans"
                ),
            );
        }
    }
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
            backoff: Backoff::from_os(),
            stopped: false,
            traces_body: Vec::new(),
            names: NameMirror::default(),
            summaries: SummarySwitch::new(config.summaries),
            config,
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
                    self.summaries.answered(response.osprey_server.as_deref());
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

    /// Encodes the `which` spans of `batch` and sends them (nothing when
    /// there are none). `self.names` must be synced.
    fn send_traces(
        &mut self,
        batch: &ExportBatch,
        which: Spans,
        deadline: Instant,
    ) -> Result<(), ExportError> {
        let mut body = std::mem::take(&mut self.traces_body);
        let result = match wire::encode_traces(batch, &self.names, which, &mut body) {
            Some(start) => self.deliver(Signal::Traces, &body[start..], deadline),
            None => Ok(()),
        };
        if body.capacity() <= MAX_KEPT_BODY {
            self.traces_body = body;
        }
        result
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

    /// Transactions without a call tree are wanted when summaries are
    /// (`auto`: until an answer shows the collector is not Osprey).
    fn wants_unsampled(&self) -> bool {
        self.summaries.wanted()
    }

    fn attach_demand(&mut self, demand: UnsampledDemand) {
        self.summaries.demand = Some(demand);
    }

    fn export(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        if self.stopped {
            return Err(ExportError::Transport("exporter is shut down".into()));
        }
        let deadline = Instant::now() + self.config.max_retry_time;
        let sending = self.summaries.sending();
        self.names.sync();
        let which = if sending { Spans::All } else { Spans::Trees };
        let mut traces = self.send_traces(batch, which, deadline);
        // The aggregates go even when the traces failed: they count every
        // transaction, and they are not the transactions the result reports.
        if let Some(request) = encode::metrics_request(batch)
            && let Err(e) = self.deliver(Signal::Metrics, &request.encode_to_vec(), deadline)
        {
            crate::diag::warn("otlp-metrics", &format!("OTLP metrics export failed: {e}"));
        }
        // This batch's answers just showed an Osprey server (`auto`): its
        // tree-less transactions follow as summaries.
        if !sending && self.summaries.sending() {
            traces = traces.and(self.send_traces(batch, Spans::Summaries, deadline));
        }
        traces
    }

    /// Nothing is buffered between exports, so this returns at once.
    fn shutdown(&mut self, _timeout: Duration) -> Result<(), ExportError> {
        self.stopped = true;
        Ok(())
    }
}

/// The traces encoder alone, as one export runs it before sending: for
/// the benchmarks (`benches/benches/otlp_encode.rs`), not a stable API.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct BenchEncoder {
    names: NameMirror,
    out: Vec<u8>,
}

impl BenchEncoder {
    /// Encodes the summaries (`summaries`) or the kept trees of `batch`;
    /// returns the request's size in bytes.
    pub fn encode(&mut self, batch: &ExportBatch, summaries: bool) -> usize {
        self.names.sync();
        let which = if summaries {
            Spans::Summaries
        } else {
            Spans::Trees
        };
        wire::encode_traces(batch, &self.names, which, &mut self.out)
            .map_or(0, |start| self.out.len() - start)
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
            osprey_server: None,
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
    fn auto_summaries_follow_the_answers_and_tell_the_collector() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let wanting = Arc::new(AtomicUsize::new(0));
        let mut s = SummarySwitch::new(Summaries::Auto);
        assert!(s.wanted() && !s.sending(), "undecided: keep, do not send");
        s.demand = Some(UnsampledDemand::new(&wanting, s.wanted()));
        assert_eq!(wanting.load(Ordering::Relaxed), 1);
        s.answered(None);
        assert!(!s.wanted() && !s.sending());
        assert_eq!(wanting.load(Ordering::Relaxed), 0);
        s.answered(Some("0.1.0"));
        assert!(s.wanted() && s.sending());
        assert_eq!(wanting.load(Ordering::Relaxed), 1);
        s.answered(Some("0.1.0"));
        assert_eq!(wanting.load(Ordering::Relaxed), 1, "counted once");
        let mut on = SummarySwitch::new(Summaries::On);
        on.answered(None);
        assert!(on.sending());
        let mut off = SummarySwitch::new(Summaries::Off);
        off.answered(Some("0.1.0"));
        assert!(!off.sending() && !off.wanted());
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
