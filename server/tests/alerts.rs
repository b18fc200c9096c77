//! Alert rules evaluated by a running server on data it ingests, with
//! errors and slowness injected: each rule fires once it has held for its
//! `for` duration and recovers when the data does; notices reach a real
//! webhook receiver (JSON and Slack-compatible), Debian's
//! `prometheus-alertmanager` (API v2) and an `aiosmtpd` SMTP server that
//! requires STARTTLS; the history, the trial on stored data ("would have
//! fired at …"), silences and refused rule files are checked through the
//! HTTP API.

mod ops;
mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osprey_server::app::ServerConfig;
use serde_json::Value;

use ops::{call, free_port, hook_event, posted, send_txns, spawn, wait_for, webhook_receiver};
use support::TempDir;

const WAIT: Duration = Duration::from_secs(120);

/// A test CA (the notifier's `ca_file`) and a certificate for 127.0.0.1.
fn pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Osprey SMTP test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let file = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    (
        file("ca.pem", ca.pem()),
        file("smtp.pem", leaf.pem()),
        file("smtp.key", leaf_key.serialize_pem()),
    )
}

/// Every message the SMTP server stored.
fn mails(maildir: &Path) -> String {
    let mut all = String::new();
    if let Ok(rd) = std::fs::read_dir(maildir.join("new")) {
        for e in rd.flatten() {
            all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            all.push_str("\n----\n");
        }
    }
    all
}

const RULES: &str = r#"
[[rule]]
name = "shop errors"
kind = "error_rate"
service = "shop"
threshold = 0.2
window = "5s"
for = "2s"
min_requests = 5
severity = "critical"
summary = "Checkout is failing"

[[rule]]
name = "shop slow"
kind = "p95"
service = "shop"
threshold = 500
window = "5s"
for = "2s"
min_requests = 5
notify = ["hook"]
"#;

/// What the traffic thread sends every 250 ms.
const HEALTHY: u8 = 0;
const FAILING: u8 = 1;
const SLOW: u8 = 2;

struct Traffic {
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    failed: Arc<Mutex<HashSet<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(base: String) -> Self {
        let mode = Arc::new(AtomicU8::new(HEALTHY));
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(Mutex::new(HashSet::new()));
        let (m, s, f) = (mode.clone(), stop.clone(), failed.clone());
        let thread = std::thread::spawn(move || {
            let mut seed = 0;
            while !s.load(Ordering::Relaxed) {
                seed += 1;
                match m.load(Ordering::Relaxed) {
                    FAILING => {
                        let ids =
                            send_txns(&base, None, "shop", "shop-1", "POST /pay", 10, 5, 4, seed);
                        f.lock().unwrap().extend(ids.into_iter().take(5));
                    }
                    SLOW => {
                        send_txns(
                            &base,
                            None,
                            "shop",
                            "shop-1",
                            "GET /search",
                            10,
                            0,
                            1200,
                            seed,
                        );
                    }
                    _ => {
                        send_txns(&base, None, "shop", "shop-1", "GET /cart", 10, 0, 3, seed);
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Self {
            mode,
            stop,
            failed,
            thread: Some(thread),
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::Relaxed);
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn am_alerts(am: &str, rule: &str) -> Vec<Value> {
    let (st, _, body) = call(
        "GET",
        &format!(
            "{am}/api/v2/alerts?filter=alertname%3D%22{}%22",
            rule.replace(' ', "%20")
        ),
        None,
        None,
        None,
    );
    if st != 200 {
        return Vec::new();
    }
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn alert_state(base: &str, rule: &str) -> Value {
    let (_, _, body) = call("GET", &format!("{base}/api/alerts"), None, None, None);
    let v: Value = serde_json::from_str(&body).unwrap();
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == rule)
        .cloned()
        .unwrap()
}

#[test]
fn rules_fire_on_injected_errors_and_slowness_notify_everywhere_and_recover() {
    let dir = TempDir::new("alerts");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();

    // The receivers: webhook, Alertmanager, SMTP with STARTTLS required.
    let (hook, got) = webhook_receiver();
    let am_port = free_port();
    std::fs::write(
        dir.0.join("am.yml"),
        "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n",
    )
    .unwrap();
    let _am = spawn(
        "prometheus-alertmanager",
        &[
            &format!("--config.file={}", dir.0.join("am.yml").display()),
            &format!("--storage.path={}", dir.0.join("am").display()),
            &format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=",
        ],
        &dir.0,
    );
    let am = format!("http://127.0.0.1:{am_port}");
    let (ca, cert, key) = pki(&dir.0);
    let maildir = dir.0.join("mail");
    let smtp_port = free_port();
    let _smtp = spawn(
        "python3",
        &[
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{smtp_port}"),
            "--tlscert",
            cert.to_str().unwrap(),
            "--tlskey",
            key.to_str().unwrap(),
            "-c",
            "aiosmtpd.handlers.Mailbox",
            maildir.to_str().unwrap(),
        ],
        &dir.0,
    );
    wait_for("the SMTP server", WAIT, || {
        std::net::TcpStream::connect(("127.0.0.1", smtp_port)).ok()
    });
    wait_for("Alertmanager", WAIT, || {
        (call("GET", &format!("{am}/-/ready"), None, None, None).0 == 200).then_some(())
    });

    let rules = dir.0.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let notifiers = dir.0.join("notifiers.toml");
    std::fs::write(
        &notifiers,
        format!(
            "public_url = \"http://osprey.test\"\n\
             [[webhook]]\nname = \"hook\"\nurl = \"{hook}/hook\"\n\
             [[slack]]\nname = \"chat\"\nurl = \"{hook}/slack\"\n\
             [[alertmanager]]\nname = \"am\"\nurl = \"{am}\"\n\
             [[email]]\nname = \"mail\"\nhost = \"127.0.0.1\"\nport = {smtp_port}\nca_file = \"{}\"\nfrom = \"osprey@example.com\"\nto = [\"oncall@example.com\"]\n",
            ca.display()
        ),
    )
    .unwrap();
    let mut cfg = ServerConfig::new(&data);
    cfg.alerts.rules = Some(rules.clone());
    cfg.alerts.notifiers = Some(notifiers);
    let running = osprey_server::api::start(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let base = running.base_url();
    let traffic = Traffic::start(base.clone());

    // Healthy traffic is judged and does not fire.
    wait_for("a judged window", WAIT, || {
        let s = alert_state(&base, "shop errors");
        (s["reading"]["value"] == 0.0).then_some(())
    });
    let errors_from = ops::now_ns() / 1_000_000;

    // Errors: fires after holding 2 s, with the failed transactions as evidence.
    traffic.set(FAILING);
    let fired = wait_for("shop errors to fire", WAIT, || {
        hook_event(&got, "shop errors", "firing")
    });
    assert!(
        fired["at_ms"].as_u64().unwrap() - fired["since_ms"].as_u64().unwrap() >= 2_000,
        "{fired}"
    );
    assert!(fired["value"].as_f64().unwrap() > 0.2, "{fired}");
    assert_eq!(fired["severity"], "critical");
    assert_eq!(fired["summary"], "Checkout is failing");
    let evidence = fired["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty(), "{fired}");
    let injected = traffic.failed.lock().unwrap().clone();
    for t in evidence {
        assert_eq!(t["error"], true, "{t}");
        let id = t["id"].as_str().unwrap();
        assert!(
            injected.contains(id),
            "{id} is one of the injected failures"
        );
        assert_eq!(t["link"], format!("http://osprey.test/?txn={id}"));
    }
    let slack = wait_for("the Slack message", WAIT, || {
        posted(&got, "/slack").into_iter().find(|v| {
            v["text"]
                .as_str()
                .unwrap()
                .starts_with("[FIRING] shop errors")
        })
    });
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("<http://osprey.test/?txn="),
        "{slack}"
    );
    let in_am = wait_for("the alert in Alertmanager", WAIT, || {
        am_alerts(&am, "shop errors").into_iter().next()
    });
    assert_eq!(in_am["labels"]["severity"], "critical");
    assert_eq!(in_am["labels"]["service"], "shop");
    assert_eq!(in_am["status"]["state"], "active");
    assert!(
        in_am["annotations"]["evidence"]
            .as_str()
            .unwrap()
            .contains("POST /pay"),
        "{in_am}"
    );
    let mail = wait_for("the e-mail", WAIT, || {
        let m = mails(&maildir);
        m.contains("Subject: [FIRING] shop errors").then_some(m)
    });
    assert!(mail.contains("To: oncall@example.com"), "{mail}");
    assert!(mail.contains("http://osprey.test/?txn="), "{mail}");
    // STARTTLS was used: aiosmtpd (require_starttls) refuses mail otherwise.
    let state = alert_state(&base, "shop errors");
    assert_eq!(state["firing"], true, "{state}");

    // Healthy again: recovery notices everywhere, the alert leaves Alertmanager.
    traffic.set(HEALTHY);
    let resolved = wait_for("shop errors to recover", WAIT, || {
        hook_event(&got, "shop errors", "resolved")
    });
    assert_eq!(
        resolved["since_ms"], fired["at_ms"],
        "the recovery names the firing"
    );
    let errors_to = resolved["at_ms"].as_u64().unwrap();
    wait_for("Alertmanager to see the recovery", WAIT, || {
        am_alerts(&am, "shop errors").is_empty().then_some(())
    });
    wait_for("the recovery e-mail", WAIT, || {
        mails(&maildir)
            .contains("Subject: [RESOLVED] shop errors")
            .then_some(())
    });

    // Slowness: the p95 rule fires (and notifies only `hook`), then recovers.
    traffic.set(SLOW);
    let slow = wait_for("shop slow to fire", WAIT, || {
        hook_event(&got, "shop slow", "firing")
    });
    assert!(slow["value"].as_f64().unwrap() >= 1200.0, "{slow}");
    let ev = slow["evidence"].as_array().unwrap();
    assert!(
        !ev.is_empty()
            && ev
                .iter()
                .all(|t| t["elapsed_ms"].as_f64().unwrap() >= 1200.0
                    && t["endpoint"] == "GET /search"),
        "{slow}"
    );
    traffic.set(HEALTHY);
    wait_for("shop slow to recover", WAIT, || {
        hook_event(&got, "shop slow", "resolved")
    });
    assert!(
        !posted(&got, "/slack")
            .iter()
            .any(|v| v["text"].as_str().unwrap().contains("shop slow")),
        "shop slow notifies only hook"
    );

    // The history has both rules' firings and recoveries, newest first.
    let (_, _, h) = call(
        "GET",
        &format!("{base}/api/alerts/history"),
        None,
        None,
        None,
    );
    let h: Value = serde_json::from_str(&h).unwrap();
    let seq: Vec<(String, String)> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rule"].as_str().unwrap().into(),
                e["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = |r: &str, s: &str| (r.to_owned(), s.to_owned());
    assert_eq!(
        seq,
        [
            want("shop slow", "resolved"),
            want("shop slow", "firing"),
            want("shop errors", "resolved"),
            want("shop errors", "firing")
        ]
    );
    assert!(
        h["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["ok"] == true),
        "{h}"
    );
    assert!(
        std::fs::read_to_string(data.join("alerts/history.jsonl"))
            .unwrap()
            .lines()
            .count()
            == 4
    );

    // Tried on the stored data, the rule would have fired in the error period.
    let (st, _, t) = call(
        "POST",
        &format!("{base}/api/alerts/try"),
        None,
        None,
        Some(("application/toml", RULES.as_bytes())),
    );
    assert_eq!(st, 200, "{t}");
    let t: Value = serde_json::from_str(&t).unwrap();
    let errs = &t["trials"][0];
    assert_eq!(errs["rule"], "shop errors");
    let fired_at: Vec<(u64, Option<u64>)> = errs["fired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["at_ms"].as_u64().unwrap(), f["resolved_ms"].as_u64()))
        .collect();
    assert_eq!(fired_at.len(), 1, "{errs}");
    assert!(
        fired_at[0].0 > errors_from && fired_at[0].0 <= errors_to,
        "{fired_at:?} in {errors_from}..{errors_to}"
    );
    assert!(fired_at[0].1.is_some(), "and recovered: {errs}");
    assert_eq!(t["trials"][1]["fired"].as_array().unwrap().len(), 1, "{t}");

    // Bad rule files are refused with the rule and field; nothing changes.
    let bad = RULES.replace("threshold = 0.2", "threshold = 20");
    let (st, _, msg) = call(
        "PUT",
        &format!("{base}/api/alerts/rules"),
        None,
        None,
        Some(("application/toml", bad.as_bytes())),
    );
    assert_eq!(
        (st, msg.trim()),
        (
            400,
            "rule \"shop errors\": threshold: error_rate is a fraction between 0 and 1 (0.05 = 5 %), not 20"
        )
    );
    let unknown = RULES.replace("notify = [\"hook\"]", "notify = [\"pager\"]");
    let (st, _, msg) = call(
        "PUT",
        &format!("{base}/api/alerts/rules"),
        None,
        None,
        Some(("application/toml", unknown.as_bytes())),
    );
    assert_eq!(
        (st, msg.trim()),
        (
            400,
            "rule \"shop slow\": notify: no notifier is named \"pager\" (see notifiers.toml)"
        )
    );
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), RULES);

    // A silence: the firing is recorded as silenced and not sent.
    let now = ops::now_ns() / 1_000_000;
    let silenced = format!(
        "{RULES}\n[[silence]]\nrule = \"shop errors\"\nfrom = \"{}\"\nuntil = \"{}\"\ncomment = \"maintenance\"\n",
        now - 1000,
        now + 3_600_000
    );
    let (st, _, msg) = call(
        "PUT",
        &format!("{base}/api/alerts/rules"),
        None,
        None,
        Some(("application/toml", silenced.as_bytes())),
    );
    assert_eq!(st, 200, "{msg}");
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), silenced);
    let sent_before = posted(&got, "/hook").len();
    traffic.set(FAILING);
    wait_for("the silenced firing", WAIT, || {
        let s = alert_state(&base, "shop errors");
        (s["firing"] == true && s["silenced"] == true).then_some(())
    });
    traffic.set(HEALTHY);
    wait_for("the silenced recovery", WAIT, || {
        (alert_state(&base, "shop errors")["firing"] == false).then_some(())
    });
    let (_, _, h) = call(
        "GET",
        &format!("{base}/api/alerts/history?limit=2"),
        None,
        None,
        None,
    );
    let h: Value = serde_json::from_str(&h).unwrap();
    assert!(
        h["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["silenced"] == true && e["rule"] == "shop errors"),
        "{h}"
    );
    assert_eq!(
        posted(&got, "/hook").len(),
        sent_before,
        "nothing sent while silenced"
    );
    drop(traffic);
    running.stop();
}

/// `osprey serve` with `extra` arguments, expected to refuse to start: its stderr.
fn refused_start(data: &Path, extra: &[&Path]) -> String {
    let mut args = vec![
        "serve",
        "--grpc-listen",
        "off",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
    ];
    for (flag, file) in ["--alert-rules", "--alert-notifiers"].iter().zip(extra) {
        args.extend([*flag, file.to_str().unwrap()]);
    }
    let (ok, _, err) = support::run_osprey(&args, "");
    assert!(!ok, "{err}");
    err
}

/// A rules or notifiers file with a mistake stops `osprey serve` at start,
/// naming the file, the rule and the field.
#[test]
fn bad_alert_files_stop_the_server_with_the_rule_and_field() {
    let dir = TempDir::new("alerts-bad");
    let data = dir.0.join("data");
    let rules = dir.0.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"x\"\nkind = \"p95\"\nthreshold = 500\nfor = \"ten seconds\"\n",
    )
    .unwrap();
    let err = refused_start(&data, &[&rules]);
    let want = format!(
        "{}: rule \"x\": for: \"ten seconds\" is not a duration (90s, 5m, 1h, 1d)",
        rules.display()
    );
    assert!(err.contains(&want), "{err}");
    let notifiers = dir.0.join("notifiers.toml");
    std::fs::write(&rules, "").unwrap();
    std::fs::write(&notifiers, "[[email]]\nname = \"mail\"\nhost = \"smtp.example.com\"\nfrom = \"not an address\"\nto = [\"a@example.com\"]\n").unwrap();
    let err = refused_start(&data, &[&rules, &notifiers]);
    assert!(
        err.contains("email \"mail\": from \"not an address\" is not an e-mail address"),
        "{err}"
    );
}
