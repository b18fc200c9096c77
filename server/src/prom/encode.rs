//! The two exposition formats of `/metrics`: Prometheus text 0.0.4 and
//! OpenMetrics 1.0, chosen by the scraper's `Accept` header.

use std::fmt::Write;

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header prefers: OpenMetrics when it is
    /// accepted with a weight at least that of `text/plain` (and of `*/*`).
    pub fn negotiate(accept: Option<&str>) -> Self {
        let (mut om, mut text) = (0.0_f32, 0.0_f32);
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => om = om.max(q),
                "text/plain" | "*/*" | "text/*" => text = text.max(q),
                _ => {}
            }
        }
        if om > 0.0 && om >= text {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A metric family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// Monotonic; samples are written with `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Samples `_bucket{le}`, `_sum`, `_count`.
    Histogram,
    /// Only `_sum` and `_count` (OTLP histograms without their buckets).
    Summary,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::Summary => "summary",
        }
    }
}

/// One sample: the suffix after the family name (`_total`, `_bucket`,
/// ``), its labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Appended to the family name.
    pub suffix: &'static str,
    /// Label names and values (names already valid).
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// A metric family: name (without `_total`), help, type and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// Valid metric name.
    pub name: String,
    /// One line of help.
    pub help: String,
    /// Type.
    pub kind: Type,
    /// Samples.
    pub samples: Vec<Sample>,
}

/// Writes `families` in `format` (OpenMetrics ends with `# EOF`).
pub fn render(families: &[Family], format: Format) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        // Text format: a counter family is named as its samples (`_total`).
        let declared = match (format, f.kind) {
            (Format::Text, Type::Counter) => format!("{}_total", f.name),
            _ => f.name.clone(),
        };
        let _ = writeln!(out, "# HELP {declared} {}", escape_help(&f.help));
        let _ = writeln!(out, "# TYPE {declared} {}", f.kind.as_str());
        for s in &f.samples {
            out.push_str(&f.name);
            out.push_str(s.suffix);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            out.push(' ');
            out.push_str(&number(s.value));
            out.push('\n');
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// A sample value: `NaN`, `+Inf`, `-Inf` or the shortest decimal.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `s` as a valid metric or label name: every character outside
/// `[a-zA-Z0-9_]` becomes `_` (runs collapse), a leading digit gets `_`.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_pick_the_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9, application/openmetrics-text;q=0.5")),
            Format::Text
        );
    }

    #[test]
    fn counters_are_named_per_format_and_values_escaped() {
        let f = Family {
            name: "osprey_requests".into(),
            help: "Requests".into(),
            kind: Type::Counter,
            samples: vec![Sample {
                suffix: "_total",
                labels: vec![("endpoint".into(), "GET /a\"b\\".into())],
                value: 3.0,
            }],
        };
        assert_eq!(
            render(std::slice::from_ref(&f), Format::Text),
            "# HELP osprey_requests_total Requests\n# TYPE osprey_requests_total counter\nosprey_requests_total{endpoint=\"GET /a\\\"b\\\\\"} 3\n"
        );
        let om = render(&[f], Format::OpenMetrics);
        assert!(
            om.starts_with("# HELP osprey_requests Requests\n# TYPE osprey_requests counter\n")
        );
        assert!(om.ends_with("} 3\n# EOF\n"));
        assert_eq!(sanitize("jvm.memory.used"), "jvm_memory_used");
        assert_eq!(sanitize("9x..y"), "_9x_y");
    }
}
