//! Alerts evaluated by `osprey serve` every second on the per-second
//! data: error rate, p95/p99 response time, TPS drop, active services
//! older than N s, heap use, GC time, host CPU/memory/disk, an instance
//! gone silent, or any metric series ([`rules::Kind`]).
//!
//! - [`rules`]: the rules file (TOML), checked with errors that name the
//!   rule and field; edited by admins in the viewer through [`api`];
//! - [`window`]: the live per-second buckets the transaction rules read;
//! - [`eval`] and [`metric`]: the judgement and the `for` state machine;
//! - [`backtest`]: a rule tried on the last 24 h before it is saved;
//! - [`inflight`]: the live state `active_age` and `silent` read;
//! - [`evidence`]: the worst transactions of a firing window, linked;
//! - [`history`]: firings and recoveries, on disk and for the viewer;
//! - [`notify`]: webhook, Slack-compatible, e-mail and Alertmanager.
//!
//! Each rule is evaluated on the window ending [`AlertConfig::lag`] ago
//! (agents send every second or so). A firing rule is notified once (and
//! every `repeat` if set); its recovery is notified too. During a
//! `[[silence]]` period events are recorded, marked silenced, not sent.

pub mod api;
pub mod backtest;
pub mod eval;
pub mod evidence;
pub mod history;
pub mod inflight;
pub mod metric;
pub mod notify;
pub mod rules;
pub mod window;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use crate::storage::{SeriesQuery, Storage, StorageResult, TxnCursor, TxnFilter};
use eval::{Phase, Reading, Tracker, Transition};
use history::{Event, History};
use rules::{Checked, Kind, RuleError, Rules};
use window::{Recent, ScopeKey};

/// Where the alert files are and how rules are evaluated.
#[derive(Clone, Debug)]
pub struct AlertConfig {
    /// The rules file (default `<data>/alerts.toml`; absent: no rules
    /// until an admin saves some).
    pub rules: Option<PathBuf>,
    /// The notifiers file (default `<data>/notifiers.toml`; absent: none).
    pub notifiers: Option<PathBuf>,
    /// How far behind now the evaluated window ends (default 2 s).
    pub lag: Duration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            rules: None,
            notifiers: None,
            lag: Duration::from_secs(2),
        }
    }
}

/// Why the alert engine cannot start or a change is refused.
#[derive(Debug)]
pub enum AlertError {
    /// A file could not be read or written.
    Io(PathBuf, io::Error),
    /// A rules or notifiers file is wrong.
    Invalid(RuleError),
}

impl std::fmt::Display for AlertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Self::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AlertError {}

impl From<RuleError> for AlertError {
    fn from(e: RuleError) -> Self {
        Self::Invalid(e)
    }
}

/// One rule's state, as the viewer and `/metrics` show it.
#[derive(Clone, Debug, Serialize)]
pub struct AlertState {
    /// Rule name.
    pub rule: String,
    /// Kind.
    pub kind: &'static str,
    /// Severity.
    pub severity: String,
    /// The service concerned (the rule's, or the worst subject's).
    pub service: Option<String>,
    /// Firing now.
    pub firing: bool,
    /// Ok, pending or firing, with times.
    pub phase: Phase,
    /// The last evaluation.
    pub reading: Option<Reading>,
    /// Threshold.
    pub threshold: f64,
    /// A silence is in force.
    pub silenced: bool,
    /// The firing event (with its evidence), while firing.
    pub event: Option<Event>,
}

#[derive(Default)]
struct RuleState {
    tracker: Tracker,
    reading: Option<Reading>,
    fired: Option<Event>,
    sent_ms: u64,
    refreshed_ms: u64,
}

/// Stored transactions read at most per scope to fill a new rule's window.
pub const BACKFILL_ROWS: usize = 200_000;
const BACKFILL_PAGE: usize = 10_000;

/// Re-sent to Alertmanager this often while firing.
const REFRESH_MS: u64 = 60_000;

/// The engine.
pub struct Alerts {
    rules_path: PathBuf,
    text: RwLock<String>,
    rules: RwLock<Arc<Rules>>,
    states: Mutex<HashMap<String, RuleState>>,
    recent: Recent,
    history: Arc<History>,
    notify: notify::Dispatcher,
    lag_ms: u64,
}

impl Alerts {
    /// Reads the rules and notifiers of `config` (data files in `data`);
    /// a bad file is an error naming the rule and field.
    pub fn open(config: &AlertConfig, data: &Path) -> Result<Self, AlertError> {
        let rules_path = config
            .rules
            .clone()
            .unwrap_or_else(|| data.join("alerts.toml"));
        let text = match std::fs::read_to_string(&rules_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(AlertError::Io(rules_path, e)),
        };
        let rules = Rules::parse(&text).map_err(|e| RuleError {
            at: format!("{}: {}", rules_path.display(), e.at),
            message: e.message,
        })?;
        let notifiers_path = config
            .notifiers
            .clone()
            .unwrap_or_else(|| data.join("notifiers.toml"));
        let (public_url, notifiers) = notify::load(&notifiers_path)?;
        let history_path = data.join("alerts").join("history.jsonl");
        let history = Arc::new(
            History::open(Some(history_path.clone()))
                .map_err(|e| AlertError::Io(history_path, e))?,
        );
        let engine = Self {
            rules_path,
            text: RwLock::new(text),
            recent: Recent::new(scopes(&rules), keep_s(&rules)),
            rules: RwLock::new(Arc::new(rules)),
            states: Mutex::new(HashMap::new()),
            notify: notify::Dispatcher::start(public_url, notifiers, history.clone()),
            history,
            lag_ms: config.lag.as_millis() as u64,
        };
        engine.check_notify(&engine.rules.read())?;
        Ok(engine)
    }

    fn check_notify(&self, rules: &Rules) -> Result<(), RuleError> {
        for c in &rules.rules {
            if let Some(n) = self.notify.unknown(&c.rule.notify).first() {
                return Err(RuleError {
                    at: format!("rule {:?}: notify", c.rule.name),
                    message: format!("no notifier is named {n:?} (see notifiers.toml)"),
                });
            }
        }
        Ok(())
    }

    /// The per-second buckets the feed fills.
    pub fn recent(&self) -> &Recent {
        &self.recent
    }

    /// The history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The rules file's text.
    pub fn text(&self) -> String {
        self.text.read().clone()
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<Rules> {
        self.rules.read().clone()
    }

    /// The notifiers (name, kind).
    pub fn notifiers(&self) -> Vec<(String, &'static str)> {
        self.notify.list()
    }

    /// Checks `text`, writes it to the rules file (atomically) and puts it
    /// in force; on any error nothing changes. Returns the number of rules
    /// and the transaction scopes that are new (their windows start empty:
    /// see [`Alerts::backfill`]; [`crate::live::Live::replace_rules`] does both).
    pub fn replace(&self, text: &str) -> Result<(usize, Vec<ScopeKey>), AlertError> {
        let rules = Rules::parse(text)?;
        self.check_notify(&rules)?;
        let tmp = self.rules_path.with_extension("toml.tmp");
        let io = |e| AlertError::Io(self.rules_path.clone(), e);
        if let Some(dir) = self.rules_path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &self.rules_path).map_err(io)?;
        let n = rules.rules.len();
        let before = self.recent.scopes();
        let now = scopes(&rules);
        let fresh: Vec<ScopeKey> = now
            .iter()
            .filter(|k| !before.contains(k))
            .cloned()
            .collect();
        self.recent.set_scopes(now, keep_s(&rules));
        let names: Vec<String> = rules.rules.iter().map(|c| c.rule.name.clone()).collect();
        *self.rules.write() = Arc::new(rules);
        *self.text.write() = text.to_owned();
        // A removed or renamed rule forgets its state (no recovery notice).
        self.states.lock().retain(|k, _| names.contains(k));
        Ok((n, fresh))
    }

    /// Fills the windows of `scopes` from stored transactions of the kept
    /// period with a sequence number up to `max_seq` (what the feed has
    /// already passed), at most [`BACKFILL_ROWS`] per scope, newest first.
    pub fn backfill(
        &self,
        storage: &dyn Storage,
        scopes: &[ScopeKey],
        max_seq: u64,
        now_ms: u64,
    ) -> StorageResult<()> {
        let keep = keep_s(&self.rules());
        let now_s = now_ms / 1000;
        for k in scopes {
            let mut filter = TxnFilter {
                from_ns: Some(now_s.saturating_sub(keep) * 1_000_000_000),
                service: k.service.clone(),
                instance: k.instance.clone(),
                endpoint: k.endpoint.clone(),
                ..TxnFilter::default()
            };
            let mut read = 0;
            loop {
                let page = storage.transactions(&filter, BACKFILL_PAGE)?.transactions;
                let Some(last) = page.last() else { break };
                filter.before = Some(TxnCursor::of(last));
                let full = page.len() == BACKFILL_PAGE;
                let rows: Vec<_> = page.into_iter().filter(|r| r.seq <= max_seq).collect();
                read += rows.len();
                self.recent.add_to(k, &rows, now_s);
                if !full || read >= BACKFILL_ROWS {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Tries `text`'s rules on the last 24 h of `storage`.
    pub fn try_text(
        &self,
        storage: &dyn Storage,
        text: &str,
        now_ms: u64,
    ) -> Result<StorageResult<Vec<backtest::Trial>>, AlertError> {
        let rules = Rules::parse(text)?;
        Ok(backtest::try_rules(storage, &rules, now_ms))
    }

    /// Every rule's state, in file order.
    pub fn states(&self) -> Vec<AlertState> {
        let rules = self.rules();
        let states = self.states.lock();
        let now = crate::time::now_ms();
        rules
            .rules
            .iter()
            .map(|c| {
                let st = states.get(&c.rule.name);
                let reading = st.and_then(|s| s.reading.clone());
                let service = c
                    .rule
                    .service
                    .clone()
                    .or(reading.as_ref().and_then(|r| r.service.clone()));
                let phase = st.map(|s| s.tracker.phase).unwrap_or_default();
                AlertState {
                    rule: c.rule.name.clone(),
                    kind: c.rule.kind.as_str(),
                    severity: c.rule.severity.clone(),
                    silenced: rules
                        .silences
                        .iter()
                        .any(|s| s.mutes(&c.rule.name, service.as_deref(), now)),
                    service,
                    firing: matches!(phase, Phase::Firing { .. }),
                    phase,
                    reading,
                    threshold: c.rule.threshold,
                    event: st.and_then(|s| s.fired.clone()),
                }
            })
            .collect()
    }

    /// Evaluates every rule as of `now_ms`; notifies and records changes.
    pub fn tick(&self, storage: &dyn Storage, now_ms: u64) {
        let rules = self.rules();
        for c in &rules.rules {
            let end_ms = now_ms.saturating_sub(self.lag_ms) / 1000 * 1000;
            let from_ms = end_ms.saturating_sub(c.window.as_millis() as u64);
            let reading = match self.read(storage, c, from_ms, end_ms, now_ms) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("osprey: alert rule {:?}: {e}", c.rule.name);
                    continue;
                }
            };
            self.advance(storage, &rules, c, reading, (from_ms, end_ms), now_ms);
        }
    }

    /// What rule `c` reads now.
    fn read(
        &self,
        storage: &dyn Storage,
        c: &Checked,
        from_ms: u64,
        end_ms: u64,
        now_ms: u64,
    ) -> StorageResult<Reading> {
        let r = &c.rule;
        Ok(match r.kind {
            k if k.on_transactions() => {
                let scope = scope_of(c);
                let (from_s, end_s) = (from_ms / 1000, end_ms / 1000);
                let win = self.recent.sum(from_s, end_s, &scope);
                let base = if k == Kind::TpsDrop {
                    self.recent
                        .sum(from_s.saturating_sub(c.baseline.as_secs()), from_s, &scope)
                } else {
                    window::Bucket::default()
                };
                eval::judge_transactions(c, &win, &base)
            }
            Kind::ActiveAge => inflight::active_age(storage, c, now_ms)?,
            Kind::Silent => inflight::silent(storage, c, now_ms)?,
            _ => {
                let mut series = Vec::new();
                for name in metric::names(c) {
                    series.extend(storage.series(&SeriesQuery {
                        name: Some(name.to_owned()),
                        service: r.service.clone(),
                        instance: None,
                        // A counter's increase starts at the point before the window.
                        from_ns: Some(from_ms.saturating_sub(60_000) * 1_000_000),
                        to_ns: Some((now_ms + 1) * 1_000_000),
                        latest_only: false,
                    })?);
                }
                // Gauges: the latest point up to now (host agents send
                // every second or slower).
                metric::judge(c, &series, from_ms, now_ms + 1)
            }
        })
    }

    fn advance(
        &self,
        storage: &dyn Storage,
        rules: &Rules,
        c: &Checked,
        reading: Reading,
        (from_ms, end_ms): (u64, u64),
        now_ms: u64,
    ) {
        let name = &c.rule.name;
        let mut states = self.states.lock();
        let st = states.entry(name.clone()).or_default();
        let tr = st
            .tracker
            .step(reading.breach, now_ms, c.hold.as_millis() as u64);
        let service = c.rule.service.clone().or(reading.service.clone());
        let silenced = rules
            .silences
            .iter()
            .any(|s| s.mutes(name, service.as_deref(), now_ms));
        let event = |state: &str, since_ms: u64| Event {
            at_ms: now_ms,
            state: state.into(),
            rule: name.clone(),
            kind: c.rule.kind.as_str().into(),
            severity: c.rule.severity.clone(),
            service: service.clone(),
            value: reading.value,
            threshold: c.rule.threshold,
            detail: reading.detail.clone(),
            summary: c.rule.summary.clone(),
            since_ms,
            window_from_ms: from_ms,
            window_to_ms: end_ms,
            silenced,
            evidence: Vec::new(),
        };
        match tr {
            Some(Transition::Fired) => {
                let breach_ms = match st.tracker.phase {
                    Phase::Firing { breach_ms, .. } => breach_ms,
                    _ => now_ms,
                };
                let mut e = event("firing", breach_ms);
                // Evidence over the whole time it breached (at least the window).
                let ev_from = from_ms.min(breach_ms.saturating_sub(c.window.as_millis() as u64));
                e.evidence = evidence::worst(storage, c, service.as_deref(), ev_from, now_ms)
                    .unwrap_or_else(|err| {
                        eprintln!("osprey: alert {name:?}: evidence: {err}");
                        Vec::new()
                    });
                self.history.record(&e);
                if !silenced {
                    self.notify.send(e.clone(), &c.rule.notify, false);
                }
                st.sent_ms = now_ms;
                st.refreshed_ms = now_ms;
                st.fired = Some(e);
            }
            Some(Transition::Resolved { fired_ms }) => {
                let e = event("resolved", fired_ms);
                self.history.record(&e);
                if !silenced {
                    self.notify.send(e, &c.rule.notify, false);
                }
                st.fired = None;
            }
            None => {
                if let (Some(fired), false) = (&st.fired, silenced) {
                    if c.repeat
                        .is_some_and(|r| now_ms.saturating_sub(st.sent_ms) >= r.as_millis() as u64)
                    {
                        let mut again = fired.clone();
                        again.at_ms = now_ms;
                        again.detail = reading.detail.clone();
                        again.value = reading.value;
                        self.notify.send(again, &c.rule.notify, false);
                        st.sent_ms = now_ms;
                    }
                    if now_ms.saturating_sub(st.refreshed_ms) >= REFRESH_MS {
                        self.notify.send(fired.clone(), &c.rule.notify, true);
                        st.refreshed_ms = now_ms;
                    }
                }
            }
        }
        st.reading = Some(reading);
    }
}

/// The scope of a rule.
fn scope_of(c: &Checked) -> ScopeKey {
    ScopeKey {
        service: c.rule.service.clone(),
        instance: c.rule.instance.clone(),
        endpoint: c.rule.endpoint.clone(),
    }
}

/// The distinct scopes of the transaction rules.
fn scopes(rules: &Rules) -> Vec<ScopeKey> {
    let mut out: Vec<ScopeKey> = Vec::new();
    for c in rules.rules.iter().filter(|c| c.rule.kind.on_transactions()) {
        let k = scope_of(c);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Seconds of per-second buckets the rules need (plus a margin).
fn keep_s(rules: &Rules) -> u64 {
    rules.lookback().as_secs() + 10
}
