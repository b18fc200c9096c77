//! The backend's DDL, inserts and queries on a current ClickHouse engine:
//! chdb (PyPI `chdb-core`, ClickHouse embedded in Python), driven through
//! `server/tests/python/chdb_bridge.py` as a [`Transport`]. The storage
//! contract's queries ([`crate::storage::tests::queries`]) run on it
//! unchanged, then retention drops the old day partitions. The same
//! statements on clickhouse-server 18.16 are tested by
//! `server/tests/clickhouse.rs`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::*;
use crate::record::Kind;
use crate::storage::tests::{MS, S, gauge, queries, request, span};
use crate::storage::{ActiveTxn, Storage};

/// A chdb session in a Python process.
struct Chdb {
    child: Mutex<(Child, ChildStdin, BufReader<ChildStdout>)>,
}

impl Chdb {
    fn start(dir: &std::path::Path) -> Self {
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
        let structure = schema::TABLES
            .iter()
            .find(|t| t.name == table.trim_end_matches("_local"))
            .map(|t| t.columns)
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
    cfg.max_age = Duration::from_secs(2 * 86_400);
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
    assert_eq!((done[0].from, done[0].to), (0, SCHEMA_VERSION_FOR_TESTS));
    assert_eq!(
        schema::migrate(&chdb, &cfg).unwrap()[0].from,
        1,
        "idempotent"
    );

    let backend = ClickHouseStorage::with_transport(cfg, Box::new(chdb)).unwrap();
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

    // Three days old: its day partitions are dropped.
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
    let removed = s.apply_retention(crate::time::now_ms()).unwrap();
    assert!(
        removed.partitions_removed >= 4,
        "transactions, spans and both lookups of that day: {removed:?}"
    );
    assert_eq!(all(s), 2);
    assert!(s.trace_spans(TraceId([7; 16])).unwrap().is_empty());
    assert!(s.transaction(SpanId([7; 8])).unwrap().is_none());
    let st = s.status();
    assert_eq!(st.index.transactions, 2);
    assert!(st.issues.is_empty(), "{:?}", st.issues);
    let _ = MS;
}

const SCHEMA_VERSION_FOR_TESTS: u32 = schema::SCHEMA_VERSION;
