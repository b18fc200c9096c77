//! The tables, their DDL and the migrations (`osprey storage migrate`).
//!
//! Written for ClickHouse 18.16 (Debian's package) and current releases
//! alike: plain `MergeTree` with a `Date` column `day` as the partition
//! key (retention drops whole day partitions, which every version can;
//! `TTL` needs 19.6), no `LowCardinality`, `DateTime64` or skip indexes,
//! times as `UInt64` ns. Each table:
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

use super::config::ClickHouseConfig;
use super::{ChError, Transport};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

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

/// The statements that create the schema on one shard (every statement is
/// idempotent: `IF NOT EXISTS`).
pub fn ddl(cfg: &ClickHouseConfig) -> Vec<String> {
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

/// The table rows are written to on a shard: `<name>_local` when sharded.
pub fn local_name(cfg: &ClickHouseConfig, name: &str) -> String {
    if cfg.sharded() {
        format!("{name}_local")
    } else {
        name.to_owned()
    }
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

/// Brings every shard to [`SCHEMA_VERSION`]; a shard with a newer
/// version (written by a newer Osprey) is refused.
pub fn migrate(http: &dyn Transport, cfg: &ClickHouseConfig) -> Result<Vec<Migrated>, ChError> {
    let mut out = Vec::new();
    for shard in &cfg.shards {
        let from = version(http, cfg, shard)?;
        if from > SCHEMA_VERSION {
            return Err(ChError::Schema(format!(
                "{shard} has schema version {from}; this osprey knows up to {SCHEMA_VERSION}"
            )));
        }
        if from < SCHEMA_VERSION {
            for stmt in ddl(cfg) {
                http.query(shard, None, &stmt, &[])?;
            }
            http.query(
                shard,
                None,
                &format!(
                    "INSERT INTO {}.osprey_schema VALUES ({SCHEMA_VERSION}, {})",
                    cfg.database,
                    crate::time::now_ms()
                ),
                &[],
            )?;
        }
        out.push(Migrated {
            shard: shard.clone(),
            from,
            to: SCHEMA_VERSION,
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
