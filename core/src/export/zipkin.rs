//! Zipkin v2 JSON exporter (`POST /api/v2/spans`).
//!
//! Each sampled transaction becomes one span (SERVER for requests handled,
//! no kind for internal work) and each of its steps a child span; SQL and
//! outgoing HTTP steps are CLIENT spans. Times are microseconds, as Zipkin
//! wants, and every duration is at least 1 µs. Attributes become string
//! tags; an error adds the `error` tag with its message. Transactions whose
//! call tree was sampled out are not sent.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::config_error::ConfigError;
use crate::export::http::HttpClient;
use crate::export::registry::{ExporterEntry, exporter_settings};
use crate::export::{ExportError, Exporter};
use crate::model::{
    ATTR_BUSY_NS, Attribute, ErrorInfo, ExportBatch, SpanKind, StepKind, StepRecord,
    TransactionRecord, busy_value,
};

/// Settings of the Zipkin exporter.
#[derive(Clone, Debug, PartialEq)]
pub struct ZipkinConfig {
    /// Full URL (default `http://localhost:9411/api/v2/spans`).
    pub endpoint: String,
    /// Timeout of one request (default 10 s).
    pub timeout: Duration,
}

impl Default for ZipkinConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:9411/api/v2/spans".into(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl ZipkinConfig {
    /// Sets one `zipkin.*` key of the Osprey configuration.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "zipkin.endpoint" => self.endpoint = value.to_owned(),
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }
}

exporter_settings!(ZipkinConfig, "zipkin", |c| Ok(Box::new(
    ZipkinExporter::new(c)?
)));

/// The Zipkin exporter's row in [`crate::export::EXPORTERS`].
pub(crate) const ENTRY: ExporterEntry = ExporterEntry {
    name: "zipkin",
    keys: &["zipkin.endpoint"],
    settings: || Box::new(ZipkinConfig::default()),
    from_env: None,
    is_default: false,
};

/// Sends batches to a Zipkin server.
pub struct ZipkinExporter {
    config: ZipkinConfig,
    client: HttpClient,
}

impl ZipkinExporter {
    /// Builds the exporter.
    pub fn new(config: ZipkinConfig) -> Result<Self, ExportError> {
        let client = HttpClient::new(config.timeout, None)?;
        Ok(Self { config, client })
    }
}

impl Exporter for ZipkinExporter {
    fn name(&self) -> &'static str {
        "zipkin"
    }

    /// Spans are sent for kept trees only; the rest are counted in the
    /// aggregates.
    fn wants_unsampled(&self) -> bool {
        false
    }

    fn export(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        let spans = spans(batch);
        if spans.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_vec(&spans).map_err(|e| ExportError::Encode(e.to_string()))?;
        let response = self.client.post(
            &self.config.endpoint,
            &[("Content-Type", "application/json")],
            &body,
        )?;
        if (200..300).contains(&response.status) {
            Ok(())
        } else {
            Err(response.rejected())
        }
    }
}

/// One Zipkin v2 span, as serialised in the JSON array.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipkinSpan {
    /// 32 lower-case hex digits.
    pub trace_id: String,
    /// 16 lower-case hex digits.
    pub id: String,
    /// The parent span's id; absent on a trace's root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// `SERVER` or `CLIENT`; absent for internal work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Operation name.
    pub name: String,
    /// Start, UNIX microseconds.
    pub timestamp: u64,
    /// Duration in microseconds, at least 1.
    pub duration: u64,
    /// The service that recorded the span.
    pub local_endpoint: Endpoint,
    /// The called service or database, for CLIENT spans when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_endpoint: Option<Endpoint>,
    /// String tags (sorted by key).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// A Zipkin endpoint; only the service name is filled.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// Service (or database system) name.
    pub service_name: String,
}

/// Maps a batch to Zipkin spans: the sampled transactions and their steps.
pub fn spans(batch: &ExportBatch) -> Vec<ZipkinSpan> {
    let local = Endpoint {
        service_name: batch.resource.service_name.clone(),
    };
    let mut out = Vec::new();
    for txn in batch.transactions.iter().filter(|t| t.sampled) {
        out.push(transaction_span(batch, txn, &local));
        for step in &txn.steps {
            out.push(step_span(batch, txn, step, &local));
        }
    }
    out
}

fn transaction_span(batch: &ExportBatch, txn: &TransactionRecord, local: &Endpoint) -> ZipkinSpan {
    ZipkinSpan {
        trace_id: txn.trace_id.to_hex(),
        id: txn.span_id.to_hex(),
        parent_id: txn.parent_span_id.map(|p| p.to_hex()),
        kind: match txn.kind {
            SpanKind::Server => Some("SERVER"),
            SpanKind::Client => Some("CLIENT"),
            SpanKind::Internal => None,
        },
        name: batch.name(txn.name).to_string(),
        timestamp: txn.start_unix_ns / 1_000,
        duration: micros(txn.elapsed_ns),
        local_endpoint: local.clone(),
        remote_endpoint: None,
        tags: tags(batch, &txn.attributes, txn.busy_ns, txn.error.as_ref()),
    }
}

fn step_span(
    batch: &ExportBatch,
    txn: &TransactionRecord,
    step: &StepRecord,
    local: &Endpoint,
) -> ZipkinSpan {
    let parent = txn.parent_span_id_of(step);
    let remote_key = match step.kind {
        StepKind::Sql => Some("db.system"),
        StepKind::HttpCall => Some("server.address"),
        StepKind::Method | StepKind::Custom => None,
    };
    let remote_endpoint = remote_key.and_then(|key| {
        step.attributes
            .iter()
            .find(|a| &*batch.name(a.key) == key)
            .map(|a| Endpoint {
                service_name: a.value.to_string(),
            })
    });
    ZipkinSpan {
        trace_id: txn.trace_id.to_hex(),
        id: step.span_id.to_hex(),
        parent_id: Some(parent.to_hex()),
        kind: match step.kind.span_kind() {
            SpanKind::Client => Some("CLIENT"),
            SpanKind::Server => Some("SERVER"),
            SpanKind::Internal => None,
        },
        name: batch.name(step.name).to_string(),
        timestamp: txn.start_unix_ns.saturating_add(step.start_offset_ns) / 1_000,
        duration: micros(step.elapsed_ns),
        local_endpoint: local.clone(),
        remote_endpoint,
        tags: {
            let mut tags = tags(batch, &step.attributes, step.busy_ns, step.error.as_deref());
            if let Some(key) = step.implied_statement_key() {
                tags.insert(key.to_owned(), batch.name(step.name).to_string());
            }
            tags
        },
    }
}

fn micros(ns: u64) -> u64 {
    (ns / 1_000).max(1)
}

fn tags(
    batch: &ExportBatch,
    attributes: &[Attribute],
    busy_ns: Option<u64>,
    error: Option<&ErrorInfo>,
) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = attributes
        .iter()
        .map(|a| (batch.name(a.key).to_string(), a.value.to_string()))
        .collect();
    if let Some(ns) = busy_ns {
        tags.insert(ATTR_BUSY_NS.to_owned(), busy_value(ns).to_string());
    }
    if let Some(e) = error {
        let text = if !e.message.is_empty() {
            e.message.clone()
        } else if !e.kind.is_empty() {
            e.kind.clone()
        } else {
            "true".to_owned()
        };
        tags.insert("error".to_owned(), text);
        if !e.kind.is_empty() {
            tags.insert("exception.type".to_owned(), e.kind.clone());
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{AttrValue, Resource, SpanId, TraceId};
    use crate::names::intern;

    fn attr(key: &str, value: impl Into<AttrValue>) -> Attribute {
        Attribute {
            key: intern(key),
            value: value.into(),
        }
    }

    fn step(id: u8, parent: Option<u32>, kind: StepKind, name: &str) -> StepRecord {
        StepRecord {
            span_id: SpanId([id; 8]),
            parent,
            depth: parent.map_or(1, |_| 2),
            kind,
            name: intern(name),
            start_offset_ns: 2_000,
            elapsed_ns: 500,
            busy_ns: None,
            error: None,
            attributes: Vec::new(),
            repaired: false,
        }
    }

    fn batch() -> ExportBatch {
        let mut sql = step(3, Some(0), StepKind::Sql, "SELECT * FROM cart");
        sql.attributes.push(attr("db.system", "postgresql"));
        sql.error = Some(Box::new(ErrorInfo {
            kind: "SQLException".into(),
            message: "deadlock".into(),
            stack: String::new(),
        }));
        let txn = TransactionRecord {
            trace_id: TraceId([0xab; 16]),
            span_id: SpanId([1; 8]),
            parent_span_id: Some(SpanId([9; 8])),
            kind: SpanKind::Server,
            name: intern("GET /cart"),
            start_unix_ns: 1_700_000_000_123_456_789,
            elapsed_ns: 5_000_000,
            busy_ns: None,
            error: None,
            attributes: vec![attr("http.response.status_code", 200i64)],
            steps: vec![
                StepRecord {
                    busy_ns: Some(1_500),
                    ..step(2, None, StepKind::Method, "load_cart")
                },
                sql,
            ],
            dropped_steps: 0,
            repaired: false,
            sampled: true,
            thread_id: 1,
        };
        let mut unsampled = txn.clone();
        unsampled.sampled = false;
        unsampled.steps.clear();
        ExportBatch {
            resource: Arc::new(Resource {
                service_name: "shop".into(),
                attributes: Vec::new(),
            }),
            transactions: vec![txn, unsampled],
            aggregates: Vec::new(),
            metrics: Vec::new(),
            active: Vec::new(),
        }
    }

    #[test]
    fn transaction_and_steps_map_to_spans() {
        let json = serde_json::to_value(spans(&batch())).unwrap();
        let expected = serde_json::json!([
            {
                "traceId": "abababababababababababababababab",
                "id": "0101010101010101",
                "parentId": "0909090909090909",
                "kind": "SERVER",
                "name": "GET /cart",
                "timestamp": 1_700_000_000_123_456u64,
                "duration": 5000,
                "localEndpoint": {"serviceName": "shop"},
                "tags": {"http.response.status_code": "200"}
            },
            {
                "traceId": "abababababababababababababababab",
                "id": "0202020202020202",
                "parentId": "0101010101010101",
                "name": "load_cart",
                "timestamp": 1_700_000_000_123_458u64,
                "duration": 1,
                "localEndpoint": {"serviceName": "shop"},
                "tags": {"osprey.busy_ns": "1500"}
            },
            {
                "traceId": "abababababababababababababababab",
                "id": "0303030303030303",
                "parentId": "0202020202020202",
                "kind": "CLIENT",
                "name": "SELECT * FROM cart",
                "timestamp": 1_700_000_000_123_458u64,
                "duration": 1,
                "localEndpoint": {"serviceName": "shop"},
                "remoteEndpoint": {"serviceName": "postgresql"},
                "tags": {
                    "db.statement": "SELECT * FROM cart",
                    "db.system": "postgresql",
                    "error": "deadlock",
                    "exception.type": "SQLException"
                }
            }
        ]);
        assert_eq!(json, expected);
    }

    #[test]
    fn internal_root_has_no_kind_or_parent_and_errors_are_tagged() {
        let mut b = batch();
        let txn = &mut b.transactions[0];
        txn.kind = SpanKind::Internal;
        txn.parent_span_id = None;
        txn.error = Some(ErrorInfo {
            kind: String::new(),
            message: String::new(),
            stack: String::new(),
        });
        let json = serde_json::to_value(&spans(&b)[0]).unwrap();
        assert!(json.get("kind").is_none());
        assert!(json.get("parentId").is_none());
        assert_eq!(json["tags"]["error"], "true");
    }

    #[test]
    fn non_2xx_is_rejected_and_unreachable_is_transport() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 65536];
            let mut seen = Vec::new();
            // Read until the JSON body's closing bracket arrives (bounded).
            for _ in 0..100 {
                let n = conn.read(&mut buf).unwrap_or(0);
                seen.extend_from_slice(&buf[..n]);
                if n == 0 || seen.ends_with(b"]") {
                    break;
                }
            }
            let body = "bad span";
            let reply = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&seen).into_owned()
        });
        let mut exporter = ZipkinExporter::new(ZipkinConfig {
            endpoint: format!("http://127.0.0.1:{port}/api/v2/spans"),
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        match exporter.export(&batch()) {
            Err(ExportError::Rejected { status: 400, body }) => assert_eq!(body, "bad span"),
            other => panic!("expected Rejected, got {other:?}"),
        }
        let request = server.join().unwrap().to_ascii_lowercase();
        assert!(request.starts_with("post /api/v2/spans"));
        assert!(request.contains("content-type: application/json"));

        // Nothing listens on the port any more.
        match exporter.export(&batch()) {
            Err(ExportError::Transport(_)) => {}
            other => panic!("expected Transport, got {other:?}"),
        }
    }

    #[test]
    fn nothing_sampled_sends_nothing() {
        let mut b = batch();
        b.transactions.retain(|t| !t.sampled);
        let mut exporter = ZipkinExporter::new(ZipkinConfig {
            endpoint: "http://127.0.0.1:9/unused".into(),
            timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert!(exporter.export(&b).is_ok());
    }
}
