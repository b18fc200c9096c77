//! Metric sample sets arriving faster than batches leave are dropped and
//! counted, never accumulated without bound. One test per file:
//! `osprey::init` is process-global.

use std::time::Duration;

use osprey::metrics::{self, MAX_PENDING_POINTS, MetricKind, MetricValue, SeriesId};
use osprey::{Config, export::NullExporter};

#[test]
fn a_flood_of_sample_sets_is_dropped_and_counted() {
    let guard = osprey::init(
        Config::default()
            .batch_delay(Duration::from_secs(60))
            .exporter(NullExporter),
    )
    .expect("osprey starts");
    let id = metrics::series("flood.gauge", "1", MetricKind::Gauge, &[]).unwrap();
    let set: Vec<(SeriesId, MetricValue)> = vec![(id, MetricValue::Int(1)); 4096];
    let sets = 100;
    let mut refused = 0;
    for _ in 0..sets {
        if metrics::record(&set).is_err() {
            refused += 1;
        }
    }
    // Let the collector take what is queued.
    std::thread::sleep(Duration::from_millis(300));
    let kept_at_most = MAX_PENDING_POINTS / set.len() + 16;
    let dropped = osprey::stats().dropped_metric_sets;
    assert!(
        dropped as usize >= sets - kept_at_most,
        "{dropped} dropped ({refused} refused at the queue)"
    );
    assert!(guard.shutdown(Duration::from_secs(5)));
}
