//! A report as one self-contained HTML page: inline CSS, inline SVG charts
//! (each with a text title for screen readers), tables with captions. No
//! script, no external resource; every text from the data is escaped.

use std::fmt::Write;

use super::{EndpointRow, Report, SeriesSummary};
use crate::time::format_ms;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn num(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;color:#1b1f24;margin:24px;max-width:1000px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccd}\
.sub{color:#555}table{border-collapse:collapse;width:100%;margin:6px 0}\
caption{text-align:left;font-weight:600;padding:4px 0}\
th,td{border-bottom:1px solid #e3e5e8;padding:3px 6px;text-align:right;vertical-align:top}\
th:first-child,td:first-child{text-align:left}td.t{text-align:left;word-break:break-all}\
.kpi{display:flex;flex-wrap:wrap;gap:10px}.kpi div{border:1px solid #ccd;border-radius:6px;padding:6px 10px}\
.kpi b{display:block;font-size:18px}figure{margin:8px 0}figcaption{font-weight:600}\
svg text{font-size:10px;fill:#444}.err{color:#b3261e}\
@media print{body{margin:0}h2{break-after:avoid}table,figure{break-inside:avoid}}";

/// The page.
pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(64 << 10);
    let title = format!(
        "Osprey report — {} — {} to {}",
        r.service,
        format_ms(r.from_ms),
        format_ms(r.to_ms)
    );
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><main>",
        esc(&title)
    );
    let _ = write!(
        h,
        "<h1>Osprey report: {}</h1><p class=\"sub\">{} to {} (UTC) · generated {} · trend buckets of {} s</p>",
        esc(&r.service),
        esc(&format_ms(r.from_ms)),
        esc(&format_ms(r.to_ms)),
        esc(&format_ms(r.generated_ms)),
        r.bucket_s
    );
    let t = &r.totals;
    h.push_str("<h2>Summary</h2><div class=\"kpi\">");
    for (label, value) in [
        ("Transactions", t.count.to_string()),
        ("Errors", format!("{} ({:.2} %)", t.errors, t.error_pct)),
        ("Average TPS", format!("{:.2}", t.tps_avg)),
        ("Peak TPS", t.tps_peak.to_string()),
        ("Average", format!("{} ms", num(t.avg_ms))),
        ("p50", format!("{} ms", num(t.p50_ms))),
        ("p95", format!("{} ms", num(t.p95_ms))),
        ("p99", format!("{} ms", num(t.p99_ms))),
        ("Max", format!("{} ms", num(t.max_ms))),
    ] {
        let _ = write!(h, "<div>{label}<b>{}</b></div>", esc(&value));
    }
    h.push_str("</div>");

    h.push_str("<h2>Trends</h2>");
    let xs: Vec<u64> = r.trend.iter().map(|p| p.start_ms).collect();
    h.push_str(&chart(
        "Transactions per second",
        &xs,
        &[("TPS", "#1f6feb", r.trend.iter().map(|p| p.tps).collect())],
        "",
    ));
    h.push_str(&chart(
        "Response time",
        &xs,
        &[
            (
                "average",
                "#1f6feb",
                r.trend.iter().map(|p| p.avg_ms).collect(),
            ),
            ("p95", "#d4760a", r.trend.iter().map(|p| p.p95_ms).collect()),
        ],
        "ms",
    ));
    h.push_str(&chart(
        "Errors per bucket",
        &xs,
        &[(
            "errors",
            "#b3261e",
            r.trend.iter().map(|p| p.errors as f64).collect(),
        )],
        "",
    ));

    h.push_str("<h2>Endpoints</h2>");
    endpoint_table(&mut h, "Top endpoints by total time", &r.top_by_time);
    endpoint_table(&mut h, "Top endpoints by errors", &r.top_by_errors);

    h.push_str("<h2>Slowest transactions</h2>");
    h.push_str("<table><caption>Slowest transactions</caption><thead><tr><th scope=\"col\">Endpoint</th><th scope=\"col\">End (UTC)</th><th scope=\"col\">ms</th><th scope=\"col\">Error</th><th scope=\"col\">Instance</th><th scope=\"col\">Transaction id</th></tr></thead><tbody>");
    for s in &r.slowest {
        let _ = write!(
            h,
            "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.endpoint),
            esc(&format_ms(s.end_ms)),
            num(s.elapsed_ms),
            if s.error {
                "<span class=\"err\">error</span>"
            } else {
                ""
            },
            esc(s.instance.as_deref().unwrap_or("")),
            esc(&s.id)
        );
    }
    h.push_str("</tbody></table>");

    let _ = write!(
        h,
        "<h2>Top SQL</h2><p class=\"sub\">From the call trees of the {} slowest transactions.</p>",
        r.sql_sampled
    );
    h.push_str("<table><caption>SQL by total time</caption><thead><tr><th scope=\"col\">Statement</th><th scope=\"col\">Count</th><th scope=\"col\">Errors</th><th scope=\"col\">Total ms</th><th scope=\"col\">Avg ms</th><th scope=\"col\">Max ms</th></tr></thead><tbody>");
    for s in &r.sql {
        let _ = write!(
            h,
            "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.sql),
            s.count,
            s.errors,
            num(s.total_ms),
            num(s.avg_ms),
            num(s.max_ms)
        );
    }
    h.push_str("</tbody></table>");

    series_section(&mut h, "JVM", &r.jvm);
    series_section(&mut h, "Host and container", &r.host);
    h.push_str("</main></body></html>\n");
    h
}

fn endpoint_table(h: &mut String, caption: &str, rows: &[EndpointRow]) {
    let _ = write!(
        h,
        "<table><caption>{caption}</caption><thead><tr><th scope=\"col\">Endpoint</th><th scope=\"col\">Count</th><th scope=\"col\">Errors</th><th scope=\"col\">Total ms</th><th scope=\"col\">Avg ms</th><th scope=\"col\">p95 ms</th><th scope=\"col\">Max ms</th></tr></thead><tbody>"
    );
    for e in rows {
        let _ = write!(
            h,
            "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.endpoint),
            e.count,
            e.errors,
            num(e.total_ms),
            num(e.avg_ms),
            num(e.p95_ms),
            num(e.max_ms)
        );
    }
    h.push_str("</tbody></table>");
}

fn series_section(h: &mut String, title: &str, list: &[SeriesSummary]) {
    let _ = write!(h, "<h2>{title}</h2>");
    if list.is_empty() {
        h.push_str("<p class=\"sub\">No series stored for this service in the range.</p>");
        return;
    }
    let _ = write!(
        h,
        "<table><caption>{title} series</caption><thead><tr><th scope=\"col\">Metric</th><th scope=\"col\">Min</th><th scope=\"col\">Avg</th><th scope=\"col\">Max</th><th scope=\"col\">Last</th><th scope=\"col\">Trend</th></tr></thead><tbody>"
    );
    for s in list {
        let name = if s.attributes.is_empty() {
            s.name.clone()
        } else {
            format!("{} {{{}}}", s.name, s.attributes)
        };
        let unit = if s.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", s.unit)
        };
        let _ = write!(
            h,
            "<tr><td class=\"t\">{}</td><td>{}{u}</td><td>{}{u}</td><td>{}{u}</td><td>{}{u}</td><td>{}</td></tr>",
            esc(&name),
            num(s.min),
            num(s.avg),
            num(s.max),
            num(s.last),
            sparkline(&name, &s.spark),
            u = esc(&unit)
        );
    }
    h.push_str("</tbody></table>");
}

/// A 120×24 line of `points`, labelled for screen readers.
fn sparkline(label: &str, points: &[(u64, f64)]) -> String {
    let (w, hgt) = (120.0, 24.0);
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.1), h.max(p.1))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = points.len().max(2) - 1;
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * w / n as f64,
                hgt - 2.0 - (p.1 - lo) / span * (hgt - 4.0)
            )
        })
        .collect();
    format!(
        "<svg width=\"120\" height=\"24\" viewBox=\"0 0 120 24\" role=\"img\" aria-label=\"{}\"><polyline fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"1.2\" points=\"{}\"/></svg>",
        esc(&format!("trend of {label}")),
        path.join(" ")
    )
}

/// A line chart of one or more series over the bucket starts `xs`, with a
/// y axis from 0, time labels and a legend; its `<title>` names it.
fn chart(title: &str, xs: &[u64], series: &[(&str, &str, Vec<f64>)], unit: &str) -> String {
    let (w, hgt, left, bottom, top) = (900.0, 180.0, 48.0, 22.0, 8.0);
    let plot_w = w - left - 8.0;
    let plot_h = hgt - bottom - top;
    let max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .fold(0.0f64, f64::max);
    let ymax = if max > 0.0 { max * 1.1 } else { 1.0 };
    let n = xs.len().max(2) - 1;
    let x = |i: usize| left + i as f64 * plot_w / n as f64;
    let y = |v: f64| top + plot_h - v / ymax * plot_h;
    let mut s = String::new();
    let names: Vec<&str> = series.iter().map(|s| s.0).collect();
    let _ = write!(
        s,
        "<figure><figcaption>{}</figcaption><svg width=\"100%\" viewBox=\"0 0 {w} {hgt}\" role=\"img\" aria-labelledby=\"c-{id}\"><title id=\"c-{id}\">{} ({}), peak {}{}</title>",
        esc(title),
        esc(title),
        esc(&names.join(", ")),
        num(max),
        if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        },
        id = title.replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
    );
    for k in 0..=4 {
        let v = ymax * k as f64 / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e5e8\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - 8.0,
            left - 4.0,
            y(v) + 3.0,
            num(v),
            y = y(v)
        );
    }
    if !xs.is_empty() {
        let ticks = 6.min(xs.len());
        for k in 0..ticks {
            let i = if ticks > 1 { k * n / (ticks - 1) } else { 0 };
            let label = format_ms(xs[i.min(xs.len() - 1)]);
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x(i),
                hgt - 6.0,
                esc(label.get(5..16).unwrap_or(&label))
            );
        }
    }
    for (name, color, values) in series {
        let pts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"><title>{}</title></polyline>",
            pts.join(" "),
            esc(name)
        );
    }
    for (k, (name, color, _)) in series.iter().enumerate() {
        let lx = left + 8.0 + k as f64 * 110.0;
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            top + 4.0,
            lx + 14.0,
            top + 8.0,
            esc(name)
        );
    }
    s.push_str("</svg></figure>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_data_cannot_open_a_tag() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
