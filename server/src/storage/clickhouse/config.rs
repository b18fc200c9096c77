//! Where the ClickHouse backend writes and how much it may buffer:
//! parsed from `--storage clickhouse://host:8123[,host2:8123...]/db?...`.
//!
//! - One host: one ClickHouse server, the tables are plain `MergeTree`s.
//! - Several hosts: one shard each, in order. Every host holds the
//!   `*_local` tables; the `Distributed` tables over them use the cluster
//!   named by `cluster=` (it must list the same hosts, in the same order,
//!   in every server's `remote_servers`). Osprey writes each trace to its
//!   shard's local tables itself and reads through the `Distributed`
//!   tables.
//!
//! Query parameters: `cluster`, `user` (the password is read from the
//! environment variable `OSPREY_CLICKHOUSE_PASSWORD`, never from the
//! URL, so it does not show in `ps` or logs), `timeout_ms` (each HTTP
//! request, default 10 000).

use std::path::PathBuf;
use std::time::Duration;

/// The environment variable holding the ClickHouse password.
pub const PASSWORD_ENV: &str = "OSPREY_CLICKHOUSE_PASSWORD";

/// The ClickHouse backend's settings.
#[derive(Clone, Debug)]
pub struct ClickHouseConfig {
    /// One HTTP base URL (`http://host:port`) per shard.
    pub shards: Vec<String>,
    /// The database (created by `migrate` when missing).
    pub database: String,
    /// The cluster the `Distributed` tables use (sharded setups).
    pub cluster: Option<String>,
    /// User name (`default` when `None`).
    pub user: Option<String>,
    /// Password (from [`PASSWORD_ENV`]).
    pub password: Option<String>,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
    /// Directory of the on-disk buffer used while a shard is unreachable.
    pub spool_dir: PathBuf,
    /// Most bytes the buffer holds; past it ingest answers 503.
    pub spool_max_bytes: u64,
    /// Age of data kept: older day partitions are dropped, and answers
    /// leave out what ended before it.
    pub max_age: Duration,
}

/// Why a `clickhouse://` URL was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct BadUrl(pub String);

impl std::fmt::Display for BadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad ClickHouse URL: {}", self.0)
    }
}

impl std::error::Error for BadUrl {}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

impl ClickHouseConfig {
    /// Parses `clickhouse://host:port[,host:port...]/database[?k=v&...]`;
    /// the buffer goes in `spool_dir`.
    pub fn parse(url: &str, spool_dir: PathBuf) -> Result<Self, BadUrl> {
        let rest = url
            .strip_prefix("clickhouse://")
            .ok_or_else(|| BadUrl(format!("{url}: must start with clickhouse://")))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, database) = rest
            .split_once('/')
            .ok_or_else(|| BadUrl(format!("{url}: no /database")))?;
        if !valid_name(database) {
            return Err(BadUrl(format!(
                "{database:?}: a database name is letters, digits and _"
            )));
        }
        let mut shards = Vec::new();
        for h in hosts.split(',') {
            let ok = h
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok || h.contains('@') || h.contains('/') {
                return Err(BadUrl(format!("{h:?}: expected host:port")));
            }
            shards.push(format!("http://{h}"));
        }
        let mut cfg = Self {
            shards,
            database: database.to_owned(),
            cluster: None,
            user: None,
            password: std::env::var(PASSWORD_ENV).ok(),
            timeout: Duration::from_secs(10),
            spool_dir,
            spool_max_bytes: 1 << 30,
            max_age: Duration::from_secs(7 * 86_400),
        };
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "cluster" if valid_name(v) => cfg.cluster = Some(v.to_owned()),
                "user" if valid_name(v) => cfg.user = Some(v.to_owned()),
                "timeout_ms" => {
                    let ms: u64 = v
                        .parse()
                        .map_err(|_| BadUrl(format!("timeout_ms={v}: not a number")))?;
                    cfg.timeout = Duration::from_millis(ms.max(1));
                }
                "password" => {
                    return Err(BadUrl(format!(
                        "no password in the URL: set {PASSWORD_ENV}"
                    )));
                }
                _ => return Err(BadUrl(format!("{kv}: unknown or invalid parameter"))),
            }
        }
        if cfg.shards.len() > 1 && cfg.cluster.is_none() {
            return Err(BadUrl(
                "several hosts (shards) need cluster=<name of remote_servers entry>".into(),
            ));
        }
        Ok(cfg)
    }

    /// True with more than one shard: local tables plus `Distributed` ones.
    pub fn sharded(&self) -> bool {
        self.shards.len() > 1
    }

    /// The shard that stores `trace` (its last 8 bytes as a little-endian
    /// integer, modulo the shards: what the `Distributed` tables' sharding
    /// key `reinterpretAsUInt64(substring(trace_id, 9, 8))` computes).
    pub fn shard_of(&self, trace: &[u8; 16]) -> usize {
        let mut low = [0u8; 8];
        low.copy_from_slice(&trace[8..]);
        (u64::from_le_bytes(low) % self.shards.len() as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<ClickHouseConfig, BadUrl> {
        ClickHouseConfig::parse(url, PathBuf::from("/tmp/x"))
    }

    #[test]
    fn urls_name_shards_database_and_cluster() {
        let c = parse("clickhouse://127.0.0.1:8123/osprey").unwrap();
        assert_eq!(c.shards, ["http://127.0.0.1:8123"]);
        assert_eq!((c.database.as_str(), c.sharded()), ("osprey", false));
        let c = parse("clickhouse://a:1,b:2/db?cluster=two&user=w&timeout_ms=500").unwrap();
        assert_eq!(c.shards, ["http://a:1", "http://b:2"]);
        assert_eq!(c.cluster.as_deref(), Some("two"));
        assert_eq!(c.user.as_deref(), Some("w"));
        assert_eq!(c.timeout, Duration::from_millis(500));
        let mut t = [0u8; 16];
        t[8] = 3;
        assert_eq!(c.shard_of(&t), 1);
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("http://a:1/db", "clickhouse://"),
            ("clickhouse://a:1", "no /database"),
            ("clickhouse://a:1/d-b", "database name"),
            ("clickhouse://a/db", "host:port"),
            ("clickhouse://u:p@a:1/db", "host:port"),
            ("clickhouse://a:1,b:2/db", "cluster="),
            (
                "clickhouse://a:1/db?password=x",
                "OSPREY_CLICKHOUSE_PASSWORD",
            ),
            ("clickhouse://a:1/db?cluster=x;drop", "unknown or invalid"),
        ] {
            let e = parse(url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
        }
    }
}
