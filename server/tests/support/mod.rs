//! Shared by the server's integration tests: temp dirs, an HTTP client that
//! returns every status, and builders of OTLP protobuf requests.
#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use serde_json::Value;

pub const MS: u64 = 1_000_000;

/// A fresh directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("osprey-srv-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body`; returns status and body text.
pub fn post(url: &str, content_type: &str, encoding: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut req = agent().post(url).header("content-type", content_type);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    let mut resp = req.send(body).expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

/// GETs JSON; panics unless 200.
pub fn get(url: &str) -> Value {
    let (status, text) = get_status(url);
    assert_eq!(status, 200, "GET {url}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// Transactions the per-second aggregates count from `from_ms` to `to_ms`
/// (the TPS chart's sum).
pub fn transactions_counted(url: &str, from_ms: u64, to_ms: u64) -> u64 {
    let agg = get(&format!("{url}/api/aggregates?from={from_ms}&to={to_ms}"));
    agg["seconds"]
        .as_array()
        .expect("seconds")
        .iter()
        .map(|s| s["count"].as_u64().expect("count"))
        .sum()
}

/// GETs; returns status and body.
pub fn get_status(url: &str) -> (u16, String) {
    let mut resp = agent().get(url).call().expect("request sent");
    let status = resp.status().as_u16();
    // A day of per-second aggregates is tens of MB: past ureq's 10 MB default.
    let text = resp
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .unwrap_or_else(|e| panic!("GET {url}: body unreadable: {e}"));
    (status, text)
}

pub fn sv(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    }
}

pub fn iv(i: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(i)),
    }
}

pub fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..KeyValue::default()
    }
}

/// A span of trace `trace` (one byte repeated), id `id`, parent `parent`.
#[allow(clippy::too_many_arguments)]
pub fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    name: &str,
    kind: span::SpanKind,
    start: u64,
    end: u64,
    attrs: Vec<KeyValue>,
) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs,
        ..Span::default()
    }
}

/// Marks `s` failed with an exception event.
pub fn failed(mut s: Span, kind: &str, message: &str) -> Span {
    s.status = Some(Status {
        code: 2,
        message: message.into(),
    });
    s.events.push(span::Event {
        time_unix_nano: s.end_time_unix_nano,
        name: "exception".into(),
        attributes: vec![
            kv("exception.type", sv(kind)),
            kv("exception.message", sv(message)),
        ],
        dropped_attributes_count: 0,
    });
    s
}

/// A request holding `spans` from `service`.
pub fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", sv(service))],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// The protobuf bytes of `req`.
pub fn proto(req: &ExportTraceServiceRequest) -> Vec<u8> {
    req.encode_to_vec()
}

/// Lower-case hex of one byte repeated `n` times.
pub fn hex_id(b: u8, n: usize) -> String {
    format!("{b:02x}").repeat(n)
}

/// Runs the `osprey` binary with `stdin` as its standard input; whether it
/// succeeded, its stdout and stderr. Kills it (and fails) past 30 s.
pub fn run_osprey(args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that does not read its input may have exited already.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("osprey {args:?} did not finish");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `osprey serve` process of a test; killed with SIGKILL when dropped
/// (also when the test fails).
pub struct ServerProcess(pub std::process::Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real binary, `osprey serve` on an ephemeral loopback port
/// with data in `data` (gRPC off) and `extra` arguments; returns the
/// process and its base URL once it listens.
pub fn serve_binary(data: &std::path::Path, extra: &[&str]) -> (ServerProcess, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["serve", "--grpc-listen", "off", "--listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("osprey starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    (ServerProcess(child), url)
}

/// A gauge of `points` (`(time ns, value)`).
pub fn gauge(name: &str, unit: &str, points: &[(u64, f64)]) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points
                .iter()
                .map(|&(t, v)| NumberDataPoint {
                    time_unix_nano: t,
                    value: Some(number_data_point::Value::AsDouble(v)),
                    ..NumberDataPoint::default()
                })
                .collect(),
        })),
        ..Metric::default()
    }
}

/// POSTs `metrics` of `service` to `{url}/v1/metrics`; panics unless 200.
pub fn send_metrics(url: &str, service: &str, metrics: Vec<Metric>) {
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", sv(service))],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..ScopeMetrics::default()
            }],
            schema_url: String::new(),
        }],
    };
    let (status, body) = post(
        &format!("{url}/v1/metrics"),
        "application/x-protobuf",
        None,
        &req.encode_to_vec(),
    );
    assert_eq!(status, 200, "{body}");
}
