//! Boards under auth, through the real HTTP stack (`api::start` with users
//! in the data directory): a viewer saves, changes and deletes personal
//! boards of their own, but shares none and changes no shared board (403);
//! a personal board is listed only for its owner, read-only by its link
//! for everyone else (200 to read, 403 to change); a shared one is listed
//! for everyone and changeable by any admin; a request without the CSRF
//! token is refused; every board survives a restart; `/api/report` needs a
//! session, and other state-changing `/api` calls stay admin-only.

mod support;

use osprey_server::api;
use osprey_server::app::ServerConfig;
use osprey_server::auth::{self, Role};
use serde_json::{Value, json};
use support::TempDir;

struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

struct User {
    base: String,
    cookie: String,
    csrf: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn call(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let url = format!("{base}{path}");
    let a = agent();
    let mut resp = match (method, body) {
        ("GET", _) => {
            let mut r = a.get(&url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        ("DELETE", _) => {
            let mut r = a.delete(&url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        (m, b) => {
            let mut r = if m == "PUT" {
                a.put(&url)
            } else {
                a.post(&url)
            };
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.header("content-type", "application/json")
                .send(b.unwrap_or(Value::Null).to_string().as_bytes())
        }
    }
    .expect("request sent");
    Answer {
        status: resp.status().as_u16(),
        body: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

impl User {
    fn login(base: &str, name: &str, password: &str) -> User {
        let a = agent()
            .post(format!("{base}/login"))
            .header("content-type", "application/json")
            .send(
                json!({ "user": name, "password": password })
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
        assert_eq!(a.status().as_u16(), 200, "login of {name}");
        let cookie = a
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_owned();
        let s = call(base, "GET", "/api/session", &[("cookie", &cookie)], None).json();
        User {
            base: base.to_owned(),
            cookie,
            csrf: s["csrf"].as_str().unwrap().to_owned(),
        }
    }

    fn get(&self, path: &str) -> Answer {
        call(&self.base, "GET", path, &[("cookie", &self.cookie)], None)
    }

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        call(
            &self.base,
            method,
            path,
            &[("cookie", &self.cookie), ("x-csrf-token", &self.csrf)],
            body,
        )
    }
}

fn board(name: &str, shared: bool) -> Value {
    json!({ "name": name, "shared": shared, "range_min": 15,
            "charts": [{ "kind": "tps", "service": "shop" },
                       { "kind": "metric", "metric": "jvm.memory.used" }] })
}

fn names(u: &User) -> Vec<String> {
    u.get("/api/dashboards").json()["boards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn boards_follow_the_auth_rules_and_survive_a_restart() {
    let dir = TempDir::new("dash-auth");
    auth::users::add(&dir.0, "ann", Role::Admin, "ann-password-1").unwrap();
    auth::users::add(&dir.0, "bob", Role::Admin, "bob-password-1").unwrap();
    auth::users::add(&dir.0, "val", Role::Viewer, "val-password-1").unwrap();
    let server = api::start(ServerConfig::new(&dir.0), "127.0.0.1:0".parse().unwrap()).unwrap();
    let base = server.base_url();

    // Without a session: nothing.
    assert_eq!(call(&base, "GET", "/api/dashboards", &[], None).status, 401);
    assert_eq!(
        call(
            &base,
            "GET",
            "/api/report?service=s&from=0&to=1000",
            &[],
            None
        )
        .status,
        401
    );

    let ann = User::login(&base, "ann", "ann-password-1");
    let bob = User::login(&base, "bob", "bob-password-1");
    let val = User::login(&base, "val", "val-password-1");

    let private = ann.send("POST", "/api/dashboards", Some(board("ann only", false)));
    assert_eq!(private.status, 201, "{}", private.body);
    let private_id = private.json()["id"].as_str().unwrap().to_owned();
    let shared = ann.send("POST", "/api/dashboards", Some(board("team", true)));
    assert_eq!(shared.status, 201, "{}", shared.body);
    let shared_id = shared.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(shared.json()["owner"], "ann");

    // A viewer reads the shared board, and ann's personal one by its link.
    assert_eq!(names(&val), ["team"]);
    assert_eq!(val.get(&format!("/api/dashboards/{shared_id}")).status, 200);
    let by_link = val.get(&format!("/api/dashboards/{private_id}"));
    assert_eq!(by_link.status, 200, "{}", by_link.body);
    assert_eq!(by_link.json()["owner"], "ann");
    assert_eq!(
        val.get("/api/dashboards/0123456789abcdef").status,
        404,
        "an unknown id"
    );
    // ... saves personal boards of their own ...
    let mine = val.send("POST", "/api/dashboards", Some(board("val's", false)));
    assert_eq!(mine.status, 201, "{}", mine.body);
    assert_eq!(mine.json()["owner"], "val");
    let mine_id = mine.json()["id"].as_str().unwrap().to_owned();
    let changed = val.send(
        "PUT",
        &format!("/api/dashboards/{mine_id}"),
        Some(board("val's 2", false)),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(names(&val), ["team", "val's 2"]);
    assert_eq!(names(&ann), ["ann only", "team"], "not listed for others");
    // ... and shares nothing, changes no one else's.
    for (method, path, body) in [
        (
            "POST",
            "/api/dashboards".to_owned(),
            Some(board("all", true)),
        ),
        (
            "PUT",
            format!("/api/dashboards/{mine_id}"),
            Some(board("all", true)),
        ),
        (
            "PUT",
            format!("/api/dashboards/{shared_id}"),
            Some(board("x", false)),
        ),
        ("DELETE", format!("/api/dashboards/{shared_id}"), None),
        ("DELETE", format!("/api/dashboards/{private_id}"), None),
    ] {
        let refused = val.send(method, &path, body);
        assert_eq!(refused.status, 403, "{method} {path}: {}", refused.body);
    }
    // Other state-changing `/api` calls stay admin-only.
    let rule = val.send("PUT", "/api/alerts/rules", Some(json!({})));
    assert_eq!(rule.status, 403, "{}", rule.body);
    assert!(rule.body.contains("admin role"), "{}", rule.body);

    // Another admin: the shared board yes; the personal one read-only.
    assert_eq!(names(&bob), ["team"]);
    assert_eq!(
        bob.send(
            "PUT",
            &format!("/api/dashboards/{private_id}"),
            Some(board("x", true))
        )
        .status,
        403
    );
    let renamed = bob.send(
        "PUT",
        &format!("/api/dashboards/{shared_id}"),
        Some(board("team 2", true)),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.json()["owner"], "ann", "the owner stays");

    // No CSRF token: refused before the handler.
    let no_csrf = call(
        &base,
        "POST",
        "/api/dashboards",
        &[("cookie", &ann.cookie)],
        Some(board("sneaky", true)),
    );
    assert_eq!(no_csrf.status, 403);
    // Bad input: the reason, nothing stored.
    let bad = ann.send(
        "POST",
        "/api/dashboards",
        Some(json!({ "name": "", "charts": [] })),
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .contains("needs a name"),
        "{}",
        bad.body
    );
    let unknown = ann.send(
        "POST",
        "/api/dashboards",
        Some(json!({ "name": "x", "charts": [{ "kind": "pie" }] })),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(names(&ann), ["ann only", "team 2"]);
    assert_eq!(
        val.send("DELETE", &format!("/api/dashboards/{mine_id}"), None)
            .status,
        204,
        "a viewer deletes their own"
    );

    // A restart keeps them.
    server.stop();
    let server = api::start(ServerConfig::new(&dir.0), "127.0.0.1:0".parse().unwrap()).unwrap();
    let ann = User::login(&server.base_url(), "ann", "ann-password-1");
    assert_eq!(names(&ann), ["ann only", "team 2"]);
    let again = ann.get(&format!("/api/dashboards/{shared_id}")).json();
    assert_eq!(
        again["charts"][1],
        json!({ "kind": "metric", "metric": "jvm.memory.used" })
    );
    assert_eq!(
        ann.send("DELETE", &format!("/api/dashboards/{private_id}"), None)
            .status,
        204
    );
    assert_eq!(names(&ann), ["team 2"]);
    server.stop();
}
