//! Osprey's own counters as metrics, once a second with the next batch, so
//! drops are visible where operators look (per instance, next to the
//! application's metrics) and not only in a log line. Cumulative counters
//! since the collector started, named after OpenTelemetry's SDK
//! self-monitoring metrics where one exists:
//!
//! | metric | attributes | what |
//! |---|---|---|
//! | `otel.sdk.processor.span.processed` | none | transactions the collector took |
//! | `otel.sdk.processor.span.processed` | `error.type=queue_full` | transactions dropped before the collector (queue full, memory budget) |
//! | `otel.sdk.exporter.span.exported` | `otel.component.name=<exporter>` | transactions an exporter delivered |
//! | `otel.sdk.exporter.span.exported` | `otel.component.name`, `error.type=export_failed` | transactions an exporter dropped (failed after retries, or its queue full) |
//! | `osprey.agent.tree_budget.left_out` | none | transactions recorded without their call tree (the tree budget) |
//! | `osprey.agent.names.refused` | `osprey.name.kind` | names refused by a full per-kind budget |
//! | `osprey.agent.metric_sets.dropped` | none | metric sample sets and active snapshots dropped |

use std::sync::atomic::Ordering;

use crate::model::{AttrValue, Attribute, MetricKind, MetricRecord, MetricValue};
use crate::names::{self, NameId, NameKind};

use super::handoff::Handoff;
use super::worker::Worker;

/// Interned names, once.
pub(super) struct SelfMetrics {
    start_unix_ns: u64,
    processed: NameId,
    exported: NameId,
    left_out: NameId,
    refused: NameId,
    metric_sets: NameId,
    unit: NameId,
    error_type: NameId,
    component: NameId,
    name_kind: NameId,
}

impl SelfMetrics {
    pub(super) fn new(start_unix_ns: u64) -> Self {
        Self {
            start_unix_ns,
            processed: names::intern("otel.sdk.processor.span.processed"),
            exported: names::intern("otel.sdk.exporter.span.exported"),
            left_out: names::intern("osprey.agent.tree_budget.left_out"),
            refused: names::intern("osprey.agent.names.refused"),
            metric_sets: names::intern("osprey.agent.metric_sets.dropped"),
            unit: names::intern("{transaction}"),
            error_type: names::intern("error.type"),
            component: names::intern("otel.component.name"),
            name_kind: names::intern("osprey.name.kind"),
        }
    }

    /// The counters' current values, sampled at `unix_ns`.
    pub(super) fn sample(
        &self,
        handoff: &Handoff,
        workers: &[Worker],
        unix_ns: u64,
    ) -> Vec<MetricRecord> {
        let c = &handoff.counters;
        let point = |name, attributes, value: u64| MetricRecord {
            name,
            unit: self.unit,
            kind: MetricKind::Counter,
            attributes,
            start_unix_ns: self.start_unix_ns,
            unix_ns,
            value: MetricValue::Int(value as i64),
        };
        let attr = |key, value: &str| Attribute {
            key,
            value: AttrValue::Str(value.to_owned()),
        };
        let mut out = vec![
            point(
                self.processed,
                Vec::new(),
                c.received.load(Ordering::Relaxed),
            ),
            point(
                self.processed,
                vec![attr(self.error_type, "queue_full")],
                c.dropped_queue.load(Ordering::Relaxed),
            ),
            point(
                self.left_out,
                Vec::new(),
                c.counted_only.load(Ordering::Relaxed),
            ),
            point(
                self.metric_sets,
                Vec::new(),
                c.dropped_metric_sets.load(Ordering::Relaxed),
            ),
        ];
        for w in workers {
            out.push(point(
                self.exported,
                vec![attr(self.component, w.name)],
                w.counters.delivered.load(Ordering::Relaxed),
            ));
            out.push(point(
                self.exported,
                vec![
                    attr(self.component, w.name),
                    attr(self.error_type, "export_failed"),
                ],
                w.counters.dropped.load(Ordering::Relaxed),
            ));
        }
        for kind in NameKind::ALL {
            out.push(point(
                self.refused,
                vec![attr(self.name_kind, kind_label(kind))],
                names::refused_count_of(kind),
            ));
        }
        out
    }
}

fn kind_label(kind: NameKind) -> &'static str {
    match kind {
        NameKind::Code => "code",
        NameKind::Endpoint => "endpoint",
        NameKind::Sql => "sql",
        NameKind::Url => "url",
    }
}
