//! The terminal helpers' connection to a running server (`tail`, `tree`,
//! `at`): plain or TLS (trusting `--ca-file` when given), logged in with
//! `--user` when the server has auth on.

use std::path::PathBuf;

use serde_json::{Value, json};
use ureq::tls::{PemItem, RootCerts, TlsConfig};

use super::CliError;

/// Where the server is and how to log in.
#[derive(clap::Args, Debug, Clone)]
pub struct RemoteArgs {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    pub server: String,
    /// Log in as this user (password from `OSPREY_PASSWORD`, else a prompt
    /// or the first line of standard input).
    #[arg(long)]
    pub user: Option<String>,
    /// PEM file of the CA that signed an `https://` server's certificate
    /// (default: the public web roots).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
}

/// A connection to a server's query API.
pub struct Remote {
    agent: ureq::Agent,
    base: String,
    cookie: Option<String>,
}

impl Remote {
    /// Connects (and logs in when `--user` is given).
    pub fn connect(args: &RemoteArgs) -> Result<Remote, CliError> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = &args.ca_file {
            let pem = std::fs::read(path)
                .map_err(CliError::io(format!("cannot read {}", path.display())))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(CliError::NoCertificate(path.display().to_string()));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build()
            .into();
        let mut remote = Remote {
            agent,
            base: args.server.trim_end_matches('/').to_owned(),
            cookie: None,
        };
        if let Some(user) = &args.user {
            let password = match std::env::var("OSPREY_PASSWORD") {
                Ok(p) => p,
                Err(_) => super::auth::read_password(user, false)?,
            };
            remote.login(user, &password)?;
        }
        Ok(remote)
    }

    fn login(&mut self, user: &str, password: &str) -> Result<(), CliError> {
        let url = format!("{}/login", self.base);
        let body = json!({ "user": user, "password": password }).to_string();
        let resp = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.as_bytes())
            .map_err(|e| CliError::Remote {
                request: format!("POST {url}"),
                message: e.to_string(),
            })?;
        match resp.status().as_u16() {
            200 => {}
            429 => return Err(CliError::TooManyLogins),
            s => return Err(CliError::LoginRefused(s)),
        }
        self.cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|c| c.starts_with(crate::auth::http::COOKIE))
            .map(str::to_owned);
        Ok(())
    }

    /// GETs `path` (from `/api/...`) as JSON.
    pub fn get_json(&self, path: &str) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let failed = |message: String| CliError::Remote {
            request: format!("GET {url}"),
            message,
        };
        let mut req = self.agent.get(&url);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let mut resp = req.call().map_err(|e| failed(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| failed(e.to_string()))?;
        match status {
            200 => serde_json::from_str(&text).map_err(|e| failed(format!("bad JSON: {e}"))),
            401 => Err(CliError::LoginRequired(format!("GET {url}"))),
            s => Err(failed(format!("{s} {}", text.trim()))),
        }
    }
}
