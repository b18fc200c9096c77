//! Handlers of the JSON query API.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::Params;
use crate::app::App;
use crate::index::{SeriesQuery, TxnFilter};
use crate::store::Store;

const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;
/// Longest range `/api/aggregates` answers, seconds.
const MAX_SECONDS: u64 = 86_400;

fn bad(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

fn time(p: &Params, key: &str) -> Result<Option<u64>, String> {
    match p.get(key) {
        None => Ok(None),
        Some(v) => crate::time::parse(v)
            .map(Some)
            .ok_or_else(|| format!("{key}: expected UNIX ms or RFC 3339 UTC, got {v:?}")),
    }
}

fn num<T: std::str::FromStr>(p: &Params, key: &str) -> Result<Option<T>, String> {
    match p.get(key) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{key}: not a number: {v:?}")),
    }
}

fn flag(p: &Params, key: &str) -> bool {
    p.get(key).is_some_and(|v| v == "true" || v == "1")
}

/// `from`/`to` with defaults: the last five minutes.
fn range(p: &Params) -> Result<(u64, u64), String> {
    let now = Store::now_ms() * NS_PER_MS;
    let to = time(p, "to")?.unwrap_or(now + NS_PER_S);
    let from = time(p, "from")?.unwrap_or(to.saturating_sub(300 * NS_PER_S));
    if from > to {
        return Err("from is after to".into());
    }
    Ok((from, to))
}

fn filter(p: &Params) -> Result<TxnFilter, String> {
    let ms = |k| num::<f64>(p, k).map(|o| o.map(|v| (v.max(0.0) * 1e6) as u64));
    Ok(TxnFilter {
        from_ns: time(p, "from")?,
        to_ns: time(p, "to")?,
        min_elapsed_ns: ms("min_ms")?,
        max_elapsed_ns: ms("max_ms")?,
        error_only: flag(p, "error"),
        service: p.get("service").cloned(),
        endpoint: p.get("endpoint").cloned(),
        client_ip: p.get("ip").cloned(),
        user: p.get("user").cloned(),
        instance: p.get("instance").cloned(),
    })
}

fn ok<T: Serialize>(v: T) -> Response {
    Json(v).into_response()
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(message) => return bad(message),
        }
    };
}

pub(super) async fn status(State(app): State<Arc<App>>) -> Response {
    ok(app.status())
}

pub(super) async fn transactions(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let f = tri!(filter(&p));
    let limit = tri!(num::<usize>(&p, "limit")).unwrap_or(100).min(10_000);
    let (cursor, list) = app.read(|i| {
        let l: Vec<_> = i
            .transactions(&f, limit)
            .iter()
            .map(|t| t.to_json())
            .collect();
        (i.cursor(), l)
    });
    ok(json!({ "cursor": cursor, "transactions": list }))
}

/// Columnar XLog: `since` (cursor) for live updates, else the filters.
pub(super) async fn xlog(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let since = tri!(num::<u64>(&p, "since"));
    let f = tri!(filter(&p));
    let limit = tri!(num::<usize>(&p, "limit"))
        .unwrap_or(100_000)
        .min(1_000_000);
    #[derive(Serialize, Default)]
    struct Cols {
        cursor: u64,
        end_ms: Vec<u64>,
        elapsed_ms: Vec<f64>,
        error: Vec<bool>,
        id: Vec<String>,
        trace_id: Vec<String>,
        service: Vec<String>,
        endpoint: Vec<String>,
        instance: Vec<Option<String>>,
        tree_omitted: Vec<bool>,
    }
    let cols = app.read(|i| {
        let list = match since {
            Some(s) => i.since(s, limit),
            None => i.transactions(&f, limit),
        };
        let mut c = Cols {
            cursor: match since {
                // A cursor from before a restart is clamped to the newest.
                Some(s) => list.last().map_or(s.min(i.cursor()), |t| t.seq),
                None => i.cursor(),
            },
            ..Cols::default()
        };
        for t in list {
            c.end_ms.push(t.end_ns() / NS_PER_MS);
            c.elapsed_ms.push(t.elapsed_ns as f64 / 1e6);
            c.error.push(t.error);
            c.id.push(t.span_id.to_hex());
            c.trace_id.push(t.trace_id.to_hex());
            c.service.push(t.service.to_string());
            c.endpoint.push(t.endpoint.to_string());
            c.instance.push(t.instance.as_deref().map(str::to_owned));
            c.tree_omitted.push(t.tree_omitted);
        }
        c
    });
    ok(cols)
}

pub(super) async fn tree(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let lookup = tokio::task::spawn_blocking(move || app.trees(&id)).await;
    match lookup {
        Ok(Some(trees)) => ok(json!({ "transactions": trees })),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such transaction or trace (ids are 16 or 32 hex digits)" })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

pub(super) async fn aggregates(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let (from, to) = tri!(range(&p));
    let window = tri!(num::<u64>(&p, "window_s"))
        .unwrap_or(60)
        .clamp(1, 3_600);
    let (from_s, to_s) = (from / NS_PER_S, to.saturating_sub(1) / NS_PER_S);
    if to_s.saturating_sub(from_s) >= MAX_SECONDS {
        return bad(format!("range longer than {MAX_SECONDS} s"));
    }
    let seconds = app.read(|i| i.seconds(from_s, to_s, window));
    ok(json!({
        "histogram_bounds_ms": crate::index::aggregate_bounds_ms(),
        "window_s": window,
        "seconds": seconds,
    }))
}

pub(super) async fn servermap(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let (from, to) = tri!(range(&p));
    ok(json!({ "edges": app.read(|i| i.server_map(from, to)) }))
}

pub(super) async fn at(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let Some(t) = tri!(time(&p, "t")) else {
        return bad("t is required (UNIX ms or RFC 3339 UTC)".into());
    };
    let window = tri!(num::<u64>(&p, "window_s"))
        .unwrap_or(60)
        .clamp(1, 3_600);
    let limit = tri!(num::<usize>(&p, "limit"))
        .unwrap_or(1_000)
        .min(100_000);
    let second = t / NS_PER_S;
    let (from, to) = (second * NS_PER_S, (second + 1) * NS_PER_S);
    let state = app.read(|i| {
        let f = TxnFilter {
            from_ns: Some(from),
            to_ns: Some(to),
            ..TxnFilter::default()
        };
        let txns: Vec<_> = i
            .transactions(&f, limit)
            .iter()
            .map(|t| t.to_json())
            .collect();
        let stats = i.seconds(second, second, window).pop();
        let latest = i.series(&SeriesQuery {
            to_ns: Some(to),
            latest_only: true,
            ..SeriesQuery::default()
        });
        json!({
            "second": second,
            "aggregate": stats,
            "transactions": txns,
            "edges": i.server_map(from, to),
            "metrics": latest,
        })
    });
    ok(state)
}

pub(super) async fn metrics(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let q = SeriesQuery {
        service: p.get("service").cloned(),
        name: p.get("name").cloned(),
        from_ns: tri!(time(&p, "from")),
        to_ns: tri!(time(&p, "to")),
        latest_only: flag(&p, "latest"),
    };
    ok(json!({ "series": app.read(|i| i.series(&q)) }))
}

/// `GET /api/instances[?service=]`: each service's processes
/// (`service.instance.id`) with host, pid, first and last seen and counts.
pub(super) async fn instances(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let service = p.get("service").map(String::as_str);
    ok(json!({ "instances": app.read(|i| i.instances(service)) }))
}

pub(super) async fn active(State(app): State<Arc<App>>) -> Response {
    ok(json!({ "services": app.active() }))
}
