//! The live state two kinds read instead of the per-second data:
//! `active_age` (transactions in flight: the active-services reports of
//! `/v1/active`, and for services without one the Java agent's sampled
//! `osprey.active.elapsed` series) and `silent` (each instance's latest
//! transaction).

use super::eval::Reading;
use super::rules::Checked;
use crate::prom::series::parse_attributes;
use crate::storage::{SeriesQuery, Storage, StorageResult};

/// Active-services reports older than this are not judged.
const REPORT_FRESH_MS: u64 = 60_000;
/// Sampled in-flight series without a point for this long have ended.
const SAMPLE_FRESH_MS: u64 = 2_500;
/// Instances not seen for this long are no longer watched by `silent`.
const SILENT_FORGET_MS: u64 = 86_400_000;

/// The oldest transaction in flight in the rule's scope, seconds.
pub fn active_age(storage: &dyn Storage, c: &Checked, now_ms: u64) -> StorageResult<Reading> {
    let r = &c.rule;
    let wanted = |service: &str, endpoint: &str| {
        r.service.as_deref().is_none_or(|s| s == service)
            && r.endpoint.as_deref().is_none_or(|e| e == endpoint)
    };
    // (elapsed ms, service, endpoint)
    let mut found: Vec<(f64, String, String)> = Vec::new();
    let mut reported = Vec::new();
    for rep in storage.active()? {
        if now_ms.saturating_sub(rep.received_ms) > REPORT_FRESH_MS {
            continue;
        }
        reported.push(rep.service.clone());
        found.extend(
            rep.transactions
                .iter()
                .filter(|t| wanted(&rep.service, &t.endpoint))
                .map(|t| (t.elapsed_ms, rep.service.clone(), t.endpoint.clone())),
        );
    }
    let sampled = storage.series(&SeriesQuery {
        name: Some("osprey.active.elapsed".into()),
        service: r.service.clone(),
        instance: None,
        from_ns: Some(now_ms.saturating_sub(SAMPLE_FRESH_MS) * 1_000_000),
        to_ns: None,
        latest_only: true,
    })?;
    for s in sampled.iter().filter(|s| !reported.contains(&s.service)) {
        let endpoint = parse_attributes(&s.attributes)
            .into_iter()
            .find(|(k, _)| *k == "osprey.transaction.name")
            .map_or("", |(_, v)| v);
        if let (Some(p), true) = (s.points.last(), wanted(&s.service, endpoint)) {
            let ms = if s.unit == "ms" { p.1 } else { p.1 * 1000.0 };
            found.push((ms, s.service.clone(), endpoint.to_owned()));
        }
    }
    let worst = found
        .into_iter()
        .reduce(|a, b| if b.0 > a.0 { b } else { a });
    Ok(match worst {
        None => Reading::of(0.0, r.threshold, false, "no transaction in flight".into()),
        Some((ms, svc, ep)) => {
            let mut rd = Reading::of(
                ms / 1000.0,
                r.threshold,
                false,
                format!("{svc} {ep} in flight for {:.1} s", ms / 1000.0),
            );
            rd.service = Some(svc);
            rd
        }
    })
}

/// The longest silence of an instance seen in the last 24 h, seconds.
pub fn silent(storage: &dyn Storage, c: &Checked, now_ms: u64) -> StorageResult<Reading> {
    let r = &c.rule;
    let mut quiet: Vec<(u64, String, String)> = storage
        .instances(r.service.as_deref())?
        .into_iter()
        .filter(|i| r.instance.as_deref().is_none_or(|x| x == i.instance))
        .map(|i| (now_ms.saturating_sub(i.last_seen_ms), i.service, i.instance))
        .filter(|(q, _, _)| *q < SILENT_FORGET_MS)
        .collect();
    quiet.sort_by_key(|s| std::cmp::Reverse(s.0));
    Ok(match quiet.first() {
        None => Reading::none("no instance seen in the last 24 h"),
        Some((q, svc, inst)) => {
            let over = quiet
                .iter()
                .filter(|s| s.0 as f64 / 1000.0 > r.threshold)
                .count();
            let mut rd = Reading::of(
                *q as f64 / 1000.0,
                r.threshold,
                false,
                format!(
                    "{svc} instance {inst} silent for {} s ({over} instance(s) over {} s)",
                    q / 1000,
                    r.threshold
                ),
            );
            rd.service = Some(svc.clone());
            rd
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::Rules;
    use crate::app::{App, ServerConfig};
    use crate::record::{MetricKind, MetricPoint};
    use crate::storage::{ActiveReport, ActiveTxn};

    fn rule(text: &str) -> Checked {
        Rules::parse(text).unwrap().rules.remove(0)
    }

    #[test]
    fn active_age_reads_reports_and_the_java_agents_samples() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::open(ServerConfig::new(dir.path())).unwrap();
        let now_ms = crate::time::now_ms();
        app.report_active(ActiveReport {
            service: "rust-front".into(),
            received_ms: 0,
            transactions: vec![ActiveTxn {
                endpoint: "GET /x".into(),
                elapsed_ms: 4_000.0,
                thread: "t1".into(),
                trace_id: None,
                stack: None,
            }],
        })
        .unwrap();
        let sample = |time_ms: u64, endpoint: &str, value: f64| MetricPoint {
            service: "tomcat-demo".into(),
            name: "osprey.active.elapsed".into(),
            unit: "s".into(),
            kind: MetricKind::Gauge,
            attributes: format!("osprey.transaction.name={endpoint},thread.name=http-1"),
            time_ns: time_ms * 1_000_000,
            value,
            count: 0,
            instance: String::new(),
            host: String::new(),
        };
        app.ingest_metrics(vec![
            sample(now_ms - 500, "GET /slow", 9.5),
            // Ended long ago: its last sample is stale.
            sample(now_ms - 60_000, "GET /older", 30.0),
        ])
        .unwrap();
        let any = active_age(
            app.storage(),
            &rule("[[rule]]\nname='a'\nkind='active_age'\nthreshold=5\n"),
            now_ms,
        )
        .unwrap();
        assert_eq!(any.value, Some(9.5));
        assert!(any.breach);
        assert_eq!(any.detail, "tomcat-demo GET /slow in flight for 9.5 s");
        let front =
            rule("[[rule]]\nname='a'\nkind='active_age'\nservice='rust-front'\nthreshold=5\n");
        let got = active_age(app.storage(), &front, now_ms).unwrap();
        assert_eq!((got.value, got.breach), (Some(4.0), false));
        let none =
            rule("[[rule]]\nname='a'\nkind='active_age'\nendpoint='GET /none'\nthreshold=5\n");
        assert_eq!(
            active_age(app.storage(), &none, now_ms).unwrap().detail,
            "no transaction in flight"
        );
    }
}
