//! Prometheus Alertmanager, API v2 (`POST /api/v2/alerts`): labels
//! `alertname`, `severity`, `service`, `kind`; annotations `summary`,
//! `description`, `evidence`; `endsAt` set on recovery. Firing alerts are
//! re-sent every minute so Alertmanager does not resolve them on its own.

use serde::Deserialize;
use serde_json::json;

use super::{Notice, Notifier, check_url, http, post_json};
use crate::alerts::rules::RuleError;

/// `[[alertmanager]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name rules refer to.
    pub name: String,
    /// Its base URL (`http://alertmanager:9093`).
    pub url: String,
}

/// The notifier.
pub struct Alertmanager {
    config: Config,
    agent: ureq::Agent,
}

impl Alertmanager {
    /// Checks the URL.
    pub fn new(config: Config) -> Result<Self, RuleError> {
        check_url(&format!("alertmanager {:?}", config.name), &config.url)?;
        Ok(Self {
            config,
            agent: http(),
        })
    }
}

/// RFC 3339 of UNIX ms.
fn rfc3339(ms: u64) -> String {
    crate::time::format_ms(ms)
}

/// The one-alert array Alertmanager takes.
pub fn body(n: &Notice) -> serde_json::Value {
    let e = &n.event;
    let mut labels = json!({
        "alertname": e.rule,
        "severity": e.severity,
        "kind": e.kind,
        "source": "osprey",
    });
    if let Some(s) = &e.service {
        labels["service"] = s.clone().into();
    }
    let evidence: Vec<String> = e.evidence.iter().map(|t| n.evidence_line(t)).collect();
    let mut alert = json!({
        "labels": labels,
        "annotations": {
            "summary": e.summary.clone().unwrap_or_else(|| n.headline()),
            "description": e.detail,
            "evidence": evidence.join("\n"),
        },
        "startsAt": rfc3339(if e.state == "firing" { e.at_ms } else { e.since_ms }),
        "generatorURL": n.url("/"),
    });
    if e.state == "resolved" {
        alert["endsAt"] = rfc3339(e.at_ms).into();
    }
    json!([alert])
}

impl Notifier for Alertmanager {
    fn name(&self) -> &str {
        &self.config.name
    }
    fn kind(&self) -> &'static str {
        "alertmanager"
    }
    fn send(&self, n: &Notice) -> Result<(), String> {
        let url = format!("{}/api/v2/alerts", self.config.url.trim_end_matches('/'));
        post_json(&self.agent, &url, &body(n))
    }
    fn refreshes(&self) -> bool {
        true
    }
}
