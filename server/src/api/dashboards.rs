//! `/api/dashboards`: the viewer's saved boards (see [`crate::dashboards`]).
//! `GET /api/dashboards` lists the boards the caller may see, `POST`
//! creates one; `GET|PUT|DELETE /api/dashboards/{id}` reads, replaces and
//! deletes one. State-changing calls pass the session middleware (CSRF
//! token; viewers too, for their personal boards) first.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;

use crate::auth::{Role, Session};
use crate::dashboards::{BoardError, BoardInput, Boards, Caller, LOCAL_USER};

/// The boards, or why the file could not be read (every call answers it;
/// the file is left as it is).
#[derive(Clone)]
enum Shelf {
    Open(Arc<Boards>),
    Damaged(Arc<str>),
}

fn caller(session: Option<Extension<Session>>) -> Caller {
    match session {
        Some(Extension(s)) => Caller {
            admin: s.role == Role::Admin,
            user: s.user,
        },
        None => Caller {
            user: LOCAL_USER.to_owned(),
            admin: true,
        },
    }
}

fn failed(e: BoardError) -> Response {
    let code = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(json!({ "error": e.to_string() }))).into_response()
}

fn boards(shelf: &Shelf) -> Result<&Boards, BoardError> {
    match shelf {
        Shelf::Open(b) => Ok(b),
        Shelf::Damaged(m) => Err(BoardError::Damaged(m.to_string())),
    }
}

fn parse(body: &[u8]) -> Result<BoardInput, BoardError> {
    serde_json::from_slice(body).map_err(|e| BoardError::Invalid(e.to_string()))
}

macro_rules! ok_or_return {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return failed(e),
        }
    };
}

async fn list(State(shelf): State<Shelf>, session: Option<Extension<Session>>) -> Response {
    let b = ok_or_return!(boards(&shelf));
    Json(json!({ "boards": b.list(&caller(session)) })).into_response()
}

async fn create(
    State(shelf): State<Shelf>,
    session: Option<Extension<Session>>,
    body: axum::body::Bytes,
) -> Response {
    let b = ok_or_return!(boards(&shelf));
    let input = ok_or_return!(parse(&body));
    match b.create(&caller(session), input) {
        Ok(board) => (StatusCode::CREATED, Json(board)).into_response(),
        Err(e) => failed(e),
    }
}

async fn one(
    State(shelf): State<Shelf>,
    session: Option<Extension<Session>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let b = ok_or_return!(boards(&shelf));
    match b.get(&caller(session), &id) {
        Ok(board) => Json(board).into_response(),
        Err(e) => failed(e),
    }
}

async fn replace(
    State(shelf): State<Shelf>,
    session: Option<Extension<Session>>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let b = ok_or_return!(boards(&shelf));
    let input = ok_or_return!(parse(&body));
    match b.update(&caller(session), &id, input) {
        Ok(board) => Json(board).into_response(),
        Err(e) => failed(e),
    }
}

async fn remove(
    State(shelf): State<Shelf>,
    session: Option<Extension<Session>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let b = ok_or_return!(boards(&shelf));
    match b.delete(&caller(session), &id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failed(e),
    }
}

/// The routes over the boards of data directory `data`.
pub(super) fn routes<S: Clone + Send + Sync + 'static>(data: &Path) -> Router<S> {
    let shelf = match Boards::open(data) {
        Ok(b) => Shelf::Open(Arc::new(b)),
        Err(e) => {
            eprintln!("osprey: dashboards unavailable: {e}");
            Shelf::Damaged(e.to_string().into())
        }
    };
    Router::new()
        .route("/api/dashboards", get(list).post(create))
        .route("/api/dashboards/{id}", get(one).put(replace).delete(remove))
        .with_state(shelf)
}
