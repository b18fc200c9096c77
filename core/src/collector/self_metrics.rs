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
//! | `osprey.agent.steps.dropped` | none | steps left out of received transactions (past `steps.max`) |
//!
//! While drops happen, their totals are also logged, at most once a minute
//! (one `osprey:` line on stderr, through [`crate::diag`]).

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
    steps: NameId,
    unit: NameId,
    step_unit: NameId,
    error_type: NameId,
    component: NameId,
    name_kind: NameId,
    /// The drop total of the last log line (see [`Drops::log`]).
    logged_drops: u64,
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
            steps: names::intern("osprey.agent.steps.dropped"),
            unit: names::intern("{transaction}"),
            step_unit: names::intern("{step}"),
            error_type: names::intern("error.type"),
            component: names::intern("otel.component.name"),
            name_kind: names::intern("osprey.name.kind"),
            logged_drops: 0,
        }
    }

    /// The counters' current values, sampled at `unix_ns`; logs the drop
    /// totals when they grew (at most once a minute).
    pub(super) fn sample(
        &mut self,
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
        let mut drops = Drops {
            queue: c.dropped_queue.load(Ordering::Relaxed),
            left_out: c.counted_only.load(Ordering::Relaxed),
            steps: c.dropped_steps.load(Ordering::Relaxed),
            metric_sets: c.dropped_metric_sets.load(Ordering::Relaxed),
            ..Drops::default()
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
        out.push(MetricRecord {
            unit: self.step_unit,
            ..point(self.steps, Vec::new(), drops.steps)
        });
        for w in workers {
            drops.export += w.counters.dropped.load(Ordering::Relaxed);
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
            let refused = names::refused_count_of(kind);
            drops.names += refused;
            out.push(point(
                self.refused,
                vec![attr(self.name_kind, kind_label(kind))],
                refused,
            ));
        }
        if drops.lost() > self.logged_drops {
            // `diag::warn` lets one line of a topic through per minute;
            // a later sample logs the totals grown meanwhile.
            if drops.log() {
                self.logged_drops = drops.lost();
            }
        }
        out
    }
}

/// Drop totals since the collector started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Drops {
    /// Transactions dropped at the queue (queue full, memory budget).
    pub queue: u64,
    /// Transactions recorded without their call tree (tree budget).
    pub left_out: u64,
    /// Transactions dropped at export (failed after retries, queue full).
    pub export: u64,
    /// Steps left out of received transactions.
    pub steps: u64,
    /// Names refused by a full per-kind budget.
    pub names: u64,
    /// Metric sample sets and active snapshots dropped.
    pub metric_sets: u64,
}

impl Drops {
    /// Everything lost (the tree budget's summaries are not: their
    /// transactions are still counted).
    pub fn lost(&self) -> u64 {
        self.queue + self.export + self.steps + self.names + self.metric_sets
    }

    /// The log line.
    pub fn line(&self) -> String {
        format!(
            "drops so far: {} transactions at the queue, {} at export, {} steps, {} names \
             refused, {} metric sets; {} transactions kept without their call tree \
             (logged at most once a minute; also exported as metrics)",
            self.queue, self.export, self.steps, self.names, self.metric_sets, self.left_out
        )
    }

    /// Logs [`Drops::line`] unless a drop line went out in the last
    /// minute; true when it did now.
    fn log(&self) -> bool {
        crate::diag::warn_logged("drops", &self.line())
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

#[cfg(test)]
mod tests {
    use super::Drops;

    #[test]
    fn the_drop_line_names_every_total_and_summaries_are_not_lost() {
        let d = Drops {
            queue: 2_649,
            left_out: 40,
            export: 7,
            steps: 12,
            names: 3,
            metric_sets: 1,
        };
        assert_eq!(d.lost(), 2_649 + 7 + 12 + 3 + 1);
        let line = d.line();
        for part in [
            "2649 transactions at the queue",
            "7 at export",
            "12 steps",
            "3 names refused",
            "1 metric sets",
            "40 transactions kept without their call tree",
            "at most once a minute",
        ] {
            assert!(line.contains(part), "{part} in {line}");
        }
    }
}
