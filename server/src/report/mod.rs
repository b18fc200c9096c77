//! Reports: a summary of one service over a period (a day, a week, any
//! range up to [`MAX_RANGE_S`]) — TPS, response-time and error trends, top
//! endpoints by total time and by errors, the slowest transactions, top
//! SQL, and a JVM and host summary from the stored metric series.
//!
//! [`gather`] reads everything through the [`Storage`](crate::storage::Storage)
//! trait — from its per-minute rollups when it keeps them
//! ([`crate::storage::rollup`]; a day at 1 000 TPS in about a second
//! instead of minutes), else row by row ([`gather_exact`], the same
//! figures) — into a plain [`Report`] (also what `GET /api/report` answers, so
//! `osprey report --server` renders a remote server's data locally);
//! [`html`], [`csv`] and [`pdf`] render it; [`schedule`] sends reports by
//! e-mail from `osprey serve`.

pub mod csv;
mod gather;
pub mod html;
pub mod pdf;
pub mod schedule;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use gather::{MAX_ENDPOINTS, OTHER_ENDPOINTS, gather, gather_exact};

/// Longest range a report covers, seconds (31 days).
pub const MAX_RANGE_S: u64 = 31 * 86_400;
/// Slowest transactions listed.
pub const SLOWEST: usize = 20;
/// Rows of each endpoint table.
pub const TOP_ENDPOINTS: usize = 10;
/// Rows of the SQL table.
pub const TOP_SQL: usize = 15;
/// Call trees read for the SQL table: those of the slowest this many
/// transactions (reading every tree of a day would read the whole store).
pub const SQL_SAMPLE: usize = 200;

/// What a report covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRequest {
    /// The service.
    pub service: String,
    /// Start, UNIX ns (transactions ending at or after it).
    pub from_ns: u64,
    /// End, UNIX ns (transactions ending before it).
    pub to_ns: u64,
}

impl ReportRequest {
    /// A request for `service` over `[from_ns, to_ns)`; refuses an empty
    /// service, a reversed or empty range and one longer than
    /// [`MAX_RANGE_S`].
    pub fn new(service: &str, from_ns: u64, to_ns: u64) -> Result<Self, ReportError> {
        if service.trim().is_empty() {
            return Err(ReportError::Invalid("the service is required".into()));
        }
        if to_ns <= from_ns {
            return Err(ReportError::Invalid("from must be before to".into()));
        }
        if (to_ns - from_ns) / 1_000_000_000 > MAX_RANGE_S {
            return Err(ReportError::Invalid(format!(
                "a report covers at most {} days",
                MAX_RANGE_S / 86_400
            )));
        }
        Ok(Self {
            service: service.to_owned(),
            from_ns,
            to_ns,
        })
    }
}

/// A whole report, as gathered; plain data (JSON for `GET /api/report`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// The service.
    pub service: String,
    /// Start, UNIX ms.
    pub from_ms: u64,
    /// End (exclusive), UNIX ms.
    pub to_ms: u64,
    /// When it was gathered, UNIX ms.
    pub generated_ms: u64,
    /// Width of one trend bucket, seconds.
    pub bucket_s: u64,
    /// Figures over the whole range.
    pub totals: Totals,
    /// One point per bucket, oldest first (buckets without traffic included).
    pub trend: Vec<TrendPoint>,
    /// Endpoints with the most total time, largest first.
    pub top_by_time: Vec<EndpointRow>,
    /// Endpoints with the most errors (only those with errors), most first.
    pub top_by_errors: Vec<EndpointRow>,
    /// The slowest transactions, slowest first.
    pub slowest: Vec<SlowTxn>,
    /// SQL statements by total time, from the call trees of the
    /// `sql_sampled` slowest transactions.
    pub sql: Vec<SqlRow>,
    /// Transactions whose call trees were read for [`Report::sql`].
    pub sql_sampled: usize,
    /// JVM series (`jvm.*`, `process.runtime.jvm.*`) of the service.
    pub jvm: Vec<SeriesSummary>,
    /// Host and container series (`system.*`, `container.*`, `process.*`).
    pub host: Vec<SeriesSummary>,
}

/// Figures over the whole range.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    /// Transactions.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Failed, percent of all (0 when none).
    pub error_pct: f64,
    /// Mean transactions per second over the range.
    pub tps_avg: f64,
    /// Most transactions ending in one second.
    pub tps_peak: u64,
    /// Mean response time, ms.
    pub avg_ms: f64,
    /// Median response time, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

/// One trend bucket.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TrendPoint {
    /// Bucket start, UNIX ms.
    pub start_ms: u64,
    /// Transactions ending in the bucket.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Mean TPS over the bucket.
    pub tps: f64,
    /// Mean response time, ms (0 when none).
    pub avg_ms: f64,
    /// 95th percentile, ms (0 when none).
    pub p95_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

/// One endpoint's figures.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EndpointRow {
    /// Endpoint (root span name).
    pub endpoint: String,
    /// Transactions.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Sum of response times, ms.
    pub total_ms: f64,
    /// Mean, ms.
    pub avg_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

/// One of the slowest transactions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SlowTxn {
    /// Transaction id (16 hex digits; the viewer links it).
    pub id: String,
    /// Trace id.
    pub trace_id: String,
    /// Endpoint.
    pub endpoint: String,
    /// End, UNIX ms.
    pub end_ms: u64,
    /// Response time, ms.
    pub elapsed_ms: f64,
    /// Failed.
    pub error: bool,
    /// `service.instance.id`, when sent.
    pub instance: Option<String>,
}

/// One SQL statement's figures.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SqlRow {
    /// The statement (as the agent sanitised it).
    pub sql: String,
    /// Executions.
    pub count: u64,
    /// Failed executions.
    pub errors: u64,
    /// Sum of durations, ms.
    pub total_ms: f64,
    /// Mean, ms.
    pub avg_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

/// One metric series over the range.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeriesSummary {
    /// Metric name.
    pub name: String,
    /// Point attributes, `k=v` joined by `,`.
    pub attributes: String,
    /// Unit.
    pub unit: String,
    /// Points in the range.
    pub points: usize,
    /// Smallest value.
    pub min: f64,
    /// Mean value.
    pub avg: f64,
    /// Largest value.
    pub max: f64,
    /// Latest value.
    pub last: f64,
    /// At most [`SPARK_POINTS`] `[time ms, value]` evenly picked, for a chart.
    pub spark: Vec<(u64, f64)>,
}

/// Most points of a [`SeriesSummary::spark`].
pub const SPARK_POINTS: usize = 120;

/// The output forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A self-contained HTML page with inline SVG charts.
    Html,
    /// CSV, one section per table.
    Csv,
    /// PDF, the HTML printed by headless Chromium.
    Pdf,
}

impl Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Html => "html",
            Self::Csv => "csv",
            Self::Pdf => "pdf",
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Html => "text/html; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Pdf => "application/pdf",
        }
    }
}

/// Renders `report` as `format`.
pub fn render(report: &Report, format: Format) -> Result<Vec<u8>, ReportError> {
    match format {
        Format::Html => Ok(html::render(report).into_bytes()),
        Format::Csv => csv::render(report),
        Format::Pdf => pdf::render(&html::render(report), &pdf::PdfConfig::default()),
    }
}

/// The usual file name: `osprey-<service>-<from>-<to>.<ext>`, the service
/// reduced to `[A-Za-z0-9._-]`.
pub fn file_name(report: &Report, format: Format) -> String {
    let service: String = report
        .service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let day = |ms: u64| {
        crate::time::format_ms(ms)
            .chars()
            .take(16)
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .collect::<String>()
    };
    format!(
        "osprey-{service}-{}-{}.{}",
        day(report.from_ms),
        day(report.to_ms),
        format.extension()
    )
}

/// Why a report could not be made or sent.
#[derive(Debug)]
pub enum ReportError {
    /// The request cannot be answered as asked.
    Invalid(String),
    /// Reading the data failed.
    Storage(crate::storage::StorageError),
    /// A file or a child process failed.
    Io {
        /// What was being done.
        doing: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Headless Chromium did not make the PDF.
    Pdf(String),
    /// The schedule file is wrong.
    Config(String),
    /// The mail could not be built or sent.
    Mail(String),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(m) => write!(f, "invalid report request: {m}"),
            Self::Storage(e) => write!(f, "cannot read the data: {e}"),
            Self::Io { doing, source } => write!(f, "{doing}: {source}"),
            Self::Pdf(m) => write!(f, "cannot print the PDF: {m}"),
            Self::Config(m) => write!(f, "report schedule: {m}"),
            Self::Mail(m) => write!(f, "cannot send the report: {m}"),
        }
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Storage(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<crate::storage::StorageError> for ReportError {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::Storage(e)
    }
}

impl ReportError {
    /// An [`ReportError::Io`] maker for `map_err`.
    pub fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let doing = doing.into();
        move |source| Self::Io { doing, source }
    }
}
