//! `/metrics`: what the server knows, for Prometheus to scrape, in the
//! Prometheus text format or OpenMetrics (by the `Accept` header; see
//! [`encode`]):
//!
//! - `osprey_requests_total`, `osprey_request_errors_total` and the
//!   histogram `osprey_request_duration_seconds` per `service`,
//!   `instance` and `endpoint`, counted since the server started
//!   ([`counters`]);
//! - `osprey_active_transactions` and `osprey_active_oldest_seconds` per
//!   service (the active-services reports of the last minute);
//! - `osprey_instance_last_seen_timestamp_seconds` per service and instance;
//! - `osprey_alerts_firing` per rule;
//! - every stored metric series: JVM, host (`system.*`), process and
//!   container metrics under their translated names ([`series`]).
//!
//! Access is that of OTLP ingest: with auth on, a request needs an API
//! key (`Authorization: Bearer osk_...`, made with `osprey key add`), and
//! a key limited to some services sees only theirs. `server/README.md`
//! has the Prometheus scrape configuration.

pub mod counters;
pub mod encode;
pub mod series;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::{self, Auth, Grant};
use crate::live::Live;
use crate::storage::{SeriesQuery, StorageResult};
use encode::{Family, Format, Sample, Type};

/// `/metrics` over `live`, behind API keys.
pub fn routes(live: Arc<Live>, auth: Arc<Auth>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .layer(middleware::from_fn_with_state(
            auth,
            auth::http::require_key,
        ))
        .with_state(live)
}

async fn scrape(
    State(live): State<Arc<Live>>,
    Extension(grant): Extension<Grant>,
    headers: HeaderMap,
) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let answer = tokio::task::spawn_blocking(move || {
        exposition(&live, &grant, format, crate::time::now_ms())
    })
    .await;
    match answer {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Ok(Err(e)) => (
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            format!("cannot read the metrics: {e}\n"),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// The whole exposition as of `now_ms`, limited to what `grant` may see.
pub fn exposition(
    live: &Live,
    grant: &Grant,
    format: Format,
    now_ms: u64,
) -> StorageResult<String> {
    let storage = live.app.storage();
    let allow = |s: &str| grant.allows(s);
    let mut fams = live.counters.families(&allow);

    let (mut active, mut oldest) = (Vec::new(), Vec::new());
    for r in storage.active()? {
        if !allow(&r.service) || now_ms.saturating_sub(r.received_ms) > 60_000 {
            continue;
        }
        let labels = vec![("service".to_owned(), r.service.clone())];
        active.push(gauge(labels.clone(), r.transactions.len() as f64));
        let max = r
            .transactions
            .iter()
            .map(|t| t.elapsed_ms)
            .fold(0.0, f64::max);
        oldest.push(gauge(labels, max / 1000.0));
    }
    fams.push(family(
        "osprey_active_transactions",
        "Transactions in flight (active services) as last reported.",
        active,
    ));
    fams.push(family(
        "osprey_active_oldest_seconds",
        "Age of the oldest transaction in flight.",
        oldest,
    ));

    let seen = storage
        .instances(None)?
        .into_iter()
        .filter(|i| allow(&i.service))
        .map(|i| {
            gauge(
                vec![
                    ("service".into(), i.service),
                    ("instance".into(), i.instance),
                ],
                i.last_seen_ms as f64 / 1000.0,
            )
        })
        .collect();
    fams.push(family(
        "osprey_instance_last_seen_timestamp_seconds",
        "End of the latest transaction of each instance (UNIX seconds).",
        seen,
    ));

    let firing = live
        .alerts
        .states()
        .into_iter()
        .filter(|s| s.service.as_deref().is_none_or(allow))
        .map(|s| {
            gauge(
                vec![("rule".into(), s.rule), ("severity".into(), s.severity)],
                f64::from(u8::from(s.firing)),
            )
        })
        .collect();
    fams.push(family(
        "osprey_alerts_firing",
        "1 while the alert rule fires.",
        firing,
    ));

    let q = SeriesQuery {
        from_ns: Some(now_ms.saturating_sub(series::FRESH.as_millis() as u64) * 1_000_000),
        latest_only: true,
        ..SeriesQuery::default()
    };
    let stored = series::families(&storage.series(&q)?, &allow);
    let taken: std::collections::HashSet<String> = fams.iter().map(|f| f.name.clone()).collect();
    fams.extend(stored.into_iter().filter(|f| !taken.contains(&f.name)));
    Ok(encode::render(&fams, format))
}

fn gauge(labels: Vec<(String, String)>, value: f64) -> Sample {
    Sample {
        suffix: "",
        labels,
        value,
    }
}

fn family(name: &str, help: &str, samples: Vec<Sample>) -> Family {
    Family {
        name: name.into(),
        help: help.into(),
        kind: Type::Gauge,
        samples,
    }
}
