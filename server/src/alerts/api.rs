//! The alerts' HTTP API, behind the viewer's login (state-changing calls
//! need the admin role and the CSRF token, as every `/api` change):
//!
//! - `GET /api/alerts`: the rules file's text, every rule's state, the
//!   notifiers (names and kinds only) and the silences;
//! - `PUT /api/alerts/rules`: a new rules file (TOML body); checked and
//!   saved, or 400 with the rule and field at fault and nothing changed;
//! - `POST /api/alerts/try`: a rules file (TOML body) tried on the last
//!   24 h: when each rule would have fired and recovered;
//! - `GET /api/alerts/history?limit=N`: firings and recoveries with their
//!   evidence, newest first, and the latest notification outcomes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;

use super::AlertError;
use crate::live::Live;

/// The routes, for a router of any state.
pub fn routes<S: Clone + Send + Sync + 'static>(live: Arc<Live>) -> Router<S> {
    Router::new()
        .route("/api/alerts", get(overview))
        .route("/api/alerts/rules", put(save))
        .route("/api/alerts/try", post(trial))
        .route("/api/alerts/history", get(history))
        .with_state(live)
}

fn bad(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}

fn refused(e: AlertError) -> Response {
    match e {
        AlertError::Invalid(e) => bad(StatusCode::BAD_REQUEST, e.to_string()),
        AlertError::Io(..) => bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn not_utf8() -> Response {
    bad(
        StatusCode::BAD_REQUEST,
        "the rules file is not UTF-8".into(),
    )
}

async fn overview(State(live): State<Arc<Live>>) -> Response {
    let a = &live.alerts;
    let silences: Vec<_> = a
        .rules()
        .silences
        .iter()
        .map(|s| {
            json!({
                "rule": s.silence.rule, "service": s.silence.service, "from_ms": s.from_ms,
                "until_ms": s.until_ms, "comment": s.silence.comment,
            })
        })
        .collect();
    let notifiers: Vec<_> = a
        .notifiers()
        .into_iter()
        .map(|(name, kind)| json!({"name": name, "kind": kind}))
        .collect();
    axum::Json(json!({
        "rules_text": a.text(),
        "alerts": a.states(),
        "notifiers": notifiers,
        "silences": silences,
    }))
    .into_response()
}

async fn save(State(live): State<Arc<Live>>, body: Bytes) -> Response {
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return not_utf8();
    };
    match tokio::task::spawn_blocking(move || live.replace_rules(&text)).await {
        Ok(Ok(n)) => axum::Json(json!({ "rules": n })).into_response(),
        Ok(Err(e)) => refused(e),
        Err(e) => bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn trial(State(live): State<Arc<Live>>, body: Bytes) -> Response {
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return not_utf8();
    };
    let now = crate::time::now_ms();
    let answer =
        tokio::task::spawn_blocking(move || live.alerts.try_text(live.app.storage(), &text, now))
            .await;
    match answer {
        Ok(Ok(Ok(trials))) => axum::Json(json!({ "trials": trials })).into_response(),
        Ok(Ok(Err(e))) => bad(
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            format!("cannot read the stored data: {e}"),
        ),
        Ok(Err(e)) => refused(e),
        Err(e) => bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn history(
    State(live): State<Arc<Live>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) => n.min(super::history::KEEP),
        Some(Err(_)) => return bad(StatusCode::BAD_REQUEST, "limit: not a number".into()),
    };
    let h = live.alerts.history();
    axum::Json(json!({ "events": h.events(limit), "deliveries": h.deliveries() })).into_response()
}
