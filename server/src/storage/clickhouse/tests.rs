//! The backend's DDL, inserts and queries on a current ClickHouse engine:
//! chdb (PyPI `chdb-core`, ClickHouse embedded in Python), driven through
//! `server/tests/python/chdb_bridge.py` as a [`Transport`]. The storage
//! contract's queries ([`crate::storage::tests::queries`]) run on it
//! unchanged; retention is the tables' TTL there (set from the retention
//! age, changed with it, expired days gone after a merge); a version 1
//! schema holding data is upgraded to version 2 and its data still
//! answers. The same statements on clickhouse-server 18.16 (partition
//! drops instead of TTL) are tested by `server/tests/clickhouse.rs`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::*;
use crate::record::Kind;
use crate::storage::tests::{MS, S, gauge, queries, request, span};
use crate::storage::{ActiveTxn, SeriesQuery, Storage};
use schema::SCHEMA_VERSION;

/// A chdb session in a Python process.
struct Chdb {
    child: Mutex<(Child, ChildStdin, BufReader<ChildStdout>)>,
}

impl Chdb {
    fn start(dir: &std::path::Path) -> Self {
        Self::start_with(dir, None)
    }

    /// A session reading the server configuration `config`.
    fn start_with(dir: &std::path::Path, config: Option<&std::path::Path>) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/chdb_bridge.py");
        let ok = Command::new("python3")
            .args(["-c", "import chdb"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "python3 with chdb is needed (pip install chdb-core; .ci/run installs it)"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir)
            .args(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child: Mutex::new((child, stdin, stdout)),
        }
    }

    fn call(&self, req: Value) -> Result<Vec<u8>, ChError> {
        let mut c = self.child.lock();
        let (_, stdin, stdout) = &mut *c;
        writeln!(stdin, "{req}").map_err(|e| ChError::Unreachable(e.to_string()))?;
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| ChError::Unreachable(e.to_string()))?;
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| ChError::Unreachable(format!("bridge said {line:?}: {e}")))?;
        if v["ok"] != true {
            return Err(ChError::Server(
                v["error"].as_str().unwrap_or("").to_owned(),
            ));
        }
        let hex = v["data"].as_str().unwrap_or("");
        Ok((0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect())
    }
}

impl Drop for Chdb {
    fn drop(&mut self) {
        let c = self.child.get_mut();
        let _ = c.0.kill();
        let _ = c.0.wait();
    }
}

/// One chdb session for several backends (a restart with other settings).
#[derive(Clone)]
struct Shared(Arc<Chdb>);

impl Transport for Shared {
    fn query(
        &self,
        shard: &str,
        database: Option<&str>,
        sql: &str,
        settings: &[(&str, &str)],
    ) -> Result<Vec<u8>, ChError> {
        self.0.query(shard, database, sql, settings)
    }

    fn insert(&self, shard: &str, database: &str, table: &str, rows: &[u8]) -> Result<(), ChError> {
        self.0.insert(shard, database, table, rows)
    }
}

impl Chdb {
    /// `sql`'s answer as text.
    fn text(&self, sql: &str) -> String {
        let b = self
            .query("", None, sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        String::from_utf8(b).unwrap()
    }
}

impl Transport for Chdb {
    fn query(
        &self,
        _shard: &str,
        database: Option<&str>,
        sql: &str,
        _settings: &[(&str, &str)],
    ) -> Result<Vec<u8>, ChError> {
        self.call(json!({ "op": "query", "db": database, "sql": sql }))
    }

    fn insert(
        &self,
        _shard: &str,
        database: &str,
        table: &str,
        rows: &[u8],
    ) -> Result<(), ChError> {
        let structure = schema::structure(table.trim_end_matches("_local"))
            .ok_or_else(|| ChError::Schema(format!("no table {table}")))?;
        let hex: String = rows.iter().map(|b| format!("{b:02x}")).collect();
        self.call(json!({
            "op": "insert", "db": database, "table": table,
            "structure": structure, "rows": hex,
        }))
        .map(|_| ())
    }
}

#[test]
fn the_storage_contract_and_retention_hold_on_current_clickhouse_through_chdb() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg =
        ClickHouseConfig::parse("clickhouse://chdb:1/osprey", dir.path().join("buffer")).unwrap();
    cfg.max_age = Duration::from_secs(10 * 86_400);
    let chdb = Chdb::start(&dir.path().join("chdb"));
    let version = chdb
        .query("", None, "SELECT version() FORMAT TSV", &[])
        .unwrap();
    eprintln!(
        "chdb ClickHouse {}",
        String::from_utf8_lossy(&version).trim()
    );
    assert!(
        matches!(
            ClickHouseStorage::with_transport(cfg.clone(), Box::new(Chdb::start(&dir.path().join("empty")))),
            Err(ChError::Schema(m)) if m.contains("osprey storage migrate")
        ),
        "no schema yet: refused with the command that makes it"
    );
    let done = schema::migrate(&chdb, &cfg).unwrap();
    assert_eq!((done[0].from, done[0].to), (0, SCHEMA_VERSION));
    assert!(done[0].ttl, "{:?}", done[0]);
    let again = schema::migrate(&chdb, &cfg).unwrap();
    assert_eq!(
        (again[0].from, again[0].to),
        (SCHEMA_VERSION, SCHEMA_VERSION)
    );
    // Created by the same steps as an upgrade: version 1, then 2.
    assert_eq!(
        chdb.text("SELECT version FROM osprey.osprey_schema ORDER BY version FORMAT TSV"),
        "1\n2\n"
    );
    let create = chdb.text("SHOW CREATE TABLE osprey.spans FORMAT TSVRaw");
    assert!(
        create.contains("TTL toDateTime(day, 'UTC') + toIntervalSecond(950400)")
            && create.contains("ttl_only_drop_parts = 1"),
        "ten days and the day itself: {create}"
    );

    let chdb = Shared(Arc::new(chdb));
    let backend = ClickHouseStorage::with_transport(cfg.clone(), Box::new(chdb.clone())).unwrap();
    let s: &dyn Storage = &backend;
    assert_eq!(s.backend(), "clickhouse");
    let second = crate::time::now_ms() / 1_000 - 10;
    let ack = s
        .append(IngestBatch {
            spans: request(second),
            metrics: vec![gauge(second * S, 12.0)],
        })
        .unwrap();
    assert_eq!((ack.spans, ack.metric_points), (3, 1));
    queries(s, second);

    let report = ActiveReport {
        service: "shop".into(),
        received_ms: second * 1_000 + 7,
        transactions: vec![ActiveTxn {
            endpoint: "GET /x".into(),
            elapsed_ms: 1.0,
            thread: String::new(),
            trace_id: None,
            stack: None,
        }],
    };
    s.report_active(report.clone()).unwrap();
    assert_eq!(s.active().unwrap(), vec![report.clone()]);
    assert_eq!(s.active_at(second).unwrap(), vec![report]);
    assert!(s.active_at(second + 60).unwrap().is_empty());

    // Three days old: inside ten days.
    let old = span(
        7,
        7,
        None,
        Kind::Server,
        "GET /old",
        (second - 3 * 86_400) * S,
    );
    s.append(IngestBatch {
        spans: vec![old],
        metrics: Vec::new(),
    })
    .unwrap();
    let all = |s: &dyn Storage| {
        s.transactions(&TxnFilter::default(), 10)
            .unwrap()
            .transactions
            .len()
    };
    assert_eq!(all(s), 3);
    let kept = s.apply_retention(crate::time::now_ms()).unwrap();
    assert_eq!(kept.partitions_removed, 0);
    assert_eq!(all(s), 3);
    drop(backend);

    // Restarted with two days: the TTL follows, the server removes the
    // old day itself (at its next merge; forced here), nothing is dropped
    // by osprey.
    let old_rows = |c: &Shared| {
        let t = bytes_lit(&[7; 16]);
        ["transactions", "spans", "trace_index", "txn_index"]
            .map(|table| {
                c.0.text(&format!(
                    "SELECT count() FROM osprey.{table} WHERE trace_id = {t} FORMAT TSV"
                ))
                .trim()
                .parse::<u64>()
                .unwrap()
            })
            .iter()
            .sum::<u64>()
    };
    assert_eq!(
        old_rows(&chdb),
        4,
        "a transaction, its span and both lookups"
    );
    cfg.max_age = Duration::from_secs(2 * 86_400);
    let backend = ClickHouseStorage::with_transport(cfg, Box::new(chdb.clone())).unwrap();
    let s: &dyn Storage = &backend;
    let removed = s.apply_retention(crate::time::now_ms()).unwrap();
    assert_eq!(removed.partitions_removed, 0, "the TTL removes them");
    assert_eq!(all(s), 2, "hidden at once");
    for t in schema::TABLES {
        let create = chdb.0.text(&format!(
            "SHOW CREATE TABLE osprey.{} FORMAT TSVRaw",
            t.name
        ));
        assert!(
            create.contains("TTL toDateTime(day, 'UTC') + toIntervalSecond(259200)"),
            "{create}"
        );
        chdb.0
            .text(&format!("OPTIMIZE TABLE osprey.{} FINAL", t.name));
    }
    assert_eq!(old_rows(&chdb), 0, "expired rows are gone from disk");
    assert!(s.trace_spans(TraceId([7; 16])).unwrap().is_empty());
    assert!(s.transaction(SpanId([7; 8])).unwrap().is_none());
    queries(s, second);
    let st = s.status();
    assert_eq!(st.index.transactions, 2);
    assert!(st.issues.is_empty(), "{:?}", st.issues);
    let _ = MS;
}

#[test]
fn a_version_1_schema_with_data_is_upgraded_and_its_data_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        ClickHouseConfig::parse("clickhouse://chdb:1/osprey", dir.path().join("buffer")).unwrap();
    let chdb = Shared(Arc::new(Chdb::start(&dir.path().join("chdb"))));
    // What the version 1 build created and wrote.
    for stmt in schema::ddl_v1(&cfg) {
        chdb.0.text(&stmt);
    }
    chdb.0
        .text("INSERT INTO osprey.osprey_schema VALUES (1, 0)");
    let second = crate::time::now_ms() / 1_000 - 10;
    let batch = IngestBatch {
        spans: request(second),
        metrics: Vec::new(),
    };
    // Version 2 changed no table but `metrics`: these rows are version 1's.
    let (inserts, _) = rows::encode(&cfg, &batch, 1 << 40, 0);
    for (table, rows) in &inserts[0].tables {
        chdb.insert("", "osprey", table, rows).unwrap();
    }
    let p = gauge(second * S, 12.0);
    chdb.0.text(&format!(
        "INSERT INTO osprey.metrics VALUES ({}, 'shop', 'jvm.threads', '{{thread}}', {}, '', {}, 12, 0)",
        date_of(p.time_ns),
        p.kind.code(),
        p.time_ns
    ));
    assert!(
        matches!(
            ClickHouseStorage::with_transport(cfg.clone(), Box::new(chdb.clone())),
            Err(ChError::Schema(m)) if m.contains("schema version 1") && m.contains("osprey storage migrate")
        ),
        "a version 1 schema: refused with the command that upgrades it"
    );

    let done = schema::migrate(&chdb, &cfg).unwrap();
    assert_eq!((done[0].from, done[0].to), (1, 2));
    assert_eq!(schema::version(&chdb, &cfg, "").unwrap(), 2);
    let create = chdb
        .0
        .text("SHOW CREATE TABLE osprey.metrics FORMAT TSVRaw");
    assert!(
        create.contains(
            "`count` UInt64,\n    `instance` LowCardinality(String) DEFAULT '',\n    `host` LowCardinality(String) DEFAULT ''\n)"
        )
            && create.contains("TTL toDateTime(day, 'UTC')"),
        "the column at the end, and the TTL: {create}"
    );
    let again = schema::migrate(&chdb, &cfg).unwrap();
    assert_eq!((again[0].from, again[0].to), (2, 2));
    assert_eq!(
        chdb.0
            .text("SELECT version FROM osprey.osprey_schema ORDER BY version FORMAT TSV"),
        "1\n2\n",
        "a second run changes nothing"
    );
    assert_eq!(
        chdb.0
            .text("SHOW CREATE TABLE osprey.metrics FORMAT TSVRaw"),
        create
    );

    let backend = ClickHouseStorage::with_transport(cfg.clone(), Box::new(chdb.clone())).unwrap();
    let s: &dyn Storage = &backend;
    // Every query answers the version 1 rows as before.
    queries(s, second);
    s.append(IngestBatch {
        spans: Vec::new(),
        metrics: vec![gauge(second * S + 500 * MS, 13.0)],
    })
    .unwrap();
    assert_eq!(
        chdb.0
            .text("SELECT value, instance = '' FROM osprey.metrics ORDER BY time_ns FORMAT TSV"),
        "12\t1\n13\t1\n",
        "the old row has the default, the new one came with the column"
    );
    let series = s
        .series(&SeriesQuery {
            service: Some("shop".into()),
            ..SeriesQuery::default()
        })
        .unwrap();
    assert_eq!(series[0].points.len(), 2, "{series:?}");
    drop(backend);

    // A schema written by a newer osprey: refused by both, untouched.
    chdb.0
        .text("INSERT INTO osprey.osprey_schema VALUES (3, 0)");
    for e in [
        schema::migrate(&chdb, &cfg).unwrap_err(),
        ClickHouseStorage::with_transport(cfg.clone(), Box::new(chdb.clone()))
            .err()
            .unwrap(),
    ] {
        let m = e.to_string();
        assert!(
            m.contains("schema version 3")
                && m.contains("newer osprey")
                && m.contains("knows up to 2"),
            "{m}"
        );
    }
    assert_eq!(schema::version(&chdb, &cfg, "").unwrap(), 3);
    assert_eq!(
        chdb.0
            .text("SHOW CREATE TABLE osprey.metrics FORMAT TSVRaw"),
        create
    );
}

#[test]
fn distributed_tables_on_current_clickhouse_answer_the_storage_contract() {
    // chdb serves no network port, so its cluster has one shard: itself
    // (the replica at its own `tcp_port` is local). Osprey's two shards
    // both reach that engine; the reads go through the `Distributed`
    // tables, the writes to the `_local` ones, as on a cluster.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cluster.xml");
    std::fs::write(
        &config,
        "<clickhouse><tcp_port>9000</tcp_port><remote_servers><osprey><shard><replica>\
         <host>127.0.0.1</host><port>9000</port></replica></shard></osprey></remote_servers>\
         </clickhouse>",
    )
    .unwrap();
    let mut cfg = ClickHouseConfig::parse(
        "clickhouse://chdb:1,chdb:2/osprey?cluster=osprey",
        dir.path().join("buffer"),
    )
    .unwrap();
    cfg.max_age = Duration::from_secs(10 * 86_400);
    let chdb = Shared(Arc::new(Chdb::start_with(
        &dir.path().join("chdb"),
        Some(&config),
    )));
    assert_eq!(
        chdb.0.text(
            "SELECT cluster, is_local FROM system.clusters WHERE cluster = 'osprey' FORMAT TSV"
        ),
        "osprey\t1\n"
    );
    let done = schema::migrate(&chdb, &cfg).unwrap();
    assert!(done.iter().all(|m| m.to == 2 && m.ttl), "{done:?}");
    for t in schema::TABLES {
        let create = chdb.0.text(&format!(
            "SHOW CREATE TABLE osprey.{} FORMAT TSVRaw",
            t.name
        ));
        assert!(
            create.contains(&format!(
                "ENGINE = Distributed('osprey', 'osprey', '{}_local', {})",
                t.name, t.shard_by
            )),
            "{create}"
        );
        let local = chdb.0.text(&format!(
            "SHOW CREATE TABLE osprey.{}_local FORMAT TSVRaw",
            t.name
        ));
        assert!(local.contains("TTL toDateTime(day, 'UTC')"), "{local}");
    }
    let metrics = chdb
        .0
        .text("SHOW CREATE TABLE osprey.metrics FORMAT TSVRaw");
    assert!(
        metrics.contains("`instance` LowCardinality(String) DEFAULT ''"),
        "{metrics}"
    );

    let backend = ClickHouseStorage::with_transport(cfg, Box::new(chdb.clone())).unwrap();
    let s: &dyn Storage = &backend;
    let second = crate::time::now_ms() / 1_000 - 10;
    s.append(IngestBatch {
        spans: request(second),
        metrics: vec![gauge(second * S, 12.0)],
    })
    .unwrap();
    queries(s, second);
    assert_eq!(
        s.apply_retention(crate::time::now_ms())
            .unwrap()
            .partitions_removed,
        0
    );
    assert!(s.status().issues.is_empty());
}
