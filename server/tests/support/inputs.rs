//! Bad-input checks shared by the property tests (`tests/input_properties.rs`,
//! run in CI) and the libFuzzer targets (`fuzz/fuzz_targets/{segment_file,
//! index_file,grpc_frames,query_params}.rs`): the store's readers (segment
//! files and sealed index files, as a restart finds them on disk), the
//! OTLP/gRPC frames and the query API's parameters, each through the real
//! code — the readers on real files, the requests through the server's own
//! router over a real store. Each check panics only when the server
//! misbehaves (a panic inside it, a 5xx for bad parameters, a gRPC answer
//! without a status).
//!
//! Besides raw bytes, inputs can be edits of real samples written by a real
//! store ([`Samples`]), so a few thousand runs already reach past the magic
//! numbers and checksums into the records and index parts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use osprey_server::app::{App, ServerConfig};
use osprey_server::auth::{Auth, AuthConfig};
use osprey_server::storage::disk::cache::PartCache;
use osprey_server::storage::disk::sealed::{SealedSegment, Visit};
use osprey_server::storage::embedded::EmbeddedStorage;
use osprey_server::storage::types::TxnFilter;
use prost::Message;

/// Real files and a real request to edit.
pub struct Samples {
    /// A segment file holding a few stored batches.
    pub segment: Vec<u8>,
    /// The sealed index file of a segment.
    pub index: Vec<u8>,
    /// An OTLP traces request, protobuf.
    pub request: Vec<u8>,
}

/// A server (store, indexes, router) in a temporary directory, and a
/// scratch directory for the files under test.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    scratch: PathBuf,
    /// Samples written by this harness's store.
    pub samples: Samples,
    _dir: tempfile::TempDir,
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// A request of one transaction `n` with a SQL step and a failed call.
fn sample_request(n: u8) -> ExportTraceServiceRequest {
    let start = 1_700_000_000_000_000_000 + u64::from(n) * 1_000_000_000;
    let span = |id: u8, parent: Option<u8>, name: &str, kind: span::SpanKind| Span {
        trace_id: vec![n; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: start + u64::from(id) * 1_000,
        end_time_unix_nano: start + 5_000_000,
        ..Span::default()
    };
    let mut root = span(1, None, "GET /orders/{id}", span::SpanKind::Server);
    root.attributes = vec![
        kv("http.route", "/orders/{id}"),
        kv("client.address", "10.0.0.7"),
    ];
    let mut sql = span(
        2,
        Some(1),
        "SELECT * FROM orders WHERE id = ?",
        span::SpanKind::Client,
    );
    sql.attributes = vec![kv("db.system", "postgresql")];
    let mut call = span(3, Some(1), "GET", span::SpanKind::Client);
    call.attributes = vec![
        kv("url.full", "http://inventory/stock"),
        kv("server.address", "inventory"),
    ];
    call.status = Some(Status {
        code: 2,
        message: "503".into(),
    });
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "shop"), kv("service.instance.id", "i-1")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![root, sql, call],
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn first_file(dir: &Path, suffix: &str) -> Vec<u8> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    paths.sort();
    std::fs::read(
        paths
            .first()
            .unwrap_or_else(|| panic!("no {suffix} file in {dir:?}")),
    )
    .unwrap()
}

/// The process's harness, made on first use (the property tests and the
/// fuzz targets run many inputs against one).
pub fn shared() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(Harness::new)
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// Opens a store, writes samples through it (segments rolled after
    /// every batch, the closed ones sealed), then serves the same data
    /// directory reopened with default segments (so that what the checks
    /// store does not start a segment per request).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let serve = |config: ServerConfig| -> (Arc<EmbeddedStorage>, axum::Router) {
            let storage = Arc::new(
                EmbeddedStorage::open(config.store.clone(), config.index.clone()).unwrap(),
            );
            let alerts = osprey_server::alerts::Alerts::open(&config.alerts, &data).unwrap();
            let app = App::with_storage(config, storage.clone());
            let auth = Arc::new(Auth::open(&data, AuthConfig::default()).unwrap());
            let live = Arc::new(osprey_server::live::Live::new(app.clone(), alerts).unwrap());
            (storage, osprey_server::api::router(app, auth, live))
        };
        let mut rolling = ServerConfig::new(&data);
        rolling.store.segment_bytes = 1;
        let (storage, router) = serve(rolling);
        let mut harness = Self {
            rt,
            router,
            scratch,
            samples: Samples {
                segment: Vec::new(),
                index: Vec::new(),
                request: sample_request(9).encode_to_vec(),
            },
            _dir: dir,
        };
        for n in 1..=3 {
            let body = sample_request(n).encode_to_vec();
            let (status, _) = harness.call(
                axum::http::Request::post("/v1/traces")
                    .header("content-type", "application/x-protobuf")
                    .body(axum::body::Body::from(body))
                    .unwrap(),
            );
            assert_eq!(status, 200, "sample ingest");
        }
        assert!(storage.seal_ready().unwrap() > 0, "a sealed segment");
        harness.samples.segment = first_file(&data, ".oss");
        harness.samples.index = first_file(&data, ".osx");
        harness.router = axum::Router::new();
        drop(storage);
        harness.router = serve(ServerConfig::new(&data)).1;
        harness
    }

    /// Sends `req` through the router; its status and whole body (with
    /// the `grpc-status` of headers or trailers, if any, as text).
    fn call(&self, req: axum::http::Request<axum::body::Body>) -> (u16, String) {
        use tower_service::Service;
        let mut router = self.router.clone();
        self.rt.block_on(async move {
            let res = router.call(req).await.unwrap();
            let status = res.status().as_u16();
            let grpc_header = res.headers().get("grpc-status").cloned();
            let collected = res.into_body().collect().await;
            let mut text = String::new();
            if let Ok(collected) = collected {
                let trailer = collected
                    .trailers()
                    .and_then(|t| t.get("grpc-status").cloned());
                if let Some(code) = grpc_header.or(trailer) {
                    text = format!("grpc-status: {}\n", code.to_str().unwrap_or("?"));
                }
                text.push_str(&String::from_utf8_lossy(&collected.to_bytes()));
            }
            (status, text)
        })
    }

    /// A file of its own in the scratch directory holding `bytes` (checks
    /// may run on several threads at once).
    fn scratch_file(&self, suffix: &str, bytes: &[u8]) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let seq = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = self.scratch.join(format!("srv-1-{seq}.{suffix}"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A segment file of `bytes` read as start-up reads it: every intact
    /// frame decoded, damage reported with offsets inside the file. The
    /// frames that decoded, and the issues.
    pub fn check_segment(&self, bytes: &[u8]) -> (usize, usize) {
        let path = self.scratch_file("oss", bytes);
        let mut decoded = 0;
        let issues = osprey_server::store::scan_segment(&path, |frame| {
            assert!(frame.offset < bytes.len() as u64);
            if osprey_server::store::decode_payload(&frame.payload).is_ok() {
                decoded += 1;
            }
        });
        let _ = std::fs::remove_file(&path);
        for issue in &issues {
            assert!(issue.offset <= bytes.len() as u64, "{issue:?}");
            assert!(!issue.problem.is_empty());
        }
        (decoded, issues.len())
    }

    /// A fuzz input for [`Self::check_segment`]: first byte even, the rest
    /// is the whole file; odd, the rest edits the sample ([`edit`]).
    pub fn segment_input(&self, data: &[u8]) {
        match data.split_first() {
            Some((mode, rest)) if mode & 1 == 1 => {
                self.check_segment(&edit(&self.samples.segment, rest));
            }
            Some((_, rest)) => {
                self.check_segment(rest);
            }
            None => {}
        }
    }

    /// A fuzz input for [`Self::check_index`], as [`Self::segment_input`].
    pub fn index_input(&self, data: &[u8]) {
        match data.split_first() {
            Some((mode, rest)) if mode & 1 == 1 => {
                self.check_index(&edit(&self.samples.index, rest));
            }
            Some((_, rest)) => {
                self.check_index(rest);
            }
            None => {}
        }
    }

    /// An index file of `bytes` opened and every kind of query run on it:
    /// each answers or fails with an error, none panics. The transactions
    /// listed, or `None` when the file does not open.
    pub fn check_index(&self, bytes: &[u8]) -> Option<usize> {
        let path = self.scratch_file("oss.osx", bytes);
        let segment = SealedSegment::open(&path);
        let _ = std::fs::remove_file(&path);
        let segment = segment.ok()?;
        let cache = PartCache::new(1 << 20);
        let mut rows = 0usize;
        let _ = segment.transactions(&cache, &TxnFilter::default(), &mut |_| {
            rows += 1;
            if rows > 100_000 {
                Visit::Done
            } else {
                Visit::More
            }
        });
        let _ = segment.since(&cache, 0);
        let _ = segment.aggs(&cache, 0, u64::MAX);
        let _ = segment.edges(&cache, 0, u64::MAX);
        let _ = segment.metrics(&cache, None, None, 0, u64::MAX);
        let _ = segment.metrics(&cache, Some("shop"), Some("x"), 0, u64::MAX);
        let _ = segment.active(&cache, 0, u64::MAX);
        let _ = segment.instances().count();
        for b in [0u8, 1, 2, 3] {
            let _ = segment.trace_rows(&cache, osprey::model::TraceId([b; 16]));
            let _ = segment.trace_records(osprey::model::TraceId([b; 16]));
            let _ = segment.by_span(&cache, osprey::model::SpanId([b; 8]));
        }
        Some(rows)
    }

    /// `bytes` as the body of an OTLP/gRPC call: `selector` picks the
    /// service (bit 0: metrics) and whether the call says it is gzipped
    /// (bit 1). Every answer is HTTP 200 with a gRPC status, returned.
    pub fn check_grpc(&self, selector: u8, body: &[u8]) -> u32 {
        let path = if selector & 1 == 0 {
            osprey_server::ingest::grpc::TRACES_PATH
        } else {
            osprey_server::ingest::grpc::METRICS_PATH
        };
        let mut req = axum::http::Request::post(path)
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if selector & 2 != 0 {
            req = req.header("grpc-encoding", "gzip");
        }
        let req = req.body(axum::body::Body::from(body.to_vec())).unwrap();
        let (status, text) = self.call(req);
        assert_eq!(status, 200, "{text}");
        let code: u32 = text
            .strip_prefix("grpc-status: ")
            .and_then(|t| t.split('\n').next())
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no grpc-status in {text:?}"));
        assert!(code <= 16, "{code}");
        code
    }

    /// `query` (any bytes, percent-encoded where a URI needs it) as the
    /// query string of the query API endpoint `selector` picks (or the
    /// path parameter of `/api/tree/{id}`): answered, never with a 5xx.
    /// The HTTP status.
    pub fn check_query(&self, selector: u8, query: &[u8]) -> u16 {
        const ENDPOINTS: [&str; 10] = [
            "/api/transactions",
            "/api/xlog",
            "/api/aggregates",
            "/api/servermap",
            "/api/at",
            "/api/metrics",
            "/api/active",
            "/api/instances",
            "/api/status",
            "/api/tree/",
        ];
        let endpoint = ENDPOINTS[usize::from(selector) % ENDPOINTS.len()];
        let text = uri_text(query);
        let uri = if endpoint.ends_with('/') {
            format!("{endpoint}{}", text.replace(['/', '?', '&', '='], "_"))
        } else {
            format!("{endpoint}?{text}")
        };
        let req = axum::http::Request::get(uri.as_str())
            .body(axum::body::Body::empty())
            .unwrap();
        let (status, body) = self.call(req);
        assert!(status < 500, "{uri} -> {status} {body}");
        if status == 400 {
            assert!(!body.trim().is_empty(), "{uri}: a 400 says why");
        }
        status
    }
}

/// `bytes` as URI query text: printable ASCII kept (so `&`, `=`, `%` and
/// the parameters' own characters stay meaningful), everything else
/// percent-encoded.
fn uri_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"&=%-_.~:,+;!$'()*@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A gRPC length-prefixed message frame: flag, big-endian length, body.
pub fn frame(compressed: bool, body: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::from(compressed)];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// `sample` edited as `edits` say: the first byte picks a truncation
/// (odd: cut at the position the next two bytes give), then each group of
/// three bytes overwrites the byte at a position (two bytes, modulo the
/// length) with a value.
pub fn edit(sample: &[u8], edits: &[u8]) -> Vec<u8> {
    let mut out = sample.to_vec();
    if out.is_empty() {
        return out;
    }
    let pos = |hi: u8, lo: u8, len: usize| (usize::from(hi) << 8 | usize::from(lo)) % len;
    let (mode, rest) = edits.split_first().unwrap_or((&0, &[]));
    for group in rest.chunks_exact(3) {
        let at = pos(group[0], group[1], out.len());
        out[at] = group[2];
    }
    if mode & 1 == 1 && rest.len() >= 2 {
        let at = pos(rest[0], rest[1], out.len() + 1);
        out.truncate(at);
    }
    out
}
