//! Externally sampled metrics (`osprey::metrics`) end to end: defined,
//! recorded, handed to the collector, exported by the OTLP exporter to a
//! loopback receiver (names, units, kinds, attributes, values) and by the
//! store exporter (read back with `StoreReader`), and refused once Osprey
//! stops; an active-transactions snapshot takes the same way. One test per file: `osprey::init` is process-global.
#![cfg(all(feature = "otlp", feature = "store"))]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use osprey::Config;
use osprey::active::{ActiveSnapshot, ActiveTransaction};
use osprey::export::otlp::OtlpConfig;
use osprey::export::store::{StoreConfig, StoreReader, StoredRecord};
use osprey::metrics::{self, MetricKind, MetricValue, MetricsError};
use osprey_testkit::Receiver;
use osprey_testkit::spans::str_attr;

fn find<'a>(metrics: &'a [Metric], name: &str) -> &'a Metric {
    metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn sample_sets_reach_otlp_and_the_store_with_names_units_and_attributes() {
    let receiver = Receiver::start();
    let dir = std::env::temp_dir().join(format!(
        "osprey-metrics-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let store = StoreConfig {
        dir: dir.clone(),
        ..StoreConfig::default()
    };
    let guard = osprey::init(
        Config::default()
            .service_name("jvm")
            .batch_delay(Duration::from_millis(50))
            .exporter_spec(OtlpConfig::default().endpoint(&receiver.endpoint()))
            .exporter_spec(store),
    )
    .expect("osprey starts");

    let heap = metrics::series(
        "jvm.memory.used",
        "By",
        MetricKind::UpDownCounter,
        &[("jvm.memory.type", "heap".into())],
    )
    .unwrap();
    let non_heap = metrics::series(
        "jvm.memory.used",
        "By",
        MetricKind::UpDownCounter,
        &[("jvm.memory.type", "non_heap".into())],
    )
    .unwrap();
    let gc = metrics::series(
        "jvm.gc.collections.count",
        "{collection}",
        MetricKind::Counter,
        &[("jvm.gc.name", "G1 Young Generation".into())],
    )
    .unwrap();
    let cpu = metrics::series("jvm.cpu.recent_utilization", "1", MetricKind::Gauge, &[]).unwrap();
    for i in 0..2 {
        metrics::record(&[
            (heap, MetricValue::Int(1_000_000 + i)),
            (non_heap, MetricValue::Int(500_000)),
            (gc, MetricValue::Int(3 + i)),
            (cpu, MetricValue::Double(0.25)),
        ])
        .expect("queued");
    }
    osprey::active::report(ActiveSnapshot {
        unix_ns: 1,
        transactions: vec![ActiveTransaction {
            name: "GET /slow".into(),
            thread_name: "http-1".into(),
            thread_id: 9,
            start_unix_ns: 0,
            elapsed_ns: 4_000_000_000,
            stack: "at demo.Slow.run\n".into(),
        }],
    })
    .expect("queued");
    assert!(osprey::flush(Duration::from_secs(5)));
    assert_eq!(osprey::stats().dropped_metric_sets, 0);

    // OTLP: one metric per name, one point per series and sample set.
    let requests = receiver.metrics();
    assert!(!requests.is_empty(), "no metrics request");
    let mut all: Vec<Metric> = Vec::new();
    for req in requests {
        for rm in req.resource_metrics {
            let service = rm
                .resource
                .as_ref()
                .and_then(|r| str_attr(&r.attributes, "service.name"))
                .map(str::to_owned);
            assert_eq!(service.as_deref(), Some("jvm"));
            for sm in rm.scope_metrics {
                all.extend(sm.metrics);
            }
        }
    }
    let used = find(&all, "jvm.memory.used");
    assert_eq!(used.unit, "By");
    let Some(metric::Data::Sum(sum)) = &used.data else {
        panic!("jvm.memory.used must be a sum");
    };
    assert!(!sum.is_monotonic);
    let points = &sum.data_points;
    assert_eq!(points.len(), 4);
    let heap_points: Vec<_> = points
        .iter()
        .filter(|p| str_attr(&p.attributes, "jvm.memory.type") == Some("heap"))
        .collect();
    assert_eq!(heap_points.len(), 2);
    assert_eq!(
        heap_points[1].value,
        Some(number_data_point::Value::AsInt(1_000_001))
    );
    assert!(heap_points[0].start_time_unix_nano <= heap_points[0].time_unix_nano);
    let gc_metric = find(&all, "jvm.gc.collections.count");
    let Some(metric::Data::Sum(gc_sum)) = &gc_metric.data else {
        panic!("gc count must be a sum");
    };
    assert!(gc_sum.is_monotonic);
    assert_eq!(
        str_attr(&gc_sum.data_points[0].attributes, "jvm.gc.name"),
        Some("G1 Young Generation")
    );
    let util = find(&all, "jvm.cpu.recent_utilization");
    assert_eq!(util.unit, "1");
    assert!(matches!(&util.data, Some(metric::Data::Gauge(g)) if g.data_points.len() == 2));

    let active = find(&all, "osprey.active.elapsed");
    let Some(metric::Data::Gauge(g)) = &active.data else {
        panic!("osprey.active.elapsed must be a gauge");
    };
    assert_eq!(
        str_attr(&g.data_points[0].attributes, "code.stacktrace"),
        Some("at demo.Slow.run\n")
    );

    // Store: the same points with their names.
    assert!(guard.shutdown(Duration::from_secs(5)));
    let (stored, issues) = StoreReader::open(&dir).unwrap().metrics();
    assert!(issues.is_empty(), "{issues:?}");
    let points: Vec<_> = stored
        .iter()
        .flat_map(|m| m.records.iter().map(move |r| (m, r)))
        .collect();
    assert_eq!(points.len(), 8);
    let (m, heap_point) = points
        .iter()
        .find(|(m, r)| {
            m.name(r.name) == "jvm.memory.used" && r.value == MetricValue::Int(1_000_000)
        })
        .expect("heap point stored");
    assert_eq!(m.name(heap_point.unit), "By");
    assert_eq!(m.name(heap_point.attributes[0].key), "jvm.memory.type");
    assert_eq!(heap_point.kind, MetricKind::UpDownCounter);
    let mut records = StoreReader::open(&dir).unwrap().records();
    let snapshots: Vec<ActiveSnapshot> = records
        .by_ref()
        .filter_map(|r| match r {
            StoredRecord::Active(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(snapshots.len(), 1);
    assert_eq!(snapshots[0].transactions[0].name, "GET /slow");
    let cpu_points: usize = stored
        .iter()
        .map(|m| m.named("jvm.cpu.recent_utilization").count())
        .sum();
    assert_eq!(cpu_points, 2);

    // Stopped: refused at once, nothing blocks.
    assert_eq!(
        metrics::record(&[(heap, MetricValue::Int(1))]),
        Err(MetricsError::NotRunning)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
