//! A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat):
//! `{"text": ...}` with the headline and the evidence as links.

use serde::Deserialize;
use serde_json::json;

use super::{Notice, Notifier, check_url, http, post_json};
use crate::alerts::rules::RuleError;

/// `[[slack]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name rules refer to.
    pub name: String,
    /// The incoming-webhook URL.
    pub url: String,
}

/// The notifier.
pub struct Slack {
    config: Config,
    agent: ureq::Agent,
}

impl Slack {
    /// Checks the URL.
    pub fn new(config: Config) -> Result<Self, RuleError> {
        check_url(&format!("slack {:?}", config.name), &config.url)?;
        Ok(Self {
            config,
            agent: http(),
        })
    }
}

/// The message: the headline, then one line per evidence transaction as
/// a `<url|text>` link.
pub fn body(n: &Notice) -> serde_json::Value {
    let mut text = n.headline();
    for t in &n.event.evidence {
        text.push_str(&format!(
            "\n• <{}|{} {} {:.1} ms{}>",
            n.url(&t.link),
            t.service,
            t.endpoint,
            t.elapsed_ms,
            if t.error { " ERROR" } else { "" }
        ));
    }
    json!({ "text": text })
}

impl Notifier for Slack {
    fn name(&self) -> &str {
        &self.config.name
    }
    fn kind(&self) -> &'static str {
        "slack"
    }
    fn send(&self, n: &Notice) -> Result<(), String> {
        post_json(&self.agent, &self.config.url, &body(n))
    }
}
