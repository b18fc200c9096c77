//! Console exporter: one line per transaction on stderr, optionally the tree.
//!
//! ```text
//! 2026-11-24T20:30:01.123Z     12.345 ms SERVER   GET /cart trace=4bf92f3577b34da6a3ce929d0e0e4736 ERROR SQLException: timeout
//!   +0.010 ms     11.900 ms method load_cart
//!     +0.020 ms     11.000 ms sql    SELECT * FROM cart db.system=postgresql ERROR SQLException: timeout
//! ```
//!
//! Sampled metrics (the JVM inspector's) give one line per sample time:
//! `2026-11-24T20:30:01.000Z metrics jvm.memory.used{jvm.memory.type=heap}=1048576By ...`.
//!
//! The time is the transaction's end (UTC, milliseconds); tree lines show
//! each step's start offset from the transaction's start, its duration, its
//! kind, name, attributes and error, indented by depth.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::config_error::ConfigError;
use crate::export::registry::{ExporterEntry, exporter_settings};
use crate::export::{ExportError, Exporter};
use crate::model::{
    ATTR_BUSY_NS, ActiveSnapshot, Attribute, ErrorInfo, ExportBatch, MetricRecord, MetricValue,
    SpanKind, StepKind, TransactionRecord, busy_value,
};
use crate::names::NameId;

/// Settings of the console exporter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsoleConfig {
    /// Also print each transaction's call tree.
    pub tree: bool,
}

impl ConsoleConfig {
    /// Sets one `console.*` key of the Osprey configuration.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "console.tree" => {
                self.tree = value.parse().map_err(|_| ConfigError::InvalidValue {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    expected: "true or false",
                })?
            }
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }
}

exporter_settings!(ConsoleConfig, "console", |c| Ok(Box::new(
    ConsoleExporter::new(c)
)));

/// The console exporter's row in [`crate::export::EXPORTERS`].
pub(crate) const ENTRY: ExporterEntry = ExporterEntry {
    name: "console",
    keys: &["console.tree"],
    settings: || Box::new(ConsoleConfig::default()),
    from_env: None,
    is_default: false,
};

/// Writes transaction lines to stderr, or to any writer given to
/// [`ConsoleExporter::with_writer`].
pub struct ConsoleExporter<W: Write + Send + 'static = io::Stderr> {
    config: ConsoleConfig,
    out: W,
    text: String,
}

impl ConsoleExporter {
    /// Builds the exporter, writing to stderr.
    pub fn new(config: ConsoleConfig) -> Self {
        Self::with_writer(config, io::stderr())
    }
}

impl<W: Write + Send + 'static> ConsoleExporter<W> {
    /// Builds the exporter writing to `out` (a file, a buffer in tests).
    pub fn with_writer(config: ConsoleConfig, out: W) -> Self {
        Self {
            config,
            out,
            text: String::new(),
        }
    }

    /// The writer.
    pub fn writer(&self) -> &W {
        &self.out
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send + 'static> Exporter for ConsoleExporter<W> {
    fn name(&self) -> &'static str {
        "console"
    }

    fn export(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        self.text.clear();
        let names = |id| batch.name(id).to_string();
        for txn in &batch.transactions {
            write_transaction(&mut self.text, &names, txn, self.config.tree);
        }
        write_metrics(&mut self.text, &names, &batch.metrics);
        for snapshot in &batch.active {
            write_active(&mut self.text, snapshot);
        }
        if self.text.is_empty() {
            return Ok(());
        }
        self.out.write_all(self.text.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(self.out.flush()?)
    }
}

/// Formats one transaction as its console line and, with `tree`, one line
/// per step; `names` resolves interned names (the live table, or a stored
/// transaction's own).
pub fn format_transaction(
    txn: &TransactionRecord,
    names: &dyn Fn(NameId) -> String,
    tree: bool,
) -> String {
    let mut out = String::new();
    write_transaction(&mut out, names, txn, tree);
    out
}

/// Appends the line (and, with `tree`, the step lines) of one transaction.
fn write_transaction(
    out: &mut String,
    names: &dyn Fn(NameId) -> String,
    txn: &TransactionRecord,
    tree: bool,
) {
    let kind = match txn.kind {
        SpanKind::Server => "SERVER",
        SpanKind::Internal => "INTERNAL",
        SpanKind::Client => "CLIENT",
    };
    let _ = write!(
        out,
        "{} {:>10} ms {kind:<8} {} trace={}",
        format_utc_millis(txn.end_unix_ns()),
        millis(txn.elapsed_ns),
        one_line(&names(txn.name)),
        txn.trace_id,
    );
    write_error(out, txn.error.as_ref());
    out.push('\n');
    if !tree {
        return;
    }
    for step in &txn.steps {
        let indent = usize::from(step.depth) * 2;
        let kind = match step.kind {
            StepKind::Method => "method",
            StepKind::Sql => "sql",
            StepKind::HttpCall => "http",
            StepKind::Custom => "custom",
        };
        let _ = write!(
            out,
            "{:indent$}+{} ms {:>10} ms {kind:<6} {}",
            "",
            millis(step.start_offset_ns),
            millis(step.elapsed_ns),
            one_line(&names(step.name)),
        );
        if let Some(ns) = step.busy_ns {
            let _ = write!(out, " {ATTR_BUSY_NS}={}", busy_value(ns));
        }
        write_attributes(out, names, &step.attributes);
        write_error(out, step.error.as_deref());
        out.push('\n');
    }
    if txn.dropped_steps > 0 {
        let _ = writeln!(out, "  ... {} steps not recorded", txn.dropped_steps);
    }
}

/// Appends one line per sample time: `<time> metrics name{k=v}=value unit ...`.
fn write_metrics(out: &mut String, names: &dyn Fn(NameId) -> String, metrics: &[MetricRecord]) {
    let mut at = None;
    for m in metrics {
        if at != Some(m.unix_ns) {
            if at.is_some() {
                out.push('\n');
            }
            at = Some(m.unix_ns);
            let _ = write!(out, "{} metrics", format_utc_millis(m.unix_ns));
        }
        let _ = write!(out, " {}", names(m.name));
        if !m.attributes.is_empty() {
            out.push('{');
            for (i, a) in m.attributes.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(
                    out,
                    "{sep}{}={}",
                    names(a.key),
                    one_line(&a.value.to_string())
                );
            }
            out.push('}');
        }
        let value = match m.value {
            MetricValue::Int(i) => i.to_string(),
            MetricValue::Double(d) => format!("{d:.3}"),
        };
        let _ = write!(out, "={value}{}", names(m.unit));
    }
    if at.is_some() {
        out.push('\n');
    }
}

/// Appends `<time> active <n> name=<elapsed>s@<thread> ...` for a snapshot.
fn write_active(out: &mut String, snapshot: &ActiveSnapshot) {
    let _ = write!(
        out,
        "{} active {}",
        format_utc_millis(snapshot.unix_ns),
        snapshot.transactions.len()
    );
    for t in &snapshot.transactions {
        let _ = write!(
            out,
            " {}={}.{:03}s@{}",
            one_line(&t.name),
            t.elapsed_ns / 1_000_000_000,
            (t.elapsed_ns / 1_000_000) % 1_000,
            one_line(&t.thread_name)
        );
    }
    out.push('\n');
}

fn write_attributes(out: &mut String, names: &dyn Fn(NameId) -> String, attributes: &[Attribute]) {
    for a in attributes {
        let _ = write!(out, " {}={}", names(a.key), one_line(&a.value.to_string()));
    }
}

fn write_error(out: &mut String, error: Option<&ErrorInfo>) {
    let Some(e) = error else { return };
    out.push_str(" ERROR");
    match (e.kind.is_empty(), e.message.is_empty()) {
        (false, false) => {
            let _ = write!(out, " {}: {}", one_line(&e.kind), one_line(&e.message));
        }
        (false, true) => {
            let _ = write!(out, " {}", one_line(&e.kind));
        }
        (true, false) => {
            let _ = write!(out, " {}", one_line(&e.message));
        }
        (true, true) => {}
    }
}

/// Nanoseconds as milliseconds with three decimals.
fn millis(ns: u64) -> String {
    format!("{}.{:03}", ns / 1_000_000, (ns / 1_000) % 1_000)
}

/// Keeps a value on one line.
fn one_line(s: &str) -> Cow<'_, str> {
    if s.contains(['\n', '\r']) {
        Cow::Owned(s.replace(['\n', '\r'], " "))
    } else {
        Cow::Borrowed(s)
    }
}

/// Formats UNIX nanoseconds as an RFC 3339 UTC time with milliseconds,
/// e.g. `2026-11-24T20:30:01.123Z`.
pub fn format_utc_millis(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let ms = (unix_ns / 1_000_000) % 1_000;
    let (year, month, day) = civil_date(secs / 86_400);
    let sod = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3_600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Count from 0000-03-01 so the leap day ends each 400/100/4-year cycle.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Resource, SpanId, StepRecord, TraceId};
    use crate::names::intern;

    #[test]
    fn utc_times_match_known_dates() {
        assert_eq!(format_utc_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_utc_millis(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_utc_millis(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            format_utc_millis(4_102_444_799_999_000_000),
            "2099-12-31T23:59:59.999Z"
        );
    }

    fn record() -> TransactionRecord {
        let step = |id, parent, depth, kind, name: &str, off, el| StepRecord {
            span_id: SpanId([id; 8]),
            parent,
            depth,
            kind,
            name: intern(name),
            start_offset_ns: off,
            elapsed_ns: el,
            busy_ns: None,
            error: None,
            attributes: Vec::new(),
            repaired: false,
        };
        let mut sql = step(3, Some(0), 2, StepKind::Sql, "SELECT 1", 20_000, 11_000_000);
        sql.attributes.push(Attribute {
            key: intern("db.statement"),
            value: "SELECT 1\nFROM dual".into(),
        });
        sql.error = Some(Box::new(ErrorInfo {
            kind: "SQLException".into(),
            message: "timeout".into(),
            stack: String::new(),
        }));
        TransactionRecord {
            trace_id: TraceId([0xab; 16]),
            span_id: SpanId([1; 8]),
            parent_span_id: None,
            kind: SpanKind::Server,
            name: intern("GET /cart"),
            start_unix_ns: 1_795_638_601_111_000_000,
            elapsed_ns: 12_345_678,
            busy_ns: None,
            error: Some(ErrorInfo {
                kind: String::new(),
                message: "failed".into(),
                stack: String::new(),
            }),
            attributes: Vec::new(),
            steps: vec![
                StepRecord {
                    // Async work: polled for 0.4 of its 11.9 ms.
                    busy_ns: Some(400_000),
                    ..step(
                        2,
                        None,
                        1,
                        StepKind::Method,
                        "load_cart",
                        10_000,
                        11_900_000,
                    )
                },
                sql,
            ],
            dropped_steps: 0,
            repaired: false,
            sampled: true,
            thread_id: 1,
        }
    }

    fn render(tree: bool, txns: Vec<TransactionRecord>) -> String {
        let batch = ExportBatch {
            resource: Arc::new(Resource::default()),
            transactions: txns,
            aggregates: Vec::new(),
            metrics: Vec::new(),
            active: Vec::new(),
        };
        let mut e = ConsoleExporter::with_writer(ConsoleConfig { tree }, Vec::new());
        e.export(&batch).unwrap();
        String::from_utf8(e.into_inner()).unwrap()
    }

    #[test]
    fn one_line_per_transaction() {
        let mut quiet = record();
        quiet.error = None;
        quiet.kind = SpanKind::Internal;
        let text = render(false, vec![record(), quiet]);
        let trace = "ab".repeat(16);
        assert_eq!(
            text,
            format!(
                "2026-11-25T20:30:01.123Z     12.345 ms SERVER   GET /cart trace={trace} ERROR failed\n\
                 2026-11-25T20:30:01.123Z     12.345 ms INTERNAL GET /cart trace={trace}\n"
            )
        );
    }

    #[test]
    fn tree_shows_offsets_durations_attributes_and_errors_by_depth() {
        let text = render(true, vec![record()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[1],
            "  +0.010 ms     11.900 ms method load_cart osprey.busy_ns=400000"
        );
        assert_eq!(
            lines[2],
            "    +0.020 ms     11.000 ms sql    SELECT 1 db.statement=SELECT 1 FROM dual \
             ERROR SQLException: timeout"
        );
    }

    #[test]
    fn metrics_and_active_snapshots_get_one_line_each() {
        use crate::model::{
            ActiveSnapshot, ActiveTransaction, AttrValue, MetricKind, MetricRecord, MetricValue,
        };
        let at = 1_700_000_000_000_000_000;
        let point = |name: &str, value| MetricRecord {
            name: intern(name),
            unit: intern("By"),
            kind: MetricKind::UpDownCounter,
            attributes: vec![Attribute {
                key: intern("jvm.memory.type"),
                value: AttrValue::from("heap"),
            }],
            start_unix_ns: at,
            unix_ns: at,
            value,
        };
        let batch = ExportBatch {
            metrics: vec![
                point("jvm.memory.used", MetricValue::Int(1024)),
                point("jvm.memory.committed", MetricValue::Double(2048.0)),
            ],
            active: vec![ActiveSnapshot {
                unix_ns: at,
                transactions: vec![ActiveTransaction {
                    name: "GET /slow".into(),
                    thread_name: "http-1".into(),
                    thread_id: 1,
                    start_unix_ns: 0,
                    elapsed_ns: 4_250_000_000,
                    stack: String::new(),
                }],
            }],
            ..ExportBatch::default()
        };
        let mut e = ConsoleExporter::with_writer(ConsoleConfig::default(), Vec::new());
        e.export(&batch).unwrap();
        let text = String::from_utf8(e.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with(
                " metrics jvm.memory.used{jvm.memory.type=heap}=1024By \
                 jvm.memory.committed{jvm.memory.type=heap}=2048.000By"
            ),
            "{text}"
        );
        assert!(
            lines[1].ends_with(" active 1 GET /slow=4.250s@http-1"),
            "{text}"
        );
    }
}
