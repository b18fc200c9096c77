//! The agent on one real Spring Boot 3 application, as issue 11's "Tested"
//! section names it: `ffi/tests/spring-app` (a shop: Spring MVC, Spring
//! Data JPA on PostgreSQL, a `RestClient` to a second instance of itself,
//! `@Async`, a pool of its own, `@Scheduled`, a Kafka producer and
//! consumer, Redis through Lettuce), built here with Maven and run under the
//! agent with no configuration beyond the exporter, against PostgreSQL,
//! `redis-server` and a KRaft Kafka broker the test starts on 127.0.0.1, and
//! the loopback OTLP receiver. On JDK 17 and on Temurin 25 with
//! `spring.threads.virtual.enabled` (requests, `@Async` and `@Scheduled` on
//! virtual threads).
//!
//! Proves: routes name the transactions (`GET /buy/{item}`, `http.route`,
//! the raw path in `url.path`); the framework steps in order and nested
//! (controller → repository → Hibernate → SQL; Redis commands; the
//! `RestClient` call; the `@Async` and pooled work on their own threads; the
//! Kafka publish; the native query); one trace across the two instances
//! (the callee's SERVER span is the child of the client step); each consumed
//! record a transaction continuing the producer's trace under its publish
//! step, with the consumer's repository work as its steps; Redis steps named
//! with the command only; `@Scheduled` runs as transactions of their own;
//! log lines carrying the trace and span ids; responses identical with and
//! without the agent; and none of the planted secrets of
//! `osprey_testkit::secrets` (JDBC password, `Authorization` and `Cookie`
//! headers, query token, bind value, SQL literal) in any byte the receiver
//! got.
//!
//! Set `OSPREY_AGENT_JAR` to test a prebuilt agent jar.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::java::{PortApp, jdks, status_code};
use common::stores::{Kafka, Postgres, Redis};
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use osprey_testkit::spans::{hex, str_attr, within};
use osprey_testkit::{Receiver, secrets};

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-spring-app", &["-DskipTests"])
}

fn app_jar() -> &'static Path {
    static JAR: OnceLock<PathBuf> = OnceLock::new();
    JAR.get_or_init(|| {
        common::spring::boot_jar(
            "ffi/tests/spring-app",
            "shop.build.dir",
            "spring-shop-build",
            "spring-shop.jar",
        )
    })
}

/// The servers both instances use.
struct Stores {
    pg: Postgres,
    redis: Redis,
    kafka: Kafka,
}

/// One run of the two instances: the shop (front) and the stock service it
/// calls (back), with or without the agent.
struct Run<'a> {
    jdk: &'a Path,
    label: String,
    virtual_threads: bool,
    receiver: Option<&'a Receiver>,
    topic: String,
}

impl Run<'_> {
    fn start(&self, stores: &Stores, service: &str, db: &str, extra: &[String]) -> PortApp {
        let jvm_args: Vec<String> = self
            .receiver
            .map(|r| common::java::agent_option(agent_jar(), r, &format!("service.name={service}")))
            .into_iter()
            .collect();
        let mut cmd = common::spring::boot_command(self.jdk, &jvm_args, app_jar());
        cmd.arg(format!(
            "--spring.datasource.url=jdbc:postgresql://127.0.0.1:{}/{db}?password={}",
            stores.pg.port,
            secrets::JDBC_PASSWORD
        ))
        .arg(format!("--spring.data.redis.port={}", stores.redis.port))
        .arg("--spring.data.redis.host=127.0.0.1")
        .arg(format!(
            "--spring.kafka.bootstrap-servers=127.0.0.1:{}",
            stores.kafka.port
        ))
        .arg(format!("--shop.topic={}", self.topic))
        .arg(format!(
            "--spring.threads.virtual.enabled={}",
            self.virtual_threads
        ))
        .args(extra);
        PortApp::start(cmd, &format!("{}-{service}", self.label))
    }

    /// Starts both instances, sends the requests, waits for the consumer,
    /// stops both; the responses and both instances' standard output.
    fn exercise(&self, stores: &Stores) -> (Vec<(String, String)>, String, String) {
        let back = self.start(
            stores,
            "stock",
            "stock",
            &["--shop.listen=false".to_owned()],
        );
        let front = self.start(
            stores,
            "shop",
            "shop",
            &[format!("--shop.backend-url=http://127.0.0.1:{}", back.port)],
        );
        let headers = secrets::header_lines();
        let mut got = Vec::new();
        for item in ITEMS {
            got.push(front.get(
                &format!(
                    "/buy/{item}?note={}&{}",
                    secrets::BIND_VALUE,
                    secrets::QUERY
                ),
                &headers,
            ));
        }
        for id in 1..=ITEMS.len() {
            got.push(front.get(&format!("/orders/{id}"), ""));
        }
        // The consumer's view, once both records arrived (bounded wait).
        let deadline = Instant::now() + Duration::from_secs(60);
        let consumed = loop {
            let (status, body) = front.get("/consumed", "");
            if body.split(',').count() == ITEMS.len() || Instant::now() >= deadline {
                break (status, body);
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        got.push(consumed);
        // Let the scheduler tick at least once more after the orders.
        std::thread::sleep(Duration::from_millis(700));
        let (front_out, _) = front.stop();
        let (back_out, _) = back.stop();
        (got, front_out, back_out)
    }
}

const ITEMS: [&str; 2] = ["widget", "gadget"];

/// The tree under `root` as `(depth, name)` in start order: SQL statements
/// as `SQL <verb>`, the call to the stock instance as `GET stock`, tasks as
/// `async <class>` without the lambda's suffix.
fn tree(spans: &[Span], root: &Span, stock_port: Option<u16>) -> Vec<(usize, String)> {
    fn walk(
        spans: &[Span],
        parent: &Span,
        depth: usize,
        stock: &str,
        out: &mut Vec<(usize, String)>,
    ) {
        let mut children: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace_id == parent.trace_id && s.parent_span_id == parent.span_id)
            .filter(|s| s.kind != span::SpanKind::Server as i32)
            .collect();
        children.sort_by_key(|s| s.start_time_unix_nano);
        for c in children {
            let name = if str_attr(&c.attributes, "db.system") == Some("postgresql") {
                format!("SQL {}", c.name.split_whitespace().next().unwrap_or(""))
            } else if c.name == stock {
                "GET stock".to_owned()
            } else if let Some((head, _)) = c.name.split_once("$$Lambda") {
                head.to_owned()
            } else {
                c.name.clone()
            };
            out.push((depth, name));
            walk(spans, c, depth + 1, stock, out);
        }
    }
    let stock = stock_port.map_or(String::new(), |p| format!("GET 127.0.0.1:{p}"));
    let mut out = Vec::new();
    walk(spans, root, 0, &stock, &mut out);
    out
}

/// Every step under `root`, down to the next SERVER span (another
/// process's or a consumer's transaction).
fn steps_under<'a>(spans: &'a [Span], root: &Span) -> Vec<&'a Span> {
    let mut out = Vec::new();
    let mut parents = vec![root.span_id.clone()];
    while let Some(parent) = parents.pop() {
        for s in spans.iter().filter(|s| {
            s.trace_id == root.trace_id
                && s.parent_span_id == parent
                && s.kind != span::SpanKind::Server as i32
        }) {
            parents.push(s.span_id.clone());
            out.push(s);
        }
    }
    out
}

fn names(items: &[(usize, &str)]) -> Vec<(usize, String)> {
    items.iter().map(|(d, n)| (*d, n.to_string())).collect()
}

/// The spans of `service` (its resource's `service.name`).
fn of_service(receiver: &Receiver, service: &str) -> Vec<Span> {
    common::spans_with_service(
        receiver
            .traces()
            .into_iter()
            .flat_map(|r| r.resource_spans)
            .collect(),
    )
    .into_iter()
    .filter(|(s, _)| s == service)
    .map(|(_, span)| span)
    .collect()
}

fn shop_on(jdk: &Path, label: &str, stores: &Stores) {
    let virtual_threads = label != "jdk17";
    let plain = Run {
        jdk,
        label: format!("shop-plain-{label}"),
        virtual_threads,
        receiver: None,
        topic: format!("orders-{label}-plain"),
    };
    let (expected, plain_out, _) = plain.exercise(stores);
    assert_eq!(
        expected[0].1, "bought widget #1, stock 4, audited 1, price 6, cart true, others 1",
        "{label}: {expected:?}"
    );
    assert_eq!(expected[3].1, "order 2 gadget", "{label}");
    assert_eq!(expected[4].1, "widget 1,gadget 1", "{label}");
    assert_eq!(
        common::spring::log_ids(&plain_out, "buying widget"),
        (String::new(), String::new())
    );

    let receiver = Receiver::start();
    let traced = Run {
        jdk,
        label: format!("shop-agent-{label}"),
        virtual_threads,
        receiver: Some(&receiver),
        topic: format!("orders-{label}-agent"),
    };
    let (got, front_out, back_out) = traced.exercise(stores);
    assert_eq!(got, expected, "{label}: responses changed by the agent");

    // Both processes flushed at exit; let the receiver decode the last batch.
    common::java::spans_settled(&receiver, Duration::from_secs(10));
    for r in receiver.requests() {
        secrets::assert_none(
            &format!("{label}: OTLP headers"),
            format!("{:?}", r.headers).as_bytes(),
        );
        secrets::assert_none(&format!("{label}: OTLP body"), &r.body);
    }

    let shop = of_service(&receiver, "shop");
    let stock = of_service(&receiver, "stock");
    let dump = format!("{shop:?}{stock:?}");
    for value in ["cart:", "stock:", "widget 1"] {
        assert!(
            !dump.contains(value),
            "{label}: a Redis key or a record left: {value}"
        );
    }
    let names_of =
        |spans: &[Span]| -> Vec<String> { spans.iter().map(|s| s.name.clone()).collect() };

    // Routes.
    let servers = |spans: &'_ [Span], name: &str| -> Vec<Span> {
        let mut v: Vec<Span> = spans
            .iter()
            .filter(|s| s.kind == span::SpanKind::Server as i32 && s.name == name)
            .cloned()
            .collect();
        v.sort_by_key(|s| s.start_time_unix_nano);
        v
    };
    let buys = servers(&shop, "GET /buy/{item}");
    assert_eq!(buys.len(), 2, "{label}: {:?}", names_of(&shop));
    for (buy, item) in buys.iter().zip(ITEMS) {
        assert_eq!(str_attr(&buy.attributes, "http.route"), Some("/buy/{item}"));
        assert_eq!(
            str_attr(&buy.attributes, "url.path"),
            Some(format!("/buy/{item}").as_str())
        );
        assert_eq!(status_code(buy), 0, "{label}: {buy:?}");
    }
    let orders = servers(&shop, "GET /orders/{id}");
    assert_eq!(orders.len(), 2, "{label}: {:?}", names_of(&shop));
    assert_eq!(
        tree(&shop, &orders[0], None),
        names(&[
            (0, "ShopController.order"),
            (1, "OrderRepository.findById"),
            (2, "SQL select"),
            // Spring's transaction around the repository method ends after it.
            (1, "Transaction.commit"),
        ]),
        "{label}: GET /orders/{{id}}"
    );
    let stocks = servers(&stock, "GET /stock/{item}");
    assert_eq!(stocks.len(), 2, "{label}: {:?}", names_of(&stock));

    // The purchase: its steps in order and nested.
    let buy = &buys[0];
    let stock_call = shop
        .iter()
        .find(|s| {
            s.trace_id == buy.trace_id
                && s.kind == span::SpanKind::Client as i32
                && s.name.starts_with("GET 127.0.0.1:")
        })
        .unwrap_or_else(|| panic!("{label}: no RestClient step: {:?}", names_of(&shop)));
    let stock_port: u16 = stock_call.name.rsplit(':').next().unwrap().parse().unwrap();
    let topic = &traced.topic;
    let publish = format!("{topic} publish");
    assert_eq!(
        tree(&shop, buy, Some(stock_port)),
        names(&[
            (0, "ShopController.buy"),
            (1, "OrderRepository.save"),
            (2, "Session.persist"),
            (3, "SQL insert"),
            (1, "Transaction.commit"),
            (1, "SET"),
            (1, "GET"),
            (1, "GET stock"),
            (1, "async demo.shop.Audits.audit"),
            (1, "async demo.shop.ShopController"),
            (1, publish.as_str()),
            (1, "OrderRepository.countOthers"),
            (2, "Query.list"),
            (3, "SQL SELECT"),
        ]),
        "{label}: the purchase's steps"
    );
    for s in steps_under(&shop, buy) {
        assert!(within(s, buy), "{label}: {} inside the request", s.name);
    }
    let step = |name: &str| -> &Span {
        shop.iter()
            .find(|s| {
                s.trace_id == buy.trace_id
                    && (s.name == name || (name.starts_with("async ") && s.name.starts_with(name)))
            })
            .unwrap_or_else(|| panic!("{label}: no {name} step"))
    };
    // Redis: the command only.
    for cmd in ["SET", "GET"] {
        let s = step(cmd);
        assert_eq!(
            str_attr(&s.attributes, "db.system"),
            Some("redis"),
            "{label}"
        );
        assert_eq!(
            str_attr(&s.attributes, "db.operation.name"),
            Some(cmd),
            "{label}"
        );
    }
    // @Async and the pool: on their own threads.
    let audit = step("async demo.shop.Audits.audit");
    let audit_thread = str_attr(&audit.attributes, "thread.name").unwrap_or_default();
    assert!(
        audit_thread.starts_with("task-"),
        "{label}: @Async on {audit_thread:?}"
    );
    let priced = step("async demo.shop.ShopController");
    let pool_thread = str_attr(&priced.attributes, "thread.name").unwrap_or_default();
    assert!(
        pool_thread.starts_with("pricing-"),
        "{label}: pooled on {pool_thread:?}"
    );

    // One trace across the two instances.
    let callee = &stocks[0];
    assert_eq!(callee.trace_id, buy.trace_id, "{label}: one trace");
    assert_eq!(
        callee.parent_span_id, stock_call.span_id,
        "{label}: child of the call"
    );
    assert_eq!(
        tree(&stock, callee, None),
        names(&[(0, "StockController.stock"), (1, "SET"), (1, "DECR")]),
        "{label}: the stock instance's steps"
    );

    // Kafka: each record a transaction continuing its producer's trace.
    let process = format!("{topic} process");
    for (buy, item) in buys.iter().zip(ITEMS) {
        let sent = shop
            .iter()
            .find(|s| s.trace_id == buy.trace_id && s.name == publish)
            .unwrap_or_else(|| panic!("{label}: no publish step for {item}"));
        let txn = shop
            .iter()
            .find(|s| s.name == process && s.trace_id == buy.trace_id)
            .unwrap_or_else(|| {
                panic!(
                    "{label}: no consumer transaction for {item}: {:?}",
                    names_of(&shop)
                )
            });
        assert_eq!(txn.parent_span_id, sent.span_id, "{label}: {item}");
        assert_eq!(str_attr(&txn.attributes, "messaging.system"), Some("kafka"));
        assert_eq!(
            tree(&shop, txn, None),
            names(&[
                (0, "OrderRepository.findByItem"),
                (1, "Query.list"),
                (2, "SQL select"),
            ]),
            "{label}: the consumer's steps for {item}"
        );
        let (t, s) = common::spring::log_ids(&front_out, &format!("consumed order of {item}"));
        assert_eq!(
            (t, s),
            (hex(&txn.trace_id), hex(&txn.span_id)),
            "{label}: {item}"
        );
    }

    // @Scheduled: transactions of their own, each with its repository step.
    let ticks: Vec<&Span> = shop
        .iter()
        .filter(|s| s.parent_span_id.is_empty() && s.name == "Ticker.tick")
        .collect();
    assert!(
        !ticks.is_empty(),
        "{label}: no @Scheduled run: {:?}",
        names_of(&shop)
    );
    // Every run the same; the last may have been cut short by the shutdown.
    let tick_tree = names(&[
        (0, "OrderRepository.count"),
        (1, "Query.list"),
        (2, "SQL select"),
        (0, "Transaction.commit"),
    ]);
    let mut ticks_in_order = ticks.clone();
    ticks_in_order.sort_by_key(|s| s.start_time_unix_nano);
    let (last, earlier) = ticks_in_order.split_last().unwrap();
    for t in earlier {
        assert_eq!(tree(&shop, t, None), tick_tree, "{label}: a tick's steps");
    }
    assert_eq!(
        tree(&shop, last, None).first(),
        tick_tree.first(),
        "{label}: the last tick"
    );
    let tick_traces: Vec<String> = ticks.iter().map(|t| hex(&t.trace_id)).collect();
    let (t, _) = common::spring::log_ids(&front_out, "tick ");
    assert!(
        tick_traces.contains(&t) || t.is_empty(),
        "{label}: a tick's line: {t}"
    );

    // Log lines name the trace and the step they were written in.
    let trace = hex(&buy.trace_id);
    let controller = step("ShopController.buy");
    assert_eq!(
        common::spring::log_ids(&front_out, "buying widget"),
        (trace.clone(), hex(&controller.span_id))
    );
    assert_eq!(
        common::spring::log_ids(&front_out, "auditing order 1"),
        (trace.clone(), hex(&audit.span_id))
    );
    assert_eq!(
        common::spring::log_ids(&front_out, "pricing widget"),
        (trace.clone(), hex(&priced.span_id))
    );
    let stock_step = stock
        .iter()
        .find(|s| s.trace_id == buy.trace_id && s.name == "StockController.stock")
        .unwrap();
    assert_eq!(
        common::spring::log_ids(&back_out, "stock of widget"),
        (trace, hex(&stock_step.span_id))
    );
}

#[test]
fn one_spring_boot_shop_across_two_instances_is_traced_end_to_end() {
    let stores = Stores {
        pg: Postgres::start("shop-pg"),
        redis: Redis::start("shop-redis"),
        kafka: Kafka::start("shop-kafka"),
    };
    stores.pg.sql("shop", "CREATE DATABASE stock");
    for (jdk, label) in jdks() {
        shop_on(&jdk, label, &stores);
    }
}
