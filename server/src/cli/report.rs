//! `osprey report`: a service's report from a data directory (`--data`,
//! the server not running on it) or from a running server (`--server`,
//! through `GET /api/report`), rendered here as HTML, CSV or PDF.

use std::io::Write;
use std::path::PathBuf;

use super::CliError;
use super::remote::{Remote, RemoteArgs};
use crate::app::{App, ServerConfig};
use crate::report::{self, Format, Report, ReportRequest};

/// `osprey report ...`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The service.
    #[arg(long)]
    pub service: String,
    /// Start (UNIX ms or RFC 3339 UTC).
    #[arg(long)]
    pub from: String,
    /// End, exclusive (UNIX ms or RFC 3339 UTC).
    #[arg(long)]
    pub to: String,
    /// Output form.
    #[arg(long, value_enum, default_value = "html")]
    pub format: Format,
    /// Write here; default standard output for HTML and CSV, and
    /// `osprey-<service>-<from>-<to>.pdf` in the current directory for PDF.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Read this server data directory instead of asking a server.
    #[arg(long, conflicts_with_all = ["server", "user", "ca_file"])]
    pub data: Option<PathBuf>,
    /// The server (when no `--data`).
    #[command(flatten)]
    pub remote: RemoteArgs,
}

fn time(key: &'static str, v: &str) -> Result<u64, CliError> {
    crate::time::parse(v).ok_or_else(|| CliError::bad(key, v))
}

/// Runs `osprey report`.
pub fn run(args: ReportArgs) -> Result<(), CliError> {
    let from = time("--from: not a time (UNIX ms or RFC 3339 UTC)", &args.from)?;
    let to = time("--to: not a time (UNIX ms or RFC 3339 UTC)", &args.to)?;
    let req = ReportRequest::new(&args.service, from, to)?;
    let r: Report = match &args.data {
        Some(dir) => {
            let app = App::open(ServerConfig::new(dir))
                .map_err(CliError::io(format!("cannot open {}", dir.display())))?;
            report::gather(app.storage(), &req)?
        }
        None => {
            let path = format!(
                "/api/report?service={}&from={}&to={}",
                encode(&req.service),
                req.from_ns / 1_000_000,
                req.to_ns / 1_000_000
            );
            let v = Remote::connect(&args.remote)?.get_json(&path)?;
            serde_json::from_value(v).map_err(|e| CliError::Remote {
                request: format!("GET {path}"),
                message: format!("unexpected answer: {e}"),
            })?
        }
    };
    let bytes = report::render(&r, args.format)?;
    let out = match (&args.out, args.format) {
        (Some(p), _) => Some(p.clone()),
        (None, Format::Pdf) => Some(PathBuf::from(report::file_name(&r, Format::Pdf))),
        (None, _) => None,
    };
    match out {
        Some(p) => {
            std::fs::write(&p, &bytes)
                .map_err(CliError::io(format!("cannot write {}", p.display())))?;
            eprintln!(
                "osprey: wrote the report of {} ({} transactions) to {}",
                r.service,
                r.totals.count,
                p.display()
            );
        }
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(CliError::io("cannot write to standard output"))?,
    }
    Ok(())
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
