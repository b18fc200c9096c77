//! `GET /api/report?service=&from=&to=[&format=json|html|csv|pdf]`: a
//! service's report over a range (see [`crate::report`]). JSON is the
//! [`Report`](crate::report::Report) itself (what `osprey report --server`
//! renders); the other forms are files to download.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Params;
use crate::app::App;
use crate::report::{self, Format, ReportError, ReportRequest};

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn status_of(e: &ReportError) -> StatusCode {
    match e {
        ReportError::Invalid(_) => StatusCode::BAD_REQUEST,
        ReportError::Storage(s) => {
            StatusCode::from_u16(s.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub(super) async fn report(State(app): State<Arc<App>>, Query(p): Query<Params>) -> Response {
    let time = |key: &str| -> Result<u64, String> {
        let v = p.get(key).ok_or_else(|| format!("{key} is required"))?;
        crate::time::parse(v).ok_or_else(|| format!("{key}: expected UNIX ms or RFC 3339 UTC"))
    };
    let (from, to) = match (time("from"), time("to")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    let format = match p.get("format").map(String::as_str) {
        None | Some("json") => None,
        Some("html") => Some(Format::Html),
        Some("csv") => Some(Format::Csv),
        Some("pdf") => Some(Format::Pdf),
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("format: expected json, html, csv or pdf, got {other:?}"),
            );
        }
    };
    let service = p.get("service").cloned().unwrap_or_default();
    let made = tokio::task::spawn_blocking(move || {
        let req = ReportRequest::new(&service, from, to)?;
        let r = report::gather(app.storage(), &req)?;
        match format {
            None => Ok((None, serde_json::to_vec(&r).unwrap_or_default(), r)),
            Some(f) => Ok((Some(f), report::render(&r, f)?, r)),
        }
    })
    .await;
    match made {
        Ok(Ok((None, body, _))) => {
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(Ok((Some(f), body, r))) => (
            [
                (header::CONTENT_TYPE, f.mime().to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", report::file_name(&r, f)),
                ),
            ],
            body,
        )
            .into_response(),
        Ok(Err(e)) => error(status_of(&e), e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
