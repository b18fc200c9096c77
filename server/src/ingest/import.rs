//! Reads the agent's local store (written by the core's `StoreExporter`)
//! and turns each transaction into spans: the root plus one span per step.

use std::io;
use std::path::Path;

use osprey::export::store::{StoreReader, StoredTransaction};
use osprey::model::{ErrorInfo, SpanKind};

use crate::record::{Exception, FLAG_HAS_IS_REMOTE, FLAG_IS_REMOTE, Kind, SpanRec};

/// What an import found.
#[derive(Debug, Default)]
pub struct Imported {
    /// Spans, in store order, grouped per transaction.
    pub spans: Vec<SpanRec>,
    /// Transactions read.
    pub transactions: usize,
    /// Damage the reader skipped, as text.
    pub issues: Vec<String>,
}

/// Reads every transaction of the store directory `dir`.
pub fn read_agent_store(dir: &Path) -> io::Result<Imported> {
    let reader = StoreReader::open(dir)?;
    let (txns, issues) = reader.transactions();
    let mut out = Imported {
        transactions: txns.len(),
        issues: issues
            .iter()
            .map(|i| {
                format!(
                    "{}@{}: {:?}",
                    i.position.segment.display(),
                    i.position.offset,
                    i.problem
                )
            })
            .collect(),
        ..Imported::default()
    };
    for t in &txns {
        out.spans.extend(transaction_spans(t));
    }
    Ok(out)
}

fn exceptions(e: Option<&ErrorInfo>) -> Vec<Exception> {
    e.map(|e| Exception {
        kind: e.kind.clone(),
        message: e.message.clone(),
        stack: e.stack.clone(),
    })
    .into_iter()
    .collect()
}

fn kind(k: SpanKind) -> Kind {
    match k {
        SpanKind::Server => Kind::Server,
        SpanKind::Internal => Kind::Internal,
        SpanKind::Client => Kind::Client,
    }
}

/// The spans of one stored transaction.
pub fn transaction_spans(t: &StoredTransaction) -> Vec<SpanRec> {
    let r = &t.record;
    let service = t
        .resource
        .as_ref()
        .map(|res| res.service_name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown_service".to_owned());
    let mut attrs: Vec<_> = r
        .attributes
        .iter()
        .map(|a| (t.name(a.key).to_owned(), a.value.clone()))
        .collect();
    if r.thread_id != 0 {
        attrs.push((
            "thread.id".into(),
            i64::try_from(r.thread_id).unwrap_or(i64::MAX).into(),
        ));
    }
    let mut spans = vec![SpanRec {
        trace_id: r.trace_id,
        span_id: r.span_id,
        parent: r.parent_span_id,
        service: service.clone(),
        name: t.endpoint().to_owned(),
        kind: kind(r.kind),
        flags: if r.parent_span_id.is_some() {
            FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE
        } else {
            FLAG_HAS_IS_REMOTE
        },
        start_ns: r.start_unix_ns,
        end_ns: r.end_unix_ns(),
        error: r.error.is_some(),
        status_message: r
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default(),
        attributes: attrs,
        exceptions: exceptions(r.error.as_ref()),
    }];
    for s in &r.steps {
        let start = r.start_unix_ns.saturating_add(s.start_offset_ns);
        spans.push(SpanRec {
            trace_id: r.trace_id,
            span_id: s.span_id,
            parent: Some(r.parent_span_id_of(s)),
            service: service.clone(),
            name: t.name(s.name).to_owned(),
            kind: kind(s.kind.span_kind()),
            flags: FLAG_HAS_IS_REMOTE,
            start_ns: start,
            end_ns: start.saturating_add(s.elapsed_ns),
            error: s.error.is_some(),
            status_message: s
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
            attributes: s
                .attributes
                .iter()
                .map(|a| (t.name(a.key).to_owned(), a.value.clone()))
                .collect(),
            exceptions: exceptions(s.error.as_deref()),
        });
    }
    spans
}
