//! A JSON webhook: the event as JSON (`state`, `rule`, `kind`,
//! `severity`, `service`, `value`, `threshold`, `detail`, `since_ms`,
//! `evidence` with absolute links).

use serde::Deserialize;

use super::{Notice, Notifier, check_url, http, post_json};
use crate::alerts::rules::RuleError;

/// `[[webhook]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name rules refer to.
    pub name: String,
    /// Where to POST.
    pub url: String,
}

/// The notifier.
pub struct Webhook {
    config: Config,
    agent: ureq::Agent,
}

impl Webhook {
    /// Checks the URL.
    pub fn new(config: Config) -> Result<Self, RuleError> {
        check_url(&format!("webhook {:?}", config.name), &config.url)?;
        Ok(Self {
            config,
            agent: http(),
        })
    }
}

/// The JSON body of a notice.
pub fn body(n: &Notice) -> serde_json::Value {
    let mut v = serde_json::to_value(&n.event).unwrap_or_default();
    if let Some(list) = v.get_mut("evidence").and_then(|e| e.as_array_mut()) {
        for t in list {
            if let Some(l) = t.get("link").and_then(|l| l.as_str()).map(|l| n.url(l)) {
                t["link"] = l.into();
            }
        }
    }
    v
}

impl Notifier for Webhook {
    fn name(&self) -> &str {
        &self.config.name
    }
    fn kind(&self) -> &'static str {
        "webhook"
    }
    fn send(&self, n: &Notice) -> Result<(), String> {
        post_json(&self.agent, &self.config.url, &body(n))
    }
}
