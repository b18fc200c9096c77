//! OTLP exporter settings and the standard `OTEL_EXPORTER_OTLP_*` variables.

use std::path::PathBuf;
use std::time::Duration;

use crate::config_error::ConfigError;
use crate::export::registry::{ExporterEntry, ExporterSettings, exporter_settings};

/// Payload compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression, the default (as the OTLP exporter specification
    /// and the OpenTelemetry SDKs have it): a collector on the same host or
    /// network is better served by spending no CPU on compressing.
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip`), for collectors across slow links.
    Gzip,
}

/// How requests travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), the default.
    #[default]
    HttpProtobuf,
    /// OTLP/gRPC (`grpc`), to [`OtlpConfig::grpc_endpoint`]; needs the
    /// `grpc` feature.
    Grpc,
}

/// Whether transactions that kept no call tree travel as summary spans
/// (`otlp.summaries`, `OSPREY_OTLP_SUMMARIES`).
///
/// A summary is the transaction's root span alone, marked
/// `osprey.tree=omitted`: name, start, elapsed, status and error, the HTTP
/// status, client address and user, SQL and outgoing-call counts and total
/// times, CPU time, thread. With summaries an Osprey server counts every
/// transaction in its XLog, filters and TPS, not only those whose tree the
/// budget kept (`sample.trees_per_second`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Summaries {
    /// On when the collector answers as an Osprey server (the
    /// `osprey-server` response header), off for other backends. Until the
    /// first answer the collector keeps the tree-less transactions; the
    /// first batch's summaries follow its trees once the answer says
    /// Osprey, and are dropped otherwise. Every successful answer is looked
    /// at again, so a server that changes is followed.
    #[default]
    Auto,
    /// Always: any OTLP backend receives a span per transaction.
    On,
    /// Never: spans for the kept trees only; the rest count only in the
    /// per-second `osprey.transactions` metrics.
    Off,
}

impl Summaries {
    fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "auto" | "" => Some(Self::Auto),
            "on" | "true" => Some(Self::On),
            "off" | "false" => Some(Self::Off),
            _ => None,
        }
    }
}

/// Settings of the OTLP/HTTP exporter. Its `Debug` output shows header
/// names only: values may be credentials.
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// Full URL for traces (default `http://localhost:4318/v1/traces`).
    pub traces_endpoint: String,
    /// Full URL for metrics (default `http://localhost:4318/v1/metrics`).
    pub metrics_endpoint: String,
    /// Extra request headers (API keys); never logged.
    pub headers: Vec<(String, String)>,
    /// Timeout of one request (default 10 s).
    pub timeout: Duration,
    /// Payload compression (default none).
    pub compression: Compression,
    /// PEM file of extra trusted CA certificates (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub ca_file: Option<PathBuf>,
    /// Longest time spent retrying one batch (default 30 s).
    pub max_retry_time: Duration,
    /// OTLP/HTTP or OTLP/gRPC (`otlp.protocol`, `OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub protocol: Protocol,
    /// The collector's gRPC address, used when `protocol` is gRPC (default
    /// `http://localhost:4317`; [`OtlpConfig::endpoint`] sets it too).
    pub grpc_endpoint: String,
    /// Summary spans for the transactions that kept no call tree (default
    /// [`Summaries::Auto`]: only to an Osprey server).
    pub summaries: Summaries,
    /// Set when an `OTEL_EXPORTER_OTLP_*` variable was read.
    pub(crate) from_env: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            traces_endpoint: "http://localhost:4318/v1/traces".into(),
            metrics_endpoint: "http://localhost:4318/v1/metrics".into(),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            compression: Compression::None,
            ca_file: None,
            max_retry_time: Duration::from_secs(30),
            protocol: Protocol::HttpProtobuf,
            grpc_endpoint: "http://localhost:4317".into(),
            summaries: Summaries::Auto,
            from_env: false,
        }
    }
}

impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpConfig")
            .field("traces_endpoint", &self.traces_endpoint)
            .field("metrics_endpoint", &self.metrics_endpoint)
            .field("header_names", &header_names)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("ca_file", &self.ca_file)
            .field("max_retry_time", &self.max_retry_time)
            .field("protocol", &self.protocol)
            .field("grpc_endpoint", &self.grpc_endpoint)
            .field("summaries", &self.summaries)
            .finish_non_exhaustive()
    }
}

impl OtlpConfig {
    /// Sets the base endpoint: `/v1/traces` and `/v1/metrics` are appended
    /// for OTLP/HTTP; OTLP/gRPC uses it as it is.
    pub fn endpoint(mut self, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        self.traces_endpoint = format!("{base}/v1/traces");
        self.metrics_endpoint = format!("{base}/v1/metrics");
        self.grpc_endpoint = base.to_owned();
        self
    }

    /// Sets the protocol.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets the timeout of one request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the longest time spent retrying one batch.
    pub fn max_retry_time(mut self, limit: Duration) -> Self {
        self.max_retry_time = limit;
        self
    }

    /// Sets the payload compression.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets whether transactions without a call tree are sent as summary
    /// spans.
    pub fn summaries(mut self, summaries: Summaries) -> Self {
        self.summaries = summaries;
        self
    }

    /// Adds a request header (an API key, say); header values are never logged.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets one `otlp.*` key of the Osprey configuration.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |expected| ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            expected,
        };
        match key {
            "otlp.endpoint" => *self = std::mem::take(self).endpoint(value),
            "otlp.headers" => {
                // Header values are credentials: never echo them in errors.
                self.headers = parse_headers(value).ok_or_else(|| ConfigError::InvalidValue {
                    key: key.to_owned(),
                    value: "(hidden)".to_owned(),
                    expected: "k=v,k=v",
                })?
            }
            "otlp.timeout_ms" => {
                self.timeout =
                    Duration::from_millis(value.parse().map_err(|_| invalid("milliseconds"))?)
            }
            "otlp.compression" => {
                self.compression = match value {
                    "gzip" => Compression::Gzip,
                    "none" | "" => Compression::None,
                    _ => return Err(invalid("gzip or none")),
                }
            }
            "otlp.protocol" => {
                self.protocol = parse_protocol(value).ok_or_else(|| invalid(PROTOCOLS))?
            }
            "otlp.summaries" => {
                self.summaries =
                    Summaries::parse(value).ok_or_else(|| invalid("auto, on or off"))?
            }
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }

    /// Applies the standard `OTEL_EXPORTER_OTLP_*` variables read through `get`.
    pub fn with_env(mut self, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut read = |name: &str| {
            let v = get(name).filter(|v| !v.trim().is_empty());
            self.from_env |= v.is_some();
            v
        };
        let endpoint = read("OTEL_EXPORTER_OTLP_ENDPOINT");
        let traces = read("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        let metrics = read("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        let headers = read("OTEL_EXPORTER_OTLP_HEADERS");
        let timeout = read("OTEL_EXPORTER_OTLP_TIMEOUT");
        let compression = read("OTEL_EXPORTER_OTLP_COMPRESSION");
        let certificate = read("OTEL_EXPORTER_OTLP_CERTIFICATE");
        let protocol = read("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| read("OTEL_EXPORTER_OTLP_PROTOCOL"));
        let env_err = |var: &str, value: &str, expected| ConfigError::InvalidValue {
            key: var.to_owned(),
            value: value.to_owned(),
            expected,
        };
        // An environment shared with other agents may name a protocol we
        // lack (`http/json`): warn and keep OTLP/HTTP protobuf.
        if let Some(p) = protocol.as_deref().map(str::trim) {
            match parse_protocol(p) {
                Some(parsed) => self.protocol = parsed,
                None => crate::diag::warn(
                    "otlp-protocol",
                    &format!(
                        "OTLP protocol `{p}` is not supported ({PROTOCOLS}); sending http/protobuf"
                    ),
                ),
            }
        }
        if let Some(base) = endpoint {
            self = self.endpoint(&base);
        }
        if let Some(url) = traces {
            // For gRPC the signal's endpoint is used as it is (OTLP exporter spec).
            self.grpc_endpoint = url.clone();
            self.traces_endpoint = url;
        }
        if let Some(url) = metrics {
            self.metrics_endpoint = url;
        }
        if let Some(h) = headers {
            self.headers = parse_headers(&h)
                .ok_or_else(|| env_err("OTEL_EXPORTER_OTLP_HEADERS", "(hidden)", "k=v,k=v"))?;
        }
        if let Some(t) = timeout {
            let ms: u64 = t
                .trim()
                .parse()
                .map_err(|_| env_err("OTEL_EXPORTER_OTLP_TIMEOUT", &t, "milliseconds"))?;
            self.timeout = Duration::from_millis(ms);
        }
        if let Some(c) = compression {
            self.set("otlp.compression", c.trim())
                .map_err(|_| env_err("OTEL_EXPORTER_OTLP_COMPRESSION", &c, "gzip or none"))?;
        }
        if let Some(path) = certificate {
            self.ca_file = Some(PathBuf::from(path));
        }
        // Read here too (not only as an `OSPREY_*` key), so that it survives
        // this configuration replacing one built from other variables.
        if let Some(v) = get("OSPREY_OTLP_SUMMARIES").filter(|v| !v.trim().is_empty()) {
            self.summaries = Summaries::parse(&v)
                .ok_or_else(|| env_err("OSPREY_OTLP_SUMMARIES", &v, "auto, on or off"))?;
        }
        Ok(self)
    }
}

exporter_settings!(OtlpConfig, "otlp", |c| Ok(Box::new(
    super::OtlpExporter::new(c)?
)));

/// The OTLP exporter's row in [`crate::export::EXPORTERS`].
pub(crate) const ENTRY: ExporterEntry = ExporterEntry {
    name: "otlp",
    keys: &[
        "otlp.endpoint",
        "otlp.headers",
        "otlp.timeout_ms",
        "otlp.compression",
        "otlp.protocol",
        "otlp.summaries",
    ],
    settings: || Box::new(OtlpConfig::default()),
    from_env: Some(|get| {
        let c = OtlpConfig::default().with_env(get)?;
        Ok(c.from_env.then(|| Box::new(c) as Box<dyn ExporterSettings>))
    }),
    is_default: false,
};

/// What `otlp.protocol` accepts.
#[cfg(feature = "grpc")]
const PROTOCOLS: &str = "http/protobuf or grpc";
#[cfg(not(feature = "grpc"))]
const PROTOCOLS: &str = "http/protobuf (this build has no grpc feature)";

fn parse_protocol(value: &str) -> Option<Protocol> {
    match value {
        "http/protobuf" | "http" => Some(Protocol::HttpProtobuf),
        #[cfg(feature = "grpc")]
        "grpc" => Some(Protocol::Grpc),
        _ => None,
    }
}

/// Parses `k=v,k=v` with percent-decoded values, as the OTLP spec asks.
fn parse_headers(text: &str) -> Option<Vec<(String, String)>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_owned(), percent_decode(v.trim())?))
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_sets_endpoint_headers_timeout_and_compression() {
        let env = |k: &str| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318/".to_owned()),
            "OTEL_EXPORTER_OTLP_HEADERS" => Some("api-key=a%20b, x=1".to_owned()),
            "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("2500".to_owned()),
            "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".to_owned()),
            _ => None,
        };
        let c = OtlpConfig::default().with_env(env).unwrap();
        assert!(c.from_env);
        assert_eq!(c.traces_endpoint, "http://collector:4318/v1/traces");
        assert_eq!(c.metrics_endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(
            c.headers,
            vec![("api-key".into(), "a b".into()), ("x".into(), "1".into())]
        );
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(OtlpConfig::default().compression, Compression::None);
    }

    #[test]
    fn summaries_come_from_the_key_or_the_variable_and_default_to_auto() {
        assert_eq!(OtlpConfig::default().summaries, Summaries::Auto);
        let mut c = OtlpConfig::default();
        c.set("otlp.summaries", "on").unwrap();
        assert_eq!(c.summaries, Summaries::On);
        c.set("otlp.summaries", "off").unwrap();
        assert_eq!(c.summaries, Summaries::Off);
        let err = c.set("otlp.summaries", "sometimes").unwrap_err();
        assert!(err.to_string().contains("auto, on or off"), "{err}");
        let env = |k: &str| (k == "OSPREY_OTLP_SUMMARIES").then(|| "on".to_owned());
        let c = OtlpConfig::default().with_env(env).unwrap();
        assert_eq!(c.summaries, Summaries::On);
        assert!(!c.from_env, "not an OTEL variable: selects no exporter");
    }

    #[test]
    fn debug_output_hides_header_values() {
        let c = OtlpConfig::default().header("api-key", "s3cr3t");
        let text = format!("{c:?}");
        assert!(
            text.contains("api-key") && !text.contains("s3cr3t"),
            "{text}"
        );
    }

    #[test]
    fn no_env_leaves_defaults() {
        let c = OtlpConfig::default().with_env(|_| None).unwrap();
        assert!(!c.from_env);
        assert_eq!(c, OtlpConfig::default());
    }

    #[test]
    fn bad_header_key_is_an_error_that_hides_the_value() {
        let err = OtlpConfig::default()
            .set("otlp.headers", "Authorization Bearer secret-token")
            .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.to_string().contains("otlp.headers"));
    }

    #[test]
    fn bad_header_syntax_is_an_error_that_hides_the_value() {
        let env =
            |k: &str| (k == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "secret-no-equals".to_owned());
        let err = OtlpConfig::default().with_env(env).unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }
}
