//! The tables, their DDL and the migrations (`osprey storage migrate`).
//!
//! Written for ClickHouse 18.16 (Debian's package) and current releases
//! alike: plain `MergeTree` with a `Date` column `day` as the partition
//! key, no `DateTime64` or skip indexes, times as `UInt64` ns. Retention:
//! on servers from 19.6 ([`ServerCaps::modern`]) a table `TTL` that
//! expires whole days ([`sync_ttl`], with `ttl_only_drop_parts` where the
//! server has it); on older ones `osprey serve` drops the old day
//! partitions. Columns added later ([`ADDED`]) are `LowCardinality` where
//! the server is modern. Each table (version 1; [`ADDED`] lists the rest):
//!
//! | table          | one row per                          | order by                      |
//! |----------------|--------------------------------------|-------------------------------|
//! | `transactions` | transaction (root span) summary      | service, endpoint, start_ns   |
//! | `spans`        | span (attributes and exceptions JSON) | service, name, start_ns      |
//! | `trace_index`  | trace per insert: days and span starts | trace_id                    |
//! | `txn_index`    | transaction id → trace and day       | span_id                       |
//! | `seconds`      | second per insert: mergeable stats   | second                        |
//! | `calls`        | CLIENT span (a server-map call)      | caller, end_ns                |
//! | `metrics`      | metric point                         | service, name, attributes, time_ns |
//! | `active`       | active-services report               | service, received_ms          |
//!
//! With several shards each is `<name>_local` on every shard, and `<name>`
//! is a `Distributed` table over them, sharded by trace id where the
//! table has one (what [`ClickHouseConfig::shard_of`] computes).
//! `osprey_schema` (never distributed) records the applied versions.
//!
//! Versions: 1 is [`ddl_v1`]; 2 adds `metrics.instance` and `metrics.host` (at the end of
//! the table) and the TTL. [`migrate`] runs the steps from a shard's
//! version to [`SCHEMA_VERSION`] in order, so a new install runs the
//! same statements as an upgrade.

use super::config::ClickHouseConfig;
use super::{ChError, Transport};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 2;

/// Every data table, with its columns, key and sharding key.
pub const TABLES: &[Table] = &[
    Table {
        name: "transactions",
        columns: "day Date, seq UInt64, trace_id FixedString(16), span_id FixedString(8), \
                  parent Nullable(FixedString(8)), service String, endpoint String, \
                  start_ns UInt64, end_ns UInt64, elapsed_ns UInt64, error UInt8, \
                  client_ip Nullable(String), user_id Nullable(String), http_status UInt16, \
                  thread UInt64, instance Nullable(String), tree_omitted UInt8, \
                  host String, pid Int64, has_pid UInt8",
        order_by: "service, endpoint, start_ns",
        shard_by: TRACE_KEY,
    },
    Table {
        name: "spans",
        columns: "day Date, trace_id FixedString(16), span_id FixedString(8), \
                  parent Nullable(FixedString(8)), service String, name String, kind UInt8, \
                  flags UInt64, start_ns UInt64, end_ns UInt64, error UInt8, \
                  status_message String, attributes String, exceptions String",
        order_by: "service, name, start_ns",
        shard_by: TRACE_KEY,
    },
    Table {
        name: "trace_index",
        columns: "day Date, trace_id FixedString(16), start_min UInt64, start_max UInt64",
        order_by: "trace_id",
        shard_by: TRACE_KEY,
    },
    Table {
        name: "txn_index",
        columns: "day Date, span_id FixedString(8), trace_id FixedString(16)",
        order_by: "span_id",
        shard_by: TRACE_KEY,
    },
    Table {
        name: "seconds",
        columns: "day Date, second UInt64, count UInt64, errors UInt64, elapsed_sum_ns UInt64, \
                  elapsed_max_ns UInt64, state String",
        order_by: "second",
        shard_by: "rand()",
    },
    Table {
        name: "calls",
        columns: "day Date, end_ns UInt64, trace_id FixedString(16), span_id FixedString(8), \
                  caller String, target String, kind UInt8, elapsed_ns UInt64, error UInt8",
        order_by: "caller, end_ns",
        shard_by: TRACE_KEY,
    },
    Table {
        name: "metrics",
        columns: "day Date, service String, name String, unit String, kind UInt8, \
                  attributes String, time_ns UInt64, value Float64, count UInt64",
        order_by: "service, name, attributes, time_ns",
        shard_by: "rand()",
    },
    Table {
        name: "active",
        columns: "day Date, service String, received_ms UInt64, report String",
        order_by: "service, received_ms",
        shard_by: "rand()",
    },
];

const TRACE_KEY: &str = "reinterpretAsUInt64(substring(trace_id, 9, 8))";

/// One data table.
pub struct Table {
    /// Name (of the `Distributed` table when sharded).
    pub name: &'static str,
    /// Column definitions.
    pub columns: &'static str,
    /// The `ORDER BY` key.
    pub order_by: &'static str,
    /// The `Distributed` sharding expression.
    pub shard_by: &'static str,
}

/// The statements that create version 1 of the schema on one shard
/// (every statement is idempotent: `IF NOT EXISTS`). Later versions are
/// reached from it by [`migrate`]'s steps, so a new install and an
/// upgraded one run the same statements and end up alike.
pub fn ddl_v1(cfg: &ClickHouseConfig) -> Vec<String> {
    let db = &cfg.database;
    let mut out = vec![
        format!("CREATE DATABASE IF NOT EXISTS {db}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.osprey_schema (version UInt32, applied_ms UInt64) \
             ENGINE = MergeTree ORDER BY version"
        ),
    ];
    for t in TABLES {
        let local = local_name(cfg, t.name);
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {db}.{local} ({}) ENGINE = MergeTree \
             PARTITION BY day ORDER BY ({})",
            t.columns, t.order_by
        ));
        if let Some(cluster) = cfg.cluster.as_deref().filter(|_| cfg.sharded()) {
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {db}.{} AS {db}.{local} \
                 ENGINE = Distributed({cluster}, {db}, {local}, {})",
                t.name, t.shard_by
            ));
        }
    }
    out
}

/// The columns of `table` as this build writes them (`RowBinary`, in
/// order): version 1's, then those [`ADDED`] since, with their types on
/// an old server (`LowCardinality(String)` is `String` on the wire).
pub fn structure(table: &str) -> Option<String> {
    let t = TABLES.iter().find(|t| t.name == table)?;
    let mut s = t.columns.to_owned();
    for a in ADDED.iter().filter(|a| a.table == table) {
        s.push_str(&format!(", {} {}", a.column, a.old_type));
    }
    Some(s)
}

/// The table rows are written to on a shard: `<name>_local` when sharded.
pub fn local_name(cfg: &ClickHouseConfig, name: &str) -> String {
    if cfg.sharded() {
        format!("{name}_local")
    } else {
        name.to_owned()
    }
}

/// A column added after version 1, at the end of its table.
pub struct Added {
    /// The schema version that adds it.
    pub version: u32,
    /// Its table (the local one, and the `Distributed` one when sharded).
    pub table: &'static str,
    /// Its name.
    pub column: &'static str,
    /// Its type on servers older than [`ServerCaps::modern`].
    pub old_type: &'static str,
    /// Its type on newer servers (the same bytes in `RowBinary`).
    pub new_type: &'static str,
    /// What rows written before it hold.
    pub default: &'static str,
}

/// Columns added since version 1, oldest first. Rows are encoded with
/// them ([`super::rows`]), so a build that knows a column needs a schema
/// that has it (what [`check`] verifies at start-up).
pub const ADDED: &[Added] = &[
    Added {
        version: 2,
        table: "metrics",
        column: "instance",
        old_type: "String",
        new_type: "LowCardinality(String)",
        default: "''",
    },
    Added {
        version: 2,
        table: "metrics",
        column: "host",
        old_type: "String",
        new_type: "LowCardinality(String)",
        default: "''",
    },
];

/// What a ClickHouse server can do, from `SELECT version()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCaps {
    /// `major.minor` of the server.
    pub version: (u32, u32),
    /// 19.6 or newer: table `TTL` (and `ALTER … MODIFY TTL`), and
    /// `LowCardinality` out of its experimental stage.
    pub modern: bool,
    /// The server has the MergeTree setting `ttl_only_drop_parts` (a TTL
    /// then drops whole expired parts — here whole days — instead of
    /// rewriting them).
    pub drop_parts_only: bool,
}

/// The first `major.minor` with table TTL.
pub const TTL_SINCE: (u32, u32) = (19, 6);

/// Parses `major.minor[...]` of a `version()` answer.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut it = v.trim().split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Asks `shard` what it can do.
pub fn caps(http: &dyn Transport, shard: &str) -> Result<ServerCaps, ChError> {
    let v = http.query(shard, None, "SELECT version() FORMAT TSV", &[])?;
    let v = String::from_utf8_lossy(&v);
    let version = parse_version(&v)
        .ok_or_else(|| ChError::Decode(format!("version() answered {:?}", v.trim())))?;
    let modern = version >= TTL_SINCE;
    let drop_parts_only = modern && {
        let n = http.query(
            shard,
            None,
            "SELECT count() FROM system.merge_tree_settings \
             WHERE name = 'ttl_only_drop_parts' FORMAT TSV",
            &[],
        )?;
        String::from_utf8_lossy(&n).trim() == "1"
    };
    Ok(ServerCaps {
        version,
        modern,
        drop_parts_only,
    })
}

/// The table TTL that keeps `max_age` of data: a day's rows expire once
/// the whole day is older than `max_age` (what the partition drop of old
/// servers does too).
pub fn ttl_expr(max_age: std::time::Duration) -> String {
    format!(
        "toDateTime(day, 'UTC') + toIntervalSecond({})",
        max_age.as_secs() + 86_400
    )
}

/// On a server with table TTL, sets every day-partitioned table's TTL to
/// `cfg.max_age` (and, where the server has it, `ttl_only_drop_parts`),
/// altering only the tables whose definition says otherwise. Returns the
/// number of statements run. Changing the TTL makes current servers
/// recompute it for the parts on disk (a background mutation).
pub fn sync_ttl(
    http: &dyn Transport,
    cfg: &ClickHouseConfig,
    shard: &str,
    caps: &ServerCaps,
) -> Result<usize, ChError> {
    if !caps.modern {
        return Ok(0);
    }
    let db = &cfg.database;
    let want = ttl_expr(cfg.max_age);
    let number = format!("toIntervalSecond({})", cfg.max_age.as_secs() + 86_400);
    let names: Vec<String> = TABLES
        .iter()
        .map(|t| super::query::lit(&local_name(cfg, t.name)))
        .collect();
    let b = http.query(
        shard,
        None,
        &format!(
            "SELECT name, engine_full FROM system.tables WHERE database = {} AND name IN ({}) \
             FORMAT RowBinary",
            super::query::lit(db),
            names.join(", ")
        ),
        &[],
    )?;
    let tables = super::query::read_all(&b, |r| Ok((r.string()?, r.string()?)))?;
    let mut ran = 0;
    for (name, engine) in tables {
        // The server prints the TTL back in its own words:
        // `TTL toDateTime(day, 'UTC') + toIntervalSecond(N)`.
        let ttl = engine
            .split_once(" TTL ")
            .map(|(_, t)| t.split(" SETTINGS ").next().unwrap_or(t))
            .unwrap_or("");
        if !(ttl.contains("toDateTime(day") && ttl.contains(&number)) {
            http.query(
                shard,
                None,
                &format!("ALTER TABLE {db}.{name} MODIFY TTL {want}"),
                &[],
            )?;
            ran += 1;
        }
        if caps.drop_parts_only && !engine.contains("ttl_only_drop_parts = 1") {
            http.query(
                shard,
                None,
                &format!("ALTER TABLE {db}.{name} MODIFY SETTING ttl_only_drop_parts = 1"),
                &[],
            )?;
            ran += 1;
        }
    }
    Ok(ran)
}

/// The columns `database.table` has on `shard`.
fn columns(
    http: &dyn Transport,
    shard: &str,
    database: &str,
    table: &str,
) -> Result<Vec<String>, ChError> {
    let lit = super::query::lit;
    let b = http.query(
        shard,
        None,
        &format!(
            "SELECT name FROM system.columns WHERE database = {} AND table = {} \
             FORMAT RowBinary",
            lit(database),
            lit(table)
        ),
        &[],
    )?;
    super::query::read_all(&b, |r| r.string())
}

/// Version `from` → `from + 1` on `shard`; each statement is skipped when
/// already done, so a step interrupted halfway is run again safely.
fn step(
    http: &dyn Transport,
    cfg: &ClickHouseConfig,
    shard: &str,
    caps: &ServerCaps,
    to: u32,
) -> Result<(), ChError> {
    let db = &cfg.database;
    if to == 1 {
        for stmt in ddl_v1(cfg) {
            http.query(shard, None, &stmt, &[])?;
        }
        return Ok(());
    }
    for a in ADDED.iter().filter(|a| a.version == to) {
        let ty = if caps.modern { a.new_type } else { a.old_type };
        let mut tables = vec![local_name(cfg, a.table)];
        if cfg.sharded() {
            // The Distributed table after its local table.
            tables.push(a.table.to_owned());
        }
        for t in tables {
            if !columns(http, shard, db, &t)?.iter().any(|c| c == a.column) {
                http.query(
                    shard,
                    None,
                    &format!(
                        "ALTER TABLE {db}.{t} ADD COLUMN {} {ty} DEFAULT {}",
                        a.column, a.default
                    ),
                    &[],
                )?;
            }
        }
    }
    Ok(())
}

/// What [`migrate`] did on each shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The shard's URL.
    pub shard: String,
    /// Its version before.
    pub from: u32,
    /// Its version now.
    pub to: u32,
    /// Its server's `major.minor`.
    pub server: (u32, u32),
    /// True when the retention is a table TTL there (else `osprey serve`
    /// drops old day partitions).
    pub ttl: bool,
}

/// The schema version on `shard` (0 when none).
pub fn version(http: &dyn Transport, cfg: &ClickHouseConfig, shard: &str) -> Result<u32, ChError> {
    let db = &cfg.database;
    let exists = http.query(
        shard,
        None,
        &format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND name = 'osprey_schema'"
        ),
        &[],
    )?;
    if String::from_utf8_lossy(&exists).trim() == "0" {
        return Ok(0);
    }
    let v = http.query(
        shard,
        None,
        &format!("SELECT max(version) FROM {db}.osprey_schema"),
        &[],
    )?;
    String::from_utf8_lossy(&v)
        .trim()
        .parse()
        .map_err(|_| ChError::Decode("osprey_schema.version is not a number".into()))
}

fn newer(shard: &str, found: u32) -> ChError {
    ChError::Schema(format!(
        "{shard} has schema version {found}, written by a newer osprey; this one knows up to \
         {SCHEMA_VERSION}: run the newer osprey (a schema is never downgraded)"
    ))
}

/// Brings every shard to [`SCHEMA_VERSION`], one version at a time (each
/// recorded in `osprey_schema` once done), and sets the retention TTL on
/// servers that have it. Nothing is changed anywhere when a shard holds
/// a newer version than this build knows.
pub fn migrate(http: &dyn Transport, cfg: &ClickHouseConfig) -> Result<Vec<Migrated>, ChError> {
    let mut found = Vec::new();
    for shard in &cfg.shards {
        let from = version(http, cfg, shard)?;
        if from > SCHEMA_VERSION {
            return Err(newer(shard, from));
        }
        found.push((shard, from, caps(http, shard)?));
    }
    let mut out = Vec::new();
    for (shard, from, caps) in found {
        for to in from + 1..=SCHEMA_VERSION {
            step(http, cfg, shard, &caps, to)?;
            http.query(
                shard,
                None,
                &format!(
                    "INSERT INTO {}.osprey_schema VALUES ({to}, {})",
                    cfg.database,
                    crate::time::now_ms()
                ),
                &[],
            )?;
        }
        sync_ttl(http, cfg, shard, &caps)?;
        out.push(Migrated {
            shard: shard.clone(),
            from,
            to: SCHEMA_VERSION,
            server: caps.version,
            ttl: caps.modern,
        });
    }
    Ok(out)
}

/// Checks that every shard reachable now has [`SCHEMA_VERSION`]; names
/// the command that fixes it otherwise.
pub fn check(http: &dyn Transport, cfg: &ClickHouseConfig) -> Result<(), ChError> {
    for shard in &cfg.shards {
        match version(http, cfg, shard) {
            Ok(v) if v == SCHEMA_VERSION => {}
            Ok(v) if v > SCHEMA_VERSION => return Err(newer(shard, v)),
            Ok(v) => {
                return Err(ChError::Schema(format!(
                    "{shard}: schema version {v}, this osprey needs {SCHEMA_VERSION}: \
                     run `osprey storage migrate --storage <url>`"
                )));
            }
            // Down now: buffered until it is back.
            Err(ChError::Unreachable(m)) => eprintln!("osprey: clickhouse: {m}"),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_ttl_expressions() {
        assert_eq!(parse_version("18.16.1\n"), Some((18, 16)));
        assert_eq!(parse_version("26.9.2.1"), Some((26, 9)));
        assert_eq!(parse_version("x"), None);
        assert!((18, 16) < TTL_SINCE && (19, 6) >= TTL_SINCE && (26, 9) >= TTL_SINCE);
        assert_eq!(
            ttl_expr(std::time::Duration::from_secs(2 * 86_400)),
            "toDateTime(day, 'UTC') + toIntervalSecond(259200)"
        );
        assert_eq!(
            structure("metrics").unwrap(),
            format!("{}, instance String, host String", TABLES[6].columns)
        );
    }
}
