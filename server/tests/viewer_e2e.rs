//! The web viewer end to end: the real `osprey` binary, data from a real
//! instrumented application (the embedded Tomcat demo under the Java agent,
//! called once from a Rust service through the core's OTLP exporter, so
//! the map has a service-to-service edge), and headless Chromium driven
//! through chromedriver's W3C WebDriver API.
//!
//! Proves: the scatter draws one dot per transaction the API lists, errors
//! marked; dragging a rectangle lists them; clicking one shows its call
//! tree (methods, sanitised SQL, bars); the failing one shows its
//! exception; the filter form narrows the scatter (column filters here,
//! client IP through the server); the instances table filters by a
//! process and the filter survives a reload in the URL; the server map has rust-front →
//! tomcat-demo → h2; the inspector charts what `/api/metrics` has; active
//! services are coloured by elapsed time; the replay slider shows one past
//! second. Screenshots go to `target/viewer-screenshots/`.
//!
//! Without chromium and chromedriver the browser part is skipped with a
//! message (CI installs both through `.ci/run`). One test per file:
//! `osprey::init` is process-global.

mod support;
mod viewer_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use osprey::export::otlp::OtlpConfig;
use osprey::{Config, StepKind};
use serde_json::{Value, json};
use support::{MS, TempDir, get, post};
use viewer_support::{Browser, Demo, eventually, serve};

const OUTER: &str = "demo.web.Work.outer(java.lang.String)";
const INNER: &str = "demo.web.Work.inner(int)";
const SQL1: &str = "SELECT name FROM item WHERE id = ?";
const SQL2: &str = "SELECT name FROM item WHERE name = ? AND id = ?";
const WAIT: Duration = Duration::from_secs(20);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("viewer-screenshots")
}

/// Runs the demo under the agent, calls it once from the Rust service
/// `rust-front` (traceparent propagated) and three times directly, then
/// stops both so everything is delivered.
fn produce(url: &str, logs: &Path) {
    let demo = Demo::start(
        &format!(
            "hook.methods=demo.web.Work.*,exporter=otlp,otlp.endpoint={url},\
             batch.delay_ms=50,service.name=tomcat-demo"
        ),
        logs,
    );
    let guard = osprey::init(
        Config::default()
            .service_name("rust-front")
            .batch_delay(Duration::from_millis(50))
            .exporter_spec(OtlpConfig::default().endpoint(url)),
    )
    .expect("osprey core starts");
    {
        let txn = osprey::transaction("GET /front").server().begin();
        {
            let target = format!("http://127.0.0.1:{}/hello?id=42", demo.port);
            let call = osprey::step_of_kind(StepKind::HttpCall, "GET /hello");
            call.attr("url.full", target.as_str())
                .attr("http.request.method", "GET");
            let tp = osprey::traceparent().expect("inside a transaction");
            let (status, body) = demo.get("/hello?id=42", &[("traceparent", &tp)]);
            assert_eq!((status, body.as_str()), (200, "hello widget widget"));
        }
        txn.end();
    }
    assert!(guard.shutdown(Duration::from_secs(10)));
    for _ in 0..2 {
        assert_eq!(demo.get("/hello?id=42", &[]).0, 200);
    }
    // In a later second than the others, so replaying it shows fewer.
    std::thread::sleep(Duration::from_millis(1_100));
    assert_eq!(demo.get("/fail", &[]).0, 500);
    demo.stop();
}

/// OTLP/JSON metrics as the Java inspector samples in-flight transactions:
/// `osprey.active.count` and one `osprey.active.elapsed` (s) per transaction.
fn active_metrics(service: &str, txns: &[(&str, &str, f64)]) -> Value {
    let now = (now_ms() * MS).to_string();
    let gauge = |name: &str, unit: &str, value: f64, attrs: Value| {
        json!({"name": name, "unit": unit, "gauge": {"dataPoints": [
            {"timeUnixNano": now, "asDouble": value, "attributes": attrs}
        ]}})
    };
    let mut metrics = vec![gauge(
        "osprey.active.count",
        "{transaction}",
        txns.len() as f64,
        json!([]),
    )];
    for (name, thread, elapsed_s) in txns {
        metrics.push(gauge(
            "osprey.active.elapsed",
            "s",
            *elapsed_s,
            json!([
                {"key": "osprey.transaction.name", "value": {"stringValue": name}},
                {"key": "thread.name", "value": {"stringValue": thread}}
            ]),
        ));
    }
    json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeMetrics": [{"metrics": metrics}]
    }]})
}

fn txns(url: &str, query: &str) -> Vec<Value> {
    get(&format!("{url}/api/transactions?from=0&limit=1000{query}"))["transactions"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn viewer_shows_a_real_application() {
    let dir = TempDir::new("viewer");
    let (_server, url) = serve(&dir.0);
    produce(&url, &dir.0.join("demo"));

    // 3 x /hello, /fail, /exit from Tomcat; GET /front from Rust.
    let all = eventually(WAIT, || {
        let t = txns(&url, "");
        (t.len() >= 6).then_some(t)
    })
    .expect("six transactions stored");
    assert_eq!(all.len(), 6, "{all:#?}");
    let by = |endpoint: &str| -> Vec<&Value> {
        all.iter().filter(|t| t["endpoint"] == endpoint).collect()
    };
    let fail = by("GET /fail")[0].clone();
    assert_eq!(fail["error"], true);
    let hello = by("GET /hello")
        .into_iter()
        .find(|t| t["parent_span_id"].is_null())
        .expect("a direct /hello")
        .clone();
    assert_eq!(by("GET /front").len(), 1);

    // The query API on the Tomcat application's data: the call tree, the
    // server map, the per-second aggregates.
    let id = hello["id"].as_str().unwrap();
    let tree = get(&format!("{url}/api/tree/{id}"));
    let steps = tree["transactions"][0]["steps"].as_array().unwrap().clone();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, [OUTER, INNER, SQL1, SQL2], "{tree:#}");
    let depths: Vec<u64> = steps.iter().map(|s| s["depth"].as_u64().unwrap()).collect();
    assert_eq!(depths, [1, 2, 3, 3], "{tree:#}");
    assert_eq!(steps[2]["sql"], SQL1);
    assert!(
        steps[2]["offset_ms"].as_f64().unwrap() >= steps[1]["offset_ms"].as_f64().unwrap(),
        "{tree:#}"
    );
    let since = now_ms() - 600_000;
    let map = get(&format!("{url}/api/servermap?from={since}"));
    let edges = map["edges"].as_array().unwrap();
    let edge = |caller: &str, callee_prefix: &str| {
        edges.iter().find(|e| {
            e["caller"] == caller && e["callee"].as_str().unwrap().starts_with(callee_prefix)
        })
    };
    let front = edge("rust-front", "tomcat-demo").unwrap_or_else(|| panic!("{map:#}"));
    assert_eq!(front["count"], 1);
    let db = edge("tomcat-demo", "h2").unwrap_or_else(|| panic!("{map:#}"));
    assert_eq!(db["count"], 6, "two statements per /hello: {map:#}");
    let aggregates = get(&format!(
        "{url}/api/aggregates?from={since}&to={}",
        now_ms()
    ));
    let seconds = aggregates["seconds"].as_array().unwrap();
    let count: u64 = seconds.iter().map(|s| s["count"].as_u64().unwrap()).sum();
    let errors: u64 = seconds.iter().map(|s| s["errors"].as_u64().unwrap()).sum();
    assert_eq!((count, errors), (6, 1), "{aggregates:#}");

    // An in-flight report, as an agent sampling its threads would post it.
    let active = json!({"service": "tomcat-demo", "transactions": [
        {"endpoint": "GET /slow", "elapsed_ms": 9500.0, "thread": "http-nio-1", "stack": "at demo.web.Work.slow(Work.java:9)"},
        {"endpoint": "GET /report", "elapsed_ms": 4200.0, "thread": "http-nio-2"},
        {"endpoint": "GET /hello", "elapsed_ms": 12.0, "thread": "http-nio-3"}
    ]});
    let (status, _) = post(
        &format!("{url}/v1/active"),
        "application/json",
        None,
        active.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    let active_posted_ms = now_ms();

    // The page and its scripts come from the binary, with a strict CSP.
    let (status, page) = support::get_status(&format!("{url}/"));
    assert_eq!(status, 200);
    assert!(page.contains("/ui/app.js"), "{page}");
    let resp = ureq::get(format!("{url}/ui/xlog.js")).call().unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/javascript"));
    assert!(header("content-security-policy").contains("default-src 'self'"));
    assert_eq!(support::get_status(&format!("{url}/ui/nope.js")).0, 404);

    let Some(browser) = Browser::start() else {
        eprintln!(
            "SKIPPED the browser part of viewer_e2e: chromium and chromedriver are not \
             installed (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let shots = screenshots();
    browser.goto(&format!("{url}/"));

    // 1. The scatter: one dot per transaction of the last ten minutes.
    let expected = get(&format!("{url}/api/xlog?from={}", now_ms() - 600_000))["id"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(expected, 6);
    let dots = browser.wait_for(
        "the scatter's dots",
        WAIT,
        &format!(
            "const c = document.getElementById('xlog');
             return document.body.dataset.ready && c.dataset.dots == '{expected}' && c.dataset;"
        ),
    );
    assert_eq!(dots["errors"], "1", "{dots}");
    browser.screenshot(&shots.join("1-xlog.png"));

    // Live: a transaction stored now appears without a reload.
    let now_ns = now_ms() * MS;
    let late = support::request(
        "late-svc",
        vec![support::span(
            7,
            7,
            None,
            "GET /late",
            opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server,
            now_ns - 30 * MS,
            now_ns,
            vec![],
        )],
    );
    let (status, _) = post(
        &format!("{url}/v1/traces"),
        "application/x-protobuf",
        None,
        &support::proto(&late),
    );
    assert_eq!(status, 200);
    let expected = expected + 1;
    browser.wait_for(
        "the live dot",
        WAIT,
        &format!("return document.getElementById('xlog').dataset.dots == '{expected}';"),
    );

    // 2. Drag a rectangle over the whole plot: every transaction is listed.
    let canvas = browser.find("#xlog");
    let size = browser.js(
        "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];",
        json!([canvas]),
    );
    let (w, h) = (
        size[0].as_f64().unwrap() as i64,
        size[1].as_f64().unwrap() as i64,
    );
    browser.drag(&canvas, (-w / 2 + 2, -h / 2 + 2), (w / 2 - 3, h / 2 - 3));
    let rows = browser.wait_for(
        "the selected list",
        WAIT,
        "const rows = [...document.querySelectorAll('#txn-list tbody tr')];
         return rows.length && rows.map(r => [r.dataset.id, r.classList.contains('error'), r.children[2].textContent]);",
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), expected, "{rows:?}");
    let errors: Vec<&Value> = rows.iter().filter(|r| r[1] == true).collect();
    assert_eq!(errors.len(), 1, "{rows:?}");
    assert_eq!(errors[0][0], fail["id"]);
    assert_eq!(errors[0][2], "GET /fail");

    // Keyboard: ArrowDown then Enter on the first row opens the second.
    browser.send_keys(&browser.find("#txn-list tbody tr"), "\u{E015}\u{E007}");
    let second = rows[1][0].as_str().unwrap();
    browser.wait_for(
        "the tree opened from the keyboard",
        WAIT,
        &format!("return document.getElementById('tree').dataset.id == '{second}';"),
    );

    // 3. Click a /hello: its call tree, in order, with bars.
    let hello_id = hello["id"].as_str().unwrap();
    browser.click_css(&format!("#txn-list tr[data-id='{hello_id}']"));
    let steps = browser.wait_for(
        "the call tree",
        WAIT,
        &format!(
            "const t = document.querySelector('#tree .txn[data-id=\"{hello_id}\"]');
             return t && [...t.querySelectorAll('tr.step')].map(r =>
               [r.dataset.name, r.dataset.kind, parseFloat(r.querySelector('.bar').style.width) > 0,
                parseInt(r.querySelector('.sname').style.paddingLeft)]);"
        ),
    );
    let got: Vec<(&str, &str, bool, i64)> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s[0].as_str().unwrap(),
                s[1].as_str().unwrap(),
                s[2].as_bool().unwrap(),
                s[3].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (OUTER, "method", true, 0),
            (INNER, "method", true, 14),
            (SQL1, "sql", true, 28),
            (SQL2, "sql", true, 28),
        ]
    );
    browser.screenshot(&shots.join("2-call-tree.png"));

    // 4. The failing one: marked and its exception shown.
    browser.click_css(&format!(
        "#txn-list tr[data-id='{}']",
        fail["id"].as_str().unwrap()
    ));
    let exc = browser.wait_for(
        "the failing transaction's tree",
        WAIT,
        "const t = document.querySelector('#tree .txn.error .exc'); return t && t.textContent;",
    );
    let exc = exc.as_str().unwrap();
    assert!(
        exc.contains("IllegalStateException") && exc.contains("kaboom"),
        "{exc}"
    );
    browser.screenshot(&shots.join("3-error.png"));

    // A distributed call: GET /front's HTTP step links to the Tomcat
    // transaction it called; "Whole trace" shows both.
    let front = by("GET /front")[0]["id"].as_str().unwrap().to_owned();
    browser.click_css(&format!("#txn-list tr[data-id='{front}']"));
    let callee = browser.wait_for(
        "the callee link",
        WAIT,
        "const b = document.querySelector('#tree tr.step.http button.callee'); return b && b.dataset.id;",
    );
    let callee = callee.as_str().unwrap();
    browser.click_css("#tree button.callee");
    browser.wait_for(
        "the callee's tree",
        WAIT,
        &format!(
            "const t = document.querySelector('#tree .txn[data-id=\"{callee}\"]');
             return t && t.querySelector('tr.step[data-name=\"{OUTER}\"]');"
        ),
    );
    browser.click_css("#tree button.whole-trace");
    let services = browser.wait_for(
        "the whole trace",
        WAIT,
        "const t = [...document.querySelectorAll('#tree .txn')];
         return t.length == 2 && t.map(x => x.querySelector('strong').textContent);",
    );
    assert_eq!(
        services,
        json!(["rust-front GET /front", "tomcat-demo GET /hello"])
    );

    // 5. The server map: rust-front -> tomcat-demo -> h2.
    let map = browser.wait_for(
        "the server map",
        WAIT,
        "const s = document.getElementById('servermap');
         const db = s.querySelector('g.node.database');
         return s.querySelector('g.edge-group[data-caller=\"rust-front\"][data-callee=\"tomcat-demo\"]') && db &&
           s.querySelector(`g.edge-group[data-caller=\"tomcat-demo\"][data-callee=\"${db.dataset.name}\"]`) &&
           [db.dataset.name, s.querySelector('g.edge-group[data-callee=\"' + db.dataset.name + '\"] text').textContent];",
    );
    assert!(map[0].as_str().unwrap().starts_with("h2"), "{map}");
    // Two SELECTs per /hello, three /hello requests.
    assert!(map[1].as_str().unwrap().starts_with("6 calls"), "{map}");

    // A service node narrows the scatter to that service.
    browser.click_css("#servermap g.node[data-name='rust-front']");
    browser.wait_for(
        "the scatter narrowed to rust-front",
        WAIT,
        "return document.getElementById('xlog').dataset.dots == '1' &&
           document.getElementById('filter').elements.service.value == 'rust-front';",
    );
    browser.click_css("#filter button[type=reset]");

    // 6. The inspector: TPS, response time and every metric the API lists.
    let names: Vec<Value> = {
        let mut n: Vec<String> =
            get(&format!("{url}/api/metrics?from={}", now_ms() - 300_000))["series"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_owned())
                .collect();
        n.sort();
        n.dedup();
        n.into_iter().take(24).map(Value::from).collect()
    };
    let charts = browser.wait_for(
        "the inspector",
        WAIT,
        "const figs = [...document.querySelectorAll('#charts figure')].map(f => f.dataset.name);
         return figs.length >= 2 && figs;",
    );
    let charts = charts.as_array().unwrap();
    assert_eq!(charts[..2], [json!("TPS"), json!("Response time")]);
    let mut charted = charts[2..].to_vec();
    charted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    assert_eq!(charted, names, "charts for every metric name");

    // 7. Active services: yellow over 3 s, red over 8 s, stack on click;
    // besides the posted report, a service that samples in-flight
    // transactions as metrics (the Java inspector's osprey.active.*).
    let sampled = active_metrics("jvm-svc", &[("GET /export", "exec-7", 8.5)]);
    let (status, _) = post(
        &format!("{url}/v1/metrics"),
        "application/json",
        None,
        sampled.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    let rows = browser.wait_for(
        "active services",
        WAIT,
        "const r = [...document.querySelectorAll('#active tbody tr')];
         return r.length == 4 && r.map(x => [x.className, x.children[1].textContent]);",
    );
    assert_eq!(
        rows,
        json!([
            ["slow", "GET /slow"],
            ["slow", "GET /export"],
            ["warn", "GET /report"],
            ["", "GET /hello"]
        ])
    );
    browser.click_css("#active tbody tr.slow");
    let stack = browser.js(
        "return document.getElementById('active-stack').textContent;",
        json!([]),
    );
    assert!(stack.as_str().unwrap().contains("Work.slow"), "{stack}");
    browser.screenshot(&shots.join("4-map-inspector-active.png"));

    // 8. The filter form: a column filter, then a client-IP filter (server side).
    let apply = |fields: Value| {
        browser.js(
            "const f = document.getElementById('filter'); f.reset();
             for (const [k, v] of Object.entries(arguments[0]))
               f.elements[k].type == 'checkbox' ? f.elements[k].checked = v : f.elements[k].value = v;",
            json!([fields]),
        );
        browser.click_css("#filter button[type=submit]");
    };
    let dots_are = |n: usize, what: &str| {
        browser.wait_for(
            what,
            WAIT,
            &format!("return document.getElementById('xlog').dataset.dots == '{n}';"),
        );
    };
    apply(json!({"service": "rust-front"}));
    dots_are(1, "one rust-front dot");
    apply(json!({"error": true}));
    dots_are(1, "one error dot");
    let from_localhost = txns(&url, "&ip=127.0.0.1").len();
    assert_eq!(
        from_localhost, 5,
        "the Tomcat requests carry client.address"
    );
    apply(json!({"ip": "127.0.0.1"}));
    dots_are(from_localhost, "the dots from 127.0.0.1");
    browser.screenshot(&shots.join("5-filter-ip.png"));
    browser.click_css("#filter button[type=reset]");
    dots_are(expected, "all dots again");

    // 8b. The instances: each process of each service with its host and
    // pid; choosing the JVM's filters by it and puts it in the page URL,
    // which a reload (or a shared link) restores.
    let instances = get(&format!("{url}/api/instances"))["instances"].clone();
    let jvm = instances
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["service"] == "tomcat-demo")
        .unwrap_or_else(|| panic!("the JVM's instance: {instances}"))
        .clone();
    assert!(jvm["host"].as_str().is_some_and(|h| !h.is_empty()), "{jvm}");
    assert!(jvm["pid"].as_u64().is_some_and(|p| p > 0), "{jvm}");
    let jvm_id = jvm["instance"].as_str().unwrap().to_owned();
    let of_jvm = get(&format!(
        "{url}/api/xlog?from={}&instance={jvm_id}",
        now_ms() - 600_000
    ))["id"]
        .as_array()
        .unwrap()
        .len();
    assert!((1..expected).contains(&of_jvm), "{of_jvm} of {expected}");
    let row = format!("#instances tbody tr[data-instance='{jvm_id}'] button");
    browser.wait_for(
        "the instances table",
        WAIT,
        &format!("return document.querySelector(\"{row}\") !== null;"),
    );
    browser.click_css(&row);
    dots_are(of_jvm, "the JVM instance's dots");
    let search = browser.js("return window.location.search;", json!([]));
    let search = search.as_str().unwrap().to_owned();
    assert!(search.contains(&format!("instance={jvm_id}")), "{search}");
    browser.goto(&format!("{url}/{search}"));
    dots_are(of_jvm, "the instance filter after a reload");
    let field = browser.js(
        "return document.getElementById('filter').elements.instance.value;",
        json!([]),
    );
    assert_eq!(field, jvm_id.as_str());
    browser.click_css("#filter button[type=reset]");
    dots_are(expected, "all dots again");

    // 9. Replay the second the failing request ended in.
    let t = fail["end_ms"].as_u64().unwrap();
    let at = get(&format!("{url}/api/at?t={t}"));
    let in_second = at["transactions"].as_array().unwrap().len();
    assert!((1..expected).contains(&in_second), "{at}");
    browser.js("window.osprey.replay(arguments[0]);", json!([t]));
    let replayed = browser.wait_for(
        "the replayed second",
        WAIT,
        &format!(
            "return document.body.dataset.replay == '{}' && [document.getElementById('xlog').dataset.dots,
               [...document.querySelectorAll('#txn-list tbody tr')].map(r => r.dataset.id),
               document.getElementById('mode').textContent,
               Number(document.getElementById('replay-slider').value)];",
            at["second"]
        ),
    );
    assert_eq!(replayed[0], in_second.to_string());
    assert!(
        replayed[1].as_array().unwrap().contains(&fail["id"]),
        "{replayed}"
    );
    assert!(
        replayed[2].as_str().unwrap().starts_with("replay"),
        "{replayed}"
    );
    assert!(replayed[3].as_f64().unwrap() < 600.0, "slider moved back");
    browser.screenshot(&shots.join("6-replay.png"));
    // The second the in-flight report arrived in: replay shows what was
    // running then, from the reports the server keeps per second.
    browser.js(
        "window.osprey.replay(arguments[0]);",
        json!([active_posted_ms]),
    );
    let then = browser.wait_for(
        "what was in flight in a replayed second",
        WAIT,
        &format!(
            "const r = [...document.querySelectorAll('#active tbody tr')];
             return document.body.dataset.replay == '{}' && r.length >= 3
               && r.map(x => x.children[1].textContent);",
            active_posted_ms / 1_000
        ),
    );
    for endpoint in ["GET /slow", "GET /report", "GET /hello"] {
        assert!(
            then.as_array().unwrap().contains(&json!(endpoint)),
            "{then}"
        );
    }
    browser.click_css("#replay-live");
    browser.wait_for(
        "live again",
        WAIT,
        &format!(
            "return document.getElementById('mode').textContent == 'live' &&
               document.getElementById('xlog').dataset.dots == '{expected}';"
        ),
    );

    // The slider itself: two seconds back from where it is grabbed.
    browser.send_keys(&browser.find("#replay-slider"), "\u{E012}\u{E012}");
    let second = browser.wait_for(
        "the slider's second",
        WAIT,
        "const s = document.body.dataset.replay; const m = document.getElementById('mode').textContent;
         return s && m.startsWith('replay') && Number(document.getElementById('replay-slider').value) == 598 && Number(s);",
    );
    let second = second.as_u64().unwrap();
    let at = get(&format!("{url}/api/at?t={}", second * 1000));
    let n = at["transactions"].as_array().unwrap().len();
    browser.wait_for(
        "the slider's second drawn",
        WAIT,
        &format!(
            "return document.body.dataset.replay == '{second}' && document.getElementById('xlog').dataset.dots == '{n}';"
        ),
    );
    browser.click_css("#replay-live");
    browser.wait_for(
        "live again",
        WAIT,
        "return document.getElementById('mode').textContent == 'live';",
    );

    // No panel failed to refresh along the way.
    let errors = browser.js("return window.osprey.state.errors;", json!([]));
    assert_eq!(
        errors,
        json!(0),
        "panel refreshes failed (see the browser console)"
    );
    eprintln!("viewer screenshots in {}", shots.display());
}
