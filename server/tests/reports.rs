//! Reports end to end: the real `osprey serve` binary receives OTLP/HTTP
//! (spans of two services with SQL calls, JVM and host metric points);
//! `osprey report` asks it for a service's report as JSON (through
//! `GET /api/report`), CSV, HTML and PDF, and every figure is checked
//! against the data the test sent (counts, errors, percentiles, peak TPS,
//! endpoint totals, slowest transactions, SQL, series summaries); the PDF's
//! text is read back with `pdftotext`. Then a scheduled report (a 10 s
//! period) is mailed over SMTP with STARTTLS to an `aiosmtpd` server the
//! test starts, and its attachments are checked. Finally the server is
//! killed and `osprey report --data` on its directory writes the same CSV.
//!
//! Needs chromium, pdftotext and Python's aiosmtpd (`.ci/run` installs
//! them); without them the test fails with what is missing.

mod support;
mod viewer_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::{Span, Status, span::SpanKind};
use osprey_server::report::Report;
use serde_json::Value;
use support::*;
use viewer_support::{Proc, eventually, free_port, repo_root, which};

const NS_PER_S: u64 = 1_000_000_000;
const WAIT: Duration = Duration::from_secs(90);

/// One transaction the test sends, as the report should count it.
#[derive(Clone, Debug)]
struct Sent {
    service: &'static str,
    endpoint: &'static str,
    end_ns: u64,
    elapsed_ns: u64,
    error: bool,
    id: [u8; 8],
    /// `(statement, duration ns)` of its SQL calls.
    sql: Vec<(&'static str, u64)>,
}

const INSERT: &str = "INSERT INTO orders (id, total) VALUES (?, ?)";
const SELECT: &str = "SELECT qty FROM stock WHERE id = ?";

/// The traffic of ten minutes from `t0_s`: three endpoints of `shop`, one
/// of `other`, and one `shop` transaction just before the range.
fn traffic(t0_s: u64) -> Vec<Sent> {
    let mut n = 0u64;
    let mut next_id = || {
        n += 1;
        (n << 8).to_be_bytes()
    };
    let t0 = t0_s * NS_PER_S;
    let mut out = Vec::new();
    for i in 0..120u64 {
        out.push(Sent {
            service: "shop",
            endpoint: "GET /cart",
            // Three a second for the first 40 seconds: peak TPS 3 here.
            end_ns: t0 + (i / 3) * NS_PER_S + (i % 3) * 1_000_000 + 500_000_000,
            elapsed_ns: (10 + i % 7) * MS + i * 1_000,
            error: i % 10 == 0,
            id: next_id(),
            sql: Vec::new(),
        });
    }
    for i in 0..40u64 {
        out.push(Sent {
            service: "shop",
            endpoint: "POST /order",
            end_ns: t0 + (100 + i * 5) * NS_PER_S,
            elapsed_ns: (50 + i * 5) * MS,
            error: i % 4 == 1,
            id: next_id(),
            sql: vec![
                (INSERT, 3 * MS + i * 10_000),
                (SELECT, 2 * MS),
                (SELECT, MS),
            ],
        });
    }
    for i in 0..5u64 {
        out.push(Sent {
            service: "shop",
            endpoint: "GET /slow",
            end_ns: t0 + (400 + i * 30) * NS_PER_S,
            elapsed_ns: (900 + i * 100) * MS,
            error: false,
            id: next_id(),
            sql: Vec::new(),
        });
    }
    for i in 0..30u64 {
        out.push(Sent {
            service: "other",
            endpoint: "GET /cart",
            end_ns: t0 + (i / 2) * NS_PER_S + 100_000_000,
            elapsed_ns: 5_000 * MS,
            error: true,
            id: next_id(),
            sql: Vec::new(),
        });
    }
    out.push(Sent {
        service: "shop",
        endpoint: "GET /cart",
        end_ns: t0 - 5 * NS_PER_S,
        elapsed_ns: 9_000 * MS,
        error: true,
        id: next_id(),
        sql: Vec::new(),
    });
    out
}

/// The OTLP spans of `t`: a SERVER root and a CLIENT span per SQL call.
fn spans_of(t: &Sent) -> Vec<Span> {
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&t.id);
    trace[15] = 0x7e;
    let start = t.end_ns - t.elapsed_ns;
    let mut root = Span {
        trace_id: trace.to_vec(),
        span_id: t.id.to_vec(),
        name: t.endpoint.into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: t.end_ns,
        attributes: vec![kv("http.response.status_code", iv(200))],
        ..Span::default()
    };
    if t.error {
        root.status = Some(Status {
            code: 2,
            message: "failed".into(),
        });
    }
    let mut spans = vec![root];
    for (k, (sql, ns)) in t.sql.iter().enumerate() {
        let mut id = t.id;
        id[7] = k as u8 + 1;
        spans.push(Span {
            trace_id: trace.to_vec(),
            span_id: id.to_vec(),
            parent_span_id: t.id.to_vec(),
            name: "SQL".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: start + MS,
            end_time_unix_nano: start + MS + ns,
            attributes: vec![
                kv("db.system", sv("h2")),
                kv("db.namespace", sv("shopdb")),
                kv("db.query.text", sv(sql)),
            ],
            ..Span::default()
        });
    }
    spans
}

fn send(url: &str, sent: &[Sent]) {
    for service in ["shop", "other"] {
        let spans: Vec<Span> = sent
            .iter()
            .filter(|t| t.service == service)
            .flat_map(spans_of)
            .collect();
        if spans.is_empty() {
            continue;
        }
        let (status, body) = post(
            &format!("{url}/v1/traces"),
            "application/x-protobuf",
            None,
            &proto(&request(service, spans)),
        );
        assert_eq!(status, 200, "{body}");
    }
}

/// Nearest-rank percentile of `v` (sorted), ms.
fn percentile_ms(v: &[u64], q: f64) -> f64 {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1] as f64 / 1e6
}

fn close(what: &str, got: f64, want: f64) {
    // The report's histograms keep 2 significant digits (1 %).
    let tolerance = want.abs() * 0.01 + 0.002;
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: report says {got}, the data says {want}"
    );
}

/// Checks every figure of `r` against the `shop` transactions of `sent`
/// in `[from_ns, to_ns)`.
fn check_report(r: &Report, sent: &[Sent], from_ns: u64, to_ns: u64) {
    let mine: Vec<&Sent> = sent
        .iter()
        .filter(|t| t.service == "shop" && t.end_ns >= from_ns && t.end_ns < to_ns)
        .collect();
    assert_eq!(r.service, "shop");
    let t = &r.totals;
    assert_eq!(t.count, mine.len() as u64);
    assert_eq!(t.errors, mine.iter().filter(|t| t.error).count() as u64);
    let mut elapsed: Vec<u64> = mine.iter().map(|t| t.elapsed_ns).collect();
    elapsed.sort_unstable();
    let sum: u64 = elapsed.iter().sum();
    close("avg", t.avg_ms, sum as f64 / mine.len() as f64 / 1e6);
    close("p50", t.p50_ms, percentile_ms(&elapsed, 0.50));
    close("p95", t.p95_ms, percentile_ms(&elapsed, 0.95));
    close("p99", t.p99_ms, percentile_ms(&elapsed, 0.99));
    close("max", t.max_ms, *elapsed.last().unwrap() as f64 / 1e6);
    let mut per_second: HashMap<u64, u64> = HashMap::new();
    for t in &mine {
        *per_second.entry(t.end_ns / NS_PER_S).or_default() += 1;
    }
    assert_eq!(t.tps_peak, *per_second.values().max().unwrap());
    close(
        "tps_avg",
        t.tps_avg,
        mine.len() as f64 / ((to_ns - from_ns) / NS_PER_S) as f64,
    );

    // The trend adds up to the totals, bucket by bucket from the data.
    assert_eq!(r.trend.iter().map(|p| p.count).sum::<u64>(), t.count);
    for p in &r.trend {
        let start = p.start_ms * 1_000_000;
        let end = start + r.bucket_s * NS_PER_S;
        let inside: Vec<_> = mine
            .iter()
            .filter(|t| t.end_ns >= start && t.end_ns < end)
            .collect();
        assert_eq!(p.count, inside.len() as u64, "bucket at {}", p.start_ms);
        assert_eq!(p.errors, inside.iter().filter(|t| t.error).count() as u64);
    }

    // Endpoints by total time and by errors.
    let mut by: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    for t in &mine {
        let e = by.entry(t.endpoint).or_default();
        e.0 += 1;
        e.1 += u64::from(t.error);
        e.2 += t.elapsed_ns;
    }
    let mut want: Vec<_> = by.iter().collect();
    want.sort_by_key(|w| std::cmp::Reverse(w.1.2));
    let got: Vec<&str> = r.top_by_time.iter().map(|e| e.endpoint.as_str()).collect();
    assert_eq!(got, want.iter().map(|w| *w.0).collect::<Vec<_>>());
    for e in &r.top_by_time {
        let (count, errors, total) = by[e.endpoint.as_str()];
        assert_eq!((e.count, e.errors), (count, errors), "{}", e.endpoint);
        close(&e.endpoint, e.total_ms, total as f64 / 1e6);
    }
    let mut want_err: Vec<_> = by.iter().filter(|w| w.1.1 > 0).collect();
    want_err.sort_by_key(|w| std::cmp::Reverse(w.1.1));
    assert_eq!(
        r.top_by_errors
            .iter()
            .map(|e| (e.endpoint.as_str(), e.errors))
            .collect::<Vec<_>>(),
        want_err.iter().map(|w| (*w.0, w.1.1)).collect::<Vec<_>>()
    );

    // The slowest, slowest first.
    let mut slow = mine.clone();
    slow.sort_by_key(|t| std::cmp::Reverse(t.elapsed_ns));
    let want_ids: Vec<String> = slow
        .iter()
        .take(r.slowest.len())
        .map(|t| t.id.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert_eq!(r.slowest.len(), mine.len().min(20));
    assert_eq!(
        r.slowest.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        want_ids
    );

    // SQL: every tree was read (fewer transactions than the sample).
    assert_eq!(r.sql_sampled, mine.len());
    let mut sql: HashMap<&str, (u64, u64)> = HashMap::new();
    for t in &mine {
        for (s, ns) in &t.sql {
            let e = sql.entry(s).or_default();
            e.0 += 1;
            e.1 += ns;
        }
    }
    assert_eq!(r.sql.len(), sql.len());
    for row in &r.sql {
        let (count, total) = sql[row.sql.as_str()];
        assert_eq!(row.count, count, "{}", row.sql);
        close(&row.sql, row.total_ms, total as f64 / 1e6);
    }
}

fn osprey(args: &[&str]) -> String {
    let (ok, out, err) = run_osprey(args, "");
    assert!(ok, "osprey {args:?} failed: {err}");
    out
}

fn pdf_text(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs (poppler-utils)");
    assert!(out.status.success(), "pdftotext failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The summary row of a report's CSV.
fn csv_summary(csv_text: &str) -> HashMap<String, String> {
    let mut rd = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let header = rows.iter().find(|r| &r[0] == "summary").unwrap();
    let values = rows.iter().filter(|r| &r[0] == "summary").nth(1).unwrap();
    header
        .iter()
        .zip(values.iter())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The test's SMTP server: aiosmtpd with STARTTLS required, a certificate
/// for 127.0.0.1 from a test CA (whose PEM is returned).
fn smtp_server(dir: &Path) -> (Proc, u16, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Osprey report test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let ca_file = write("ca.pem", ca.pem());
    let cert = write("smtp.pem", leaf.pem());
    let key_file = write("smtp.key", key.serialize_pem());
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let port = free_port();
    let script = repo_root().join("server/tests/python/smtp_receiver.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(&cert)
        .arg(&key_file)
        .arg(&inbox)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "the SMTP server did not start (aiosmtpd installed?)"
    );
    (Proc(child), port, ca_file, inbox)
}

#[test]
fn reports_count_what_was_sent_in_every_format_and_are_mailed_on_schedule() {
    for tool in ["chromium", "pdftotext", "python3"] {
        assert!(which(tool).is_some(), "{tool} is missing: run .ci/run");
    }
    let dir = TempDir::new("reports");
    let data = dir.0.join("data");
    let (_smtp, smtp_port, ca_file, inbox) = smtp_server(&dir.0);
    let schedule = dir.0.join("reports.json");
    std::fs::write(
        &schedule,
        serde_json::json!({
            "smtp": { "host": "127.0.0.1", "port": smtp_port, "security": "starttls",
                      "from": "Osprey <osprey@example.com>", "ca_file": ca_file },
            "delay": "2s",
            "reports": [{ "service": "shop", "period": "10s", "to": ["ops@example.com"],
                          "formats": ["csv", "pdf"] }]
        })
        .to_string(),
    )
    .unwrap();
    let schedule_arg = schedule.to_str().unwrap().to_owned();
    let (server, url) = serve_binary(&data, &["--reports", &schedule_arg]);

    // Ten minutes of traffic two hours ago, with JVM and host series.
    let now_s = osprey_server::time::now_ms() / 1_000;
    let t0_s = (now_s - 7_200) / 60 * 60;
    let sent = traffic(t0_s);
    send(&url, &sent);
    let at = |s: u64| t0_s * NS_PER_S + s * NS_PER_S;
    send_metrics(
        &url,
        "shop",
        vec![
            gauge(
                "jvm.memory.used",
                "By",
                &[(at(10), 100.0), (at(20), 300.0), (at(30), 200.0)],
            ),
            gauge(
                "system.cpu.utilization",
                "1",
                &[(at(10), 0.25), (at(20), 0.75)],
            ),
        ],
    );
    send_metrics(
        &url,
        "other",
        vec![gauge("jvm.memory.used", "By", &[(at(10), 7.0)])],
    );
    let (from_ns, to_ns) = (t0_s * NS_PER_S, (t0_s + 600) * NS_PER_S);
    let (from, to) = ((from_ns / MS).to_string(), (to_ns / MS).to_string());

    // JSON from the API: every figure against the data.
    let v: Value = get(&format!(
        "{url}/api/report?service=shop&from={from}&to={to}"
    ));
    let r: Report = serde_json::from_value(v).unwrap();
    check_report(&r, &sent, from_ns, to_ns);
    assert_eq!(r.jvm.len(), 1);
    let jvm = &r.jvm[0];
    assert_eq!(jvm.name, "jvm.memory.used");
    assert_eq!(
        (jvm.points, jvm.min, jvm.avg, jvm.max, jvm.last),
        (3, 100.0, 200.0, 300.0, 200.0)
    );
    assert_eq!(r.host.len(), 1);
    assert_eq!((r.host[0].min, r.host[0].max), (0.25, 0.75));
    // Bad requests are refused with their reason.
    let (status, body) = get_status(&format!(
        "{url}/api/report?service=shop&from={to}&to={from}"
    ));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("from must be before to"), "{body}");

    // `osprey report` of `shop` over the range from `source`, with `more`.
    let report = |source: [&str; 2], more: &[&str]| {
        let mut args = vec!["report", source[0], source[1], "--service", "shop"];
        args.extend(["--from", &from, "--to", &to]);
        args.extend(more);
        osprey(&args)
    };
    // CSV through the CLI against the server: the same figures.
    let csv_remote = report(["--server", &url], &["--format", "csv"]);
    let summary = csv_summary(&csv_remote);
    assert_eq!(summary["count"], r.totals.count.to_string());
    assert_eq!(summary["errors"], r.totals.errors.to_string());
    assert_eq!(summary["tps_peak"], r.totals.tps_peak.to_string());
    assert_eq!(summary["p95_ms"], format!("{:.3}", r.totals.p95_ms));
    assert!(
        csv_remote.contains(&format!("sql,\"{INSERT}\",40,")),
        "{csv_remote}"
    );

    // HTML: self-contained, charts inline, no script.
    let html = report(["--server", &url], &[]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<figure><figcaption>").count(), 3);
    assert!(!html.contains("<script") && !html.contains("src="));

    // PDF printed by Chromium, read back as text.
    let pdf = dir.0.join("shop.pdf");
    report(
        ["--server", &url],
        &["--format", "pdf", "--out", pdf.to_str().unwrap()],
    );
    let text = pdf_text(&pdf);
    for needle in [
        "Osprey report: shop",
        "Top endpoints by total time",
        "GET /slow",
        "POST /order",
        INSERT,
        "jvm.memory.used",
        "system.cpu.utilization",
    ] {
        assert!(text.contains(needle), "{needle:?} not in the PDF:\n{text}");
    }
    let transactions_kpi = text
        .lines()
        .skip_while(|l| !l.contains("Transactions"))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        transactions_kpi.contains(&r.totals.count.to_string()),
        "{transactions_kpi}"
    );

    // A scheduled report: traffic in the current 10 s period is mailed
    // once the period (and the 2 s delay) is over.
    let mut now_ms = osprey_server::time::now_ms();
    if now_ms % 10_000 > 5_000 {
        std::thread::sleep(Duration::from_millis(10_000 - now_ms % 10_000 + 100));
        now_ms = osprey_server::time::now_ms();
    }
    let p0_s = now_ms / 10_000 * 10;
    let recent: Vec<Sent> = (0..7u64)
        .map(|i| Sent {
            service: "shop",
            endpoint: "GET /now",
            end_ns: p0_s * NS_PER_S + i * 10 * MS,
            elapsed_ns: (i + 1) * MS,
            error: i == 3,
            id: (0xee00 + i).to_be_bytes(),
            sql: Vec::new(),
        })
        .collect();
    send(&url, &recent);
    // The subject names the period: "(<from> to <to>)".
    let subject_from = format!("({} to", osprey_server::time::format_ms(p0_s * 1_000));
    let mail: Value = eventually(WAIT, || {
        std::fs::read_dir(&inbox)
            .unwrap()
            .filter_map(|e| {
                let p = e.ok()?.path();
                (p.extension()? == "json").then_some(p)
            })
            .filter_map(|p| serde_json::from_slice::<Value>(&std::fs::read(p).ok()?).ok())
            .find(|m| m["subject"].as_str().unwrap_or("").contains(&subject_from))
    })
    .expect("the scheduled report arrives by mail");
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["ops@example.com"]));
    assert_eq!(mail["mail_from"], "osprey@example.com");
    assert_eq!(mail["tls"], true, "sent after STARTTLS");
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains("7 transactions, 1 errors"),
        "{mail}"
    );
    let files: HashMap<String, PathBuf> = mail["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["content_type"].as_str().unwrap().to_owned(),
                PathBuf::from(a["file"].as_str().unwrap()),
            )
        })
        .collect();
    let mailed_csv = std::fs::read_to_string(&files["text/csv"]).unwrap();
    let s = csv_summary(&mailed_csv);
    assert_eq!((s["count"].as_str(), s["errors"].as_str()), ("7", "1"));
    let mailed_pdf = pdf_text(&files["application/pdf"]);
    assert!(mailed_pdf.contains("GET /now"), "{mailed_pdf}");

    // The data directory, read directly once the server is gone: the same CSV.
    drop(server);
    let csv_local = report(["--data", data.to_str().unwrap()], &["--format", "csv"]);
    assert_eq!(csv_local, csv_remote);
}

/// A [`Storage`](osprey_server::storage::Storage) that answers from the
/// embedded backend and counts the transaction rows it hands out.
struct Counting {
    inner: osprey_server::storage::embedded::EmbeddedStorage,
    rows: std::sync::atomic::AtomicU64,
}

mod counting {
    use osprey::model::{SpanId, TraceId};
    use osprey_server::record::SpanRec;
    use osprey_server::storage::rollup::MinuteAgg;
    use osprey_server::storage::*;
    use std::sync::atomic::Ordering;

    impl Storage for super::Counting {
        fn backend(&self) -> &'static str {
            self.inner.backend()
        }
        fn append(&self, batch: IngestBatch) -> StorageResult<AppendAck> {
            self.inner.append(batch)
        }
        fn transactions(&self, filter: &TxnFilter, limit: usize) -> StorageResult<TxnPage> {
            let page = self.inner.transactions(filter, limit)?;
            self.rows
                .fetch_add(page.transactions.len() as u64, Ordering::Relaxed);
            Ok(page)
        }
        fn since(&self, cursor: u64, limit: usize) -> StorageResult<TxnPage> {
            self.inner.since(cursor, limit)
        }
        fn transaction(&self, id: SpanId) -> StorageResult<Option<TxnRow>> {
            self.inner.transaction(id)
        }
        fn trace_transactions(&self, trace: TraceId) -> StorageResult<Vec<TxnRow>> {
            self.inner.trace_transactions(trace)
        }
        fn trace_spans(&self, trace: TraceId) -> StorageResult<Vec<SpanRec>> {
            self.inner.trace_spans(trace)
        }
        fn seconds(&self, from_s: u64, to_s: u64, w: u64) -> StorageResult<Vec<SecondStats>> {
            self.inner.seconds(from_s, to_s, w)
        }
        fn server_map(&self, from_ns: u64, to_ns: u64) -> StorageResult<Vec<EdgeJson>> {
            self.inner.server_map(from_ns, to_ns)
        }
        fn series(&self, q: &SeriesQuery) -> StorageResult<Vec<SeriesJson>> {
            self.inner.series(q)
        }
        fn instances(&self, service: Option<&str>) -> StorageResult<Vec<InstanceJson>> {
            self.inner.instances(service)
        }
        fn report_active(&self, report: ActiveReport) -> StorageResult<()> {
            self.inner.report_active(report)
        }
        fn active(&self) -> StorageResult<Vec<ActiveReport>> {
            self.inner.active()
        }
        fn active_at(&self, second: u64) -> StorageResult<Vec<ActiveReport>> {
            self.inner.active_at(second)
        }
        fn apply_retention(&self, now_ms: u64) -> StorageResult<RetentionReport> {
            self.inner.apply_retention(now_ms)
        }
        fn status(&self) -> Status {
            self.inner.status()
        }
        fn minute_rollup(
            &self,
            service: &str,
            from_minute: u64,
            to_minute: u64,
            visit: &mut dyn FnMut(&MinuteAgg),
        ) -> StorageResult<Option<std::ops::Range<u64>>> {
            self.inner
                .minute_rollup(service, from_minute, to_minute, visit)
        }
    }
}

/// Transaction `n` of the generated data: `(endpoint, end ns, elapsed ns,
/// error)`. 1 050 endpoints (more than a report keeps apart), a long
/// tail, many equal response times, 3 % errors.
fn generated(n: u64, t0_ns: u64) -> (String, u64, u64, bool) {
    let r = n.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
    let endpoint = if r.is_multiple_of(3) {
        format!("GET /item/{}", (r / 3) % 1_050)
    } else {
        format!("GET /api/{}", r % 7)
    };
    // 2 h 13 min of traffic, 5 a second on average, in bursts.
    let end = t0_ns + n * 1_600_000_000 / 8 + (r % 3) * 200_000_000;
    let elapsed = match r % 500 {
        0..=1 => 2_000 + r % 3_000,
        2..=20 => 300 + r % 700,
        _ => 3 + r % 80,
    } * MS
        + (r % 4) * 1_000;
    (endpoint, end, elapsed, r.is_multiple_of(33))
}

#[test]
fn reports_from_rollups_equal_reports_from_every_row() {
    use osprey_server::ingest::otlp::{Encoding, parse_traces};
    use osprey_server::report::{self, OTHER_ENDPOINTS, ReportRequest};
    use osprey_server::storage::embedded::{EmbeddedStorage, IndexConfig, StoreConfig};
    use osprey_server::storage::{IngestBatch, Storage};
    use std::sync::atomic::Ordering;

    let dir = TempDir::new("report-rollups");
    let index = IndexConfig {
        // Many sealed segments, each with its rollup file.
        max_transactions: 4_000,
        ..IndexConfig::default()
    };
    let store = EmbeddedStorage::open(StoreConfig::new(&dir.0), index).expect("opens");
    let now_s = osprey_server::time::now_ms() / 1_000;
    let t0_s = (now_s - 6 * 3_600) / 60 * 60;
    let t0 = t0_s * NS_PER_S;
    let total = 40_000u64;
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        let mut spans = Vec::new();
        for &n in chunk {
            let (endpoint, end, elapsed, error) = generated(n, t0);
            let trace = (n as u8).wrapping_add(1);
            let mut root = Span {
                trace_id: [[trace; 8], n.to_be_bytes()].concat(),
                span_id: (n * 2 + 1).to_be_bytes().to_vec(),
                name: endpoint,
                kind: SpanKind::Server as i32,
                start_time_unix_nano: end - elapsed,
                end_time_unix_nano: end,
                ..Span::default()
            };
            if error {
                root.status = Some(Status {
                    code: 2,
                    message: "failed".into(),
                });
            }
            let sql = Span {
                trace_id: root.trace_id.clone(),
                span_id: (n * 2 + 2).to_be_bytes().to_vec(),
                parent_span_id: root.span_id.clone(),
                name: "SQL".into(),
                kind: SpanKind::Client as i32,
                start_time_unix_nano: end - elapsed / 2,
                end_time_unix_nano: end - elapsed / 4,
                attributes: vec![
                    kv("db.system", sv("postgresql")),
                    kv("db.query.text", sv([INSERT, SELECT][(n % 2) as usize])),
                ],
                ..Span::default()
            };
            spans.push(root);
            spans.push(sql);
        }
        let service = if chunk[0].is_multiple_of(5_000) {
            "other"
        } else {
            "shop"
        };
        let bytes = proto(&request(service, spans));
        let spans = parse_traces(Encoding::Protobuf, &bytes).expect("valid");
        store
            .append(IngestBatch {
                spans,
                metrics: Vec::new(),
            })
            .expect("stored");
    }
    assert!(store.seal_ready().expect("sealed") >= 8, "segments sealed");
    let rollups: Vec<PathBuf> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".rollup"))
        .collect();
    assert!(rollups.len() >= 8, "a rollup file per sealed segment");
    // One rollup lost and one damaged: both are built again from rows.
    std::fs::remove_file(&rollups[0]).unwrap();
    std::fs::write(&rollups[1], b"OSPRRU01 not a rollup").unwrap();
    let storage = Counting {
        inner: store,
        rows: Default::default(),
    };

    let end = t0 + total * 1_600_000_000 / 8;
    let ranges = [
        // All of it, with a partial minute at the end: 300 s trend buckets.
        (t0, end + 30_500_000_000),
        // Whole minutes from the middle (60 s buckets), on sealed and hot.
        (t0 + 3_600 * NS_PER_S, end - 120 * NS_PER_S),
        // One minute and 17 s.
        (t0 + 600 * NS_PER_S, t0 + 677 * NS_PER_S),
        // Not starting on a minute: row by row.
        (t0 + 7 * NS_PER_S, end),
    ];
    for (i, (from, to)) in ranges.into_iter().enumerate() {
        let req = ReportRequest::new("shop", from, to).unwrap();
        storage.rows.store(0, Ordering::Relaxed);
        let exact = report::gather_exact(&storage, &req).expect("exact");
        let exact_rows = storage.rows.swap(0, Ordering::Relaxed);
        let mut fast = report::gather(&storage, &req).expect("from rollups");
        let fast_rows = storage.rows.load(Ordering::Relaxed);
        fast.generated_ms = exact.generated_ms;
        assert_eq!(fast, exact, "range {i}");
        assert_eq!(exact_rows, exact.totals.count, "range {i}");
        assert!(exact.totals.count > 300, "range {i}: data in it");
        assert!(!exact.slowest.is_empty() && !exact.sql.is_empty());
        if i == 3 {
            assert_eq!(fast_rows, exact_rows, "no rollups off the minute");
        } else if i == 2 {
            // 17 s of rows, and the 200 slowest of 385 (most of them).
            assert!(
                fast_rows < exact_rows,
                "{fast_rows} rows read of {exact_rows}"
            );
        } else {
            // The partial minute and the slowest only.
            assert!(
                fast_rows * 5 < exact_rows,
                "range {i}: {fast_rows} rows read of {exact_rows}"
            );
        }
        if i == 0 {
            assert!(
                exact
                    .top_by_time
                    .iter()
                    .any(|e| e.endpoint == OTHER_ENDPOINTS),
                "more endpoints than a report keeps apart"
            );
        }
    }
    let issues = storage.status().issues;
    assert!(
        issues.iter().any(|i| i.problem.contains("bad rollup")),
        "{issues:?}"
    );
    assert!(rollups[0].exists(), "the lost rollup was written again");
}
