//! Judging a rule: what its window reads ([`Reading`]) and the state
//! machine of `for` durations and recoveries ([`Tracker`]). Pure
//! functions of their inputs, shared by the live evaluator and the
//! "would have fired" trial over stored data.

use serde::Serialize;

use super::rules::{Checked, Kind};
use super::window::Bucket;

/// What one evaluation found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reading {
    /// The measured value (`None`: too little data to judge; not firing).
    pub value: Option<f64>,
    /// Past the threshold.
    pub breach: bool,
    /// What was measured, in words (the worst subject for multi-subject kinds).
    pub detail: String,
    /// The service of the worst subject, when known.
    pub service: Option<String>,
}

impl Reading {
    /// Nothing to judge.
    pub fn none(detail: impl Into<String>) -> Self {
        Self {
            value: None,
            breach: false,
            detail: detail.into(),
            service: None,
        }
    }

    /// `value` judged against the rule's threshold (above, or below when `below`).
    pub fn of(value: f64, threshold: f64, below: bool, detail: String) -> Self {
        Self {
            value: Some(value),
            breach: if below {
                value < threshold
            } else {
                value > threshold
            },
            detail,
            service: None,
        }
    }
}

/// Judges a transaction rule on its window and, for `tps_drop`, the
/// baseline period before it.
pub fn judge_transactions(rule: &Checked, window: &Bucket, baseline: &Bucket) -> Reading {
    let r = &rule.rule;
    let enough = window.count >= r.min_requests.max(1);
    match r.kind {
        Kind::ErrorRate if enough => {
            let rate = window.errors as f64 / window.count as f64;
            Reading::of(
                rate,
                r.threshold,
                false,
                format!(
                    "{} of {} transactions failed ({:.1} %)",
                    window.errors,
                    window.count,
                    rate * 100.0
                ),
            )
        }
        Kind::P95 | Kind::P99 if enough => {
            let q = if r.kind == Kind::P95 { 0.95 } else { 0.99 };
            let v = window.quantile_ms(q);
            Reading::of(
                v,
                r.threshold,
                false,
                format!(
                    "{} ≤ {v} ms over {} transactions",
                    r.kind.as_str(),
                    window.count
                ),
            )
        }
        Kind::TpsDrop => {
            if baseline.count < r.min_requests.max(1) {
                return Reading::none("too few transactions in the baseline");
            }
            let now = window.count as f64 / rule.window.as_secs_f64();
            let before = baseline.count as f64 / rule.baseline.as_secs_f64();
            let drop = (1.0 - now / before).max(0.0);
            Reading::of(
                drop,
                r.threshold,
                false,
                format!(
                    "TPS {now:.1} against {before:.1} before ({:.0} % lower)",
                    drop * 100.0
                ),
            )
        }
        _ => Reading::none(format!(
            "{} of at least {} transactions in the window",
            window.count, r.min_requests
        )),
    }
}

/// A rule's state between evaluations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Phase {
    /// Not breaching.
    #[default]
    Ok,
    /// Breaching since `since_ms`, not for long enough yet.
    Pending {
        /// First breaching evaluation, UNIX ms.
        since_ms: u64,
    },
    /// Fired at `since_ms` (breaching since `breach_ms`).
    Firing {
        /// First breaching evaluation, UNIX ms.
        breach_ms: u64,
        /// When it fired, UNIX ms.
        since_ms: u64,
    },
}

/// A change worth a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Breached for the whole `for` duration.
    Fired,
    /// Firing, and no longer breaching.
    Resolved {
        /// When it had fired, UNIX ms.
        fired_ms: u64,
    },
}

/// The `for` state machine of one rule.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tracker {
    /// Where it is.
    pub phase: Phase,
}

impl Tracker {
    /// Moves on with one evaluation at `now_ms`.
    pub fn step(&mut self, breach: bool, now_ms: u64, hold_ms: u64) -> Option<Transition> {
        match (self.phase, breach) {
            (Phase::Ok, false) | (Phase::Firing { .. }, true) => None,
            (Phase::Ok, true) => {
                self.phase = Phase::Pending { since_ms: now_ms };
                self.fire_if_held(now_ms, now_ms, hold_ms)
            }
            (Phase::Pending { since_ms }, true) => self.fire_if_held(since_ms, now_ms, hold_ms),
            (Phase::Pending { .. }, false) => {
                self.phase = Phase::Ok;
                None
            }
            (Phase::Firing { since_ms, .. }, false) => {
                self.phase = Phase::Ok;
                Some(Transition::Resolved { fired_ms: since_ms })
            }
        }
    }

    fn fire_if_held(&mut self, since: u64, now: u64, hold_ms: u64) -> Option<Transition> {
        if now.saturating_sub(since) >= hold_ms {
            self.phase = Phase::Firing {
                breach_ms: since,
                since_ms: now,
            };
            Some(Transition::Fired)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::Rules;

    fn rule(text: &str) -> Checked {
        Rules::parse(text).unwrap().rules.remove(0)
    }

    #[test]
    fn error_rate_needs_enough_requests_and_compares_the_fraction() {
        let r = rule("[[rule]]\nname='e'\nkind='error_rate'\nthreshold=0.1\nmin_requests=5\n");
        let mut w = Bucket::default();
        for i in 0..4 {
            w.add(1_000_000, i < 2);
        }
        assert_eq!(judge_transactions(&r, &w, &Bucket::default()).value, None);
        for _ in 0..6 {
            w.add(1_000_000, false);
        }
        let got = judge_transactions(&r, &w, &Bucket::default());
        assert_eq!(got.value, Some(0.2));
        assert!(got.breach);
        assert_eq!(got.detail, "2 of 10 transactions failed (20.0 %)");
    }

    #[test]
    fn tps_drop_compares_rates_of_different_periods() {
        let r = rule(
            "[[rule]]\nname='t'\nkind='tps_drop'\nthreshold=0.5\nwindow='10s'\nbaseline='100s'\n",
        );
        let (mut w, mut b) = (Bucket::default(), Bucket::default());
        for _ in 0..1000 {
            b.add(1, false); // 10 TPS
        }
        for _ in 0..40 {
            w.add(1, false); // 4 TPS
        }
        let got = judge_transactions(&r, &w, &b);
        assert!((got.value.unwrap() - 0.6).abs() < 1e-9);
        assert!(got.breach);
        for _ in 0..20 {
            w.add(1, false); // 6 TPS
        }
        assert!(!judge_transactions(&r, &w, &b).breach);
    }

    #[test]
    fn for_holds_then_fires_once_and_recovers() {
        let mut t = Tracker::default();
        assert_eq!(t.step(true, 1_000, 3_000), None);
        assert_eq!(t.step(true, 2_000, 3_000), None);
        assert_eq!(t.step(false, 3_000, 3_000), None, "a gap restarts the hold");
        assert_eq!(t.step(true, 4_000, 3_000), None);
        assert_eq!(t.step(true, 7_000, 3_000), Some(Transition::Fired));
        assert_eq!(t.step(true, 8_000, 3_000), None);
        assert_eq!(
            t.step(false, 9_000, 3_000),
            Some(Transition::Resolved { fired_ms: 7_000 })
        );
        let mut now = Tracker::default();
        assert_eq!(now.step(true, 1, 0), Some(Transition::Fired));
    }
}
