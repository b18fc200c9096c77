//! A small Rust service instrumented two ways — Osprey's native span guards
//! and `tracing` spans through `OspreyLayer` — recording nested call trees.
//!
//! Run: `cargo run -p osprey-examples --bin rust_app`. With no exporter
//! configured the trees go to the local store (`./osprey-data`, or
//! `$OSPREY_DATA_DIR`); at the end the program reads this run's
//! transactions back from the store and prints each line and call tree.
//! Set `OTEL_EXPORTER_OTLP_ENDPOINT` to send them to an OTLP collector instead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use osprey::export::store::StoreConfig;
use osprey::{Config, ErrorInfo, StepKind};
use osprey_examples::{Trees, print_store};
use tracing_subscriber::prelude::*;

fn main() {
    let config = Config::from_env()
        .unwrap_or_else(|e| {
            eprintln!("bad configuration: {e}");
            std::process::exit(2)
        })
        .service_name(std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "rust-shop".into()))
        .batch_delay(Duration::from_millis(100));
    // With no collector configured, the local store is the default.
    let store = StoreConfig::default();
    let local = !config.has_exporters();
    let config = if local {
        config.exporter_spec(store.clone())
    } else {
        config
    };
    let run_start = unix_ns_now();
    let osprey = osprey::init(config).expect("osprey starts");
    let subscriber = tracing_subscriber::registry().with(osprey::layer::OspreyLayer::default());
    tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");

    let workers: Vec<_> = (0..2)
        .map(|worker| {
            std::thread::spawn(move || {
                for order in 0..3 {
                    handle_request(worker * 100 + order);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker thread");
    }
    nightly_report();

    let finished = osprey.shutdown(Duration::from_secs(10));
    let stats = osprey::stats();
    println!(
        "recorded {} transactions, {} dropped{}",
        stats.produced(),
        stats.dropped_queue,
        if finished {
            ""
        } else {
            " (exporters did not finish in time)"
        }
    );
    if local {
        print_store(&store.dir, run_start, Trees::All, usize::MAX).expect("the local store opens");
    }
}

fn unix_ns_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A request handled with the native API: a SERVER transaction with method,
/// SQL and HTTP-call steps.
fn handle_request(order_id: u32) {
    let txn = osprey::transaction(format!("GET /orders/{order_id}"))
        .server()
        .begin();
    txn.attr("http.request.method", "GET")
        .attr("http.route", "/orders/{id}");
    let user = load_user(order_id);
    {
        let query = osprey::step_of_kind(StepKind::Sql, "SELECT * FROM orders WHERE id = ?");
        query.attr("db.system", "postgresql").attr("db.rows", 1i64);
        std::thread::sleep(Duration::from_millis(2));
    }
    {
        let call = osprey::step_of_kind(StepKind::HttpCall, "GET http://inventory/stock");
        call.attr("traceparent", osprey::traceparent().unwrap_or_default());
        std::thread::sleep(Duration::from_millis(1));
        if order_id % 3 == 2 {
            call.error(ErrorInfo {
                kind: "TimeoutError".into(),
                message: format!("inventory did not answer for {user}"),
                stack: String::new(),
            });
            txn.attr("http.response.status_code", 504i64);
            txn.error(ErrorInfo {
                kind: "GatewayTimeout".into(),
                message: "upstream timeout".into(),
                stack: String::new(),
            });
            return;
        }
    }
    render(order_id);
    txn.attr("http.response.status_code", 200i64);
}

fn load_user(order_id: u32) -> String {
    let _step = osprey::step("load_user");
    std::thread::sleep(Duration::from_millis(1));
    format!("user-{}", order_id % 7)
}

/// Library code instrumented with `tracing`: recorded as steps of the
/// current transaction through the layer.
#[tracing::instrument]
fn render(order_id: u32) {
    let _span = tracing::info_span!("template", name = "order.html").entered();
    std::thread::sleep(Duration::from_millis(1));
}

/// A background job recorded entirely through `tracing`: the outermost span
/// becomes an INTERNAL transaction.
fn nightly_report() {
    let _job = tracing::info_span!("nightly_report", kind = "batch").entered();
    for region in ["emea", "apac"] {
        let _region = tracing::info_span!("aggregate_region", region).entered();
        std::thread::sleep(Duration::from_millis(1));
    }
}
