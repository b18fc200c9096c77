//! A transaction's call tree from its trace's spans: the root and its
//! descendants in the same service, stopping at other transaction roots.

use std::collections::{BTreeMap, HashMap};

use osprey::model::SpanId;
use serde::{Deserialize, Serialize};

use crate::record::{Kind, SpanRec};
use crate::storage::TxnJson;

/// A transaction called by a step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CalleeJson {
    /// Callee service.
    pub service: String,
    /// Callee transaction id.
    pub id: String,
}

/// One step of a call tree.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepJson {
    /// Span id.
    pub span_id: String,
    /// Parent span id (the transaction's for top-level steps).
    pub parent_span_id: String,
    /// 1 for children of the transaction.
    pub depth: u32,
    /// Step name.
    pub name: String,
    /// OTLP span kind (`CLIENT`, `INTERNAL`, ...).
    pub span_kind: String,
    /// `sql`, `http`, `method` or `custom` (from the attributes).
    pub kind: String,
    /// Start after the transaction's start, ms.
    pub offset_ms: f64,
    /// Duration, ms.
    pub duration_ms: f64,
    /// SQL text (`db.query.text` / `db.statement`).
    pub sql: Option<String>,
    /// Failed.
    pub error: bool,
    /// First exception's type.
    pub exception_type: Option<String>,
    /// First exception's message (or the status message).
    pub exception_message: Option<String>,
    /// Attributes, values as text.
    pub attributes: BTreeMap<String, String>,
    /// Transactions of other services this step called.
    pub callees: Vec<CalleeJson>,
}

/// A transaction and its steps in depth-first start order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TreeJson {
    /// The transaction.
    pub transaction: TxnJson,
    /// Its exception, if the root span has one.
    pub exception_type: Option<String>,
    /// Exception or status message of the root.
    pub exception_message: Option<String>,
    /// Attributes of the root span.
    pub attributes: BTreeMap<String, String>,
    /// The steps.
    pub steps: Vec<StepJson>,
    /// Transactions of other services called directly by the root span.
    pub callees: Vec<CalleeJson>,
}

fn step_kind(s: &SpanRec) -> &'static str {
    if s.sql().is_some() || s.attr("db.system").is_some() {
        "sql"
    } else if s.kind == Kind::Client
        && (s.attr("http.request.method").is_some()
            || s.attr("url.full").is_some()
            || s.attr("http.url").is_some())
    {
        "http"
    } else if s.attr("code.function").is_some() || s.kind == Kind::Internal {
        "method"
    } else {
        "custom"
    }
}

fn exception(s: &SpanRec) -> (Option<String>, Option<String>) {
    match s.exceptions.first() {
        Some(e) => (
            Some(e.kind.clone()).filter(|k| !k.is_empty()),
            Some(e.message.clone()).filter(|m| !m.is_empty()),
        ),
        None if s.error && !s.status_message.is_empty() => (None, Some(s.status_message.clone())),
        None => (None, None),
    }
}

fn attrs(s: &SpanRec) -> BTreeMap<String, String> {
    s.attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

/// Builds the tree of `txn` from `spans` (any spans of its trace).
pub fn build(txn: TxnJson, spans: &[SpanRec]) -> TreeJson {
    let mut by_id: HashMap<SpanId, &SpanRec> = HashMap::new();
    let mut children: HashMap<SpanId, Vec<&SpanRec>> = HashMap::new();
    for s in spans {
        if by_id.insert(s.span_id, s).is_none()
            && let Some(p) = s.parent
        {
            children.entry(p).or_default().push(s);
        }
    }
    for v in children.values_mut() {
        v.sort_by_key(|s| (s.start_ns, s.end_ns));
    }
    let root_id = SpanId::from_hex(&txn.id).unwrap_or_default();
    let root = by_id.get(&root_id).copied();
    let service = txn.service.clone();
    let callees_of = |id: SpanId| -> Vec<CalleeJson> {
        children
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|c| c.is_transaction_root() && c.service != service)
            .map(|c| CalleeJson {
                service: c.service.clone(),
                id: c.span_id.to_hex(),
            })
            .collect()
    };
    let start = root.map_or(txn.start_ms * 1_000_000, |r| r.start_ns);
    let mut steps = Vec::new();
    let mut stack: Vec<(&SpanRec, u32)> = children
        .get(&root_id)
        .into_iter()
        .flatten()
        .rev()
        .filter(|c| !c.is_transaction_root() && c.service == txn.service)
        .map(|c| (*c, 1))
        .collect();
    while let Some((s, depth)) = stack.pop() {
        let (exception_type, exception_message) = exception(s);
        let kind = step_kind(s);
        steps.push(StepJson {
            span_id: s.span_id.to_hex(),
            parent_span_id: s.parent.map(|p| p.to_hex()).unwrap_or_default(),
            depth,
            name: s.name.clone(),
            span_kind: s.kind.as_str().to_owned(),
            kind: kind.to_owned(),
            offset_ms: s.start_ns.saturating_sub(start) as f64 / 1e6,
            duration_ms: s.elapsed_ns() as f64 / 1e6,
            // The core names SQL steps by their (sanitised) text.
            sql: s.sql().or_else(|| (kind == "sql").then(|| s.name.clone())),
            error: s.error || !s.exceptions.is_empty(),
            exception_type,
            exception_message,
            attributes: attrs(s),
            callees: callees_of(s.span_id),
        });
        if steps.len() > 100_000 {
            break;
        }
        if let Some(kids) = children.get(&s.span_id) {
            for c in kids.iter().rev() {
                if !c.is_transaction_root() && c.service == txn.service {
                    stack.push((c, depth + 1));
                }
            }
        }
    }
    let (exception_type, exception_message) = root.map(exception).unwrap_or((None, None));
    TreeJson {
        exception_type,
        exception_message,
        attributes: root.map(attrs).unwrap_or_default(),
        callees: callees_of(root_id),
        steps,
        transaction: txn,
    }
}

/// Renders a tree for the terminal, in the spirit of the core's console
/// exporter: one line for the transaction, then one per step.
pub fn render(t: &TreeJson) -> String {
    use std::fmt::Write;
    let x = &t.transaction;
    let mut out = String::new();
    let _ = write!(
        out,
        "{} {:>10.3} ms {} {} trace={} id={}",
        crate::time::format_ms(x.end_ms),
        x.elapsed_ms,
        x.service,
        x.endpoint,
        x.trace_id,
        x.id
    );
    if x.error {
        out.push_str(" ERROR");
    }
    if let Some(m) = &t.exception_message {
        let _ = write!(out, " {}: {m}", t.exception_type.as_deref().unwrap_or(""));
    }
    out.push('\n');
    for s in &t.steps {
        let indent = s.depth as usize * 2;
        let name = s.sql.as_deref().unwrap_or(&s.name).replace('\n', " ");
        let _ = write!(
            out,
            "{:indent$}+{:.3} ms {:>10.3} ms {:<6} {}",
            "", s.offset_ms, s.duration_ms, s.kind, name
        );
        if s.error {
            let _ = write!(
                out,
                " ERROR {}: {}",
                s.exception_type.as_deref().unwrap_or(""),
                s.exception_message.as_deref().unwrap_or("")
            );
        }
        for c in &s.callees {
            let _ = write!(out, " -> {} {}", c.service, c.id);
        }
        out.push('\n');
    }
    out
}
