//! The terminal helpers of the real binary: `import` of an agent store
//! written by the core's StoreExporter, then `tree`, `at` and `tail`
//! against a server.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use osprey::export::Exporter;
use osprey::export::store::{StoreConfig, StoreExporter};
use osprey::model::{
    Attribute, ErrorInfo, ExportBatch, Resource, SpanId, SpanKind as CoreKind, StepKind,
    StepRecord, TraceId, TransactionRecord,
};
use osprey::names::intern;
use osprey_server::api;
use osprey_server::app::ServerConfig;
use support::*;

/// A child process killed when dropped, also when the test fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the binary; kills it (and fails) if it runs longer than 30 s.
fn osprey(args: &[&str]) -> (bool, String, String) {
    run_osprey(args, "")
}

fn agent_txn(start_ns: u64) -> TransactionRecord {
    TransactionRecord {
        trace_id: TraceId([0xa1; 16]),
        span_id: SpanId([0xb1; 8]),
        parent_span_id: None,
        kind: CoreKind::Server,
        name: intern("GET /imported"),
        start_unix_ns: start_ns,
        elapsed_ns: 20 * MS,
        busy_ns: None,
        error: Some(ErrorInfo {
            kind: "Boom".into(),
            message: "imported failure".into(),
            stack: String::new(),
        }),
        attributes: vec![Attribute {
            key: intern("enduser.id"),
            value: "dave".into(),
        }],
        steps: vec![
            StepRecord {
                span_id: SpanId([0xc1; 8]),
                parent: None,
                depth: 1,
                kind: StepKind::Method,
                name: intern("service"),
                start_offset_ns: 2 * MS,
                elapsed_ns: 15 * MS,
                busy_ns: None,
                error: None,
                attributes: vec![],
                repaired: false,
            },
            StepRecord {
                span_id: SpanId([0xc2; 8]),
                parent: Some(0),
                depth: 2,
                kind: StepKind::Sql,
                name: intern("UPDATE t SET x = ?"),
                start_offset_ns: 4 * MS,
                elapsed_ns: 5 * MS,
                busy_ns: None,
                error: None,
                attributes: vec![Attribute {
                    key: intern("db.system"),
                    value: "h2".into(),
                }],
                repaired: false,
            },
        ],
        dropped_steps: 0,
        repaired: false,
        sampled: true,
        thread_id: 9,
    }
}

#[test]
fn import_tree_at_and_tail_work_from_the_terminal() {
    let agent = TempDir::new("agent");
    let data = TempDir::new("data");
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = (now_s - 30) * 1_000_000_000;
    let mut exporter = StoreExporter::new(StoreConfig {
        dir: agent.0.clone(),
        ..StoreConfig::default()
    })
    .unwrap();
    let batch = ExportBatch {
        resource: Arc::new(Resource {
            service_name: "agent-svc".into(),
            attributes: vec![],
        }),
        transactions: vec![agent_txn(start)],
        ..ExportBatch::default()
    };
    exporter.export(&batch).unwrap();
    exporter.flush().unwrap();

    let (ok, _, err) = osprey(&[
        "serve",
        "--grpc-listen",
        "off",
        "--listen",
        "0.0.0.0:0",
        "--data",
        data.0.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("not a loopback address"), "{err}");

    let (ok, out, err) = osprey(&[
        "import",
        agent.0.to_str().unwrap(),
        "--data",
        data.0.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("imported 1 transactions (3 spans)"), "{out}");

    let server = api::start(ServerConfig::new(&data.0), "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = server.base_url();
    let id = hex_id(0xb1, 8);
    let list = get(&format!("{url}/api/transactions?user=dave"));
    assert_eq!(list["transactions"][0]["id"], id);
    assert_eq!(list["transactions"][0]["service"], "agent-svc");
    assert_eq!(list["transactions"][0]["error"], true);

    let (ok, out, err) = osprey(&["tree", &id, "--server", &url]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].contains("agent-svc GET /imported")
            && lines[0].contains("ERROR Boom: imported failure"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("  +2.000 ms") && lines[1].ends_with("method service"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("    +4.000 ms") && lines[2].contains("sql    UPDATE t SET x = ?"),
        "{out}"
    );
    let (ok, _, err) = osprey(&["tree", "00000000000000ff", "--server", &url]);
    assert!(!ok && err.contains("404"), "{err}");

    let end_ms = (start + 20 * MS) / MS;
    let (ok, out, err) = osprey(&["at", &end_ms.to_string(), "--server", &url]);
    assert!(ok, "{err}");
    assert!(
        out.lines().next().unwrap().contains("tps=1 errors=1"),
        "{out}"
    );
    assert!(
        out.contains(&format!("trace={}", hex_id(0xa1, 16))),
        "{out}"
    );

    // tail prints what arrives after it started, nothing older.
    let mut tail = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_osprey"))
            .args(["tail", "--server", &url, "--interval-ms", "100"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stdout = tail.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let fresh = request(
        "live",
        vec![span(
            7,
            0x71,
            None,
            "GET /live",
            SpanKind::Server,
            start,
            start + 7 * MS,
            vec![],
        )],
    );
    assert_eq!(
        post(
            &format!("{url}/v1/traces"),
            "application/x-protobuf",
            None,
            &proto(&fresh)
        )
        .0,
        200
    );
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("tail prints the new transaction");
    assert!(
        line.contains("live GET /live 7.000 ms")
            && line.contains(&format!("trace={}", hex_id(7, 16))),
        "{line}"
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing else"
    );
    drop(tail);
    server.stop();
}
