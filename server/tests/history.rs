//! A week of history answered from disk, with the real binary: a store
//! holding seven days of timestamps and many times more transactions than
//! the in-memory budget. A transaction of the first day is found by every
//! filter, its tree is read back, its second is replayed (with what was in
//! flight then), 24-hour aggregates count every transaction of that day —
//! and the same answers come back after `kill -9` and a restart, whose
//! time is printed.

mod support;

use std::path::Path;
use std::time::Instant;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use serde_json::Value;
use support::*;

const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const DAY_S: u64 = 86_400;
/// Transactions generated per hour of the week.
const PER_HOUR: u64 = 240;
/// Transactions held in memory before the segment is sealed.
const HOT_BUDGET: &str = "2000";

fn serve(data: &Path) -> (ServerProcess, String) {
    serve_binary(
        data,
        &[
            "--retention-age",
            "9d",
            "--max-transactions",
            HOT_BUDGET,
            "--cache-bytes",
            "4000000",
        ],
    )
}

fn id16(n: u64) -> Vec<u8> {
    let n = n + 1;
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&n.to_be_bytes());
    // Random-looking high bytes, as real ids have (the key tables
    // partition by the first byte).
    t[0] = (n.wrapping_mul(0x9E37_79B9) >> 7) as u8;
    t[8..].copy_from_slice(&n.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    t.to_vec()
}

fn id8(n: u64, k: u8) -> Vec<u8> {
    let n = n + 1;
    let mut s = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(k)).to_le_bytes();
    s[7] = k;
    s.to_vec()
}

/// Transaction `n` ending at `end_ns`: a SERVER root with an SQL step and
/// an outgoing HTTP call.
fn txn(n: u64, end_ns: u64, special: bool) -> Vec<Span> {
    let elapsed = if special {
        4_321 * MS
    } else {
        (5 + n % 90) * MS
    };
    let start = end_ns - elapsed;
    let (endpoint, user, ip, status, instance) = if special {
        ("GET /first-day", "alice", "203.0.113.9", 503, "inst-day1")
    } else {
        (
            ["GET /home", "GET /cart", "POST /pay"][(n % 3) as usize],
            "",
            "10.0.0.1",
            200,
            "inst-a",
        )
    };
    let mut attrs = vec![
        kv("http.response.status_code", iv(status)),
        kv("client.address", sv(ip)),
        kv("service.instance.id", sv(instance)),
    ];
    if !user.is_empty() {
        attrs.push(kv("enduser.id", sv(user)));
    }
    let mut root = Span {
        trace_id: id16(n),
        span_id: id8(n, 1),
        name: endpoint.into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end_ns,
        attributes: attrs,
        ..Span::default()
    };
    if special {
        root.status = Some(Status {
            code: 2,
            message: "upstream down".into(),
        });
    }
    let child = |k: u8, name: &str, kind: SpanKind, attrs| Span {
        trace_id: id16(n),
        span_id: id8(n, k),
        parent_span_id: id8(n, 1),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: start + MS,
        end_time_unix_nano: start + 3 * MS,
        attributes: attrs,
        ..Span::default()
    };
    vec![
        root,
        child(
            2,
            "SELECT orders",
            SpanKind::Client,
            vec![
                kv("db.system", sv("postgresql")),
                kv("db.namespace", sv("shop")),
                kv("db.query.text", sv("SELECT * FROM orders WHERE id = ?")),
            ],
        ),
        child(
            3,
            "GET",
            SpanKind::Client,
            vec![kv("url.full", sv("http://rates.example/eur"))],
        ),
    ]
}

/// What the first day's transaction looks like to every query.
struct Probe {
    end_ms: u64,
    trace: String,
    id: String,
    day_from_ms: u64,
    day_count: u64,
    day_errors: u64,
}

fn get_json(url: &str) -> Value {
    get(url)
}

/// Every answer about the first day, as one JSON document (compared
/// before the kill and after the restart).
fn answers(url: &str, p: &Probe) -> Value {
    let day = format!("from={}&to={}", p.day_from_ms, p.day_from_ms + DAY_S * 1000);
    let one = |q: &str| {
        let v = get_json(&format!("{url}/api/transactions?{q}&limit=50"));
        let ids: Vec<String> = v["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            ids.contains(&p.id),
            "filter {q} does not find the first-day transaction: {v}"
        );
        ids
    };
    let filters = [
        format!("{day}&service=shop&endpoint=GET%20%2Ffirst-day"),
        format!("{day}&instance=inst-day1"),
        format!("{day}&min_ms=4000&max_ms=5000"),
        format!("{day}&error=true"),
        format!("{day}&status=503"),
        format!("{day}&ip=203.0.113.9"),
        format!("{day}&user=alice"),
        format!("trace={}", p.trace),
    ];
    let mut found = serde_json::Map::new();
    for q in &filters {
        let ids = one(q);
        if !q.contains("error=true") {
            assert_eq!(ids, vec![p.id.clone()], "only it matches {q}");
        }
        found.insert(q.clone(), ids.into());
    }
    let tree = get_json(&format!("{url}/api/tree/{}", p.id));
    let t = &tree["transactions"][0];
    assert_eq!(t["transaction"]["endpoint"], "GET /first-day", "{tree}");
    assert_eq!(t["steps"].as_array().unwrap().len(), 2, "{tree}");
    let at = get_json(&format!("{url}/api/at?t={}", p.end_ms));
    let in_second: Vec<&str> = at["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(in_second.contains(&p.id.as_str()), "{at}");
    let active: Vec<&Value> = at["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == "osprey.active.count")
        .collect();
    assert_eq!(active.len(), 1, "active services sampled then: {at}");
    assert_eq!(active[0]["points"][0][1], 3.0);
    let agg = get_json(&format!("{url}/api/aggregates?{day}&window_s=60"));
    let seconds = agg["seconds"].as_array().unwrap();
    let count: u64 = seconds.iter().map(|s| s["count"].as_u64().unwrap()).sum();
    let errors: u64 = seconds.iter().map(|s| s["errors"].as_u64().unwrap()).sum();
    assert_eq!((count, errors), (p.day_count, p.day_errors));
    let map = get_json(&format!("{url}/api/servermap?{day}"));
    let mut edges: Vec<(String, u64)> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["callee"].as_str().unwrap().to_owned(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            ("postgresql:shop".to_owned(), p.day_count),
            ("rates.example".to_owned(), p.day_count)
        ]
    );
    serde_json::json!({
        "found": found,
        "tree": tree,
        "at": at,
        "aggregates": agg,
        "servermap": map,
    })
}

#[test]
fn a_week_of_history_is_answered_from_disk_before_and_after_kill_9() {
    let dir = TempDir::new("history");
    let (server, url) = serve(&dir.0);
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let week_start = (now_s - 7 * DAY_S) / 3_600 * 3_600;
    let hours = 7 * 24;
    let special_hour = 5;
    let mut n = 0u64;
    let mut probe = None;
    let mut day_count = 0;
    let mut day_errors = 0;
    for hour in 0..hours {
        let mut spans = Vec::new();
        for i in 0..PER_HOUR {
            let end = (week_start + hour * 3_600) * S + (i * 3_600 / PER_HOUR) * S + 250 * MS;
            let special = hour == special_hour && i == PER_HOUR / 2;
            spans.extend(txn(n, end, special));
            if hour < 24 {
                day_count += 1;
                day_errors += u64::from(special);
            }
            if special {
                probe = Some(Probe {
                    end_ms: end / MS,
                    trace: id16(n).iter().map(|b| format!("{b:02x}")).collect(),
                    id: id8(n, 1).iter().map(|b| format!("{b:02x}")).collect(),
                    day_from_ms: week_start * 1_000,
                    day_count: 0,
                    day_errors: 0,
                });
            }
            n += 1;
        }
        let body = proto(&request("shop", spans));
        let (code, text) = post(
            &format!("{url}/v1/traces"),
            "application/x-protobuf",
            None,
            &body,
        );
        assert_eq!(code, 200, "{text}");
    }
    let mut probe = probe.unwrap();
    probe.day_count = day_count;
    probe.day_errors = day_errors;
    // What the agent sampled as in flight in the first-day transaction's second.
    let active_ns = probe.end_ms * MS - 100 * MS;
    let metrics = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"shop"}}}}]}},
        "scopeMetrics":[{{"metrics":[{{"name":"osprey.active.count","unit":"{{transaction}}","gauge":{{"dataPoints":[
          {{"timeUnixNano":"{active_ns}","asInt":"3"}}]}}}}]}}]}}]}}"#
    );
    let (code, text) = post(
        &format!("{url}/v1/metrics"),
        "application/json",
        None,
        metrics.as_bytes(),
    );
    assert_eq!(code, 200, "{text}");

    let status = get_json(&format!("{url}/api/status"));
    let total = n;
    assert_eq!(status["index"]["transactions"], total, "{status}");
    assert!(
        total > 10 * HOT_BUDGET.parse::<u64>().unwrap(),
        "more history than the memory budget"
    );
    // Sealing runs on the maintenance pass (every 5 s).
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while get_json(&format!("{url}/api/status"))["index"]["sealed_segments"]
        .as_u64()
        .unwrap()
        < 10
    {
        assert!(Instant::now() < deadline, "segments were not sealed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let before = answers(&url, &probe);

    // kill -9, then a restart that reads index headers, not the data.
    drop(server);
    let t0 = Instant::now();
    let (_server, url) = serve(&dir.0);
    let listening = t0.elapsed();
    let status = get_json(&format!("{url}/api/status"));
    let serving = t0.elapsed();
    println!(
        "restart after kill -9: listening in {listening:?}, first answer in {serving:?} \
         ({total} transactions, {} sealed segments)",
        status["index"]["sealed_segments"]
    );
    assert_eq!(status["index"]["transactions"], total, "{status}");
    assert!(status["issues"].as_array().unwrap().is_empty(), "{status}");
    let after = answers(&url, &probe);
    assert_eq!(before, after, "the same answers after kill -9 and restart");
}
