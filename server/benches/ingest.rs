//! Server benchmark (plain `main`, no harness): ingest throughput on one
//! thread (protobuf decode + store append + index), store bytes per
//! transaction, and query latency over one hour holding N transactions.
//!
//! `cargo bench -p osprey-server --bench ingest -- [transactions]` (default
//! 1,000,000; under `cargo test` a 2,000-transaction smoke run).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use osprey_server::app::{App, ServerConfig};
use osprey_server::index::TxnFilter;
use osprey_server::ingest::otlp::{Encoding, parse_traces};
use prost::Message;

mod common;
use common::{TXNS_PER_REQUEST, body, ms, state_at, time};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not:
    // then this is a quick smoke run.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let default = if bench { 1_000_000 } else { 2_000 };
    let total: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(default);
    let total = total.div_ceil(TXNS_PER_REQUEST) * TXNS_PER_REQUEST;
    let dir = std::env::temp_dir().join(format!("osprey-server-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hour_start = (now_s - 3_700) * 1_000_000_000;
    // Default budgets: past 200,000 transactions segments are sealed and
    // answered from disk.
    let app = App::open(ServerConfig::new(&dir)).expect("store opens");

    println!(
        "osprey-server ingest: {total} transactions x 4 spans, {TXNS_PER_REQUEST} per request, one thread"
    );
    let (mut busy, mut bytes_in) = (Duration::ZERO, 0usize);
    for r in 0..total / TXNS_PER_REQUEST {
        let b = body(r, total, hour_start);
        bytes_in += b.len();
        let t = Instant::now();
        let spans = parse_traces(Encoding::Protobuf, &b).expect("valid");
        app.ingest_spans(spans).expect("stored");
        busy += t.elapsed();
    }
    let spans = total * 4;
    println!(
        "  ingest: {:.0} spans/s ({:.0} transactions/s), {:.1} s busy",
        spans as f64 / busy.as_secs_f64(),
        total as f64 / busy.as_secs_f64(),
        busy.as_secs_f64()
    );
    app.maintain();
    let st = app.status();
    println!(
        "  protobuf in: {:.0} B/transaction; store: {:.0} B/transaction ({} bytes, {} segments; log {:.0} B/transaction)",
        bytes_in as f64 / total as f64,
        st.store_bytes as f64 / total as f64,
        st.store_bytes,
        st.segments.len(),
        st.segments.iter().map(|s| s.bytes).sum::<u64>() as f64 / total as f64,
    );
    assert_eq!(st.index.transactions as u64, total);

    println!("queries over the hour ({total} transactions held):");
    let from = hour_start;
    let to = hour_start + 3_600_000_000_000;
    let hour = TxnFilter {
        from_ns: Some(from),
        to_ns: Some(to),
        ..TxnFilter::default()
    };
    time("transactions, newest 100", 20, || {
        app.read(|i| i.transactions(&hour, 100).len())
    });
    let errors = TxnFilter {
        error_only: true,
        ..hour.clone()
    };
    time("transactions, error only, limit 100", 20, || {
        app.read(|i| i.transactions(&errors, 100).len())
    });
    let slow = TxnFilter {
        min_elapsed_ns: Some(402_000_000),
        ..hour.clone()
    };
    time(
        "transactions, elapsed >= 402 ms (none match: full scan)",
        5,
        || app.read(|i| i.transactions(&slow, 100).len()),
    );
    let user = TxnFilter {
        user: Some("user42".into()),
        ..hour.clone()
    };
    time("transactions, one user (200 match), limit 1000", 5, || {
        app.read(|i| i.transactions(&user, 1000).len())
    });
    time(
        "xlog columns source: all transactions of the hour",
        3,
        || app.read(|i| i.transactions(&hour, usize::MAX).len()),
    );
    let (fs, ts) = (from / 1_000_000_000, to / 1_000_000_000 - 1);
    time("aggregates per second, 3600 s, 60 s user window", 5, || {
        app.read(|i| i.seconds(fs, ts, 60).len())
    });
    time("server map over the hour", 5, || {
        app.read(|i| i.server_map(from, to).len())
    });
    let one = hour_start + 1_800_000_000_000;
    time(
        "state at one second (txns + aggregate + edges + metrics)",
        20,
        || app.read(|i| state_at(i, one)),
    );
    let some = app.read(|i| i.transactions(&hour, 1)[0].span_id.to_hex());
    time(
        "call tree of one transaction (read back from disk)",
        20,
        || app.trees(&some).map(|t| t.len()),
    );
    drop(app);
    let t = Instant::now();
    let reopened = App::open(ServerConfig::new(&dir)).unwrap();
    println!(
        "  restart: opened {} transactions (sealed headers, the last segment replayed) in {:.2} s",
        reopened.status().index.transactions,
        t.elapsed().as_secs_f64()
    );
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);
    http_ingest((total / 10).max(TXNS_PER_REQUEST), hour_start, bench);
}

/// The same bodies through HTTP from one client thread (protobuf, gzip
/// off): request parsing, the blocking hand-off and the answer included.
fn http_ingest(total: u64, hour_start: u64, compare_zipkin: bool) {
    let total = total.div_ceil(TXNS_PER_REQUEST) * TXNS_PER_REQUEST;
    let dir = std::env::temp_dir().join(format!("osprey-server-bench-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = osprey_server::api::start(ServerConfig::new(&dir), "127.0.0.1:0".parse().unwrap())
        .expect("server starts");
    let url = format!("{}/v1/traces", server.base_url());
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let bodies: Vec<Vec<u8>> = (0..total / TXNS_PER_REQUEST)
        .map(|r| body(r, total, hour_start))
        .collect();
    let t = Instant::now();
    for b in &bodies {
        let resp = agent
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .send(&b[..])
            .expect("posted");
        assert_eq!(resp.status().as_u16(), 200);
    }
    let busy = t.elapsed();
    println!(
        "  HTTP ingest, one client, {} requests of {} spans: {:.0} spans/s, {:.2} ms per request",
        bodies.len(),
        TXNS_PER_REQUEST * 4,
        (total * 4) as f64 / busy.as_secs_f64(),
        ms(busy) / bodies.len() as f64
    );
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    grpc_ingest(&bodies, total, busy);
    if compare_zipkin {
        zipkin_ingest(&bodies, total, busy);
    }
}

/// The same requests over OTLP/gRPC (HTTP/2 without TLS on the server's
/// port) from one client sending one call at a time, to a fresh data
/// directory. The client re-encodes each decoded request (tonic's prost
/// codec), which the HTTP client does not have to do.
fn grpc_ingest(bodies: &[Vec<u8>], total: u64, http_busy: Duration) {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let dir = std::env::temp_dir().join(format!("osprey-server-bench-grpc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = osprey_server::api::start(ServerConfig::new(&dir), "127.0.0.1:0".parse().unwrap())
        .expect("server starts");
    let requests: Vec<ExportTraceServiceRequest> = bodies
        .iter()
        .map(|b| ExportTraceServiceRequest::decode(&b[..]).expect("decodes"))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let busy = rt.block_on(async {
        let mut client = TraceServiceClient::connect(server.base_url())
            .await
            .expect("gRPC connects")
            .max_encoding_message_size(64 << 20);
        let t = Instant::now();
        for r in requests {
            client.export(r).await.expect("exported");
        }
        t.elapsed()
    });
    println!(
        "  gRPC ingest, one client, {} calls of {} spans: {:.0} spans/s, {:.2} ms per call; gRPC / HTTP spans/s = {:.2}",
        bodies.len(),
        TXNS_PER_REQUEST * 4,
        (total * 4) as f64 / busy.as_secs_f64(),
        ms(busy) / bodies.len() as f64,
        http_busy.as_secs_f64() / busy.as_secs_f64()
    );
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same spans as Zipkin v2 JSON, posted from one client to a real Zipkin
/// server (in-memory storage) started here, when its jar is present
/// (`scripts/zipkin-server.sh fetch`, or `ZIPKIN_JAR`).
fn zipkin_ingest(bodies: &[Vec<u8>], total: u64, osprey_busy: Duration) {
    let jar = std::env::var_os("ZIPKIN_JAR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/zipkin/zipkin.jar")
        });
    if !jar.is_file() {
        println!("  Zipkin comparison skipped: no {}", jar.display());
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new("java")
        .args(["-Xms1g", "-Xmx1g", "-jar"])
        .arg(&jar)
        .arg(format!("--armeria.ports[0].port={port}"))
        .arg("--armeria.ports[0].ip=127.0.0.1")
        .arg("--armeria.ports[0].protocols[0]=http")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("java starts");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while agent.get(&format!("{base}/health")).call().is_err() {
        assert!(Instant::now() < deadline, "Zipkin did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    let json: Vec<Vec<u8>> = bodies.iter().map(|b| zipkin_json(b)).collect();
    // Warm the JVM up with a tenth of the requests, then measure them all.
    for b in json.iter().take(json.len() / 10 + 1) {
        post_zipkin(&agent, &base, b);
    }
    let t = Instant::now();
    for b in &json {
        post_zipkin(&agent, &base, b);
    }
    let busy = t.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "  Zipkin 3.5.1 (in-memory), same spans as JSON v2, one client: {:.0} spans/s, {:.2} ms per request; osprey / zipkin spans/s = {:.2}",
        (total * 4) as f64 / busy.as_secs_f64(),
        ms(busy) / json.len() as f64,
        busy.as_secs_f64() / osprey_busy.as_secs_f64()
    );
}

fn post_zipkin(agent: &ureq::Agent, base: &str, body: &[u8]) {
    let resp = agent
        .post(&format!("{base}/api/v2/spans"))
        .header("content-type", "application/json")
        .send(body)
        .expect("posted to Zipkin");
    assert_eq!(resp.status().as_u16(), 202, "Zipkin accepts the spans");
}

/// An OTLP request's spans as a Zipkin v2 JSON list.
fn zipkin_json(otlp: &[u8]) -> Vec<u8> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let req = ExportTraceServiceRequest::decode(otlp).expect("our own body");
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for sp in &ss.spans {
                let mut tags = serde_json::Map::new();
                for kv in &sp.attributes {
                    let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(any_value::Value::StringValue(s)) => s.clone(),
                        Some(any_value::Value::IntValue(i)) => i.to_string(),
                        _ => continue,
                    };
                    tags.insert(kv.key.clone(), serde_json::Value::String(v));
                }
                let kind = match sp.kind {
                    2 => Some("SERVER"),
                    3 => Some("CLIENT"),
                    _ => None,
                };
                let mut span = serde_json::json!({
                    "traceId": hex(&sp.trace_id),
                    "id": hex(&sp.span_id),
                    "name": sp.name,
                    "timestamp": sp.start_time_unix_nano / 1_000,
                    "duration": ((sp.end_time_unix_nano - sp.start_time_unix_nano) / 1_000).max(1),
                    "localEndpoint": {"serviceName": "shop"},
                    "tags": tags,
                });
                if !sp.parent_span_id.is_empty() {
                    span["parentId"] = hex(&sp.parent_span_id).into();
                }
                if let Some(k) = kind {
                    span["kind"] = k.into();
                }
                out.push(span);
            }
        }
    }
    serde_json::to_vec(&out).unwrap()
}
