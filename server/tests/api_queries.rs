//! The query API against the real server (in-process, 127.0.0.1:0) fed
//! with raw OTLP bodies: two services and a database in one trace, spans
//! arriving out of order and split over requests, protobuf and JSON.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use osprey_server::api;
use osprey_server::app::ServerConfig;
use serde_json::Value;
use support::*;

fn ids(v: &Value) -> Vec<String> {
    v["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap()[..2].to_owned())
        .collect()
}

#[test]
fn two_services_and_a_database_answer_every_query() {
    let dir = TempDir::new("api");
    let server = api::start(ServerConfig::new(&dir.0), "127.0.0.1:0".parse().unwrap()).unwrap();
    let base_url = server.base_url();
    let url = |path: &str| format!("{base_url}{path}");
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let b = (now_s - 100) * 1_000_000_000;
    let b_ms = b / MS;

    // payments first (its caller has not arrived yet), its grandchild later.
    let payments = request(
        "payments",
        vec![
            span(
                1,
                0x20,
                Some(0x12),
                "POST /pay",
                SpanKind::Server,
                b + 25 * MS,
                b + 75 * MS,
                vec![],
            ),
            failed(
                span(
                    1,
                    0x21,
                    Some(0x20),
                    "SELECT cards",
                    SpanKind::Client,
                    b + 30 * MS,
                    b + 50 * MS,
                    vec![
                        kv("db.system", sv("postgresql")),
                        kv("db.namespace", sv("paydb")),
                        kv("db.query.text", sv("SELECT * FROM cards WHERE id = ?")),
                    ],
                ),
                "SQLException",
                "deadlock",
            ),
            span(
                1,
                0x22,
                Some(0x20),
                "charge",
                SpanKind::Internal,
                b + 55 * MS,
                b + 70 * MS,
                vec![],
            ),
        ],
    );
    assert_eq!(
        post(
            &url("/v1/traces"),
            "application/x-protobuf",
            None,
            &proto(&payments)
        )
        .0,
        200
    );
    let late = request(
        "payments",
        vec![span(
            1,
            0x23,
            Some(0x22),
            "sign",
            SpanKind::Internal,
            b + 56 * MS,
            b + 60 * MS,
            vec![],
        )],
    );
    assert_eq!(
        post(
            &url("/v1/traces"),
            "application/x-protobuf",
            None,
            &proto(&late)
        )
        .0,
        200
    );

    let frontend = request(
        "frontend",
        vec![
            span(
                1,
                0x10,
                None,
                "GET /checkout",
                SpanKind::Server,
                b,
                b + 100 * MS,
                vec![
                    kv("client.address", sv("10.0.0.1")),
                    kv("enduser.id", sv("alice")),
                    kv("http.response.status_code", iv(200)),
                ],
            ),
            span(
                1,
                0x11,
                Some(0x10),
                "validate",
                SpanKind::Internal,
                b + 5 * MS,
                b + 15 * MS,
                vec![],
            ),
            span(
                1,
                0x12,
                Some(0x10),
                "POST /pay",
                SpanKind::Client,
                b + 20 * MS,
                b + 80 * MS,
                vec![
                    kv("http.request.method", sv("POST")),
                    kv("server.address", sv("payments")),
                ],
            ),
            span(
                1,
                0x13,
                Some(0x10),
                "GET rates",
                SpanKind::Client,
                b + 85 * MS,
                b + 95 * MS,
                vec![kv("url.full", sv("https://api.rates.example/v1?x=1"))],
            ),
            failed(
                span(
                    2,
                    0x30,
                    None,
                    "GET /checkout",
                    SpanKind::Server,
                    b + 1000 * MS,
                    b + 1300 * MS,
                    vec![
                        kv("client.address", sv("10.0.0.2")),
                        kv("http.response.status_code", iv(500)),
                    ],
                ),
                "IllegalStateException",
                "cart gone",
            ),
        ],
    );
    assert_eq!(
        post(
            &url("/v1/traces"),
            "application/x-protobuf",
            None,
            &proto(&frontend)
        )
        .0,
        200
    );

    // Trace 3 as OTLP/JSON (hex ids, int64 as strings).
    let json = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"frontend"}}}}]}},
        "scopeSpans":[{{"spans":[{{"traceId":"{}","spanId":"{}","name":"GET /home","kind":2,
        "startTimeUnixNano":"{}","endTimeUnixNano":"{}",
        "attributes":[{{"key":"enduser.id","value":{{"stringValue":"bob"}}}}]}}]}}]}}]}}"#,
        hex_id(3, 16),
        hex_id(0x40, 8),
        b + 2000 * MS,
        b + 2002 * MS
    );
    let (status, body) = post(
        &url("/v1/traces"),
        "application/json",
        None,
        json.as_bytes(),
    );
    assert_eq!((status, body.as_str()), (200, "{}"));

    // Filters; newest end first.
    let range = format!("from={}&to={}", b_ms, b_ms + 10_000);
    let q = |extra: &str| get(&url(&format!("/api/transactions?{range}&{extra}")));
    assert_eq!(ids(&q("")), ["40", "30", "10", "20"]);
    assert_eq!(ids(&q("service=payments")), ["20"]);
    assert_eq!(ids(&q("error=true")), ["30"]);
    assert_eq!(ids(&q("min_ms=200")), ["30"]);
    assert_eq!(ids(&q("max_ms=60")), ["40", "20"]);
    assert_eq!(ids(&q("ip=10.0.0.1")), ["10"]);
    assert_eq!(ids(&q("user=bob")), ["40"]);
    assert_eq!(ids(&q("endpoint=GET%20/checkout")), ["30", "10"]);
    assert_eq!(ids(&q("limit=1")), ["40"]);
    assert_eq!(
        ids(&get(&url(&format!(
            "/api/transactions?from={}&to={}",
            b_ms + 1000,
            b_ms + 2000
        )))),
        ["30"]
    );
    let t30 = &q("error=true")["transactions"][0];
    assert_eq!(t30["http_status"], 500);
    assert_eq!(t30["elapsed_ms"], 300.0);
    assert_eq!(t30["client_ip"], "10.0.0.2");

    // Call trees: the frontend's stops at the payments transaction.
    let tree = get(&url(&format!("/api/tree/{}", hex_id(0x10, 8))));
    let t = &tree["transactions"][0];
    assert_eq!(t["transaction"]["endpoint"], "GET /checkout");
    let steps = t["steps"].as_array().unwrap();
    let shape: Vec<(&str, u64, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["depth"].as_u64().unwrap(),
                s["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("validate", 1, "method"),
            ("POST /pay", 1, "http"),
            ("GET rates", 1, "http")
        ]
    );
    assert_eq!(steps[0]["offset_ms"], 5.0);
    assert_eq!(steps[1]["duration_ms"], 60.0);
    assert_eq!(steps[1]["callees"][0]["service"], "payments");
    assert_eq!(steps[1]["callees"][0]["id"], hex_id(0x20, 8));

    let tree = get(&url(&format!("/api/tree/{}", hex_id(0x20, 8))));
    let steps = tree["transactions"][0]["steps"].as_array().unwrap().clone();
    let shape: Vec<(&str, u64)> = steps
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["depth"].as_u64().unwrap()))
        .collect();
    assert_eq!(shape, [("SELECT cards", 1), ("charge", 1), ("sign", 2)]);
    assert_eq!(steps[0]["kind"], "sql");
    assert_eq!(steps[0]["sql"], "SELECT * FROM cards WHERE id = ?");
    assert_eq!(steps[0]["exception_type"], "SQLException");
    assert_eq!(steps[0]["exception_message"], "deadlock");
    assert_eq!(steps[0]["offset_ms"], 5.0);
    assert_eq!(steps[2]["offset_ms"], 31.0);

    let trace = get(&url(&format!("/api/tree/{}", hex_id(1, 16))));
    let services: Vec<_> = trace["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transaction"]["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["frontend", "payments"]);
    assert_eq!(
        get_status(&url(&format!("/api/tree/{}", hex_id(0x77, 8)))).0,
        404
    );
    assert_eq!(get_status(&url("/api/tree/nothex")).0, 404);

    // Per-second aggregates.
    let agg = get(&url(&format!(
        "/api/aggregates?from={}&to={}&window_s=60",
        b_ms,
        b_ms + 3000
    )));
    let secs = agg["seconds"].as_array().unwrap();
    assert_eq!(secs.len(), 3);
    let col = |k: &str| {
        secs.iter()
            .map(|s| s[k].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(col("count"), [2, 1, 1]);
    assert_eq!(col("errors"), [0, 1, 0]);
    assert_eq!(col("concurrent_users"), [1, 2, 3]);
    assert_eq!(
        secs[1]["histogram"][8], 1,
        "300 ms falls in the <= 500 ms bucket"
    );
    assert_eq!(secs[1]["elapsed_max_ms"], 300.0);
    let narrow = get(&url(&format!(
        "/api/aggregates?from={}&to={}&window_s=1",
        b_ms,
        b_ms + 3000
    )));
    let users: Vec<_> = narrow["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["concurrent_users"].as_u64().unwrap())
        .collect();
    assert_eq!(users, [1, 1, 1]);

    // Server map.
    let map = get(&url(&format!(
        "/api/servermap?from={}&to={}",
        b_ms,
        b_ms + 10_000
    )));
    let mut edges: Vec<(String, String, String, u64, u64, f64)> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["caller"].as_str().unwrap().into(),
                e["callee"].as_str().unwrap().into(),
                e["callee_kind"].as_str().unwrap().into(),
                e["count"].as_u64().unwrap(),
                e["errors"].as_u64().unwrap(),
                e["p99_ms"].as_f64().unwrap(),
            )
        })
        .collect();
    edges.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let e = |a: &str, b: &str, k: &str, n, err, p| {
        (a.to_owned(), b.to_owned(), k.to_owned(), n, err, p)
    };
    assert_eq!(
        edges,
        [
            e("frontend", "api.rates.example", "external", 1, 0, 10.0),
            e("frontend", "payments", "service", 1, 0, 60.0),
            e("payments", "postgresql:paydb", "database", 1, 1, 20.0),
        ]
    );

    // Metrics, then the state at one second.
    let metrics = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"frontend"}}}}]}},
        "scopeMetrics":[{{"metrics":[{{"name":"jvm.memory.used","unit":"By","gauge":{{"dataPoints":[
          {{"timeUnixNano":"{}","asInt":"100"}},{{"timeUnixNano":"{}","asInt":"200"}}]}}}}]}}]}}]}}"#,
        b + 500 * MS,
        b + 1500 * MS
    );
    assert_eq!(
        post(
            &url("/v1/metrics"),
            "application/json",
            None,
            metrics.as_bytes()
        )
        .0,
        200
    );
    let series = get(&url("/api/metrics?name=jvm.memory.used"));
    let pts = &series["series"][0]["points"];
    assert_eq!(pts.as_array().unwrap().len(), 2);
    assert_eq!(pts[0][0], b_ms + 500);
    assert_eq!(pts[1][1], 200.0);

    let at = get(&url(&format!("/api/at?t={}", b_ms + 1000)));
    assert_eq!(at["second"], b / 1_000_000_000 + 1);
    assert_eq!(ids(&at), ["30"]);
    assert_eq!(at["aggregate"]["count"], 1);
    assert_eq!(at["aggregate"]["concurrent_users"], 2);
    assert_eq!(
        at["metrics"][0]["points"][0][1], 200.0,
        "latest value by the end of that second"
    );
    let at0 = get(&url(&format!("/api/at?t={}", b_ms + 50)));
    assert_eq!(
        at0["metrics"][0]["points"][0][1], 100.0,
        "the later point is not visible yet"
    );
    assert_eq!(
        at0["edges"].as_array().unwrap().len(),
        3,
        "every call of trace 1 ended in that second"
    );

    // The scatter's columns for a range, with the same filters.
    let cols = get(&url(&format!("/api/xlog?{range}&error=true")));
    assert_eq!(cols["id"], serde_json::json!([hex_id(0x30, 8)]));
    assert_eq!(cols["end_ms"][0], b_ms + 1300);
    assert_eq!(cols["error"][0], true);
    let cols = get(&url(&format!("/api/xlog?{range}")));
    assert_eq!(
        cols["elapsed_ms"],
        serde_json::json!([2.0, 300.0, 100.0, 50.0])
    );

    // Live updates: only what arrived after the cursor.
    let cursor = get(&url("/api/xlog?since=0"))["cursor"].as_u64().unwrap();
    assert_eq!(cursor, 4);
    let more = request(
        "frontend",
        vec![span(
            4,
            0x50,
            None,
            "GET /late",
            SpanKind::Server,
            b + 3000 * MS,
            b + 3010 * MS,
            vec![],
        )],
    );
    assert_eq!(
        post(
            &url("/v1/traces"),
            "application/x-protobuf",
            None,
            &proto(&more)
        )
        .0,
        200
    );
    let live = get(&url(&format!("/api/xlog?since={cursor}")));
    assert_eq!(live["id"], serde_json::json!([hex_id(0x50, 8)]));
    assert_eq!(live["endpoint"][0], "GET /late");
    assert_eq!(live["elapsed_ms"][0], 10.0);
    assert_eq!(live["cursor"], cursor + 1);
    let idle = get(&url(&format!("/api/xlog?since={}", cursor + 1)));
    assert_eq!(idle["id"].as_array().unwrap().len(), 0);
    let stale = get(&url("/api/xlog?since=999999"));
    assert_eq!(
        stale["cursor"],
        cursor + 1,
        "a cursor from before a restart is clamped"
    );

    // A retried request does not list its transactions twice.
    assert_eq!(
        post(
            &url("/v1/traces"),
            "application/x-protobuf",
            None,
            &proto(&more)
        )
        .0,
        200
    );
    let late: Vec<_> = ids(&get(&url("/api/transactions?from=0")));
    assert_eq!(late.iter().filter(|i| *i == "50").count(), 1);
    assert_eq!(
        get(&url(&format!("/api/xlog?since={}", cursor + 1)))["id"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Active services: what the last report said, nothing invented.
    assert_eq!(
        get(&url("/api/active"))["services"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let report = r#"{"service":"frontend","transactions":[{"endpoint":"GET /slow","elapsed_ms":4200.0,"thread":"http-nio-1"}]}"#;
    assert_eq!(
        post(
            &url("/v1/active"),
            "application/json",
            None,
            report.as_bytes()
        )
        .0,
        200
    );
    let active = get(&url("/api/active"));
    assert_eq!(
        active["services"][0]["transactions"][0]["endpoint"],
        "GET /slow"
    );
    assert!(active["services"][0]["received_ms"].as_u64().unwrap() > 0);

    // Bad query parameters are 400s.
    assert_eq!(get_status(&url("/api/transactions?from=yesterday")).0, 400);
    assert_eq!(get_status(&url("/api/at")).0, 400);
    server.stop();
}
