//! Two real axum services on a 4-worker tokio runtime, each behind
//! `OspreyServerLayer`; the first calls the second through a reqwest client
//! with `OspreyMiddleware`. Handlers await timers inside native steps and
//! `#[instrument]`ed functions (the `tracing` layer is installed too). What
//! the collector exported is read back from a capturing exporter.

#[path = "../../core/tests/support/capture.rs"]
mod capture;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use capture::{Capture, render};
use osprey::future::FutureExt;
use osprey::model::{AttrValue, SpanKind, StepKind, TransactionRecord};
use tracing_subscriber::prelude::*;

const MS: u64 = 1_000_000;

fn name(id: osprey::names::NameId) -> String {
    osprey::names::resolve(id).to_string()
}

fn attr<'a>(attrs: &'a [osprey::model::Attribute], key: &str) -> Option<&'a AttrValue> {
    attrs.iter().find(|a| name(a.key) == key).map(|a| &a.value)
}

#[tracing::instrument]
async fn render_page(id: u64) -> String {
    tokio::time::sleep(Duration::from_millis(2)).await;
    format!("order {id}")
}

async fn orders(
    State(state): State<Arc<Front>>,
    Path(id): Path<u64>,
) -> Result<String, StatusCode> {
    // The timer is made inside the step (a timer made first could fire
    // within 10 ms of the step's start).
    async { tokio::time::sleep(Duration::from_millis(10)).await }
        .in_step("prepare")
        .await;
    let stock = state
        .client
        .get(format!("http://{}/stock/{id}", state.backend))
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    if !stock.status().is_success() {
        return Err(StatusCode::BAD_GATEWAY);
    }
    Ok(render_page(id).await)
}

async fn stock(Path(sku): Path<u64>, headers: axum::http::HeaderMap) -> String {
    let lookup = osprey::future::step("lookup");
    if let Some(state) = headers.get("tracestate").and_then(|v| v.to_str().ok()) {
        lookup.attr("seen.tracestate", state);
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    lookup.end();
    format!("{sku}: 3 left")
}

async fn broken() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

struct Front {
    client: reqwest_middleware::ClientWithMiddleware,
    backend: SocketAddr,
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[test]
fn requests_through_two_services_are_one_transaction_each_in_one_trace() {
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(osprey::layer::OspreyLayer::default()),
    )
    .unwrap();
    let capture = Capture::default();
    let guard = osprey::init(
        osprey::Config::default()
            .batch_delay(Duration::from_millis(20))
            // Room for every batch: this checks the recorder, not the
            // exporter queue's bound (a busy shared machine can stall the
            // capturing exporter for a while).
            .exporter_queue_batches(4096)
            .exporter(capture.clone()),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    const REQUESTS: u64 = 1000;
    const CONCURRENT: usize = 64;
    let inbound_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    rt.block_on(async {
        let backend = serve(
            Router::new()
                .route("/stock/{sku}", get(stock))
                .layer(osprey_web::OspreyServerLayer::new()),
        )
        .await;
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(osprey_web::OspreyMiddleware)
            .build();
        let front = serve(
            Router::new()
                .route("/orders/{id}", get(orders))
                .route("/broken", get(broken))
                .with_state(Arc::new(Front { client, backend }))
                .layer(osprey_web::OspreyServerLayer::new()),
        )
        .await;
        // A plain client outside any transaction: the load generator.
        let load = reqwest::Client::new();
        let gate = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
        let mut tasks = Vec::new();
        for id in 0..REQUESTS {
            let (load, gate) = (load.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let mut req = load.get(format!("http://{front}/orders/{id}"));
                if id == 7 {
                    req = req
                        .header(
                            "traceparent",
                            format!("00-{inbound_trace}-00f067aa0ba902b7-01"),
                        )
                        .header("tracestate", "vendor=opaque");
                }
                if id == 8 {
                    req = req.header("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1");
                }
                let res = req.send().await.unwrap();
                assert_eq!(res.status(), 200);
                assert_eq!(res.text().await.unwrap(), format!("order {id}"));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let res = load
            .get(format!("http://{front}/broken"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 500);
    });
    drop(rt);
    assert!(guard.shutdown(Duration::from_secs(20)));
    let stats = osprey::stats();
    assert_eq!(stats.dropped_queue, 0, "{stats:?}");
    assert_eq!(stats.exporters[0].dropped, 0, "{stats:?}");
    assert_eq!(stats.exporters[0].delivered, 2 * REQUESTS + 1, "{stats:?}");
    let txns = capture.transactions();

    let by_name = |n: &str| -> Vec<&TransactionRecord> {
        txns.iter().filter(|t| name(t.name) == n).collect()
    };
    let fronts = by_name("GET /orders/{id}");
    let backs = by_name("GET /stock/{sku}");
    let mut names: HashMap<String, usize> = HashMap::new();
    for t in &txns {
        *names.entry(name(t.name)).or_default() += 1;
    }
    assert_eq!(
        fronts.len() as u64,
        REQUESTS,
        "one transaction per request; got {names:?}"
    );
    assert_eq!(backs.len() as u64, REQUESTS);
    assert_eq!(txns.len() as u64, 2 * REQUESTS + 1);
    // Each request delivered exactly once.
    let paths: HashSet<String> = fronts
        .iter()
        .map(|t| attr(&t.attributes, "url.path").unwrap().to_string())
        .collect();
    assert_eq!(paths.len() as u64, REQUESTS);

    let backs_by_parent: HashMap<_, _> = backs
        .iter()
        .map(|t| ((t.trace_id, t.parent_span_id.unwrap()), *t))
        .collect();
    for t in &fronts {
        assert_eq!(t.kind, SpanKind::Server);
        assert!(!t.repaired, "{}", render(t));
        assert_eq!(
            attr(&t.attributes, "http.response.status_code"),
            Some(&AttrValue::Int(200))
        );
        assert_eq!(
            attr(&t.attributes, "http.route"),
            Some(&AttrValue::Str("/orders/{id}".into()))
        );
        let steps: Vec<(String, u16, StepKind)> = t
            .steps
            .iter()
            .map(|s| (name(s.name), s.depth, s.kind))
            .collect();
        assert_eq!(
            steps,
            [
                ("prepare".into(), 1, StepKind::Method),
                ("GET".into(), 1, StepKind::HttpCall),
                ("render_page".into(), 1, StepKind::Method),
            ],
            "{}",
            render(t)
        );
        let (prepare, call, page) = (&t.steps[0], &t.steps[1], &t.steps[2]);
        // In order, each covering its awaits.
        assert!(prepare.elapsed_ns >= 10 * MS);
        assert!(call.start_offset_ns >= prepare.start_offset_ns + prepare.elapsed_ns);
        assert!(page.start_offset_ns >= call.start_offset_ns + call.elapsed_ns);
        assert!(page.elapsed_ns >= 2 * MS);
        assert!(t.elapsed_ns >= 17 * MS);
        // One trace across both services: the backend's transaction hangs
        // on the call step.
        let back = backs_by_parent
            .get(&(t.trace_id, call.span_id))
            .unwrap_or_else(|| panic!("no backend transaction under\n{}", render(t)));
        assert_eq!(back.kind, SpanKind::Server);
        assert_eq!(name(back.steps[0].name), "lookup");
        assert!(back.steps[0].elapsed_ns >= 5 * MS);
        assert!(call.elapsed_ns >= back.steps[0].elapsed_ns);
        assert_eq!(
            attr(&call.attributes, "http.response.status_code"),
            Some(&AttrValue::Int(200))
        );
        assert!(call.error.is_none());
    }
    assert_eq!(backs_by_parent.len() as u64, REQUESTS);
    // Inbound trace contexts are continued (W3C with tracestate, B3).
    let with_path = |p: &str| {
        *fronts
            .iter()
            .find(|t| attr(&t.attributes, "url.path") == Some(&AttrValue::Str(p.into())))
            .unwrap()
    };
    let seven = with_path("/orders/7");
    assert_eq!(seven.trace_id.to_hex(), inbound_trace);
    assert_eq!(seven.parent_span_id.unwrap().to_hex(), "00f067aa0ba902b7");
    let back = backs_by_parent
        .get(&(seven.trace_id, seven.steps[1].span_id))
        .unwrap();
    assert_eq!(
        attr(&back.steps[0].attributes, "seen.tracestate"),
        Some(&AttrValue::Str("vendor=opaque".into())),
        "tracestate carried on"
    );
    let eight = with_path("/orders/8");
    assert_eq!(eight.trace_id.to_hex(), "80f198ee56343ba864fe8b2a57d3eff7");
    assert_eq!(eight.parent_span_id.unwrap().to_hex(), "e457b5a2e4d86bd1");
    // A failed request is named by its route and marked failed.
    let broken = by_name("GET /broken");
    assert_eq!(broken.len(), 1);
    assert!(broken[0].error.is_some());
}
