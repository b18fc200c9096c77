//! The rules file (TOML): `[[rule]]` tables and `[[silence]]` periods.
//! Parsing checks every field and names the rule and field at fault; a
//! file that fails is never applied (the rules in force stay).
//!
//! ```toml
//! [[rule]]
//! name = "checkout errors"
//! kind = "error_rate"        # see `Kind`
//! service = "shop"           # optional filters: service, instance, endpoint
//! threshold = 0.05           # 5 % of the window's requests failed
//! window = "60s"
//! for = "30s"                # must hold this long before it fires
//! severity = "critical"
//! notify = ["ops"]           # notifier names; empty: every notifier
//!
//! [[silence]]
//! rule = "checkout errors"   # optional: rule name; service also matches
//! from = "2026-12-06T22:00:00Z"
//! until = "2026-12-07T02:00:00Z"
//! comment = "release"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a rule watches; the threshold's unit depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Failed / all transactions of the window (0–1).
    ErrorRate,
    /// 95th percentile response time of the window, ms.
    P95,
    /// 99th percentile response time of the window, ms.
    P99,
    /// The window's TPS fell by this fraction (0–1) below the `baseline`
    /// period before it.
    TpsDrop,
    /// An active (in-flight) transaction older than `threshold` seconds.
    ActiveAge,
    /// Heap used / heap limit (`jvm.memory.*`, `jvm.memory.type=heap`), 0–1.
    Heap,
    /// Fraction of the window spent in GC (`jvm.gc.collections.elapsed`), 0–1.
    GcTime,
    /// Host CPU busy (`system.cpu.utilization`, every mode but idle), 0–1.
    HostCpu,
    /// Host memory used (`system.memory.utilization`, state used), 0–1.
    HostMemory,
    /// Fullest file system (`system.filesystem.utilization`, state used), 0–1.
    HostDisk,
    /// An instance (`service.instance.id`) sent no transaction for
    /// `threshold` seconds (instances seen in the last 24 h).
    Silent,
    /// Any stored metric series: `metric`, `where`, `aggregate`, `above`.
    Metric,
}

impl Kind {
    /// Whether the rule reads transactions (the per-second data).
    pub fn on_transactions(self) -> bool {
        matches!(
            self,
            Self::ErrorRate | Self::P95 | Self::P99 | Self::TpsDrop
        )
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ErrorRate => "error_rate",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::TpsDrop => "tps_drop",
            Self::ActiveAge => "active_age",
            Self::Heap => "heap",
            Self::GcTime => "gc_time",
            Self::HostCpu => "host_cpu",
            Self::HostMemory => "host_memory",
            Self::HostDisk => "host_disk",
            Self::Silent => "silent",
            Self::Metric => "metric",
        }
    }

    /// Whether the threshold is a fraction (0–1).
    fn is_ratio(self) -> bool {
        matches!(
            self,
            Self::ErrorRate
                | Self::TpsDrop
                | Self::Heap
                | Self::GcTime
                | Self::HostCpu
                | Self::HostMemory
                | Self::HostDisk
        )
    }
}

/// How a `metric` rule reduces the window's points of each series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The latest point.
    #[default]
    Last,
    /// The mean of the points.
    Avg,
    /// The largest point.
    Max,
    /// The smallest point.
    Min,
    /// Increase per second (counters).
    Rate,
}

/// One rule, as written in the file (durations as `90s`, `5m`, `1h`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name; the alert's name.
    pub name: String,
    /// What it watches.
    pub kind: Kind,
    /// Only this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Only this instance (`service.instance.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Only this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Fires above this (below, for `tps_drop`: a drop larger than it).
    pub threshold: f64,
    /// The window evaluated each second (default 60s).
    #[serde(default = "default_window")]
    pub window: String,
    /// How long the condition must hold before the alert fires (default 0s).
    #[serde(default = "zero", rename = "for")]
    pub for_: String,
    /// `tps_drop`: the period before the window it is compared with (default 10m).
    #[serde(default = "default_baseline")]
    pub baseline: String,
    /// Windows with fewer transactions are not judged (default 10; 1 for
    /// `tps_drop`'s baseline).
    #[serde(default = "default_min")]
    pub min_requests: u64,
    /// While firing, notify again this often (default never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<String>,
    /// `info`, `warning` (default) or `critical`.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Notifier names; empty: every configured notifier.
    #[serde(default)]
    pub notify: Vec<String>,
    /// `metric`: the series name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// `metric`: attributes the series must have (`k = "v"`).
    #[serde(default, rename = "where", skip_serializing_if = "BTreeMap::is_empty")]
    pub where_: BTreeMap<String, String>,
    /// `metric`: how each series' window is reduced.
    #[serde(default)]
    pub aggregate: Aggregate,
    /// `metric`: fire when below the threshold instead of above.
    #[serde(default)]
    pub below: bool,
    /// Free text added to notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

fn default_window() -> String {
    "60s".into()
}
fn zero() -> String {
    "0s".into()
}
fn default_baseline() -> String {
    "10m".into()
}
fn default_min() -> u64 {
    10
}
fn default_severity() -> String {
    "warning".into()
}

/// A period during which matching alerts are recorded but not notified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Silence {
    /// Rule name it applies to (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Service it applies to (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Start, RFC 3339 UTC or UNIX ms.
    pub from: String,
    /// End, RFC 3339 UTC or UNIX ms.
    pub until: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// The whole rules file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The rules.
    #[serde(default)]
    pub rule: Vec<Rule>,
    /// The silence periods.
    #[serde(default)]
    pub silence: Vec<Silence>,
}

/// A rule checked and with its durations parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// As written.
    pub rule: Rule,
    /// `window`.
    pub window: Duration,
    /// `for`.
    pub hold: Duration,
    /// `baseline`.
    pub baseline: Duration,
    /// `repeat`.
    pub repeat: Option<Duration>,
}

/// A silence with its period parsed (UNIX ms).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedSilence {
    /// As written.
    pub silence: Silence,
    /// Start, UNIX ms.
    pub from_ms: u64,
    /// End, UNIX ms.
    pub until_ms: u64,
}

impl CheckedSilence {
    /// Whether it mutes `rule` (of `service`) at `now_ms`.
    pub fn mutes(&self, rule: &str, service: Option<&str>, now_ms: u64) -> bool {
        (self.from_ms..self.until_ms).contains(&now_ms)
            && self.silence.rule.as_deref().is_none_or(|r| r == rule)
            && self
                .silence
                .service
                .as_deref()
                .is_none_or(|s| service == Some(s))
    }
}

/// A rules file, checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    /// The rules, in file order.
    pub rules: Vec<Checked>,
    /// The silences.
    pub silences: Vec<CheckedSilence>,
}

/// Why a rules file was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    /// Where: `rule "x": field` or the TOML position.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl std::error::Error for RuleError {}

/// Longest window, baseline or `for` (one day): the live data kept for
/// evaluation is bounded by the rules' windows.
pub const MAX_PERIOD: Duration = Duration::from_secs(86_400);

/// `90s`, `30m`, `12h`, `1d` or plain seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

impl Rules {
    /// Parses and checks a rules file's text.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let file: RuleFile = toml::from_str(text).map_err(|e| RuleError {
            at: match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].lines().count().max(1);
                    format!("line {line}")
                }
                None => "rules file".into(),
            },
            message: e.message().to_owned(),
        })?;
        Self::check(file)
    }

    /// Checks a parsed file.
    pub fn check(file: RuleFile) -> Result<Self, RuleError> {
        let mut rules = Vec::with_capacity(file.rule.len());
        for (i, r) in file.rule.into_iter().enumerate() {
            let at = |field: &str| RuleError {
                at: if r.name.is_empty() {
                    format!("rule #{}: {field}", i + 1)
                } else {
                    format!("rule {:?}: {field}", r.name)
                },
                message: String::new(),
            };
            let bad = |field: &str, message: String| RuleError {
                message,
                ..at(field)
            };
            if r.name.trim().is_empty() {
                return Err(bad("name", "must not be empty".into()));
            }
            if rules.iter().any(|c: &Checked| c.rule.name == r.name) {
                return Err(bad("name", "another rule has this name".into()));
            }
            let period = |field: &str, v: &str| -> Result<Duration, RuleError> {
                let d = parse_duration(v).ok_or_else(|| {
                    bad(field, format!("{v:?} is not a duration (90s, 5m, 1h, 1d)"))
                })?;
                if d > MAX_PERIOD {
                    return Err(bad(field, format!("{v:?} is longer than one day")));
                }
                Ok(d)
            };
            let window = period("window", &r.window)?;
            if window.is_zero() {
                return Err(bad("window", "must be at least 1s".into()));
            }
            let hold = period("for", &r.for_)?;
            let baseline = period("baseline", &r.baseline)?;
            let repeat = r
                .repeat
                .as_deref()
                .map(|v| period("repeat", v))
                .transpose()?;
            if !r.threshold.is_finite() || r.threshold < 0.0 {
                return Err(bad("threshold", "must be a number ≥ 0".into()));
            }
            if r.kind.is_ratio() && r.threshold > 1.0 {
                return Err(bad(
                    "threshold",
                    format!(
                        "{} is a fraction between 0 and 1 (0.05 = 5 %), not {}",
                        r.kind.as_str(),
                        r.threshold
                    ),
                ));
            }
            if !matches!(r.severity.as_str(), "info" | "warning" | "critical") {
                return Err(bad(
                    "severity",
                    format!("{:?} is not info, warning or critical", r.severity),
                ));
            }
            match (r.kind, &r.metric) {
                (Kind::Metric, None) => {
                    return Err(bad("metric", "a metric rule names its series".into()));
                }
                (Kind::Metric, Some(_)) => {}
                (k, Some(_)) => {
                    return Err(bad(
                        "metric",
                        format!("only for kind metric, not {}", k.as_str()),
                    ));
                }
                (_, None) if !r.where_.is_empty() => {
                    return Err(bad("where", "only for kind metric".into()));
                }
                _ => {}
            }
            if r.kind == Kind::TpsDrop && baseline.is_zero() {
                return Err(bad("baseline", "must be at least 1s".into()));
            }
            rules.push(Checked {
                rule: r,
                window,
                hold,
                baseline,
                repeat,
            });
        }
        let mut silences = Vec::with_capacity(file.silence.len());
        for (i, s) in file.silence.into_iter().enumerate() {
            let time = |field: &str, v: &str| {
                crate::time::parse(v)
                    .map(|ns| ns / 1_000_000)
                    .ok_or_else(|| RuleError {
                        at: format!("silence #{}: {field}", i + 1),
                        message: format!("{v:?} is not RFC 3339 UTC or UNIX ms"),
                    })
            };
            let from_ms = time("from", &s.from)?;
            let until_ms = time("until", &s.until)?;
            if until_ms <= from_ms {
                return Err(RuleError {
                    at: format!("silence #{}: until", i + 1),
                    message: "ends before it starts".into(),
                });
            }
            silences.push(CheckedSilence {
                silence: s,
                from_ms,
                until_ms,
            });
        }
        Ok(Self { rules, silences })
    }

    /// The longest period any rule looks back (window plus baseline).
    pub fn lookback(&self) -> Duration {
        self.rules
            .iter()
            .map(|c| {
                c.window
                    + if c.rule.kind == Kind::TpsDrop {
                        c.baseline
                    } else {
                        Duration::ZERO
                    }
            })
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses_with_defaults() {
        let r = Rules::parse(
            r#"
            [[rule]]
            name = "errors"
            kind = "error_rate"
            service = "shop"
            threshold = 0.05
            for = "30s"
            [[rule]]
            name = "heap"
            kind = "metric"
            metric = "jvm.memory.used"
            where = { "jvm.memory.type" = "heap" }
            threshold = 1e9
            [[silence]]
            rule = "errors"
            from = "2026-12-06T22:00:00Z"
            until = "2026-12-06T23:00:00Z"
            "#,
        )
        .unwrap();
        assert_eq!(r.rules.len(), 2);
        assert_eq!(r.rules[0].window, Duration::from_secs(60));
        assert_eq!(r.rules[0].hold, Duration::from_secs(30));
        assert_eq!(r.rules[0].rule.severity, "warning");
        assert_eq!(r.rules[1].rule.where_["jvm.memory.type"], "heap");
        let s = &r.silences[0];
        assert!(s.mutes("errors", Some("shop"), s.from_ms));
        assert!(!s.mutes("errors", Some("shop"), s.until_ms));
        assert!(!s.mutes("other", Some("shop"), s.from_ms));
    }

    fn err(text: &str) -> String {
        Rules::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn bad_input_names_the_rule_and_field() {
        assert_eq!(
            err("[[rule]]\nname = \"a\"\nkind = \"error_rate\"\nthreshold = 5.0\n"),
            "rule \"a\": threshold: error_rate is a fraction between 0 and 1 (0.05 = 5 %), not 5"
        );
        assert_eq!(
            err("[[rule]]\nname = \"a\"\nkind = \"p95\"\nthreshold = 5\nwindow = \"5 minutes\"\n"),
            "rule \"a\": window: \"5 minutes\" is not a duration (90s, 5m, 1h, 1d)"
        );
        let e = err("[[rule]]\nname = \"a\"\nkind = \"p42\"\nthreshold = 5\n");
        assert!(e.starts_with("line 3: unknown variant `p42`"), "{e}");
        let e = err("[[rule]]\nname = \"a\"\nkind = \"p95\"\nthreshold = 5\nthresold = 1\n");
        assert!(e.contains("unknown field `thresold`"), "{e}");
        assert_eq!(
            err(
                "[[rule]]\nname = \"a\"\nkind = \"p95\"\nthreshold = 1\n[[rule]]\nname = \"a\"\nkind = \"p99\"\nthreshold = 1\n"
            ),
            "rule \"a\": name: another rule has this name"
        );
        assert_eq!(
            err("[[rule]]\nname = \"m\"\nkind = \"metric\"\nthreshold = 1\n"),
            "rule \"m\": metric: a metric rule names its series"
        );
        assert_eq!(
            err("[[silence]]\nfrom = \"2026-12-06T22:00:00Z\"\nuntil = \"yesterday\"\n"),
            "silence #1: until: \"yesterday\" is not RFC 3339 UTC or UNIX ms"
        );
    }
}
