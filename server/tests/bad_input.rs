//! Hostile and broken requests get clear 4xx answers and the server keeps
//! serving: malformed protobuf and JSON, wrong ids, unknown content types,
//! oversized bodies and gzip bombs.

mod support;

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use osprey_server::api;
use osprey_server::app::ServerConfig;
use support::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

#[test]
fn bad_requests_are_refused_and_the_server_keeps_answering() {
    let dir = TempDir::new("bad");
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.max_body_bytes = 64 << 10;
    cfg.max_decompressed_bytes = 1 << 20;
    let server = api::start(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let traces = format!("{}/v1/traces", server.base_url());
    let pb = "application/x-protobuf";

    let (status, msg) = post(&traces, pb, None, b"\x0a\xff\xff\xff\xff\x0f garbage");
    assert_eq!(status, 400);
    assert!(
        msg.contains("invalid OTLP protobuf traces request"),
        "{msg}"
    );
    let (status, msg) = post(&traces, "application/json", None, b"{\"resourceSpans\": 7}");
    assert_eq!(status, 400);
    assert!(msg.contains("invalid OTLP JSON"), "{msg}");
    let (status, msg) = post(
        &format!("{}/v1/metrics", server.base_url()),
        "application/json",
        None,
        b"[",
    );
    assert_eq!(status, 400, "{msg}");

    let mut wrong = request(
        "svc",
        vec![span(1, 2, None, "x", SpanKind::Server, 1, 2, vec![])],
    );
    wrong.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![1; 5];
    let (status, msg) = post(&traces, pb, None, &proto(&wrong));
    assert_eq!(status, 400);
    assert!(msg.contains("trace id must be 16 bytes"), "{msg}");

    assert_eq!(post(&traces, "text/plain", None, b"hi").0, 415);
    assert_eq!(post(&traces, pb, Some("br"), b"hi").0, 415);
    assert_eq!(post(&traces, pb, Some("gzip"), b"not gzip at all").0, 400);

    // Larger than the body limit as sent.
    assert_eq!(post(&traces, pb, None, &vec![0u8; 100 << 10]).0, 413);
    // Small as sent, 16 MiB once inflated.
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 64 << 10, "the bomb itself fits the body limit");
    let (status, msg) = post(&traces, pb, Some("gzip"), &bomb);
    assert_eq!(status, 413);
    assert!(msg.contains("decompressed body exceeds"), "{msg}");

    // Nothing of the above was stored; a good request still works.
    let status = get(&format!("{}/api/status", server.base_url()));
    assert_eq!(status["records_written"], 0);
    // Recent times: a transaction older than the retention age is hidden.
    let now = osprey_server::time::now_ms() * 1_000_000;
    let good = request(
        "svc",
        vec![span(
            1,
            2,
            None,
            "GET /ok",
            SpanKind::Server,
            now - 1_000,
            now,
            vec![],
        )],
    );
    assert_eq!(post(&traces, pb, Some("gzip"), &gzip(&proto(&good))).0, 200);
    let list = get(&format!("{}/api/transactions?from=0", server.base_url()));
    assert_eq!(list["transactions"][0]["endpoint"], "GET /ok");
    server.stop();
}
