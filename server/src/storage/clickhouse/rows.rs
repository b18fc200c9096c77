//! What one ingest batch becomes in ClickHouse: `RowBinary` bodies for
//! each shard and table, with the derived rows built here, at ingest —
//! transaction summaries (by the same [`Index`] code the embedded backend
//! uses, so both answer alike), the trace and transaction lookup rows,
//! per-second aggregates (mergeable [`SecondAgg`](crate::storage::disk::agg::SecondAgg) states) and server-map
//! calls.

use std::collections::{BTreeMap, HashMap};

use osprey::AttrValue;
use osprey::model::SpanId;

use super::config::ClickHouseConfig;
use super::rowbinary::{RowWriter, day_of_ns};
use crate::index::{Index, IndexConfig, call_target};
use crate::record::{Kind, SpanRec};
use crate::storage::disk::agg::ProtoForm;
use crate::storage::{ActiveReport, IngestBatch, TargetKind};
use crate::store::Loc;

const NS_PER_MS: u64 = 1_000_000;

/// The inserts of one batch on one shard: `(table, RowBinary rows)`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ShardInserts {
    /// Non-empty bodies by table name (without the `_local` suffix).
    pub tables: Vec<(String, Vec<u8>)>,
}

impl ShardInserts {
    /// True when nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Bytes of all bodies.
    pub fn bytes(&self) -> u64 {
        self.tables.iter().map(|(_, b)| b.len() as u64).sum()
    }
}

/// Bodies being built, one set per shard.
struct Builder {
    shards: Vec<HashMap<&'static str, RowWriter>>,
}

impl Builder {
    fn new(n: usize) -> Self {
        Self {
            shards: (0..n).map(|_| HashMap::new()).collect(),
        }
    }

    fn table(&mut self, shard: usize, name: &'static str) -> &mut RowWriter {
        self.shards[shard].entry(name).or_default()
    }

    fn finish(self) -> Vec<ShardInserts> {
        self.shards
            .into_iter()
            .map(|m| {
                let mut tables: Vec<(String, Vec<u8>)> = m
                    .into_iter()
                    .filter(|(_, w)| w.rows > 0)
                    .map(|(k, w)| (k.to_owned(), w.buf))
                    .collect();
                tables.sort();
                ShardInserts { tables }
            })
            .collect()
    }
}

/// The stored code of a target kind.
pub fn target_code(k: TargetKind) -> u8 {
    match k {
        TargetKind::Service => 0,
        TargetKind::Database => 1,
        TargetKind::External => 2,
        TargetKind::Unknown => 3,
    }
}

/// The target kind of a stored code.
pub fn target_of(code: u8) -> TargetKind {
    match code {
        0 => TargetKind::Service,
        1 => TargetKind::Database,
        2 => TargetKind::External,
        _ => TargetKind::Unknown,
    }
}

/// Span kind of a stored code.
pub fn kind_of(code: u8) -> Kind {
    Kind::from_otlp(i32::from(code))
}

/// The rows of `batch`, by shard. Transactions are numbered from
/// `first_seq`; `spare_shard` takes the rows that belong to no trace (the
/// per-second aggregates and metric points). Returns the inserts and the
/// number of transactions found.
pub fn encode(
    cfg: &ClickHouseConfig,
    batch: &IngestBatch,
    first_seq: u64,
    spare_shard: usize,
) -> (Vec<ShardInserts>, u64) {
    let mut b = Builder::new(cfg.shards.len());
    let mut index = Index::starting_at(
        IndexConfig {
            max_transactions: usize::MAX,
            ..IndexConfig::default()
        },
        first_seq,
    );
    index.add_spans(
        Loc {
            segment: 0,
            offset: 0,
        },
        &batch.spans,
    );
    // Per trace and day: the first and last span start.
    let mut trace_days: BTreeMap<([u8; 16], u16), (u64, u64)> = BTreeMap::new();
    let mut roots: HashMap<SpanId, &SpanRec> = HashMap::new();
    for s in &batch.spans {
        let shard = cfg.shard_of(&s.trace_id.0);
        write_span(b.table(shard, "spans"), s);
        let span = trace_days
            .entry((s.trace_id.0, day_of_ns(s.start_ns)))
            .or_insert((s.start_ns, s.start_ns));
        *span = (span.0.min(s.start_ns), span.1.max(s.start_ns));
        if s.is_transaction_root() {
            roots.entry(s.span_id).or_insert(s);
        }
        if s.kind == Kind::Client {
            let (target, kind) = call_target(s);
            let w = b.table(shard, "calls");
            w.date_of_ns(s.end_ns);
            w.u64(s.end_ns);
            w.fixed(&s.trace_id.0);
            w.fixed(&s.span_id.0);
            w.str(&s.service);
            w.str(&target);
            w.u8(target_code(kind));
            w.u64(s.elapsed_ns());
            w.bool(s.error || !s.exceptions.is_empty());
            w.end_row();
        }
    }
    let mut txns = 0;
    for t in index.rows() {
        txns += 1;
        let shard = cfg.shard_of(&t.trace_id.0);
        let root = roots.get(&t.span_id).copied();
        let w = b.table(shard, "transactions");
        w.date_of_ns(t.end_ns());
        w.u64(t.seq);
        w.fixed(&t.trace_id.0);
        w.fixed(&t.span_id.0);
        w.opt_fixed(t.parent.as_ref().map(|p| &p.0[..]));
        w.str(&t.service);
        w.str(&t.endpoint);
        w.u64(t.start_ns);
        w.u64(t.end_ns());
        w.u64(t.elapsed_ns);
        w.bool(t.error);
        w.opt_str(t.client_ip.as_deref());
        w.opt_str(t.user.as_deref());
        w.u16(t.http_status);
        w.u64(t.thread);
        w.opt_str(t.instance.as_deref());
        w.bool(t.tree_omitted);
        w.str(
            &root
                .and_then(|r| r.attr_str("host.name"))
                .unwrap_or_default(),
        );
        let pid = root.and_then(|r| match r.attr("process.pid") {
            Some(AttrValue::Int(p)) => Some(*p),
            Some(AttrValue::Str(p)) => p.parse().ok(),
            _ => None,
        });
        w.i64(pid.unwrap_or(0));
        w.bool(pid.is_some());
        w.end_row();
        let w = b.table(shard, "txn_index");
        w.date_of_ns(t.end_ns());
        w.fixed(&t.span_id.0);
        w.fixed(&t.trace_id.0);
        w.end_row();
    }
    for ((trace, day), (first, last)) in trace_days {
        let w = b.table(cfg.shard_of(&trace), "trace_index");
        w.u16(day);
        w.fixed(&trace);
        w.u64(first);
        w.u64(last);
        w.end_row();
    }
    for a in index.second_aggs(0, u64::MAX) {
        let w = b.table(spare_shard, "seconds");
        w.date_of_ns(a.second.saturating_mul(1_000_000_000));
        w.u64(a.second);
        w.u64(a.count);
        w.u64(a.errors);
        w.u64(a.elapsed_sum_ns);
        w.u64(a.elapsed_max_ns);
        w.bytes(&a.encode());
        w.end_row();
    }
    for p in &batch.metrics {
        let w = b.table(spare_shard, "metrics");
        w.date_of_ns(p.time_ns);
        w.str(&p.service);
        w.str(&p.name);
        w.str(&p.unit);
        w.u8(p.kind.code() as u8);
        w.str(&p.attributes);
        w.u64(p.time_ns);
        w.f64(p.value);
        w.u64(p.count);
        // The `instance` and `host` columns that schema migration 2 adds
        // at the end of `metrics` (service.instance.id and host.name, ""
        // when none).
        w.str(&p.instance);
        w.str(&p.host);
        w.end_row();
    }
    (b.finish(), txns)
}

fn write_span(w: &mut RowWriter, s: &SpanRec) {
    w.date_of_ns(s.start_ns);
    w.fixed(&s.trace_id.0);
    w.fixed(&s.span_id.0);
    w.opt_fixed(s.parent.as_ref().map(|p| &p.0[..]));
    w.str(&s.service);
    w.str(&s.name);
    w.u8(s.kind.to_otlp() as u8);
    w.u64(u64::from(s.flags));
    w.u64(s.start_ns);
    w.u64(s.end_ns);
    w.bool(s.error);
    w.str(&s.status_message);
    // Serialising plain data into a Vec cannot fail.
    w.str(&serde_json::to_string(&s.attributes).unwrap_or_default());
    w.str(&serde_json::to_string(&s.exceptions).unwrap_or_default());
    w.end_row();
}

/// The insert of one active-services report.
pub fn encode_active(report: &ActiveReport) -> Vec<u8> {
    let mut w = RowWriter::new();
    w.date_of_ns(report.received_ms.saturating_mul(NS_PER_MS));
    w.str(&report.service);
    w.u64(report.received_ms);
    w.str(&serde_json::to_string(report).unwrap_or_default());
    w.end_row();
    w.buf
}
