//! Externally sampled metrics: values some other component measures (the
//! Java agent's inspector reads heap, GC, threads, classes and CPU from the
//! JVM every second) and hands to Osprey, which exports them with the next
//! batch — as OTLP metrics, into the local store, on the console.
//!
//! Define each series once ([`series`]: name, unit, kind, attributes), then
//! send one sample set per interval ([`record`]). A sample set goes to the
//! collector through a bounded queue: never blocks, and when the queue is
//! full the set is dropped and counted ([`crate::Stats::dropped_metric_sets`]).
//!
//! ```
//! use osprey::metrics::{self, MetricKind, MetricValue, MetricsError};
//!
//! let heap = metrics::series("jvm.memory.used", "By", MetricKind::UpDownCounter,
//!     &[("jvm.memory.type", "heap".into())]).unwrap();
//! // Each interval: one set. Never blocks; refused when Osprey is not running.
//! match metrics::record(&[(heap, MetricValue::Int(1 << 20))]) {
//!     Ok(()) | Err(MetricsError::NotRunning | MetricsError::QueueFull) => {}
//!     Err(e) => panic!("{e}"),
//! }
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;

use crate::collector::handoff;
use crate::model::{AttrValue, Attribute};
pub use crate::model::{MetricKind, MetricRecord, MetricValue};
use crate::names::{self, NameId};

/// Most series a process may define; more are refused.
pub const MAX_SERIES: usize = 1024;

/// Most points in one sample set; more are refused.
pub const MAX_POINTS_PER_SET: usize = 4096;

/// Sample sets queued for the collector; more are dropped and counted.
pub(crate) const QUEUE_SETS: usize = 16;

/// Most points the collector holds for the next batch; a set that would
/// pass it is dropped and counted (bounds memory when sets come faster
/// than batches leave).
pub const MAX_PENDING_POINTS: usize = 65_536;

/// A defined series (from [`series`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeriesId(pub u32);

/// Why a definition or a sample set was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricsError {
    /// Osprey is not running: the set was not recorded.
    NotRunning,
    /// The queue to the collector is full: the set was dropped (counted).
    QueueFull,
    /// [`MAX_SERIES`] series are defined already.
    TooManySeries,
    /// A set names a series that was never defined, or is too large.
    Invalid(String),
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRunning => f.write_str("osprey is not running"),
            Self::QueueFull => f.write_str("metrics queue full; sample set dropped"),
            Self::TooManySeries => write!(f, "more than {MAX_SERIES} metric series"),
            Self::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for MetricsError {}

/// What a series stands for; the collector stamps each sampled value with it.
#[derive(Clone, Debug, PartialEq)]
struct Series {
    name: NameId,
    unit: NameId,
    kind: MetricKind,
    attributes: Vec<Attribute>,
    start_unix_ns: u64,
}

static SERIES: RwLock<Vec<Series>> = RwLock::new(Vec::new());

/// Defines (or finds, when already defined identically) a series: an
/// OpenTelemetry metric `name`, its UCUM `unit` and `kind`, and the
/// attributes that tell it apart from other series of the same metric.
/// Takes a lock and interns names: call once at start-up, not per sample.
/// Cumulative series count from the time they are defined.
pub fn series(
    name: &str,
    unit: &str,
    kind: MetricKind,
    attributes: &[(&str, AttrValue)],
) -> Result<SeriesId, MetricsError> {
    if name.is_empty() {
        return Err(MetricsError::Invalid("metric name is empty".into()));
    }
    let wanted = Series {
        name: names::intern(name),
        unit: names::intern(unit),
        kind,
        attributes: attributes
            .iter()
            .map(|(k, v)| Attribute {
                key: names::intern(k),
                value: v.clone(),
            })
            .collect(),
        start_unix_ns: unix_ns_now(),
    };
    let mut table = SERIES.write();
    let same = |s: &Series| {
        s.name == wanted.name
            && s.unit == wanted.unit
            && s.kind == wanted.kind
            && s.attributes == wanted.attributes
    };
    if let Some(i) = table.iter().position(same) {
        return Ok(SeriesId(i as u32));
    }
    if table.len() >= MAX_SERIES {
        return Err(MetricsError::TooManySeries);
    }
    table.push(wanted);
    Ok(SeriesId(table.len() as u32 - 1))
}

/// A sample set on its way to the collector.
#[derive(Debug)]
pub(crate) struct RawSamples {
    /// When the set was sampled.
    pub unix_ns: u64,
    /// Series and value.
    pub points: Vec<(SeriesId, MetricValue)>,
}

impl RawSamples {
    /// The records the exporters see, one per point.
    pub fn into_records(self) -> Vec<MetricRecord> {
        let table = SERIES.read();
        self.points
            .into_iter()
            .filter_map(|(id, value)| {
                let s = table.get(id.0 as usize)?;
                Some(MetricRecord {
                    name: s.name,
                    unit: s.unit,
                    kind: s.kind,
                    attributes: s.attributes.clone(),
                    start_unix_ns: match s.kind {
                        MetricKind::Gauge => self.unix_ns,
                        _ => s.start_unix_ns.min(self.unix_ns),
                    },
                    unix_ns: self.unix_ns,
                    value,
                })
            })
            .collect()
    }
}

/// Sends one sample set, stamped now, to the collector; it is exported with
/// the next batch (within `batch.delay_ms`). Never blocks: a full queue drops
/// the set and counts it. Every id must come from [`series`].
pub fn record(points: &[(SeriesId, MetricValue)]) -> Result<(), MetricsError> {
    if points.len() > MAX_POINTS_PER_SET {
        return Err(MetricsError::Invalid(format!(
            "{} points in one set; at most {MAX_POINTS_PER_SET}",
            points.len()
        )));
    }
    let defined = SERIES.read().len();
    if let Some((bad, _)) = points.iter().find(|(id, _)| id.0 as usize >= defined) {
        return Err(MetricsError::Invalid(format!(
            "metric series {} is not defined",
            bad.0
        )));
    }
    let Some(handoff) = handoff::current() else {
        return Err(MetricsError::NotRunning);
    };
    let set = RawSamples {
        unix_ns: unix_ns_now(),
        points: points.to_vec(),
    };
    if handoff.try_send_sampled(handoff::Sampled::Metrics(set)) {
        Ok(())
    } else {
        Err(MetricsError::QueueFull)
    }
}

fn unix_ns_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_definitions_share_an_id_and_attributes_tell_series_apart() {
        let heap = series(
            "test.metrics.mem",
            "By",
            MetricKind::UpDownCounter,
            &[("t", "heap".into())],
        )
        .unwrap();
        let again = series(
            "test.metrics.mem",
            "By",
            MetricKind::UpDownCounter,
            &[("t", "heap".into())],
        )
        .unwrap();
        let other = series(
            "test.metrics.mem",
            "By",
            MetricKind::UpDownCounter,
            &[("t", "non_heap".into())],
        )
        .unwrap();
        assert_eq!(heap, again);
        assert_ne!(heap, other);
        assert!(series("", "1", MetricKind::Gauge, &[]).is_err());
    }

    #[test]
    fn raw_samples_become_records_with_their_series() {
        let id = series("test.metrics.count", "{class}", MetricKind::Counter, &[]).unwrap();
        let gauge = series("test.metrics.util", "1", MetricKind::Gauge, &[]).unwrap();
        let records = RawSamples {
            unix_ns: u64::MAX - 1,
            points: vec![
                (id, MetricValue::Int(7)),
                (gauge, MetricValue::Double(0.5)),
                (SeriesId(u32::MAX), MetricValue::Int(1)),
            ],
        }
        .into_records();
        assert_eq!(records.len(), 2, "unknown series skipped");
        assert_eq!(
            names::resolve(records[0].name).as_ref(),
            "test.metrics.count"
        );
        assert_eq!(names::resolve(records[0].unit).as_ref(), "{class}");
        assert!(records[0].start_unix_ns < records[0].unix_ns);
        assert_eq!(records[1].start_unix_ns, records[1].unix_ns);
        assert_eq!(records[1].value, MetricValue::Double(0.5));
    }

    #[test]
    fn undefined_series_and_not_running_are_refused() {
        assert!(matches!(
            record(&[(SeriesId(u32::MAX), MetricValue::Int(1))]),
            Err(MetricsError::Invalid(_))
        ));
    }
}
