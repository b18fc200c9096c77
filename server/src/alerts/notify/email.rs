//! E-mail over SMTP (lettre over rustls): STARTTLS required by default
//! (`starttls = "required" | "opportunistic" | "off"`), or implicit TLS
//! (`tls = true`, port 465). The password comes from an environment
//! variable or a file, never from the notifiers file itself; `ca_file`
//! adds a trusted CA (PEM) to the system-independent web PKI roots.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde::Deserialize;

use super::{Notice, Notifier};
use crate::alerts::rules::RuleError;

/// How STARTTLS is used.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StartTls {
    /// Refuse to send unless the server upgrades (default).
    #[default]
    Required,
    /// Upgrade when offered.
    Opportunistic,
    /// Plain text (a local relay only).
    Off,
}

/// `[[email]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name rules refer to.
    pub name: String,
    /// SMTP server.
    pub host: String,
    /// Port (default 587; 465 with `tls = true`).
    #[serde(default)]
    pub port: Option<u16>,
    /// STARTTLS use.
    #[serde(default)]
    pub starttls: StartTls,
    /// Implicit TLS from the first byte instead of STARTTLS.
    #[serde(default)]
    pub tls: bool,
    /// Extra CA certificate (PEM) to trust.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Login user (no login when absent).
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (one line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// The notifier.
pub struct Email {
    name: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    transport: SmtpTransport,
}

impl Email {
    /// Checks addresses, reads the CA and the password, builds the transport.
    pub fn new(c: Config) -> Result<Self, RuleError> {
        let at = format!("email {:?}", c.name);
        let bad = |message: String| RuleError {
            at: at.clone(),
            message,
        };
        let from: Mailbox = c
            .from
            .parse()
            .map_err(|e| bad(format!("from {:?} is not an e-mail address ({e})", c.from)))?;
        if c.to.is_empty() {
            return Err(bad("to: no recipient".into()));
        }
        let to =
            c.to.iter()
                .map(|t| {
                    t.parse::<Mailbox>()
                        .map_err(|e| bad(format!("to {t:?} is not an e-mail address ({e})")))
                })
                .collect::<Result<Vec<_>, _>>()?;
        let mut params = TlsParameters::builder(c.host.clone());
        if let Some(ca) = &c.ca_file {
            let pem =
                std::fs::read(ca).map_err(|e| bad(format!("ca_file {}: {e}", ca.display())))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| bad(format!("ca_file {}: {e}", ca.display())))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| bad(format!("TLS: {e}")))?;
        let tls = match (c.tls, c.starttls) {
            (true, _) => Tls::Wrapper(params),
            (false, StartTls::Required) => Tls::Required(params),
            (false, StartTls::Opportunistic) => Tls::Opportunistic(params),
            (false, StartTls::Off) => Tls::None,
        };
        let port = c.port.unwrap_or(if c.tls { 465 } else { 587 });
        let mut builder = SmtpTransport::builder_dangerous(&c.host)
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(20)));
        if let Some(user) = &c.username {
            let password = match (&c.password_env, &c.password_file) {
                (Some(var), _) => std::env::var(var)
                    .map_err(|_| bad(format!("password_env: {var} is not set")))?,
                (None, Some(f)) => std::fs::read_to_string(f)
                    .map_err(|e| bad(format!("password_file {}: {e}", f.display())))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                (None, None) => {
                    return Err(bad("username without password_env or password_file".into()));
                }
            };
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self {
            name: c.name,
            from,
            to,
            transport: builder.build(),
        })
    }

    /// The message of a notice.
    pub fn message(&self, n: &Notice) -> Result<Message, String> {
        let mut m = Message::builder()
            .from(self.from.clone())
            .subject(n.headline());
        for t in &self.to {
            m = m.to(t.clone());
        }
        m.header(ContentType::TEXT_PLAIN)
            .body(n.text())
            .map_err(|e| e.to_string())
    }
}

impl Notifier for Email {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "email"
    }
    fn send(&self, n: &Notice) -> Result<(), String> {
        let m = self.message(n)?;
        self.transport.send(&m).map(drop).map_err(|e| e.to_string())
    }
}
