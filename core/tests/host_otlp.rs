//! End to end: with `host.metrics=true` the collector thread samples the
//! host once a second and the OTLP exporter carries the metrics, under a
//! resource with the detected identity and the runtime the config named
//! (as the Java agent passes the JVM's). One test per file: `osprey::init`
//! is process-global.
#![cfg(all(feature = "otlp", feature = "enable"))]

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use osprey::Config;
use osprey::export::otlp::OtlpConfig;
use osprey_testkit::Receiver;
use osprey_testkit::spans::{int_attr, str_attr};

fn find<'a>(reqs: &'a [ExportMetricsServiceRequest], name: &str) -> Option<&'a Metric> {
    reqs.iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .find(|m| m.name == name)
}

#[test]
fn host_metrics_and_identity_reach_an_otlp_receiver() {
    let receiver = Receiver::start();
    let config = Config::from_pairs_str(
        "service.name=shop;host.metrics=true;host.top_processes=2;\
         process.runtime.name=OpenJDK Runtime Environment;process.runtime.version=17.0.15+6",
    )
    .unwrap()
    .batch_delay(Duration::from_millis(200))
    .exporter_spec(OtlpConfig::default().endpoint(&receiver.endpoint()));
    let guard = osprey::init(config).expect("osprey starts");

    // Two samples give the CPU shares; allow a slow shared machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    let reqs = loop {
        assert!(osprey::flush(Duration::from_secs(5)));
        let reqs = receiver.metrics();
        if find(&reqs, "system.cpu.utilization").is_some() || Instant::now() > deadline {
            break reqs;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(guard);

    let resource = &reqs[0].resource_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(str_attr(resource, "host.name"), Some(host.trim()));
    if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
        assert_eq!(str_attr(resource, "host.id"), Some(id.trim()));
    }
    assert_eq!(str_attr(resource, "os.type"), Some("linux"));
    assert_eq!(
        str_attr(resource, "process.runtime.name"),
        Some("OpenJDK Runtime Environment")
    );
    assert_eq!(
        str_attr(resource, "process.runtime.version"),
        Some("17.0.15+6")
    );
    assert_eq!(
        str_attr(resource, "process.runtime.description"),
        None,
        "a runtime named key by key starts empty, not from Rust's"
    );
    assert_eq!(
        int_attr(resource, "process.pid"),
        Some(i64::from(std::process::id()))
    );

    let limit = find(&reqs, "system.memory.limit").expect("memory limit exported");
    assert_eq!(limit.unit, "By");
    let Some(metric::Data::Sum(sum)) = &limit.data else {
        panic!("an UpDownCounter is a non-monotonic sum: {limit:?}");
    };
    assert!(!sum.is_monotonic);
    let point = &sum.data_points[0];
    let total_kb: i64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        point.value,
        Some(number_data_point::Value::AsInt(total_kb * 1024))
    );
    assert_eq!(str_attr(&point.attributes, "host.name"), Some(host.trim()));

    let cpu = find(&reqs, "system.cpu.time").unwrap();
    let Some(metric::Data::Sum(sum)) = &cpu.data else {
        panic!("{cpu:?}")
    };
    assert!(sum.is_monotonic);
    let modes: Vec<&str> = sum
        .data_points
        .iter()
        .filter_map(|p| str_attr(&p.attributes, "cpu.mode"))
        .collect();
    for mode in ["user", "system", "iowait", "steal"] {
        assert!(modes.contains(&mode), "{modes:?}");
    }
    assert!(
        find(&reqs, "system.cpu.utilization").is_some(),
        "a second sample"
    );
    for name in [
        "system.network.io",
        "system.disk.io",
        "system.filesystem.usage",
        "system.network.connections",
        "system.paging.usage",
        "process.memory.usage",
        "system.cpu.load_average.1m",
    ] {
        assert!(find(&reqs, name).is_some(), "{name} missing");
    }
    let procs = find(&reqs, "process.memory.usage").unwrap();
    let Some(metric::Data::Sum(sum)) = &procs.data else {
        panic!("{procs:?}")
    };
    assert!(sum.data_points.iter().all(|p| matches!(
        osprey_testkit::spans::attr(&p.attributes, "process.pid"),
        Some(Value::IntValue(_))
    )));
}
