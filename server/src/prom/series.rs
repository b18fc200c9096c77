//! Stored metric series (JVM, host and container metrics under their
//! OpenTelemetry names, and anything else agents send) as Prometheus
//! families: the name sanitized with a unit suffix as the OpenTelemetry
//! to Prometheus translation does (`jvm.memory.used` in `By` →
//! `jvm_memory_used_bytes`), the service as label `service`, the
//! sender's `service.instance.id` as `instance` and its `host.name` as
//! `host_name` (when it sent them), and every point attribute as a label.
//! The latest point of each series of the last [`FRESH`] is exposed; sums
//! as gauges (their monotonicity is not stored), histograms as summaries
//! (`_sum`, `_count`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::encode::{Family, Sample, Type, sanitize};
use crate::record::MetricKind;
use crate::storage::SeriesJson;

/// Series without a point for this long are left out (stale).
pub const FRESH: Duration = Duration::from_secs(300);

/// Label names of ours (and Prometheus's): a point attribute of the same
/// name is exposed as `attr_<name>`.
const RESERVED: [&str; 5] = ["service", "instance", "host_name", "le", "quantile"];

/// `k=v,k=v` (as stored) as pairs; a value holding `,` stays whole.
pub fn parse_attributes(s: &str) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    // Split at a ',' only when what follows looks like `key=`.
    while i <= s.len() {
        let at_end = i == s.len();
        if at_end || (bytes[i] == b',' && next_is_key(&s[i + 1..])) {
            let part = &s[start..i];
            if let Some((k, v)) = part.split_once('=') {
                out.push((k, v));
            }
            start = i + 1;
        }
        i += 1;
    }
    out
}

fn next_is_key(rest: &str) -> bool {
    match rest.find('=') {
        Some(eq) => !rest[..eq].contains(','),
        None => false,
    }
}

/// The unit suffix of an OpenTelemetry unit, if any.
fn unit_suffix(unit: &str, kind: MetricKind) -> Option<&'static str> {
    Some(match unit {
        "By" => "bytes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "%" => "percent",
        "By/s" => "bytes_per_second",
        "1" if kind == MetricKind::Gauge => "ratio",
        _ => return None,
    })
}

/// The Prometheus name of a stored series.
pub fn metric_name(name: &str, unit: &str, kind: MetricKind) -> String {
    let mut n = sanitize(name);
    if let Some(suffix) = unit_suffix(unit, kind)
        && !n.ends_with(suffix)
    {
        n.push('_');
        n.push_str(suffix);
    }
    n
}

/// The families of the latest points of `series` whose service `allow`s.
pub fn families(series: &[SeriesJson], allow: &dyn Fn(&str) -> bool) -> Vec<Family> {
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    let mut seen: BTreeSet<(String, Vec<(String, String)>)> = BTreeSet::new();
    for s in series.iter().filter(|s| allow(&s.service)) {
        let Some(&(_, value, count)) = s.points.last() else {
            continue;
        };
        let name = metric_name(&s.name, &s.unit, s.kind);
        let kind = if s.kind == MetricKind::Histogram {
            Type::Summary
        } else {
            Type::Gauge
        };
        let fam = fams.entry(name.clone()).or_insert_with(|| Family {
            name: name.clone(),
            help: format!("{} ({}) as sent by agents, latest point.", s.name, s.unit),
            kind,
            samples: Vec::new(),
        });
        if fam.kind != kind {
            continue;
        }
        let mut labels = vec![("service".to_owned(), s.service.clone())];
        for (k, v) in [("instance", &s.instance), ("host_name", &s.host)] {
            if !v.is_empty() {
                labels.push((k.to_owned(), v.clone()));
            }
        }
        let fixed = labels.len();
        for (k, v) in parse_attributes(&s.attributes) {
            let mut k = sanitize(k);
            if RESERVED.contains(&k.as_str()) || k.starts_with("__") {
                k = format!("attr_{}", k.trim_start_matches('_'));
            }
            if labels.iter().all(|(x, _)| *x != k) {
                labels.push((k, v.to_owned()));
            }
        }
        labels[fixed..].sort();
        if !seen.insert((name, labels.clone())) {
            continue;
        }
        if kind == Type::Summary {
            fam.samples.push(Sample {
                suffix: "_sum",
                labels: labels.clone(),
                value,
            });
            fam.samples.push(Sample {
                suffix: "_count",
                labels,
                value: count as f64,
            });
        } else {
            fam.samples.push(Sample {
                suffix: "",
                labels,
                value,
            });
        }
    }
    fams.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_split_only_before_keys() {
        assert_eq!(
            parse_attributes("a=1,b=x,y,c.d=z"),
            vec![("a", "1"), ("b", "x,y"), ("c.d", "z")]
        );
        assert!(parse_attributes("").is_empty());
    }

    fn series(
        name: &str,
        unit: &str,
        kind: MetricKind,
        attributes: &str,
        points: &[(u64, f64, u64)],
    ) -> SeriesJson {
        SeriesJson {
            service: "shop".into(),
            name: name.into(),
            attributes: attributes.into(),
            unit: unit.into(),
            kind,
            points: points.to_vec(),
            instance: String::new(),
            host: String::new(),
        }
    }

    #[test]
    fn series_become_families_with_safe_unique_labels() {
        let all = vec![
            series(
                "jvm.memory.used",
                "By",
                MetricKind::Gauge,
                "jvm.memory.type=heap",
                &[(1, 5.0, 0), (2, 7.0, 0)],
            ),
            // `service` and `le` attributes must not clash with ours.
            series(
                "jvm.memory.used",
                "By",
                MetricKind::Gauge,
                "le=x,service=other",
                &[(2, 1.0, 0)],
            ),
            series(
                "http.server.duration",
                "ms",
                MetricKind::Histogram,
                "",
                &[(2, 30.0, 4)],
            ),
            series("empty", "", MetricKind::Gauge, "", &[]),
        ];
        let fams = families(&all, &|s| s == "shop");
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["http_server_duration_milliseconds", "jvm_memory_used_bytes"]
        );
        let hist = &fams[0];
        assert_eq!(hist.kind, Type::Summary);
        assert_eq!(
            hist.samples
                .iter()
                .map(|s| (s.suffix, s.value))
                .collect::<Vec<_>>(),
            [("_sum", 30.0), ("_count", 4.0)]
        );
        let heap = &fams[1].samples;
        assert_eq!(heap[0].value, 7.0, "the latest point");
        assert_eq!(
            heap[1].labels,
            [
                ("service".to_owned(), "shop".to_owned()),
                ("attr_le".into(), "x".into()),
                ("attr_service".into(), "other".into())
            ]
        );
        assert!(families(&all, &|s| s == "billing").is_empty());
    }

    #[test]
    fn each_instance_is_its_own_sample_labelled_with_its_identity() {
        let mut a = series(
            "jvm.thread.count",
            "",
            MetricKind::Gauge,
            "instance=x",
            &[(1, 5.0, 0)],
        );
        a.instance = "shop-a".into();
        a.host = "h1".into();
        let mut b = a.clone();
        b.instance = "shop-b".into();
        b.points = vec![(1, 9.0, 0)];
        let fams = families(&[a, b], &|_| true);
        let samples = &fams[0].samples;
        let pairs = |i: usize| {
            samples[i]
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(samples.len(), 2, "{samples:?}");
        assert_eq!(
            pairs(0),
            [
                "service=shop",
                "instance=shop-a",
                "host_name=h1",
                "attr_instance=x"
            ]
        );
        assert_eq!((samples[0].value, samples[1].value), (5.0, 9.0));
        assert_eq!(pairs(1)[1], "instance=shop-b");
    }

    #[test]
    fn names_follow_the_otel_translation() {
        assert_eq!(
            metric_name("jvm.memory.used", "By", MetricKind::Gauge),
            "jvm_memory_used_bytes"
        );
        assert_eq!(
            metric_name("system.cpu.utilization", "1", MetricKind::Gauge),
            "system_cpu_utilization_ratio"
        );
        assert_eq!(
            metric_name("jvm.gc.collections.elapsed", "ms", MetricKind::Sum),
            "jvm_gc_collections_elapsed_milliseconds"
        );
        assert_eq!(
            metric_name("x.count", "{thread}", MetricKind::Sum),
            "x_count"
        );
    }
}
