//! Where alerts go: the notifiers file (`notifiers.toml`, kept out of
//! the viewer: it holds webhook URLs and SMTP credentials) and the
//! dispatcher thread that delivers each notice without holding up the
//! evaluation (one retry; outcomes in the history).
//!
//! ```toml
//! public_url = "https://osprey.example.com"   # links in notices
//!
//! [[webhook]]        # JSON: the event (see `Event`)
//! name = "ops"
//! url = "https://hooks.example.com/osprey"
//!
//! [[slack]]          # Slack-compatible incoming webhook: {"text": ...}
//! name = "chat"
//! url = "https://hooks.slack.com/services/..."
//!
//! [[email]]          # SMTP, STARTTLS required by default
//! name = "mail"
//! host = "smtp.example.com"
//! port = 587
//! from = "osprey@example.com"
//! to = ["oncall@example.com"]
//! username = "osprey"
//! password_env = "OSPREY_SMTP_PASSWORD"   # or password_file
//!
//! [[alertmanager]]   # Prometheus Alertmanager, API v2
//! name = "am"
//! url = "http://127.0.0.1:9093"
//! ```

pub mod alertmanager;
pub mod email;
pub mod slack;
pub mod webhook;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use serde::Deserialize;

use super::history::{Delivery, Event, History};
use super::rules::RuleError;

/// One notice: an event, its links made absolute with `public_url`.
#[derive(Clone, Debug)]
pub struct Notice {
    /// The event.
    pub event: Event,
    /// The server's address as users reach it (may be empty).
    pub public_url: String,
    /// A periodic re-send of a firing alert (Alertmanager only).
    pub refresh: bool,
}

impl Notice {
    /// A link made absolute.
    pub fn url(&self, link: &str) -> String {
        format!("{}{link}", self.public_url.trim_end_matches('/'))
    }

    /// One line: state, rule, detail.
    pub fn headline(&self) -> String {
        let e = &self.event;
        let state = if e.state == "firing" {
            "FIRING"
        } else {
            "RESOLVED"
        };
        let service = e
            .service
            .as_deref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        format!("[{state}] {}{service}: {}", e.rule, e.detail)
    }

    /// One evidence transaction: service, endpoint, elapsed, error, link.
    pub fn evidence_line(&self, t: &super::history::Evidence) -> String {
        format!(
            "{} {} {:.1} ms{} {}",
            t.service,
            t.endpoint,
            t.elapsed_ms,
            if t.error { " ERROR" } else { "" },
            self.url(&t.link)
        )
    }

    /// The plain-text body shared by e-mail and chat.
    pub fn text(&self) -> String {
        let e = &self.event;
        let mut s = self.headline();
        s.push('\n');
        if let Some(sum) = &e.summary {
            s.push_str(sum);
            s.push('\n');
        }
        s.push_str(&format!(
            "rule kind {}, severity {}, threshold {}, since {}\n",
            e.kind,
            e.severity,
            e.threshold,
            crate::time::format_ms(e.since_ms)
        ));
        if !e.evidence.is_empty() {
            s.push_str("Worst transactions of the window:\n");
            for t in &e.evidence {
                s.push_str(&format!("  {}\n", self.evidence_line(t)));
            }
        }
        s
    }
}

/// A destination of notices.
pub trait Notifier: Send + Sync {
    /// Its name in the file (what rules' `notify` lists).
    fn name(&self) -> &str;
    /// `webhook`, `slack`, `email` or `alertmanager`.
    fn kind(&self) -> &'static str;
    /// Delivers one notice.
    fn send(&self, notice: &Notice) -> Result<(), String>;
    /// Whether it wants firing alerts re-sent periodically.
    fn refreshes(&self) -> bool {
        false
    }
}

/// The notifiers file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierFile {
    /// Base of the links in notices.
    #[serde(default)]
    pub public_url: String,
    /// JSON webhooks.
    #[serde(default)]
    pub webhook: Vec<webhook::Config>,
    /// Slack-compatible webhooks.
    #[serde(default)]
    pub slack: Vec<slack::Config>,
    /// E-mail.
    #[serde(default)]
    pub email: Vec<email::Config>,
    /// Alertmanagers.
    #[serde(default)]
    pub alertmanager: Vec<alertmanager::Config>,
}

/// Reads and checks a notifiers file (absent: none).
pub fn load(path: &Path) -> Result<(String, Vec<Arc<dyn Notifier>>), RuleError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((String::new(), Vec::new()));
        }
        Err(e) => {
            return Err(RuleError {
                at: path.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    let file: NotifierFile = toml::from_str(&text).map_err(|e| RuleError {
        at: format!(
            "{} line {}",
            path.display(),
            e.span()
                .map_or(1, |s| text[..s.start].lines().count().max(1))
        ),
        message: e.message().to_owned(),
    })?;
    let mut out: Vec<Arc<dyn Notifier>> = Vec::new();
    for c in file.webhook {
        out.push(Arc::new(webhook::Webhook::new(c)?));
    }
    for c in file.slack {
        out.push(Arc::new(slack::Slack::new(c)?));
    }
    for c in file.email {
        out.push(Arc::new(email::Email::new(c)?));
    }
    for c in file.alertmanager {
        out.push(Arc::new(alertmanager::Alertmanager::new(c)?));
    }
    let mut names: Vec<&str> = out.iter().map(|n| n.name()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(RuleError {
            at: path.display().to_string(),
            message: format!("two notifiers are named {:?}", w[0]),
        });
    }
    Ok((file.public_url, out))
}

/// Checks that a URL is http(s); `what` names the notifier.
pub(crate) fn check_url(what: &str, url: &str) -> Result<(), RuleError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(RuleError {
            at: what.to_owned(),
            message: format!("url {url:?} is not http:// or https://"),
        })
    }
}

/// An HTTP client with bounded time per request.
pub(crate) fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs JSON; `Err` unless 2xx.
pub(crate) fn post_json(
    agent: &ureq::Agent,
    url: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let mut resp = agent
        .post(url)
        .header("content-type", "application/json")
        .send(&bytes[..])
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Err(format!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        ))
    }
}

/// Notices queued at most; more are dropped (and logged).
pub const QUEUE: usize = 256;

struct Job {
    notice: Notice,
    targets: Vec<Arc<dyn Notifier>>,
}

/// Delivers notices on its own thread.
pub struct Dispatcher {
    notifiers: Vec<Arc<dyn Notifier>>,
    public_url: String,
    tx: SyncSender<Job>,
}

impl Dispatcher {
    /// Starts the delivery thread; outcomes go to `history`.
    pub fn start(
        public_url: String,
        notifiers: Vec<Arc<dyn Notifier>>,
        history: Arc<History>,
    ) -> Self {
        let (tx, rx) = sync_channel(QUEUE);
        let _ = std::thread::Builder::new()
            .name("osprey-notify".into())
            .spawn(move || deliver(rx, &history));
        Self {
            notifiers,
            public_url,
            tx,
        }
    }

    /// The notifiers (name, kind).
    pub fn list(&self) -> Vec<(String, &'static str)> {
        self.notifiers
            .iter()
            .map(|n| (n.name().to_owned(), n.kind()))
            .collect()
    }

    /// Names in `names` that no notifier has.
    pub fn unknown<'a>(&self, names: &'a [String]) -> Vec<&'a str> {
        names
            .iter()
            .filter(|n| !self.notifiers.iter().any(|x| x.name() == n.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// Queues `event` for the notifiers named (all when empty); a refresh
    /// goes only to those that want it.
    pub fn send(&self, event: Event, names: &[String], refresh: bool) {
        let targets: Vec<_> = self
            .notifiers
            .iter()
            .filter(|n| names.is_empty() || names.iter().any(|x| x == n.name()))
            .filter(|n| !refresh || n.refreshes())
            .cloned()
            .collect();
        if targets.is_empty() {
            return;
        }
        let notice = Notice {
            event,
            public_url: self.public_url.clone(),
            refresh,
        };
        if let Err(TrySendError::Full(j)) = self.tx.try_send(Job { notice, targets }) {
            eprintln!(
                "osprey: notification queue full: alert {:?} not sent",
                j.notice.event.rule
            );
        }
    }
}

fn deliver(rx: Receiver<Job>, history: &History) {
    for job in rx {
        for n in &job.targets {
            let mut result = n.send(&job.notice);
            if result.is_err() {
                std::thread::sleep(Duration::from_secs(1));
                result = n.send(&job.notice);
            }
            if job.notice.refresh && result.is_ok() {
                continue;
            }
            history.delivered(Delivery {
                at_ms: crate::time::now_ms(),
                rule: job.notice.event.rule.clone(),
                state: job.notice.event.state.clone(),
                notifier: n.name().to_owned(),
                ok: result.is_ok(),
                error: result.err(),
            });
        }
    }
}
