//! The web viewer: plain HTML, CSS and JavaScript written for Osprey and
//! embedded in the binary (no CDN, no build step), served at `/` and
//! `/ui/*` next to the query API it reads. See the "Viewer" section of
//! `server/README.md`.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file: name under `/ui/`, content type, bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $ct:expr) => {
        Asset {
            name: $name,
            content_type: $ct,
            body: include_str!(concat!("../../assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the viewer.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("util.js", JS),
    asset!("xlog.js", JS),
    asset!("list.js", JS),
    asset!("tree.js", JS),
    asset!("filter.js", JS),
    asset!("servermap.js", JS),
    asset!("charts.js", JS),
    asset!("host.js", JS),
    asset!("drops.js", JS),
    asset!("active.js", JS),
    asset!("replay.js", JS),
    asset!("session.js", JS),
    asset!("alerts.js", JS),
    asset!("dashboards.js", JS),
    asset!("login.html", "text/html; charset=utf-8"),
    asset!("login.js", JS),
    asset!("login.css", "text/css; charset=utf-8"),
];

/// Only our own files run: no inline script, nothing from elsewhere.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// One embedded file with its content type and security headers (404
/// when unknown).
pub fn serve(name: &str) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => {
            let mut resp = (
                [
                    (header::CONTENT_TYPE, a.content_type),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                a.body,
            )
                .into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            resp
        }
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

/// `/` (the page) and `/ui/{file}` (its scripts and styles), for any state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { serve("index.html") }))
        .route(
            "/ui/{file}",
            get(|Path(file): Path<String>| async move { serve(&file) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `/ui/...` file a page or script names is embedded, and every
    /// embedded script is named somewhere.
    #[test]
    fn referenced_assets_are_embedded() {
        let all: String = ASSETS.iter().map(|a| a.body).collect();
        for a in ASSETS.iter().filter(|a| !a.name.ends_with(".html")) {
            assert!(
                all.contains(&format!("/ui/{}", a.name)) || all.contains(&format!("./{}", a.name)),
                "{} is never loaded",
                a.name
            );
        }
        for part in all.split("/ui/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                .collect();
            assert!(ASSETS.iter().any(|a| a.name == name), "{name} missing");
        }
    }
}
