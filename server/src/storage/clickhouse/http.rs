//! ClickHouse's HTTP interface through `ureq` (already the CLI's client;
//! synchronous like the [`Storage`](crate::storage::Storage) trait, whose
//! methods run on blocking threads). Statements go in the body; inserts
//! put the statement in the `query` parameter and the `RowBinary` rows in
//! the body. Answers are read whole, without the client's default size
//! cap.

use std::io::Read;

use super::config::ClickHouseConfig;
use super::{ChError, Transport};

/// One HTTP connection pool to every shard.
pub struct Http {
    agent: ureq::Agent,
    user: Option<String>,
    password: Option<String>,
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Http {
    /// A client with `cfg`'s timeout and credentials.
    pub fn new(cfg: &ClickHouseConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(cfg.timeout))
            .build()
            .into();
        Self {
            agent,
            user: cfg.user.clone(),
            password: cfg.password.clone(),
        }
    }

    fn post(&self, url: &str, body: &[u8], what: &str) -> Result<Vec<u8>, ChError> {
        let mut req = self.agent.post(url);
        if let Some(u) = &self.user {
            req = req.header("X-ClickHouse-User", u);
        }
        if let Some(p) = &self.password {
            req = req.header("X-ClickHouse-Key", p);
        }
        let mut resp = req
            .send(body)
            .map_err(|e| ChError::Unreachable(format!("{url}: {e}")))?;
        let status = resp.status().as_u16();
        let mut out = Vec::new();
        resp.body_mut()
            .as_reader()
            .read_to_end(&mut out)
            .map_err(|e| ChError::Unreachable(format!("{url}: {e}")))?;
        if status == 200 {
            return Ok(out);
        }
        let text = String::from_utf8_lossy(&out);
        let text = text.trim();
        Err(
            if (status >= 500 && text.contains("Code: 279")) || status == 503 {
                ChError::Unreachable(format!("{what}: {text}"))
            } else {
                ChError::Server(format!("{what}: HTTP {status}: {text}"))
            },
        )
    }
}

impl Transport for Http {
    fn query(
        &self,
        base: &str,
        database: Option<&str>,
        sql: &str,
        settings: &[(&str, &str)],
    ) -> Result<Vec<u8>, ChError> {
        let mut url = format!("{base}/?");
        if let Some(db) = database {
            url.push_str(&format!("database={db}&"));
        }
        for (k, v) in settings {
            url.push_str(&format!("{k}={}&", percent_encode(v)));
        }
        let first_line = sql.lines().next().unwrap_or("").trim();
        self.post(&url, sql.as_bytes(), first_line)
    }

    fn insert(&self, base: &str, database: &str, table: &str, rows: &[u8]) -> Result<(), ChError> {
        let q = percent_encode(&format!("INSERT INTO {database}.{table} FORMAT RowBinary"));
        let url = format!("{base}/?query={q}");
        self.post(&url, rows, &format!("insert into {table}"))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_parameters_are_escaped() {
        assert_eq!(super::percent_encode("a b=c&d"), "a%20b%3Dc%26d");
    }
}
