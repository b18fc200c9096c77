//! Two real axum services on a 4-worker tokio runtime, each behind
//! `OspreyServerLayer`; the first calls the second through a reqwest client
//! with `OspreyMiddleware`. Handlers await timers inside native steps and
//! `#[instrument]`ed functions (the `tracing` layer is installed too) and
//! query a real PostgreSQL server started by the test: the front through
//! sqlx (steps from its statement events), the back through tokio-postgres
//! (`osprey_web::postgres::Client`). What the collector exported is read
//! back from a capturing exporter.

#[path = "../../core/tests/support/capture.rs"]
mod capture;
#[path = "support/postgres.rs"]
mod postgres;

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
/// The front's sqlx statement as named: literals replaced, binds kept.
const FRONT_SQL_NAME: &str = "SELECT $1::int8 AS id, ? AS status";
/// [`STOCK_SQL`] as named.
const BACK_SQL_NAME: &str = "SELECT $1::int8 * ? + ? AS left, ? AS site";

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
    // A literal in the text: the step's name must not keep it.
    let (order, status): (i64, String) =
        sqlx::query_as("SELECT $1::int8 AS id, 'pending' AS status")
            .bind(id as i64)
            .fetch_one(&state.db)
            .await
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    assert_eq!((order, status.as_str()), (id as i64, "pending"));
    Ok(render_page(id).await)
}

/// The back's statement, with literals.
const STOCK_SQL: &str = "SELECT $1::int8 * 0 + 3 AS left, 'warehouse-7' AS site";

async fn stock(
    State(pg): State<Arc<osprey_web::postgres::Client>>,
    Path(sku): Path<u64>,
    headers: axum::http::HeaderMap,
) -> Result<String, StatusCode> {
    let lookup = osprey::future::step("lookup");
    if let Some(state) = headers.get("tracestate").and_then(|v| v.to_str().ok()) {
        lookup.attr("seen.tracestate", state);
    }
    let left: i64 = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let row = pg.query_one(STOCK_SQL, &[&(sku as i64)]).await?;
        Ok::<_, tokio_postgres::Error>(row.get(0))
    }
    .in_step_handle(lookup)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(format!("{sku}: {left} left"))
}

async fn broken() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

struct Front {
    client: reqwest_middleware::ClientWithMiddleware,
    backend: SocketAddr,
    db: sqlx::PgPool,
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[test]
fn requests_through_two_services_are_one_transaction_each_in_one_trace() {
    let pg = postgres::Postgres::start();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(osprey::layer::OspreyLayer::default().sqlx_system("postgresql")),
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
        let (pg_client, connection) = tokio_postgres::connect(&pg.config(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let backend = serve(
            Router::new()
                .route("/stock/{sku}", get(stock))
                .with_state(Arc::new(osprey_web::postgres::Client::new(pg_client)))
                .layer(osprey_web::OspreyServerLayer::new()),
        )
        .await;
        let db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(&pg.url())
            .await
            .unwrap();
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(osprey_web::OspreyMiddleware)
            .build();
        let front = serve(
            Router::new()
                .route("/orders/{id}", get(orders))
                .route("/broken", get(broken))
                .with_state(Arc::new(Front {
                    client,
                    backend,
                    db: db.clone(),
                }))
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
                let status = res.status();
                let body = res.text().await.unwrap();
                assert_eq!(status, 200, "{body}");
                assert_eq!(body, format!("order {id}"));
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
                // From sqlx's statement event, its literal replaced.
                (FRONT_SQL_NAME.into(), 1, StepKind::Sql),
                ("render_page".into(), 1, StepKind::Method),
            ],
            "{}",
            render(t)
        );
        let (prepare, call, sql, page) = (&t.steps[0], &t.steps[1], &t.steps[2], &t.steps[3]);
        // In order, each covering its awaits.
        assert!(prepare.elapsed_ns >= 10 * MS);
        assert!(call.start_offset_ns >= prepare.start_offset_ns + prepare.elapsed_ns);
        assert!(sql.start_offset_ns >= call.start_offset_ns + call.elapsed_ns);
        assert!(sql.elapsed_ns > 0);
        assert!(page.start_offset_ns >= sql.start_offset_ns + sql.elapsed_ns);
        assert!(page.elapsed_ns >= 2 * MS);
        assert!(t.elapsed_ns >= 17 * MS);
        assert_eq!(
            attr(&sql.attributes, "db.system"),
            Some(&AttrValue::Str("postgresql".into()))
        );
        assert_eq!(
            attr(&sql.attributes, "db.response.returned_rows"),
            Some(&AttrValue::Int(1))
        );
        // One trace across both services: the backend's transaction hangs
        // on the call step.
        let back = backs_by_parent
            .get(&(t.trace_id, call.span_id))
            .unwrap_or_else(|| panic!("no backend transaction under\n{}", render(t)));
        assert_eq!(back.kind, SpanKind::Server);
        assert!(!back.repaired, "{}", render(back));
        let back_steps: Vec<(String, u16, StepKind)> = back
            .steps
            .iter()
            .map(|s| (name(s.name), s.depth, s.kind))
            .collect();
        assert_eq!(
            back_steps,
            [
                ("lookup".into(), 1, StepKind::Method),
                // From tokio-postgres, nested in the step awaiting it.
                (BACK_SQL_NAME.into(), 2, StepKind::Sql),
            ],
            "{}",
            render(back)
        );
        let (lookup, query) = (&back.steps[0], &back.steps[1]);
        assert!(lookup.elapsed_ns >= 5 * MS);
        assert!(query.start_offset_ns >= lookup.start_offset_ns + 5 * MS);
        assert!(
            query.start_offset_ns + query.elapsed_ns <= lookup.start_offset_ns + lookup.elapsed_ns
        );
        assert_eq!(query.parent, Some(0));
        assert_eq!(
            attr(&query.attributes, "db.system"),
            Some(&AttrValue::Str("postgresql".into()))
        );
        assert!(call.elapsed_ns >= lookup.elapsed_ns);
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
