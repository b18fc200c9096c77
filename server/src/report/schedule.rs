//! Scheduled reports: `osprey serve --reports <file>` reads a JSON file
//! naming an SMTP server and the reports to send, and a background thread
//! mails each report when its period is over (plus a delay for late data).
//!
//! ```json
//! {
//!   "smtp": { "host": "smtp.example.com", "port": 587, "security": "starttls",
//!             "user": "osprey", "password_env": "OSPREY_SMTP_PASSWORD",
//!             "from": "Osprey <osprey@example.com>", "ca_file": null },
//!   "delay": "5m",
//!   "reports": [
//!     { "service": "checkout", "period": "daily", "to": ["ops@example.com"],
//!       "formats": ["html", "pdf", "csv"] }
//!   ]
//! }
//! ```
//!
//! `period` is `daily` (UTC days), `weekly` (Monday to Monday, UTC) or a
//! duration (`6h`, `30s`), aligned to the UNIX epoch. `security` is
//! `starttls` (default, port 587), `tls` (port 465) or `none` (port 25; with
//! a password only to a loopback host, so credentials never cross a network
//! in clear). The password is read from the environment variable named by
//! `password_env`, never from the file. `ca_file` trusts only that CA
//! (PEM) instead of the public web roots.
//!
//! What was sent is kept in `<data>/reports/sent.json`: a server restarted
//! after a period ended sends that period's report once. A fresh start
//! sends nothing for periods that ended before it; a failed send is logged
//! and retried a minute later.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde::Deserialize;

use super::{Format, Report, ReportError, ReportRequest};
use crate::app::App;

const NS_PER_S: u64 = 1_000_000_000;
const DAY: u64 = 86_400;
/// 1970-01-01 was a Thursday: Mondays start 4 days after the epoch.
const MONDAY_OFFSET: u64 = 4 * DAY;
/// Wait before retrying a failed send.
const RETRY: Duration = Duration::from_secs(60);

/// The schedule file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    /// Where mail goes out.
    pub smtp: SmtpConfig,
    /// Wait after a period ends before reporting it (late data), default `1m`.
    #[serde(default)]
    pub delay: Option<String>,
    /// The reports.
    pub reports: Vec<ScheduledReport>,
}

/// The SMTP server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name or IP (also the name its certificate must carry).
    pub host: String,
    /// Port; default by `security`.
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is protected.
    #[serde(default)]
    pub security: Security,
    /// Login name, when the server wants one.
    #[serde(default)]
    pub user: Option<String>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The sender (`Name <addr>` or `addr`).
    pub from: String,
    /// Trust only this CA (PEM file).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connect, then STARTTLS, required.
    #[default]
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// No TLS.
    None,
}

/// One scheduled report.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledReport {
    /// The service.
    pub service: String,
    /// `daily`, `weekly` or a duration.
    pub period: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Attachments, default HTML and PDF.
    #[serde(default = "default_formats")]
    pub formats: Vec<Format>,
}

fn default_formats() -> Vec<Format> {
    vec![Format::Html, Format::Pdf]
}

/// A period: its length and where its boundaries fall, seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// Length.
    pub length_s: u64,
    /// Boundaries are `offset_s + k * length_s`.
    pub offset_s: u64,
}

impl Period {
    /// Parses `daily`, `weekly` or a duration.
    pub fn parse(s: &str) -> Result<Self, ReportError> {
        match s {
            "daily" => Ok(Self {
                length_s: DAY,
                offset_s: 0,
            }),
            "weekly" => Ok(Self {
                length_s: 7 * DAY,
                offset_s: MONDAY_OFFSET,
            }),
            other => {
                let d = crate::cli::parse_duration(other).map_err(|e| {
                    ReportError::Config(format!("period {other:?}: {e} (or daily, weekly)"))
                })?;
                if d.as_secs() == 0 {
                    return Err(ReportError::Config("a period cannot be empty".into()));
                }
                Ok(Self {
                    length_s: d.as_secs(),
                    offset_s: 0,
                })
            }
        }
    }

    /// The end of the latest period over at UNIX second `now_s`.
    pub fn last_end(self, now_s: u64) -> u64 {
        let since = now_s.saturating_sub(self.offset_s);
        self.offset_s + since / self.length_s * self.length_s
    }

    /// A human name for subjects.
    fn name(self) -> String {
        match (self.length_s, self.offset_s) {
            (DAY, 0) => "daily".into(),
            (l, MONDAY_OFFSET) if l == 7 * DAY => "weekly".into(),
            (l, _) => format!("{l} s"),
        }
    }
}

/// A checked schedule, ready to run.
pub struct Schedule {
    smtp: SmtpConfig,
    password: Option<String>,
    ca: Option<Vec<u8>>,
    delay: Duration,
    jobs: Vec<(ScheduledReport, Period, Vec<Mailbox>)>,
    from: Mailbox,
}

impl Schedule {
    /// Reads and checks the file: periods, addresses, the password
    /// variable, the CA file, and a password only over TLS or loopback.
    pub fn load(path: &Path) -> Result<Self, ReportError> {
        let text = std::fs::read_to_string(path)
            .map_err(ReportError::io(format!("cannot read {}", path.display())))?;
        let file: ScheduleFile = serde_json::from_str(&text)
            .map_err(|e| ReportError::Config(format!("{}: {e}", path.display())))?;
        Self::new(file, |var| std::env::var(var).ok())
    }

    /// Checks a parsed file; `env` looks up the password variable.
    pub fn new(
        file: ScheduleFile,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ReportError> {
        let mailbox = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| ReportError::Config(format!("address {a:?}: {e}")))
        };
        let from = mailbox(&file.smtp.from)?;
        let password =
            match &file.smtp.password_env {
                Some(var) => Some(env(var).ok_or_else(|| {
                    ReportError::Config(format!("password_env: ${var} is not set"))
                })?),
                None => None,
            };
        if password.is_some() && file.smtp.user.is_none() {
            return Err(ReportError::Config("password_env needs user".into()));
        }
        let loopback = file.smtp.host == "localhost"
            || file
                .smtp
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if password.is_some() && file.smtp.security == Security::None && !loopback {
            return Err(ReportError::Config(
                "a password is only sent over TLS (security starttls or tls) or to a loopback host"
                    .into(),
            ));
        }
        let ca = match &file.smtp.ca_file {
            Some(p) => {
                let pem = std::fs::read(p)
                    .map_err(ReportError::io(format!("cannot read {}", p.display())))?;
                Certificate::from_pem(&pem)
                    .map_err(|e| ReportError::Config(format!("{}: {e}", p.display())))?;
                Some(pem)
            }
            None => None,
        };
        let delay = match &file.delay {
            Some(d) => crate::cli::parse_duration(d)
                .map_err(|e| ReportError::Config(format!("delay {d:?}: {e}")))?,
            None => Duration::from_secs(60),
        };
        let mut jobs = Vec::new();
        for r in file.reports {
            if r.service.trim().is_empty() {
                return Err(ReportError::Config("a report without a service".into()));
            }
            if r.to.is_empty() {
                return Err(ReportError::Config(format!(
                    "the report of {} has no recipient",
                    r.service
                )));
            }
            let to = r.to.iter().map(|a| mailbox(a)).collect::<Result<_, _>>()?;
            let period = Period::parse(&r.period)?;
            jobs.push((r, period, to));
        }
        Ok(Self {
            smtp: file.smtp,
            password,
            ca,
            delay,
            jobs,
            from,
        })
    }

    fn transport(&self) -> Result<SmtpTransport, ReportError> {
        let s = &self.smtp;
        let mail = |e: lettre::transport::smtp::Error| ReportError::Mail(e.to_string());
        let params = || {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(pem) = &self.ca {
                b = b
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(
                        Certificate::from_pem(pem).map_err(|e| ReportError::Mail(e.to_string()))?,
                    );
            }
            b.build_rustls().map_err(mail)
        };
        let (tls, port) = match s.security {
            Security::Starttls => (Tls::Required(params()?), 587),
            Security::Tls => (Tls::Wrapper(params()?), 465),
            Security::None => (Tls::None, 25),
        };
        let mut b = SmtpTransport::builder_dangerous(&s.host)
            .port(s.port.unwrap_or(port))
            .tls(tls)
            .timeout(Some(Duration::from_secs(60)));
        if let (Some(user), Some(pw)) = (&s.user, &self.password) {
            b = b.credentials(Credentials::new(user.clone(), pw.clone()));
        }
        Ok(b.build())
    }

    /// Builds the mail of `report` with `formats` attached.
    pub fn message(
        &self,
        report: &Report,
        period: &str,
        to: &[Mailbox],
        formats: &[Format],
    ) -> Result<Message, ReportError> {
        let mut m = Message::builder().from(self.from.clone()).subject(format!(
            "Osprey {period} report: {} ({} to {})",
            report.service,
            crate::time::format_ms(report.from_ms),
            crate::time::format_ms(report.to_ms)
        ));
        for t in to {
            m = m.to(t.clone());
        }
        let t = &report.totals;
        let text = format!(
            "Service {}: {} transactions, {} errors ({:.2} %), average {:.2} TPS (peak {}), \
             response time avg {:.3} ms, p95 {:.3} ms, p99 {:.3} ms.\n\nThe full report is attached.\n",
            report.service,
            t.count,
            t.errors,
            t.error_pct,
            t.tps_avg,
            t.tps_peak,
            t.avg_ms,
            t.p95_ms,
            t.p99_ms
        );
        let mut body = MultiPart::mixed().singlepart(SinglePart::plain(text));
        for &f in formats {
            let bytes = super::render(report, f)?;
            let ct = ContentType::parse(f.mime()).map_err(|e| ReportError::Mail(e.to_string()))?;
            body = body.singlepart(Attachment::new(super::file_name(report, f)).body(bytes, ct));
        }
        m.multipart(body)
            .map_err(|e| ReportError::Mail(e.to_string()))
    }

    /// Gathers, renders and sends one report of `[end - period, end)`.
    fn send(&self, app: &App, job: usize, end_s: u64) -> Result<(), ReportError> {
        let (r, period, to) = &self.jobs[job];
        let req = ReportRequest::new(
            &r.service,
            (end_s - period.length_s) * NS_PER_S,
            end_s * NS_PER_S,
        )?;
        let report = super::gather(app.storage(), &req)?;
        let msg = self.message(&report, &period.name(), to, &r.formats)?;
        self.transport()?
            .send(&msg)
            .map_err(|e| ReportError::Mail(e.to_string()))?;
        Ok(())
    }

    fn key(r: &ScheduledReport) -> String {
        format!("{}|{}", r.service, r.period)
    }

    /// Runs the schedule on a background thread over `app`'s storage;
    /// sent periods are kept under `data`. Stops when the handle drops.
    pub fn start(self, app: Arc<App>, data: &Path) -> std::io::Result<ScheduleHandle> {
        let dir = data.join("reports");
        std::fs::create_dir_all(&dir)?;
        let state_path = dir.join("sent.json");
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("osprey-reports".into())
            .spawn(move || self.run(&app, &state_path, &stopped))?;
        Ok(ScheduleHandle {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn run(&self, app: &App, state_path: &Path, stopped: &mpsc::Receiver<()>) {
        let mut sent: BTreeMap<String, u64> = std::fs::read(state_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let now_s = || crate::time::now_ms() / 1_000;
        // A fresh schedule starts with the period under way.
        for (r, p, _) in &self.jobs {
            sent.entry(Self::key(r))
                .or_insert_with(|| p.last_end(now_s().saturating_sub(self.delay.as_secs())));
        }
        save(state_path, &sent);
        loop {
            let mut wait = Duration::from_secs(3_600);
            for (i, (r, p, _)) in self.jobs.iter().enumerate() {
                let ready = now_s().saturating_sub(self.delay.as_secs());
                let due = p.last_end(ready);
                let done = sent.get(&Self::key(r)).copied().unwrap_or(0);
                if due > done {
                    match self.send(app, i, due) {
                        Ok(()) => {
                            eprintln!(
                                "osprey: sent the {} report of {} to {}",
                                p.name(),
                                r.service,
                                r.to.join(", ")
                            );
                            sent.insert(Self::key(r), due);
                            save(state_path, &sent);
                        }
                        Err(e) => {
                            eprintln!("osprey: report of {}: {e}", r.service);
                            wait = wait.min(RETRY);
                            continue;
                        }
                    }
                }
                let next = p.last_end(ready) + p.length_s + self.delay.as_secs();
                wait = wait.min(Duration::from_secs(next.saturating_sub(now_s()).max(1)));
            }
            match stopped.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    }
}

fn save(path: &Path, sent: &BTreeMap<String, u64>) {
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(sent).unwrap_or_default();
    if let Err(e) = std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, path)) {
        eprintln!(
            "osprey: cannot record sent reports in {}: {e}",
            path.display()
        );
    }
}

/// A running schedule; dropping it stops the thread (after a send under way).
pub struct ScheduleHandle {
    /// Dropping it wakes the thread, which then ends.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScheduleHandle {
    /// Stops the schedule and waits for its thread.
    pub fn stop(mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_end_on_utc_days_mondays_and_epoch_multiples() {
        let daily = Period::parse("daily").unwrap();
        // 2026-12-06T09:00:00Z is a Sunday.
        let now = 1_796_547_600;
        assert_eq!(daily.last_end(now), 1_796_515_200);
        let weekly = Period::parse("weekly").unwrap();
        // Monday 2026-11-30T00:00:00Z.
        assert_eq!(weekly.last_end(now), 1_796_515_200 - 6 * DAY);
        assert_eq!(Period::parse("10s").unwrap().last_end(1_005), 1_000);
        assert!(Period::parse("sometimes").is_err());
        assert!(Period::parse("0s").is_err());
    }

    #[test]
    fn a_password_never_goes_to_a_remote_host_in_clear() {
        let var = "OSPREY_TEST_REPORT_SMTP_PW";
        let file = |host: &str, security: &str| -> ScheduleFile {
            serde_json::from_value(serde_json::json!({
                "smtp": { "host": host, "security": security, "user": "u",
                          "password_env": var, "from": "osprey@example.com" },
                "reports": [{ "service": "s", "period": "daily", "to": ["a@example.com"] }]
            }))
            .unwrap()
        };
        let env = |v: &str| (v == var).then(|| "pw".to_owned());
        let e = Schedule::new(file("mail.example.com", "none"), env)
            .err()
            .unwrap();
        assert!(e.to_string().contains("only sent over TLS"), "{e}");
        assert!(Schedule::new(file("127.0.0.1", "none"), env).is_ok());
        assert!(Schedule::new(file("mail.example.com", "starttls"), env).is_ok());
        let unset = Schedule::new(file("mail.example.com", "starttls"), |_| None);
        assert!(unset.err().unwrap().to_string().contains("is not set"));
    }
}
