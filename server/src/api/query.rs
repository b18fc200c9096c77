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
use crate::storage::{SeriesQuery, StorageError, StorageResult, TxnCursor, TxnFilter};
use osprey::model::TraceId;

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
    let now = crate::time::now_ms() * NS_PER_MS;
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
        http_status: num::<u16>(p, "status")?,
        trace_id: match p.get("trace") {
            None => None,
            Some(t) => Some(
                TraceId::from_hex(t)
                    .ok_or_else(|| format!("trace: expected 32 hex digits, got {t:?}"))?,
            ),
        },
        before: match p.get("before") {
            None => None,
            Some(c) => Some(
                TxnCursor::parse(c)
                    .ok_or_else(|| format!("before: expected <end ns>-<seq>, got {c:?}"))?,
            ),
        },
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

/// A failed storage call: its status (400, 501, 503, 500) and message.
fn failed(e: StorageError) -> Response {
    let code = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(json!({ "error": e.to_string() }))).into_response()
}

/// Answers `v` as JSON, or the storage error.
fn answer<T: Serialize>(v: StorageResult<T>) -> Response {
    match v {
        Ok(v) => ok(v),
        Err(e) => failed(e),
    }
}

/// Unwraps a storage result or returns its error response.
macro_rules! stored {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return failed(e),
        }
    };
}

pub(super) async fn status(State(app): State<Arc<App>>) -> Response {
    ok(app.status())
}

pub(super) async fn transactions(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let f = tri!(filter(&p));
    let limit = tri!(num::<usize>(&p, "limit")).unwrap_or(100).min(10_000);
    let page = stored!(app.storage().transactions(&f, limit));
    let list: Vec<_> = page.transactions.iter().map(|t| t.to_json()).collect();
    // A full page may have more behind it: `before=<next>` continues.
    let next = (limit > 0 && list.len() == limit)
        .then(|| page.transactions.last().map(|t| TxnCursor::of(t).to_text()))
        .flatten();
    ok(json!({ "cursor": page.cursor, "next": next, "transactions": list }))
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
    let page = stored!(match since {
        Some(s) => app.storage().since(s, limit),
        None => app.storage().transactions(&f, limit),
    });
    let list = page.transactions;
    let mut c = Cols {
        cursor: match since {
            // A cursor from before a restart is clamped to the newest.
            Some(s) => list.last().map_or(s.min(page.cursor), |t| t.seq),
            None => page.cursor,
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
    ok(c)
}

pub(super) async fn tree(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let lookup = tokio::task::spawn_blocking(move || app.find_trees(&id)).await;
    match lookup {
        Ok(Ok(Some(trees))) => ok(json!({ "transactions": trees })),
        Ok(Err(e)) => failed(e),
        Ok(Ok(None)) => (
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
    let seconds = stored!(app.storage().seconds(from_s, to_s, window));
    ok(json!({
        "histogram_bounds_ms": crate::storage::aggregate_bounds_ms(),
        "window_s": window,
        "seconds": seconds,
    }))
}

pub(super) async fn servermap(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let (from, to) = tri!(range(&p));
    let edges = stored!(app.storage().server_map(from, to));
    ok(json!({ "edges": edges }))
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
    let storage = app.storage();
    let f = TxnFilter {
        from_ns: Some(from),
        to_ns: Some(to),
        ..TxnFilter::default()
    };
    let txns: Vec<_> = stored!(storage.transactions(&f, limit))
        .transactions
        .iter()
        .map(|t| t.to_json())
        .collect();
    let stats = stored!(storage.seconds(second, second, window)).pop();
    let latest = stored!(storage.series(&SeriesQuery {
        to_ns: Some(to),
        latest_only: true,
        ..SeriesQuery::default()
    }));
    let edges = stored!(storage.server_map(from, to));
    let active = match storage.active_at(second) {
        Ok(a) => a,
        Err(StorageError::Unsupported(_)) => Vec::new(),
        Err(e) => return failed(e),
    };
    ok(json!({
        "second": second,
        "aggregate": stats,
        "transactions": txns,
        "edges": edges,
        "metrics": latest,
        "active": active,
    }))
}

pub(super) async fn metrics(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let q = SeriesQuery {
        service: p.get("service").cloned(),
        name: p.get("name").cloned(),
        from_ns: tri!(time(&p, "from")),
        to_ns: tri!(time(&p, "to")),
        latest_only: flag(&p, "latest"),
    };
    let series = stored!(app.storage().series(&q));
    ok(json!({ "series": series }))
}

/// `GET /api/instances[?service=]`: each service's processes
/// (`service.instance.id`) with host, pid, first and last seen and counts.
pub(super) async fn instances(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let service = p.get("service").map(String::as_str);
    let instances = stored!(app.storage().instances(service));
    ok(json!({ "instances": instances }))
}

pub(super) async fn active(State(app): State<Arc<App>>) -> Response {
    answer(app.storage().active().map(|s| json!({ "services": s })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_storage_call_answers_its_status_and_a_json_error() {
        let r = failed(StorageError::Unsupported("active services per second"));
        assert_eq!(r.status(), StatusCode::NOT_IMPLEMENTED);
        let body = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["error"],
            "not kept by this storage backend: active services per second"
        );
    }
}
