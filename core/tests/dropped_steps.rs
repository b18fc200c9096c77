//! Steps past `steps.max` are counted: `osprey::stats().dropped_steps`
//! sums the transactions' `dropped_steps`, and the collector exports the
//! total as `osprey.agent.steps.dropped` with its other own counters.
#![cfg(all(feature = "otlp", feature = "enable"))]

use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use osprey::Config;
use osprey::export::otlp::OtlpConfig;
use osprey_testkit::Receiver;

#[test]
fn steps_past_the_cap_are_counted_and_exported() {
    let receiver = Receiver::start();
    let guard = osprey::init(
        Config::default()
            .service_name("steps")
            .max_steps(3)
            .batch_delay(Duration::from_millis(50))
            .exporter_spec(OtlpConfig::default().endpoint(&receiver.endpoint())),
    )
    .expect("osprey starts");
    // 7 transactions of 1 + 5 steps where 3 fit: 3 dropped each; one
    // within the cap drops none.
    for n in 0..7 {
        let txn = osprey::transaction("GET /deep").server().begin();
        for _ in 0..6 {
            let _s = osprey::step(if n % 2 == 0 { "even" } else { "odd" });
        }
        txn.end();
    }
    let txn = osprey::transaction("GET /flat").server().begin();
    drop(osprey::step("one"));
    txn.end();
    assert!(osprey::flush(Duration::from_secs(10)));
    assert_eq!(osprey::stats().dropped_steps, 21);
    // The next sample of the collector's counters, exported.
    let exported = (0..100)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            assert!(osprey::flush(Duration::from_secs(10)));
            receiver
                .metrics()
                .into_iter()
                .flat_map(|r| r.resource_metrics)
                .flat_map(|r| r.scope_metrics)
                .flat_map(|s| s.metrics)
                .filter(|m| m.name == "osprey.agent.steps.dropped")
                .filter_map(|m| match m.data {
                    Some(metric::Data::Sum(s)) => Some((m.unit, s)),
                    _ => None,
                })
                .flat_map(|(unit, s)| s.data_points.into_iter().map(move |p| (unit.clone(), p)))
                .filter_map(|(unit, p)| match p.value {
                    Some(number_data_point::Value::AsInt(21)) => Some(unit),
                    _ => None,
                })
                .next()
        })
        .expect("osprey.agent.steps.dropped = 21 exported");
    assert_eq!(exported, "{step}");
    assert!(guard.shutdown(Duration::from_secs(5)));
}
