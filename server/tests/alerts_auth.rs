//! Who may do what with the alerts and `/metrics` when auth is on: the
//! alerts API needs a login (viewers read, admins change and try, with the
//! CSRF token); `/metrics` needs an API key, not a login.

mod ops;
mod support;

use osprey_server::app::ServerConfig;
use osprey_server::auth::{self, Role};
use serde_json::{Value, json};

use ops::http_request as request;
use support::TempDir;

const RULES: &str = "[[rule]]\nname = \"errors\"\nkind = \"error_rate\"\nthreshold = 0.1\n";

/// Logs in: the cookie and the CSRF token.
fn session(base: &str, user: &str, password: &str) -> (String, String) {
    let body = json!({"user": user, "password": password}).to_string();
    let (status, cookie, answer) = request(
        "POST",
        &format!("{base}/login"),
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    let cookie = cookie.unwrap().split(';').next().unwrap().to_owned();
    let csrf = serde_json::from_str::<Value>(&answer).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

#[test]
fn alerts_need_a_login_changes_need_an_admin_and_metrics_need_a_key() {
    let dir = TempDir::new("alerts-auth");
    auth::users::add(&dir.0, "ada", Role::Admin, "correct horse battery").unwrap();
    auth::users::add(&dir.0, "vic", Role::Viewer, "staple paper clip").unwrap();
    let (_, key) = auth::keys::add(&dir.0, Some("prometheus".into()), Vec::new()).unwrap();
    let running =
        osprey_server::api::start(ServerConfig::new(&dir.0), "127.0.0.1:0".parse().unwrap())
            .unwrap();
    let base = running.base_url();
    let url = |p: &str| format!("{base}{p}");
    let toml = [("content-type", "application/toml")];

    // No session: everything refused.
    for path in ["/api/alerts", "/api/alerts/history"] {
        assert_eq!(request("GET", &url(path), &[], b"").0, 401, "{path}");
    }
    assert_eq!(
        request("PUT", &url("/api/alerts/rules"), &toml, RULES.as_bytes()).0,
        401
    );
    assert_eq!(
        request("POST", &url("/api/alerts/try"), &toml, RULES.as_bytes()).0,
        401
    );

    // A viewer reads, but may neither save nor try.
    let (vc, vcsrf) = session(&base, "vic", "staple paper clip");
    let (status, _, body) = request("GET", &url("/api/alerts"), &[("cookie", &vc)], b"");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["rules_text"],
        ""
    );
    let viewer = [
        ("cookie", vc.as_str()),
        ("x-csrf-token", vcsrf.as_str()),
        toml[0],
    ];
    assert_eq!(
        request("PUT", &url("/api/alerts/rules"), &viewer, RULES.as_bytes()).0,
        403
    );
    assert_eq!(
        request("POST", &url("/api/alerts/try"), &viewer, RULES.as_bytes()).0,
        403
    );

    // An admin needs the CSRF token, then saves and tries.
    let (ac, acsrf) = session(&base, "ada", "correct horse battery");
    let no_csrf = [("cookie", ac.as_str()), toml[0]];
    assert_eq!(
        request("PUT", &url("/api/alerts/rules"), &no_csrf, RULES.as_bytes()).0,
        403
    );
    let admin = [
        ("cookie", ac.as_str()),
        ("x-csrf-token", acsrf.as_str()),
        toml[0],
    ];
    let (status, _, body) = request("PUT", &url("/api/alerts/rules"), &admin, RULES.as_bytes());
    assert_eq!((status, body.as_str()), (200, "{\"rules\":1}"));
    assert_eq!(
        std::fs::read_to_string(dir.0.join("alerts.toml")).unwrap(),
        RULES
    );
    let (status, _, body) = request("POST", &url("/api/alerts/try"), &admin, RULES.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["trials"][0]["fired"],
        json!([])
    );

    // /metrics: a login is not enough; the key is.
    assert_eq!(
        request("GET", &url("/metrics"), &[("cookie", &ac)], b"").0,
        401
    );
    let bearer = format!("Bearer {key}");
    let (status, _, body) = request("GET", &url("/metrics"), &[("authorization", &bearer)], b"");
    assert_eq!(status, 200);
    assert!(
        body.contains("osprey_alerts_firing{rule=\"errors\",severity=\"warning\"} 0"),
        "{body}"
    );
    running.stop();
}
