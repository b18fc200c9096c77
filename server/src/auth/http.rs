//! The HTTP side of auth: the API-key middleware of the ingest routes,
//! the session middleware of the viewer and the query API (with the CSRF
//! and role checks), and `/login`, `/logout`, `/api/session`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{Auth, Role, Session};

/// The session cookie.
pub const COOKIE: &str = "osprey_session";
/// The header that carries the CSRF token of the session.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where a page request without a session is sent.
pub const LOGIN_PATH: &str = "/login";

fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

/// A refused request's body is read and dropped up to this size, so the
/// client reads the refusal instead of a reset (closing a socket with
/// unread data resets it); a larger body is not read.
const DRAIN_BYTES: usize = 64 << 10;
/// ... within this time.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Middleware of the ingest routes: the request's key must be valid; its
/// [`super::Grant`] is put in the request's extensions for the handler's
/// per-service check. 401 (with `WWW-Authenticate`) without decoding or
/// storing anything.
pub async fn require_key(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    match auth.check_key(req.headers()) {
        Ok(grant) => {
            req.extensions_mut().insert(grant);
            next.run(req).await
        }
        Err(e) => {
            let small = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
                .is_some_and(|n| n <= DRAIN_BYTES);
            if small {
                let body = axum::body::to_bytes(req.into_body(), DRAIN_BYTES);
                let _ = tokio::time::timeout(DRAIN_TIME, body).await;
            }
            let mut resp = plain(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED),
                &e.to_string(),
            );
            if e.status() == 401 {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"osprey\""),
                );
            }
            resp
        }
    }
}

/// The session token in the request's cookies.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// The live session of a request, if any (the user must still exist with
/// the same role).
fn session_of(auth: &Auth, headers: &HeaderMap) -> Option<(String, Session)> {
    let token = cookie_token(headers)?;
    let s = auth.sessions.get(&token)?;
    if auth.users.role(&s.user) != Some(s.role) {
        auth.sessions.remove(&token);
        return None;
    }
    Some((token, s))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The cookie token of the request's session (in its extensions).
#[derive(Clone)]
struct SessionToken(String);

/// `/api` paths whose state-changing calls every logged-in user may make:
/// the dashboards, where viewers save personal boards and
/// [`crate::dashboards`] keeps shared ones to admins.
fn user_writable(path: &str) -> bool {
    path == "/api/dashboards"
        || path
            .strip_prefix("/api/dashboards/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Middleware of the viewer and the query API: a live session is needed
/// (else 401, and the page `/` redirects to the login page); a
/// state-changing method needs the session's CSRF token in `X-CSRF-Token`
/// (else 403) and, under `/api`, the admin role (else 403) — except the
/// dashboards (`user_writable`), which apply their own rules.
pub async fn require_session(
    State(auth): State<Arc<Auth>>,
    mut req: Request,
    next: Next,
) -> Response {
    if !auth.enabled() {
        return next.run(req).await;
    }
    let Some((token, session)) = session_of(&auth, req.headers()) else {
        if req.method() == Method::GET && req.uri().path() == "/" {
            return (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, LOGIN_PATH),
                    (header::CACHE_CONTROL, "no-store"),
                ],
            )
                .into_response();
        }
        return plain(StatusCode::UNAUTHORIZED, "login required");
    };
    if !is_safe(req.method()) {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(sent.ct_eq(session.csrf.as_bytes())) {
            return plain(StatusCode::FORBIDDEN, "missing or wrong CSRF token");
        }
        if req.uri().path().starts_with("/api/")
            && session.role != Role::Admin
            && !user_writable(req.uri().path())
        {
            return plain(StatusCode::FORBIDDEN, "this needs the admin role");
        }
    }
    req.extensions_mut().insert(session);
    req.extensions_mut().insert(SessionToken(token));
    next.run(req).await
}

/// `/login` (page and form post), open to all; a router of any state.
pub fn public_routes<S: Clone + Send + Sync + 'static>(auth: Arc<Auth>) -> Router<S> {
    Router::new()
        .route(LOGIN_PATH, get(login_page).post(login))
        .route(
            "/ui/login.js",
            get(|| async { crate::web::serve("login.js") }),
        )
        .route(
            "/ui/login.css",
            get(|| async { crate::web::serve("login.css") }),
        )
        .with_state(auth)
}

/// `/logout` and `/api/session`, behind [`require_session`].
pub fn session_routes<S: Clone + Send + Sync + 'static>(auth: Arc<Auth>) -> Router<S> {
    Router::new()
        .route("/logout", post(logout))
        .route("/api/session", get(session_info))
        .with_state(auth)
}

async fn login_page(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if !auth.enabled() || session_of(&auth, &headers).is_some() {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    }
    crate::web::serve("login.html")
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

/// Largest login body.
const MAX_LOGIN_BODY: usize = 16 << 10;

fn cookie(auth: &Auth, value: &str, max_age: Duration) -> HeaderValue {
    let secure = if auth.config().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// `POST /login` with JSON `{"user", "password"}` (JSON only, so a
/// cross-site form cannot post it): 200 with the session cookie and
/// `{"user", "role", "csrf", "expires_ms"}`; 401 when wrong; 429 with
/// `Retry-After` past the failure limit.
async fn login(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    if !auth.enabled() {
        return plain(StatusCode::NOT_FOUND, "auth is off: no login needed");
    }
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the login as application/json",
        );
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_LOGIN_BODY).await {
        Ok(b) => b,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "login body too large"),
    };
    let form: LoginForm = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("bad login: {e}")),
    };
    let keys = [format!("ip:{ip}"), format!("user:{}", form.user)];
    if let Some(wait) = auth.limiter.blocked(&keys) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut resp = plain(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; try again later",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        return resp;
    }
    // Counted before the (slow) check so parallel guesses cannot pass the
    // limit together; forgiven on success.
    auth.limiter.failed(&keys);
    let Ok(_slot) = auth.verify_slots.acquire().await else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let checker = auth.clone();
    let (user, password) = (form.user.clone(), form.password);
    let role = tokio::task::spawn_blocking(move || checker.users.verify(&user, &password))
        .await
        .ok()
        .flatten();
    let Some(role) = role else {
        return plain(StatusCode::UNAUTHORIZED, "wrong user name or password");
    };
    auth.limiter.forgive(&keys);
    let (token, session) = match auth.sessions.create(&form.user, role) {
        Ok(s) => s,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut resp = (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "user": session.user,
            "role": session.role.as_str(),
            "csrf": session.csrf,
            "expires_ms": session.expires_ms,
        })),
    )
        .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&auth, &token, auth.sessions.ttl()),
    );
    resp
}

/// `POST /logout` (CSRF-checked): ends the session, clears the cookie, 204.
async fn logout(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    if let Some(SessionToken(t)) = req.extensions().get::<SessionToken>() {
        auth.sessions.remove(t);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&auth, "", Duration::ZERO));
    resp
}

/// `GET /api/session`: `{"auth": false}` when auth is off, else the user,
/// role, CSRF token and expiry of the caller's session.
async fn session_info(State(auth): State<Arc<Auth>>, req: Request<Body>) -> Response {
    let body = match req.extensions().get::<Session>() {
        Some(s) if auth.enabled() => json!({
            "auth": true,
            "user": s.user,
            "role": s.role.as_str(),
            "csrf": s.csrf,
            "expires_ms": s.expires_ms,
        }),
        _ => json!({ "auth": false }),
    };
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}
