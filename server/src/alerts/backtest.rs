//! "Would have fired at …": a rules file tried on the stored data of the
//! last 24 h, second by second for transaction rules (the global
//! per-second aggregates, or the scope's transactions read page by page up
//! to [`MAX_ROWS`]) and every [`METRIC_STEP_S`] seconds for metric rules,
//! through the same judgement and `for` state machine as the live
//! evaluator. Nothing is notified or recorded.

use serde::Serialize;

use super::eval::{self, Tracker, Transition};
use super::metric;
use super::rules::{Checked, Kind, Rules};
use super::window::{Bucket, Scope};
use crate::storage::{SeriesQuery, Storage, StorageResult, TxnCursor, TxnFilter};

/// The period tried.
pub const PERIOD_S: u64 = 86_400;
/// Transactions read at most for a rule with a service, instance or endpoint.
pub const MAX_ROWS: usize = 2_000_000;
/// Metric rules are evaluated this often, s.
pub const METRIC_STEP_S: u64 = 5;

/// One time the rule would have fired.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fired {
    /// When it would have fired, UNIX ms.
    pub at_ms: u64,
    /// When it would have recovered (`None`: still firing at the end).
    pub resolved_ms: Option<u64>,
    /// What was measured when it fired.
    pub detail: String,
}

/// A rule's trial.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial {
    /// Rule name.
    pub rule: String,
    /// The period evaluated, UNIX ms.
    pub from_ms: u64,
    /// Its end.
    pub to_ms: u64,
    /// The firings.
    pub fired: Vec<Fired>,
    /// Why the trial is partial or impossible, if it is.
    pub note: Option<String>,
}

/// Tries every rule of `rules` over the 24 h up to `now_ms`.
pub fn try_rules(storage: &dyn Storage, rules: &Rules, now_ms: u64) -> StorageResult<Vec<Trial>> {
    rules
        .rules
        .iter()
        .map(|r| try_rule(storage, r, now_ms))
        .collect()
}

fn try_rule(storage: &dyn Storage, rule: &Checked, now_ms: u64) -> StorageResult<Trial> {
    let end_s = now_ms / 1000;
    let start_s = end_s.saturating_sub(PERIOD_S);
    let mut trial = Trial {
        rule: rule.rule.name.clone(),
        from_ms: start_s * 1000,
        to_ms: end_s * 1000,
        fired: Vec::new(),
        note: None,
    };
    let hold_ms = rule.hold.as_millis() as u64;
    let mut tracker = Tracker::default();
    let note = |t: &mut Trial, at: u64, tr: Option<Transition>, detail: &str| match tr {
        Some(Transition::Fired) => t.fired.push(Fired {
            at_ms: at,
            resolved_ms: None,
            detail: detail.to_owned(),
        }),
        Some(Transition::Resolved { .. }) => {
            if let Some(f) = t.fired.last_mut() {
                f.resolved_ms = Some(at);
            }
        }
        None => {}
    };
    match rule.rule.kind {
        k if k.on_transactions() => {
            let w = rule.window.as_secs();
            let b = if k == Kind::TpsDrop {
                rule.baseline.as_secs()
            } else {
                0
            };
            let first_s = start_s.saturating_sub(w + b);
            let (secs, from_s) = per_second(storage, rule, first_s, end_s)?;
            if from_s > first_s {
                trial.note = Some(format!(
                    "more than {MAX_ROWS} transactions in scope: tried from {} only",
                    crate::time::format_ms(from_s * 1000)
                ));
            }
            let at = |s: u64| &secs[(s - first_s) as usize];
            let (mut win, mut base) = (Bucket::default(), Bucket::default());
            let begin = from_s.max(start_s);
            for s in begin.saturating_sub(w)..begin {
                win.merge(at(s));
            }
            for s in begin.saturating_sub(w + b)..begin.saturating_sub(w) {
                base.merge(at(s));
            }
            for t in begin..end_s {
                let reading = eval::judge_transactions(rule, &win, &base);
                let tr = tracker.step(reading.breach, t * 1000, hold_ms);
                note(&mut trial, t * 1000, tr, &reading.detail);
                // Slide both windows by one second.
                win.merge(at(t));
                win.subtract(at(t - w));
                if b > 0 {
                    base.merge(at(t - w));
                    base.subtract(at(t - w - b));
                }
            }
        }
        Kind::ActiveAge | Kind::Silent => {
            trial.note = Some(format!(
                "{} reads the live state (active services, instances), which is not kept per second: it cannot be tried",
                rule.rule.kind.as_str()
            ));
        }
        _ => {
            let w_ms = rule.window.as_millis() as u64;
            let mut series = Vec::new();
            for name in metric::names(rule) {
                series.extend(storage.series(&SeriesQuery {
                    name: Some(name.to_owned()),
                    service: rule.rule.service.clone(),
                    instance: None,
                    from_ns: Some((start_s * 1000).saturating_sub(w_ms + 60_000) * 1_000_000),
                    to_ns: Some(end_s * 1_000_000_000),
                    latest_only: false,
                })?);
            }
            let mut t = start_s;
            while t < end_s {
                let at = t * 1000;
                let reading = metric::judge(rule, &series, at.saturating_sub(w_ms), at);
                let tr = tracker.step(reading.breach, at, hold_ms);
                note(&mut trial, at, tr, &reading.detail);
                t += METRIC_STEP_S;
            }
        }
    }
    Ok(trial)
}

/// Per-second buckets of the rule's scope for `first_s..end_s`, and the
/// first second they are complete from.
fn per_second(
    storage: &dyn Storage,
    rule: &Checked,
    first_s: u64,
    end_s: u64,
) -> StorageResult<(Vec<Bucket>, u64)> {
    let n = (end_s - first_s) as usize;
    let r = &rule.rule;
    let scope = Scope {
        service: r.service.as_deref(),
        instance: r.instance.as_deref(),
        endpoint: r.endpoint.as_deref(),
    };
    if scope.service.is_none() && scope.instance.is_none() && scope.endpoint.is_none() {
        let mut out = vec![Bucket::default(); n];
        if n > 0 {
            for s in storage.seconds(first_s, end_s - 1, 1)? {
                if let Some(slot) = s
                    .second
                    .checked_sub(first_s)
                    .and_then(|i| out.get_mut(i as usize))
                {
                    *slot = Bucket::from_second(&s);
                }
            }
        }
        return Ok((out, first_s));
    }
    let mut out = vec![Bucket::default(); n];
    let mut filter = TxnFilter {
        from_ns: Some(first_s * 1_000_000_000),
        to_ns: Some(end_s * 1_000_000_000),
        service: r.service.clone(),
        instance: r.instance.clone(),
        endpoint: r.endpoint.clone(),
        ..TxnFilter::default()
    };
    let mut read = 0;
    let mut complete_from = first_s;
    // Newest first, page by page; the oldest second reached may be partial.
    loop {
        let page = storage.transactions(&filter, 10_000)?.transactions;
        let Some(last) = page.last() else { break };
        filter.before = Some(TxnCursor::of(last));
        for t in &page {
            let sec = t.end_ns() / 1_000_000_000;
            if let Some(slot) = sec
                .checked_sub(first_s)
                .and_then(|i| out.get_mut(i as usize))
            {
                slot.add(t.elapsed_ns, t.error);
            }
        }
        read += page.len();
        if page.len() < 10_000 {
            break;
        }
        if read >= MAX_ROWS {
            complete_from = last.end_ns() / 1_000_000_000 + 1;
            break;
        }
    }
    Ok((out, complete_from))
}
