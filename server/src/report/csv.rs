//! A report as CSV (RFC 4180, written by the `csv` crate): one section per
//! table, each starting with a header row whose first cell names the
//! section (`summary`, `trend`, `top_by_time`, `top_by_errors`, `slowest`,
//! `sql`, `jvm`, `host`), sections separated by an empty row. Numbers are
//! plain (ms with three decimals, UNIX ms times next to RFC 3339 ones).

use super::{EndpointRow, Report, ReportError, SeriesSummary};
use crate::time::format_ms;

fn ms(v: f64) -> String {
    format!("{v:.3}")
}

/// The CSV bytes.
pub fn render(r: &Report) -> Result<Vec<u8>, ReportError> {
    let mut w = ::csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let fail = |e: ::csv::Error| ReportError::Io {
        doing: "cannot write CSV".into(),
        source: std::io::Error::other(e),
    };
    let t = &r.totals;
    let rows: Vec<Vec<String>> = {
        let mut rows = vec![
            strings(&[
                "summary",
                "service",
                "from",
                "to",
                "count",
                "errors",
                "error_pct",
                "tps_avg",
                "tps_peak",
                "avg_ms",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "max_ms",
            ]),
            vec![
                "summary".into(),
                r.service.clone(),
                format_ms(r.from_ms),
                format_ms(r.to_ms),
                t.count.to_string(),
                t.errors.to_string(),
                format!("{:.3}", t.error_pct),
                format!("{:.3}", t.tps_avg),
                t.tps_peak.to_string(),
                ms(t.avg_ms),
                ms(t.p50_ms),
                ms(t.p95_ms),
                ms(t.p99_ms),
                ms(t.max_ms),
            ],
            Vec::new(),
            strings(&[
                "trend", "start", "start_ms", "count", "errors", "tps", "avg_ms", "p95_ms",
                "max_ms",
            ]),
        ];
        for p in &r.trend {
            rows.push(vec![
                "trend".into(),
                format_ms(p.start_ms),
                p.start_ms.to_string(),
                p.count.to_string(),
                p.errors.to_string(),
                format!("{:.3}", p.tps),
                ms(p.avg_ms),
                ms(p.p95_ms),
                ms(p.max_ms),
            ]);
        }
        endpoints(&mut rows, "top_by_time", &r.top_by_time);
        endpoints(&mut rows, "top_by_errors", &r.top_by_errors);
        rows.push(Vec::new());
        rows.push(strings(&[
            "slowest",
            "id",
            "trace_id",
            "endpoint",
            "end",
            "end_ms",
            "elapsed_ms",
            "error",
            "instance",
        ]));
        for s in &r.slowest {
            rows.push(vec![
                "slowest".into(),
                s.id.clone(),
                s.trace_id.clone(),
                s.endpoint.clone(),
                format_ms(s.end_ms),
                s.end_ms.to_string(),
                ms(s.elapsed_ms),
                s.error.to_string(),
                s.instance.clone().unwrap_or_default(),
            ]);
        }
        rows.push(Vec::new());
        rows.push(strings(&[
            "sql",
            "statement",
            "count",
            "errors",
            "total_ms",
            "avg_ms",
            "max_ms",
        ]));
        for s in &r.sql {
            rows.push(vec![
                "sql".into(),
                s.sql.clone(),
                s.count.to_string(),
                s.errors.to_string(),
                ms(s.total_ms),
                ms(s.avg_ms),
                ms(s.max_ms),
            ]);
        }
        series(&mut rows, "jvm", &r.jvm);
        series(&mut rows, "host", &r.host);
        rows
    };
    for row in rows {
        if row.is_empty() {
            w.write_record([""]).map_err(fail)?;
        } else {
            w.write_record(&row).map_err(fail)?;
        }
    }
    w.into_inner().map_err(|e| ReportError::Io {
        doing: "cannot write CSV".into(),
        source: e.into_error(),
    })
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}

fn endpoints(rows: &mut Vec<Vec<String>>, section: &str, list: &[EndpointRow]) {
    rows.push(Vec::new());
    rows.push(strings(&[
        section, "endpoint", "count", "errors", "total_ms", "avg_ms", "p95_ms", "max_ms",
    ]));
    for e in list {
        rows.push(vec![
            section.into(),
            e.endpoint.clone(),
            e.count.to_string(),
            e.errors.to_string(),
            ms(e.total_ms),
            ms(e.avg_ms),
            ms(e.p95_ms),
            ms(e.max_ms),
        ]);
    }
}

fn series(rows: &mut Vec<Vec<String>>, section: &str, list: &[SeriesSummary]) {
    rows.push(Vec::new());
    rows.push(strings(&[
        section,
        "name",
        "attributes",
        "unit",
        "points",
        "min",
        "avg",
        "max",
        "last",
    ]));
    for s in list {
        rows.push(vec![
            section.into(),
            s.name.clone(),
            s.attributes.clone(),
            s.unit.clone(),
            s.points.to_string(),
            s.min.to_string(),
            s.avg.to_string(),
            s.max.to_string(),
            s.last.to_string(),
        ]);
    }
}
