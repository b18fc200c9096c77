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

/// A query parameter the API cannot use; answered 400 with its text as
/// `{"error": ...}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamError {
    /// A time that is neither UNIX milliseconds nor RFC 3339 UTC.
    BadTime {
        /// The parameter.
        key: &'static str,
        /// What was given.
        value: String,
    },
    /// A parameter that should be a number.
    NotANumber {
        /// The parameter.
        key: &'static str,
        /// What was given.
        value: String,
    },
    /// A required parameter is missing.
    Missing {
        /// The parameter.
        key: &'static str,
        /// What it should hold.
        expected: &'static str,
    },
    /// `from` is after `to`.
    Reversed,
    /// A range longer than the endpoint answers, in seconds.
    RangeTooLong(u64),
    /// A value of the wrong form (a trace id, a cursor).
    Malformed {
        /// The parameter.
        key: &'static str,
        /// The form expected.
        expected: &'static str,
        /// What was given.
        value: String,
    },
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadTime { key, value } => {
                write!(f, "{key}: expected UNIX ms or RFC 3339 UTC, got {value:?}")
            }
            Self::NotANumber { key, value } => write!(f, "{key}: not a number: {value:?}"),
            Self::Missing { key, expected } => write!(f, "{key} is required ({expected})"),
            Self::Reversed => f.write_str("from is after to"),
            Self::RangeTooLong(max) => write!(f, "range longer than {max} s"),
            Self::Malformed {
                key,
                expected,
                value,
            } => write!(f, "{key}: expected {expected}, got {value:?}"),
        }
    }
}

impl std::error::Error for ParamError {}

impl IntoResponse for ParamError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

fn time(p: &Params, key: &'static str) -> Result<Option<u64>, ParamError> {
    match p.get(key) {
        None => Ok(None),
        Some(v) => crate::time::parse(v)
            .map(Some)
            .ok_or_else(|| ParamError::BadTime {
                key,
                value: v.clone(),
            }),
    }
}

fn num<T: std::str::FromStr>(p: &Params, key: &'static str) -> Result<Option<T>, ParamError> {
    match p.get(key) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ParamError::NotANumber {
            key,
            value: v.clone(),
        }),
    }
}

fn flag(p: &Params, key: &str) -> bool {
    p.get(key).is_some_and(|v| v == "true" || v == "1")
}

/// `from`/`to` with defaults: the last five minutes.
fn range(p: &Params) -> Result<(u64, u64), ParamError> {
    let now = crate::time::now_ms() * NS_PER_MS;
    let to = time(p, "to")?.unwrap_or(now + NS_PER_S);
    let from = time(p, "from")?.unwrap_or(to.saturating_sub(300 * NS_PER_S));
    if from > to {
        return Err(ParamError::Reversed);
    }
    Ok((from, to))
}

fn filter(p: &Params) -> Result<TxnFilter, ParamError> {
    let ms = |k: &'static str| num::<f64>(p, k).map(|o| o.map(|v| (v.max(0.0) * 1e6) as u64));
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
            Some(t) => Some(TraceId::from_hex(t).ok_or_else(|| ParamError::Malformed {
                key: "trace",
                expected: "32 hex digits",
                value: t.clone(),
            })?),
        },
        before: match p.get("before") {
            None => None,
            Some(c) => Some(TxnCursor::parse(c).ok_or_else(|| ParamError::Malformed {
                key: "before",
                expected: "<end ns>-<seq>",
                value: c.clone(),
            })?),
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
            Err(e) => return ParamError::into_response(e),
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
        return ParamError::RangeTooLong(MAX_SECONDS).into_response();
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
        return ParamError::Missing {
            key: "t",
            expected: "UNIX ms or RFC 3339 UTC",
        }
        .into_response();
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
        instance: p.get("instance").cloned(),
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

    #[tokio::test]
    async fn bad_parameters_are_typed_and_answer_400_with_their_text() {
        let params = |pairs: &[(&str, &str)]| -> Params {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            filter(&params(&[("min_ms", "ten")])).unwrap_err(),
            ParamError::NotANumber {
                key: "min_ms",
                value: "ten".into()
            }
        );
        assert_eq!(
            range(&params(&[("from", "2000"), ("to", "1000")])).unwrap_err(),
            ParamError::Reversed
        );
        let e = time(&params(&[("t", "yesterday")]), "t").unwrap_err();
        assert!(matches!(e, ParamError::BadTime { key: "t", .. }));
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["error"],
            "t: expected UNIX ms or RFC 3339 UTC, got \"yesterday\""
        );
    }
}
