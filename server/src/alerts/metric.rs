//! Judging the rules on stored metric series: JVM heap and GC time,
//! host CPU, memory and disk (OpenTelemetry `system.*` names), and any
//! series (`kind = "metric"`). Every function reads the points of
//! `from_ms..to_ms` of the series it is given and reports the worst
//! subject (service, mount point, series).

use std::collections::BTreeMap;

use super::eval::Reading;
use super::rules::{Aggregate, Checked, Kind};
use crate::prom::series::parse_attributes;
use crate::storage::SeriesJson;

/// The series names a kind reads (queried by name).
pub fn names(rule: &Checked) -> Vec<&str> {
    match rule.rule.kind {
        Kind::Heap => vec![
            "jvm.memory.used",
            "jvm.memory.limit",
            "jvm.memory.committed",
        ],
        Kind::GcTime => vec!["jvm.gc.collections.elapsed"],
        Kind::HostCpu => vec!["system.cpu.utilization"],
        Kind::HostMemory => vec!["system.memory.utilization"],
        Kind::HostDisk => vec!["system.filesystem.utilization"],
        Kind::Metric => rule.rule.metric.as_deref().into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The points of `s` in `from_ms..to_ms` (points are sorted by time).
fn window(s: &SeriesJson, from_ms: u64, to_ms: u64) -> &[(u64, f64, u64)] {
    let lo = s.points.partition_point(|p| p.0 < from_ms);
    let hi = s.points.partition_point(|p| p.0 < to_ms);
    &s.points[lo..hi]
}

fn attr<'a>(s: &'a SeriesJson, key: &str) -> Option<&'a str> {
    parse_attributes(&s.attributes)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A state attribute (`system.memory.state`, `cpu.mode`, `state`, ...).
fn state_of(s: &SeriesJson) -> Option<&str> {
    parse_attributes(&s.attributes)
        .into_iter()
        .find(|(k, _)| k.ends_with("state") || k.ends_with("mode"))
        .map(|(_, v)| v)
}

/// The attributes without the state/mode ones: the subject.
fn subject_of(s: &SeriesJson) -> String {
    let rest: Vec<String> = parse_attributes(&s.attributes)
        .into_iter()
        .filter(|(k, _)| !(k.ends_with("state") || k.ends_with("mode")))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if rest.is_empty() {
        s.service.clone()
    } else {
        format!("{} {}", s.service, rest.join(","))
    }
}

fn in_scope<'a>(
    rule: &'a Checked,
    series: &'a [SeriesJson],
) -> impl Iterator<Item = &'a SeriesJson> {
    series.iter().filter(move |s| {
        rule.rule.service.as_deref().is_none_or(|x| x == s.service)
            && rule.rule.where_.iter().all(|(k, v)| attr(s, k) == Some(v))
    })
}

/// The worst of `(subject, service, value)`: largest, or smallest when `below`.
fn worst(rule: &Checked, found: Vec<(String, String, f64)>, what: &str) -> Reading {
    let below = rule.rule.below;
    let pick = found.into_iter().reduce(|a, b| {
        if (b.2 > a.2) != below && b.2 != a.2 {
            b
        } else {
            a
        }
    });
    match pick {
        None => Reading::none(format!("no {what} in the window")),
        Some((subject, service, v)) => {
            let mut r = Reading::of(
                v,
                rule.rule.threshold,
                below,
                format!("{what} {} on {subject}", fmt(v)),
            );
            r.service = Some(service);
            r
        }
    }
}

fn fmt(v: f64) -> String {
    if (0.0..=1.0).contains(&v) {
        format!("{:.1} %", v * 100.0)
    } else {
        format!("{v:.3}")
    }
}

fn last(s: &SeriesJson, from_ms: u64, to_ms: u64) -> Option<f64> {
    window(s, from_ms, to_ms).last().map(|p| p.1)
}

/// Judges a metric-based rule over `from_ms..to_ms`.
pub fn judge(rule: &Checked, series: &[SeriesJson], from_ms: u64, to_ms: u64) -> Reading {
    match rule.rule.kind {
        Kind::Heap => heap(rule, series, from_ms, to_ms),
        Kind::GcTime => gc_time(rule, series, from_ms, to_ms),
        Kind::HostCpu => host_cpu(rule, series, from_ms, to_ms),
        Kind::HostMemory | Kind::HostDisk => {
            let what = if rule.rule.kind == Kind::HostMemory {
                "memory used"
            } else {
                "disk used"
            };
            let found = in_scope(rule, series)
                .filter(|s| state_of(s).is_none_or(|st| st == "used"))
                .filter_map(|s| Some((subject_of(s), s.service.clone(), last(s, from_ms, to_ms)?)))
                .collect();
            worst(rule, found, what)
        }
        Kind::Metric => {
            let found = in_scope(rule, series)
                .filter_map(|s| {
                    let v = reduce(rule.rule.aggregate, window(s, from_ms, to_ms))?;
                    let subject = if s.attributes.is_empty() {
                        s.service.clone()
                    } else {
                        format!("{} {}", s.service, s.attributes)
                    };
                    Some((subject, s.service.clone(), v))
                })
                .collect();
            worst(rule, found, rule.rule.metric.as_deref().unwrap_or("metric"))
        }
        _ => Reading::none("not a metric rule"),
    }
}

fn reduce(agg: Aggregate, pts: &[(u64, f64, u64)]) -> Option<f64> {
    let vals = pts.iter().map(|p| p.1);
    match agg {
        Aggregate::Last => pts.last().map(|p| p.1),
        Aggregate::Max => vals.reduce(f64::max),
        Aggregate::Min => vals.reduce(f64::min),
        Aggregate::Avg => (!pts.is_empty()).then(|| vals.sum::<f64>() / pts.len() as f64),
        Aggregate::Rate => {
            let (a, b) = (pts.first()?, pts.last()?);
            (b.0 > a.0).then(|| increase(a.1, b.1) / ((b.0 - a.0) as f64 / 1000.0))
        }
    }
}

/// A counter's increase from `a` to `b` (a reset counts from zero).
fn increase(a: f64, b: f64) -> f64 {
    if b >= a { b - a } else { b }
}

fn heap(rule: &Checked, series: &[SeriesJson], from_ms: u64, to_ms: u64) -> Reading {
    // Per service: heap used / heap limit (committed when there is no limit).
    let mut per: BTreeMap<&str, [f64; 3]> = BTreeMap::new();
    for s in in_scope(rule, series) {
        if attr(s, "jvm.memory.type") != Some("heap") {
            continue;
        }
        let Some(v) = last(s, from_ms, to_ms) else {
            continue;
        };
        let slot = match s.name.as_str() {
            "jvm.memory.used" => 0,
            "jvm.memory.limit" => 1,
            "jvm.memory.committed" => 2,
            _ => continue,
        };
        per.entry(&s.service).or_default()[slot] += v;
    }
    let found = per
        .into_iter()
        .filter_map(|(svc, [used, limit, committed])| {
            let cap = if limit > 0.0 { limit } else { committed };
            (cap > 0.0).then(|| (svc.to_owned(), svc.to_owned(), used / cap))
        })
        .collect();
    worst(rule, found, "heap used")
}

fn gc_time(rule: &Checked, series: &[SeriesJson], from_ms: u64, to_ms: u64) -> Reading {
    // Per service: GC ms gained over the window / the window's ms.
    let span_ms = to_ms.saturating_sub(from_ms).max(1) as f64;
    let mut per: BTreeMap<&str, f64> = BTreeMap::new();
    for s in in_scope(rule, series) {
        let pts = window(s, from_ms, to_ms);
        // The last point before the window is the start of the increase.
        let lo = s.points.partition_point(|p| p.0 < from_ms);
        let start = lo
            .checked_sub(1)
            .map(|i| s.points[i])
            .or(pts.first().copied());
        let (Some(a), Some(b)) = (start, pts.last()) else {
            continue;
        };
        let ms = if s.unit == "s" { 1000.0 } else { 1.0 };
        *per.entry(&s.service).or_default() += increase(a.1, b.1) * ms;
    }
    let found = per
        .into_iter()
        .map(|(svc, ms)| (svc.to_owned(), svc.to_owned(), ms / span_ms))
        .collect();
    worst(rule, found, "time in GC")
}

fn host_cpu(rule: &Checked, series: &[SeriesJson], from_ms: u64, to_ms: u64) -> Reading {
    // Per CPU (the attributes but the mode): the non-idle modes summed,
    // or 1 - idle when only idle is sent; then the mean per service.
    #[derive(Default)]
    struct Cpu {
        busy: Option<f64>,
        idle: Option<f64>,
    }
    let mut cpus: BTreeMap<(String, String), Cpu> = BTreeMap::new();
    for s in in_scope(rule, series) {
        let Some(v) = last(s, from_ms, to_ms) else {
            continue;
        };
        let c = cpus.entry((s.service.clone(), subject_of(s))).or_default();
        match state_of(s) {
            Some("idle") => c.idle = Some(v),
            _ => *c.busy.get_or_insert(0.0) += v,
        }
    }
    let mut per: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for ((svc, _), c) in cpus {
        let Some(busy) = c.busy.or(c.idle.map(|i| 1.0 - i)) else {
            continue;
        };
        let e = per.entry(svc).or_default();
        e.0 += busy;
        e.1 += 1;
    }
    let found = per
        .into_iter()
        .map(|(svc, (sum, n))| (svc.clone(), svc, sum / f64::from(n)))
        .collect();
    worst(rule, found, "CPU busy")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::Rules;
    use crate::record::MetricKind;

    fn rule(text: &str) -> Checked {
        Rules::parse(text).unwrap().rules.remove(0)
    }

    fn series(service: &str, name: &str, attributes: &str, points: &[(u64, f64)]) -> SeriesJson {
        SeriesJson {
            service: service.into(),
            name: name.into(),
            attributes: attributes.into(),
            unit: String::new(),
            kind: MetricKind::Gauge,
            points: points.iter().map(|&(t, v)| (t, v, 0)).collect(),
            instance: String::new(),
            host: String::new(),
        }
    }

    #[test]
    fn heap_is_used_over_limit_per_service() {
        let r = rule("[[rule]]\nname='h'\nkind='heap'\nthreshold=0.8\n");
        let s = vec![
            series(
                "a",
                "jvm.memory.used",
                "jvm.memory.type=heap",
                &[(10, 50.0), (20, 90.0)],
            ),
            series(
                "a",
                "jvm.memory.limit",
                "jvm.memory.type=heap",
                &[(20, 100.0)],
            ),
            series(
                "a",
                "jvm.memory.used",
                "jvm.memory.type=non_heap",
                &[(20, 1000.0)],
            ),
            series(
                "b",
                "jvm.memory.used",
                "jvm.memory.type=heap",
                &[(20, 10.0)],
            ),
            series(
                "b",
                "jvm.memory.committed",
                "jvm.memory.type=heap",
                &[(20, 100.0)],
            ),
        ];
        let got = judge(&r, &s, 0, 30);
        assert_eq!(got.value, Some(0.9));
        assert!(got.breach);
        assert_eq!(got.service.as_deref(), Some("a"));
        assert_eq!(judge(&r, &s, 0, 15).value, None, "no limit in that window");
    }

    #[test]
    fn gc_time_counts_the_increase_from_before_the_window() {
        let r = rule("[[rule]]\nname='g'\nkind='gc_time'\nthreshold=0.1\n");
        let s = vec![
            series(
                "a",
                "jvm.gc.collections.elapsed",
                "jvm.gc.name=G1 Young",
                &[(0, 100.0), (5_000, 700.0), (10_000, 1_300.0)],
            ),
            series(
                "a",
                "jvm.gc.collections.elapsed",
                "jvm.gc.name=G1 Old",
                &[(0, 0.0), (10_000, 200.0)],
            ),
        ];
        let got = judge(&r, &s, 1, 10_001);
        assert!((got.value.unwrap() - 0.14).abs() < 1e-9, "{got:?}");
    }

    #[test]
    fn host_cpu_sums_non_idle_modes_per_cpu_and_averages() {
        let r = rule("[[rule]]\nname='c'\nkind='host_cpu'\nthreshold=0.5\n");
        let s = vec![
            series(
                "h",
                "system.cpu.utilization",
                "cpu.logical_number=0,cpu.mode=user",
                &[(1, 0.5)],
            ),
            series(
                "h",
                "system.cpu.utilization",
                "cpu.logical_number=0,cpu.mode=system",
                &[(1, 0.3)],
            ),
            series(
                "h",
                "system.cpu.utilization",
                "cpu.logical_number=0,cpu.mode=idle",
                &[(1, 0.2)],
            ),
            series(
                "h",
                "system.cpu.utilization",
                "cpu.logical_number=1,cpu.mode=idle",
                &[(1, 0.6)],
            ),
        ];
        let got = judge(&r, &s, 0, 10);
        assert!((got.value.unwrap() - 0.6).abs() < 1e-9, "{got:?}");
    }

    #[test]
    fn disk_reports_the_fullest_mount_and_metric_rules_reduce() {
        let r = rule("[[rule]]\nname='d'\nkind='host_disk'\nthreshold=0.9\n");
        let s = vec![
            series(
                "h",
                "system.filesystem.utilization",
                "system.filesystem.mountpoint=/,system.filesystem.state=used",
                &[(1, 0.5)],
            ),
            series(
                "h",
                "system.filesystem.utilization",
                "system.filesystem.mountpoint=/data,system.filesystem.state=used",
                &[(1, 0.95)],
            ),
            series(
                "h",
                "system.filesystem.utilization",
                "system.filesystem.mountpoint=/data,system.filesystem.state=free",
                &[(1, 0.05)],
            ),
        ];
        let got = judge(&r, &s, 0, 10);
        assert_eq!(got.value, Some(0.95));
        assert_eq!(
            got.detail,
            "disk used 95.0 % on h system.filesystem.mountpoint=/data"
        );
        let m =
            rule("[[rule]]\nname='m'\nkind='metric'\nmetric='q'\naggregate='rate'\nthreshold=5\n");
        let s = vec![series("a", "q", "", &[(0, 10.0), (2_000, 30.0)])];
        assert_eq!(judge(&m, &s, 0, 10_000).value, Some(10.0));
    }
}
