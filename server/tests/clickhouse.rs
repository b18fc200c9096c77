//! The ClickHouse backend against real `clickhouse-server` processes
//! (Debian's package, started by each test on loopback with its own ports
//! and directories): the same API answers as the embedded backend on the
//! same data, two shards behind a `Distributed` table fed by two
//! `osprey serve` processes at once, a shard down (answers say what they
//! miss), and ClickHouse killed mid-ingest then restarted (nothing
//! acknowledged is lost; a full buffer answers 503 with `Retry-After`),
//! and the Tomcat demo's own traces under the Java agent, fed by two
//! servers into two shards, answered as the embedded backend answers them.
//! Each test skips with a message when `clickhouse-server` is absent.

mod clickhouse_support;
mod support;
mod viewer_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use clickhouse_support::{ClickHouse, demo_requests, metrics_json, require};
use serde_json::Value;
use support::{TempDir, get, post, run_osprey, serve_binary};

const PROTO: &str = "application/x-protobuf";

fn now_ms() -> u64 {
    osprey_server::time::now_ms()
}

fn migrate(url: &str) {
    let (ok, out, err) = run_osprey(&["storage", "migrate", "--storage", url], "");
    assert!(ok, "migrate failed: {out} {err}");
    assert!(out.contains("schema version 0 -> 2"), "{out}");
    let (ok, again, _) = run_osprey(&["storage", "migrate", "--storage", url], "");
    assert!(
        ok && again.contains("schema version 2 -> 2"),
        "idempotent: {again}"
    );
}

/// Removes what differs by design between two servers: ingest sequence
/// numbers (and the cursors made of them) and the time a report arrived.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "seq" | "cursor" | "next" | "received_ms"))
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Every query of the viewer over the workload of `base_ms`.
fn api_paths(base_ms: u64, ids: &[String], trace: &str) -> Vec<String> {
    let (from, to) = (base_ms - 1_000, base_ms + 60_000);
    let mut p = vec![
        format!("/api/transactions?limit=1000&from={from}&to={to}"),
        format!("/api/transactions?limit=7&from={from}&to={to}"),
        format!("/api/transactions?limit=50&service=back&error=1&from={from}&to={to}"),
        format!("/api/transactions?limit=50&user=u3&min_ms=40&from={from}&to={to}"),
        format!("/api/transactions?limit=50&ip=10.0.0.4&status=200&from={from}&to={to}"),
        format!(
            "/api/transactions?limit=50&instance=b-1&endpoint=POST%20/orders&from={from}&to={to}"
        ),
        format!("/api/transactions?trace={trace}"),
        format!("/api/xlog?from={from}&to={to}"),
        format!("/api/aggregates?from={from}&to={to}&window_s=10"),
        format!("/api/servermap?from={from}&to={to}"),
        format!(
            "/api/servermap?from={}&to={}",
            base_ms + 2_000,
            base_ms + 4_000
        ),
        format!("/api/metrics?from={from}&to={to}"),
        format!("/api/metrics?latest=1&to={}", base_ms + 1_500),
        format!("/api/at?t={}", base_ms + 3_000),
        "/api/instances".to_owned(),
        "/api/instances?service=front".to_owned(),
        "/api/active".to_owned(),
        format!("/api/tree/{trace}"),
    ];
    p.extend(ids.iter().map(|id| format!("/api/tree/{id}")));
    p
}

fn assert_same_answers(expected: &str, actual: &str, paths: &[String]) {
    for p in paths {
        let (e, a) = (get(&format!("{expected}{p}")), get(&format!("{actual}{p}")));
        assert_eq!(normalize(&e), normalize(&a), "GET {p}");
    }
}

/// Posts the workload's metrics and an active-services report.
fn post_extras(url: &str, base_ms: u64) {
    let m = metrics_json(
        "front",
        &[
            (base_ms + 500, 31),
            (base_ms + 1_000, 33),
            (base_ms + 2_000, 40),
        ],
    );
    assert_eq!(
        post(
            &format!("{url}/v1/metrics"),
            "application/json",
            None,
            m.as_bytes()
        )
        .0,
        200
    );
    let report = r#"{"service":"front","transactions":[{"endpoint":"GET /slow","elapsed_ms":4200.0,"thread":"http-nio-1"}]}"#;
    assert_eq!(
        post(
            &format!("{url}/v1/active"),
            "application/json",
            None,
            report.as_bytes()
        )
        .0,
        200
    );
}

fn ids_of(url: &str, base_ms: u64, service: &str) -> Vec<String> {
    let v = get(&format!(
        "{url}/api/transactions?limit=10000&service={service}&from={}&to={}",
        base_ms - 1_000,
        base_ms + 600_000
    ));
    v["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The trace of `service`'s newest transaction.
fn newest_trace(url: &str, service: &str) -> String {
    get(&format!("{url}/api/transactions?limit=1&service={service}"))["transactions"][0]["trace_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn clickhouse_answers_every_query_as_the_embedded_backend_does() {
    let Some(bin) = require() else { return };
    let root = TempDir::new("ch-same");
    let ch = ClickHouse::cluster(&bin, &root, 1);
    let url = format!("clickhouse://{}/osprey_same", ch[0].addr());
    migrate(&url);
    let (_e, embedded) = serve_binary(&root.0.join("embedded"), &["--retention-age", "2d"]);
    let (_c, clickhouse) = serve_binary(
        &root.0.join("ch"),
        &["--storage", &url, "--retention-age", "2d"],
    );
    let base_ms = now_ms() / 1_000 * 1_000 - 120_000;
    for (_, body) in demo_requests(base_ms, 200) {
        for u in [&embedded, &clickhouse] {
            assert_eq!(post(&format!("{u}/v1/traces"), PROTO, None, &body).0, 200);
        }
    }
    for u in [&embedded, &clickhouse] {
        post_extras(u, base_ms);
    }
    let ids = ids_of(&embedded, base_ms, "front");
    assert_eq!(ids.len(), 200);
    let trace = newest_trace(&embedded, "back");
    let paths = api_paths(base_ms, &ids[..5], &trace);
    assert_same_answers(&embedded, &clickhouse, &paths);

    // The answers are not empty by accident.
    let map = get(&format!(
        "{clickhouse}/api/servermap?from={}&to={}",
        base_ms - 1_000,
        base_ms + 60_000
    ));
    let edges: BTreeSet<String> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}>{}:{}:{}",
                e["caller"].as_str().unwrap(),
                e["callee"].as_str().unwrap(),
                e["callee_kind"].as_str().unwrap(),
                e["count"]
            )
        })
        .collect();
    assert_eq!(
        edges,
        BTreeSet::from([
            "back>mysql:shop:database:200".to_owned(),
            "front>back:service:200".to_owned()
        ])
    );
    let tree = get(&format!("{clickhouse}/api/tree/{trace}"));
    assert!(tree.to_string().contains("INSERT INTO orders"), "{tree}");
    let st = get(&format!("{clickhouse}/api/status"));
    assert_eq!(st["index"]["transactions"], 400);
    assert!(st["store_bytes"].as_u64().unwrap() > 0);

    // The live cursor: what arrives after it, and only that.
    let cursor = get(&format!("{clickhouse}/api/transactions?limit=0"))["cursor"]
        .as_u64()
        .unwrap();
    assert!(cursor > 0);
    let later = base_ms + 30_000;
    for (_, body) in demo_requests(later, 2).into_iter().take(1) {
        assert_eq!(
            post(&format!("{clickhouse}/v1/traces"), PROTO, None, &body).0,
            200
        );
    }
    let tail = get(&format!("{clickhouse}/api/xlog?since={cursor}"));
    assert_eq!(tail["endpoint"].as_array().unwrap().len(), 2, "{tail}");

    // Retention on 18.16: a trace three days old is hidden at once and
    // its day partitions are dropped by the next maintenance pass.
    let old_ms = base_ms - 3 * 86_400_000;
    for (_, body) in demo_requests(old_ms, 1) {
        assert_eq!(
            post(&format!("{clickhouse}/v1/traces"), PROTO, None, &body).0,
            200
        );
    }
    let old_day = ch[0].query(&format!("SELECT toDate(toDateTime({}))", old_ms / 1_000));
    let parts = format!(
        "SELECT count() FROM system.parts WHERE database = 'osprey_same' AND active \
         AND partition = '{}'",
        old_day.trim()
    );
    let engine = ch[0].query(
        "SELECT engine_full FROM system.tables WHERE database = 'osprey_same' AND name = 'spans'",
    );
    assert!(!engine.contains("TTL"), "18.16 has no table TTL: {engine}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ch[0].query(&parts).trim() != "0" {
        assert!(
            Instant::now() < deadline,
            "the old day's partitions were never dropped"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        get(&format!("{clickhouse}/api/status"))["index"]["transactions"],
        402,
        "the workload and the two of the tail; not the old ones"
    );
}

#[test]
fn a_version_1_schema_on_two_shards_is_upgraded_and_its_data_answers_as_before() {
    use osprey_server::storage::clickhouse::{ClickHouseConfig, schema};
    let Some(bin) = require() else { return };
    let root = TempDir::new("ch-upgrade");
    let ch = ClickHouse::cluster(&bin, &root, 2);
    let hosts = format!("{},{}", ch[0].addr(), ch[1].addr());
    // The data is ingested by this build into a staging database, then
    // copied into a version 1 schema made by version 1's DDL: the tables
    // version 2 left alone hold exactly what version 1 wrote, and
    // `metrics` gets its version 1 columns.
    let staging = format!("clickhouse://{hosts}/osprey_staging?cluster=osprey");
    migrate(&staging);
    let (_s, before) = serve_binary(&root.0.join("staging"), &["--storage", &staging]);
    let base_ms = now_ms() / 1_000 * 1_000 - 120_000;
    for (_, body) in demo_requests(base_ms, 100) {
        assert_eq!(
            post(&format!("{before}/v1/traces"), PROTO, None, &body).0,
            200
        );
    }
    post_extras(&before, base_ms);
    let url = format!("clickhouse://{hosts}/osprey_up?cluster=osprey");
    let cfg = ClickHouseConfig::parse(&url, root.0.join("unused")).unwrap();
    for c in &ch {
        for stmt in schema::ddl_v1(&cfg) {
            c.query(&stmt);
        }
        c.query("INSERT INTO osprey_up.osprey_schema VALUES (1, 0)");
        for t in schema::TABLES {
            let cols: Vec<&str> = t
                .columns
                .split(',')
                .map(|c| c.split_whitespace().next().unwrap())
                .collect();
            let cols = cols.join(", ");
            c.query(&format!(
                "INSERT INTO osprey_up.{n}_local ({cols}) SELECT {cols} FROM osprey_staging.{n}_local",
                n = t.name
            ));
        }
    }

    let (ok, out, err) = run_osprey(&["storage", "migrate", "--storage", &url], "");
    assert!(ok, "{out} {err}");
    assert_eq!(
        out.matches("schema version 1 -> 2 (ClickHouse 18.16, retention: day partitions dropped by osprey serve)")
            .count(),
        2,
        "both shards: {out}"
    );
    let (ok, again, _) = run_osprey(&["storage", "migrate", "--storage", &url], "");
    assert!(
        ok && again.matches("schema version 2 -> 2").count() == 2,
        "{again}"
    );
    for c in &ch {
        assert_eq!(
            c.query("SELECT version FROM osprey_up.osprey_schema ORDER BY version"),
            "1\n2\n"
        );
        for table in ["metrics_local", "metrics"] {
            let cols = c.query(&format!(
                "SELECT name, type, default_expression FROM system.columns \
                 WHERE database = 'osprey_up' AND table = '{table}'"
            ));
            assert!(
                cols.ends_with("count\tUInt64\t\ninstance\tString\t\\'\\'\nhost\tString\t\\'\\'\n"),
                "{table}: the new columns last, once: {cols}"
            );
        }
    }

    // Every viewer query answers the version 1 rows as before.
    let (_u, after) = serve_binary(&root.0.join("up"), &["--storage", &url]);
    let ids = ids_of(&before, base_ms, "front");
    assert_eq!(ids.len(), 100);
    let trace = newest_trace(&before, "back");
    assert_same_answers(&before, &after, &api_paths(base_ms, &ids[..5], &trace));
    // New rows come with the column, filled from the resource's instance.
    let m = metrics_json("front", &[(base_ms + 3_000, 50)]).replacen(
        r#"{"key":"service.name""#,
        r#"{"key":"service.instance.id","value":{"stringValue":"front-1"}},{"key":"service.name""#,
        1,
    );
    assert_eq!(
        post(
            &format!("{after}/v1/metrics"),
            "application/json",
            None,
            m.as_bytes()
        )
        .0,
        200
    );
    assert_eq!(
        ch[0].query(
            "SELECT count(), countIf(instance = ''), countIf(instance = 'front-1') FROM osprey_up.metrics"
        ),
        "4\t3\t1\n"
    );
    let series = get(&format!(
        "{after}/api/metrics?from={}&to={}",
        base_ms - 1_000,
        base_ms + 60_000
    ));
    // The old points answer as one series; the new one, from an instance,
    // as that instance's.
    let list = series["series"].as_array().unwrap();
    let points = |instance: &str| {
        list.iter()
            .filter(|s| s["instance"] == instance)
            .map(|s| s["points"].as_array().unwrap().len())
            .sum::<usize>()
    };
    assert_eq!((points(""), points("front-1")), (3, 1), "{series}");

    // A schema written by a newer osprey is refused, and left alone.
    ch[1].query("INSERT INTO osprey_up.osprey_schema VALUES (3, 0)");
    let (ok, out, err) = run_osprey(&["storage", "migrate", "--storage", &url], "");
    assert!(!ok, "{out}");
    assert!(
        err.contains("schema version 3, written by a newer osprey"),
        "{err}"
    );
    assert_eq!(
        ch[0].query("SELECT max(version) FROM osprey_up.osprey_schema"),
        "2\n"
    );
}

#[test]
fn two_shards_fed_by_two_servers_answer_as_one_and_say_what_a_shard_down_leaves_out() {
    let Some(bin) = require() else { return };
    let root = TempDir::new("ch-shards");
    let mut ch = ClickHouse::cluster(&bin, &root, 2);
    let url = format!(
        "clickhouse://{},{}/osprey_shards?cluster=osprey",
        ch[0].addr(),
        ch[1].addr()
    );
    migrate(&url);
    let (_e, embedded) = serve_binary(&root.0.join("embedded"), &[]);
    let (_a, a) = serve_binary(&root.0.join("a"), &["--storage", &url]);
    let (_b, b) = serve_binary(&root.0.join("b"), &["--storage", &url]);
    let base_ms = now_ms() / 1_000 * 1_000 - 120_000;
    let requests = demo_requests(base_ms, 200);
    for (_, body) in &requests {
        assert_eq!(
            post(&format!("{embedded}/v1/traces"), PROTO, None, body).0,
            200
        );
    }
    // Server a takes the front's requests and b the back's, at once.
    std::thread::scope(|s| {
        for (server, service) in [(&a, "front"), (&b, "back")] {
            let requests = &requests;
            s.spawn(move || {
                for (_, body) in requests.iter().filter(|(svc, _)| svc == service) {
                    assert_eq!(
                        post(&format!("{server}/v1/traces"), PROTO, None, body).0,
                        200
                    );
                }
            });
        }
    });
    post_extras(&embedded, base_ms);
    post_extras(&a, base_ms);
    for (i, c) in ch.iter().enumerate() {
        let n: u64 = c
            .query("SELECT count() FROM osprey_shards.transactions_local")
            .trim()
            .parse()
            .unwrap();
        assert!(n > 50 && n < 350, "shard {i} holds {n} of 400 transactions");
    }
    let ids = ids_of(&embedded, base_ms, "front");
    let trace = newest_trace(&embedded, "back");
    let paths = api_paths(base_ms, &ids[..5], &trace);
    assert_same_answers(&embedded, &a, &paths);
    assert_same_answers(&embedded, &b, &paths);

    // Shard 2 down: answers hold shard 1's traces and name shard 2.
    ch[1].kill();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !get(&format!("{a}/api/status"))["issues"]
        .to_string()
        .contains("unreachable")
    {
        assert!(Instant::now() < deadline, "shard 2 never reported down");
        std::thread::sleep(Duration::from_millis(100));
    }
    let list = format!(
        "{a}/api/transactions?limit=10000&service=front&from={}&to={}",
        base_ms - 1_000,
        base_ms + 60_000
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.get(&list).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let partial = resp
        .headers()
        .get("x-osprey-partial")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(partial, Some(format!("shard 2 (http://{})", ch[1].addr())));
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let got: BTreeSet<String> = v["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_owned())
        .collect();
    let on_shard_1: BTreeSet<String> = get(&list.replace(&a, &embedded))["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_owned())
        .filter(|t| {
            let low = u64::from_str_radix(&t[16..], 16).unwrap().swap_bytes();
            low % 2 == 0
        })
        .collect();
    assert!(!on_shard_1.is_empty());
    assert_eq!(got, on_shard_1, "exactly shard 1's transactions");

    // Ingest goes on (shard 2's rows buffered), and once it is back
    // everything is there.
    let later = demo_requests(base_ms + 20_000, 50);
    for (_, body) in &later {
        assert_eq!(post(&format!("{a}/v1/traces"), PROTO, None, body).0, 200);
    }
    ch[1].start();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = get(&format!("{b}/api/status"))["index"]["transactions"]
            .as_u64()
            .unwrap();
        let st = get(&format!("{a}/api/status"))["issues"].to_string();
        if n == 500 && !st.contains("bytes waiting") && !st.contains("unreachable") {
            break;
        }
        assert!(Instant::now() < deadline, "never replayed: {n} {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn clickhouse_killed_mid_ingest_loses_nothing_acknowledged_and_a_full_buffer_answers_503() {
    let Some(bin) = require() else { return };
    let root = TempDir::new("ch-outage");
    let mut ch = ClickHouse::cluster(&bin, &root, 1);
    let url = format!(
        "clickhouse://{}/osprey_outage?timeout_ms=2000",
        ch[0].addr()
    );
    migrate(&url);
    let (_c, server) = serve_binary(&root.0.join("ch"), &["--storage", &url]);
    let base_ms = now_ms() / 1_000 * 1_000 - 300_000;
    let requests = demo_requests(base_ms, 400);
    // One client posts without pause while ClickHouse is killed (in the
    // middle of whatever insert runs then) and later started again.
    let acked = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for (_, body) in &requests {
                let (status, text) = post(&format!("{server}/v1/traces"), PROTO, None, body);
                assert_eq!(status, 200, "inserted or buffered: {text}");
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let at = |n: usize| {
            while acked.load(std::sync::atomic::Ordering::SeqCst) < n {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        at(requests.len() / 4);
        ch[0].kill();
        at(requests.len() / 2);
        let st = get(&format!("{server}/api/status"));
        assert!(st["issues"].to_string().contains("bytes waiting"), "{st}");
        assert!(
            !st["segments"].as_array().unwrap().is_empty(),
            "the buffer's segments are shown"
        );
        ch[0].start();
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = get(&format!("{server}/api/status"));
        if st["index"]["transactions"].as_u64().unwrap() >= 800
            && !st["issues"].to_string().contains("bytes waiting")
        {
            break;
        }
        assert!(Instant::now() < deadline, "never replayed: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // At least once: an insert the kill interrupted after ClickHouse kept
    // it is sent again from the buffer, so a row may be there twice; none
    // may be missing.
    let ids = ids_of(&server, base_ms, "front");
    let front: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(front.len(), 400, "every acknowledged transaction");
    assert!(
        ids.len() <= 400 + 25,
        "at most one batch twice: {}",
        ids.len()
    );
    let back: BTreeSet<String> = ids_of(&server, base_ms, "back").into_iter().collect();
    assert_eq!(back.len(), 400);
    drop(_c);

    // A small buffer: once it is full, 503 with Retry-After; nothing
    // acknowledged before is lost.
    let (_d, small) = serve_binary(
        &root.0.join("small"),
        &["--storage", &url, "--storage-buffer-bytes", "20000"],
    );
    ch[0].kill();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut statuses = Vec::new();
    let extra = demo_requests(base_ms + 100_000, 200);
    let mut accepted = 0;
    for (_, body) in &extra {
        let r = agent
            .post(&format!("{small}/v1/traces"))
            .header("content-type", PROTO)
            .send(&body[..])
            .unwrap();
        let s = r.status().as_u16();
        if s == 503 {
            assert_eq!(r.headers().get("retry-after").unwrap(), "1");
        } else {
            accepted += 1;
        }
        statuses.push(s);
    }
    assert!(
        statuses.contains(&200) && statuses.contains(&503),
        "{statuses:?}"
    );
    assert!(
        get(&format!("{small}/api/status"))["issues"]
            .to_string()
            .contains("refused with 503")
    );
    ch[0].start();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = get(&format!("{small}/api/status"));
        if !st["issues"].to_string().contains("bytes waiting")
            && st["index"]["transactions"].as_u64().unwrap() > 800
        {
            break;
        }
        assert!(Instant::now() < deadline, "never replayed: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Each accepted request held 25 transactions.
    let n = get(&format!("{small}/api/status"))["index"]["transactions"]
        .as_u64()
        .unwrap();
    assert_eq!(n, 800 + 25 * accepted as u64);
}

/// The Tomcat demo under the Java agent (real servlet, JDBC and JVM data,
/// not a synthetic shape): what the agent sends is caught once by a
/// loopback receiver, then the same requests go to the embedded backend
/// and, split between two `osprey serve` processes posting at once, to
/// two ClickHouse shards; every viewer query answers the same on both.
#[test]
fn the_tomcat_demos_traces_through_two_servers_answer_as_the_embedded_backend() {
    let Some(bin) = require() else { return };
    let root = TempDir::new("ch-tomcat");
    let receiver = osprey_testkit::Receiver::start();
    let demo = viewer_support::Demo::start(
        &format!(
            "exporter=otlp,otlp.endpoint={},batch.delay_ms=50,service.name=tomcat-demo",
            receiver.endpoint()
        ),
        &root.0.join("demo"),
    );
    let base_ms = now_ms();
    for n in 0..120u32 {
        let (status, _) = match n % 6 {
            4 => demo.get("/fail", &[]),
            5 => demo.get(&format!("/slow?id={}&ms=120", n % 4), &[]),
            _ => demo.get(&format!("/hello?id={}", n % 5 + 1), &[]),
        };
        assert_eq!(status, if n % 6 == 4 { 500 } else { 200 });
    }
    demo.stop();
    let end_ms = now_ms();
    let sent = receiver.requests();
    let traces: Vec<_> = sent.iter().filter(|r| r.path == "/v1/traces").collect();
    let spans: usize = traces
        .iter()
        .map(|r| {
            r.traces()
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum::<usize>()
        })
        .sum();
    assert!(spans >= 120, "the agent sent {spans} spans");

    let ch = ClickHouse::cluster(&bin, &root, 2);
    let url = format!(
        "clickhouse://{},{}/osprey_demo?cluster=osprey",
        ch[0].addr(),
        ch[1].addr()
    );
    migrate(&url);
    let (_e, embedded) = serve_binary(&root.0.join("embedded"), &[]);
    let (_a, a) = serve_binary(&root.0.join("a"), &["--storage", &url]);
    let (_b, b) = serve_binary(&root.0.join("b"), &["--storage", &url]);
    let content_type =
        |r: &osprey_testkit::Request| r.header("content-type").unwrap_or(PROTO).to_owned();
    for r in &sent {
        let ct = content_type(r);
        let status = post(&format!("{embedded}{}", r.path), &ct, None, &r.body).0;
        assert_eq!(status, 200, "embedded {}", r.path);
    }
    // Trace requests alternate between the two servers, posted at once;
    // metrics and active-services reports go to the first.
    std::thread::scope(|s| {
        for (k, server) in [&a, &b].into_iter().enumerate() {
            let sent = &sent;
            s.spawn(move || {
                let mut n = 0;
                for r in sent {
                    let mine = if r.path == "/v1/traces" {
                        n += 1;
                        n % 2 == k
                    } else {
                        k == 0
                    };
                    if mine {
                        let status = post(
                            &format!("{server}{}", r.path),
                            &content_type(r),
                            None,
                            &r.body,
                        )
                        .0;
                        assert_eq!(status, 200, "{server}{}", r.path);
                    }
                }
            });
        }
    });
    for (i, c) in ch.iter().enumerate() {
        let n: u64 = c
            .query("SELECT count() FROM osprey_demo.transactions_local")
            .trim()
            .parse()
            .unwrap();
        assert!(n > 0, "shard {i} holds no transaction");
    }

    let (from, to) = (base_ms - 1_000, end_ms + 1_000);
    let ids = ids_of(&embedded, base_ms, "tomcat-demo");
    assert!(ids.len() >= 120, "{} demo transactions stored", ids.len());
    let trace = newest_trace(&embedded, "tomcat-demo");
    let mut paths = api_paths(base_ms, &ids[..8], &trace);
    paths.extend([
        format!("/api/transactions?limit=1000&service=tomcat-demo&from={from}&to={to}"),
        format!("/api/transactions?limit=50&service=tomcat-demo&error=1&from={from}&to={to}"),
        format!("/api/transactions?limit=50&min_ms=100&from={from}&to={to}"),
        format!("/api/transactions?limit=50&endpoint=GET%20/hello&from={from}&to={to}"),
        format!("/api/xlog?from={from}&to={to}"),
        format!("/api/servermap?from={from}&to={to}"),
        format!("/api/metrics?from={}&to={to}", from - 120_000),
        "/api/instances?service=tomcat-demo".to_owned(),
    ]);
    assert_same_answers(&embedded, &a, &paths);
    assert_same_answers(&embedded, &b, &paths);
}
