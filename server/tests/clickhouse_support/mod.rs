//! Real ClickHouse servers for the ClickHouse backend's tests (Debian's
//! `clickhouse-server`, started on loopback with their own ports, data
//! directories and configuration), and a workload shaped like the Tomcat
//! demo's traces.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::{Span, span};

use super::support::{TempDir, iv, kv, proto, request, sv};

/// The `clickhouse-server` binary, if installed.
pub fn binary() -> Option<PathBuf> {
    ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Skips the calling test (returns `None`) with a clear message when
/// ClickHouse is not installed.
pub fn require() -> Option<PathBuf> {
    let b = binary();
    if b.is_none() {
        eprintln!(
            "SKIPPED: clickhouse-server is not installed (apt-get install clickhouse-server); \
             the ClickHouse backend was not tested"
        );
    }
    b
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `clickhouse-server` process; killed when dropped.
pub struct ClickHouse {
    pub http: u16,
    pub tcp: u16,
    dir: PathBuf,
    binary: PathBuf,
    child: Option<Child>,
}

impl ClickHouse {
    /// `n` servers forming cluster `osprey` (one shard each), started.
    pub fn cluster(binary: &Path, root: &TempDir, n: usize) -> Vec<ClickHouse> {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let shards: String = ports
            .iter()
            .map(|(_, tcp)| {
                format!(
                    "<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>"
                )
            })
            .collect();
        let mut out = Vec::new();
        for (i, (http, tcp)) in ports.into_iter().enumerate() {
            let dir = root.0.join(format!("ch{i}"));
            fs::create_dir_all(&dir).unwrap();
            let d = dir.display();
            fs::write(
                dir.join("config.xml"),
                format!(
                    r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <remote_servers><osprey>{shards}</osprey></remote_servers>
</yandex>
"#
                ),
            )
            .unwrap();
            fs::write(
                dir.join("users.xml"),
                r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"#,
            )
            .unwrap();
            let mut c = ClickHouse {
                http,
                tcp,
                dir,
                binary: binary.to_owned(),
                child: None,
            };
            c.start();
            out.push(c);
        }
        out
    }

    /// `host:port` of the HTTP interface.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.http)
    }

    /// Starts the process (again) and waits until it answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new(&self.binary)
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clickhouse-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.try_query("SELECT 1").is_none() {
            assert!(
                Instant::now() < deadline,
                "clickhouse-server on {} did not answer; see {}",
                self.http,
                self.dir.join("error.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the process (SIGKILL: nothing is flushed on the way out).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn try_query(&self, sql: &str) -> Option<String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .post(&format!("http://{}/", self.addr()))
            .send(sql.as_bytes())
            .ok()?;
        let ok = r.status().as_u16() == 200;
        let text = r.body_mut().read_to_string().ok()?;
        ok.then_some(text)
    }

    /// Runs `sql`; its answer as text.
    pub fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .unwrap_or_else(|| panic!("query failed on {}: {sql}", self.http))
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The workload: `n` transactions of the Tomcat demo's shape. `front`
/// (instance f-1 on host web) serves `GET /checkout/{k}`, calling `back`
/// over HTTP; `back` (instance b-1) serves `POST /orders` and calls MySQL.
/// Every fifth fails (HTTP 500), users u0..u6. Transaction `k` ends at
/// `base_ms + 37 k` ms (no two at the same instant). Returns one OTLP
/// request per service and chunk of 25 traces: (service, protobuf body).
pub fn demo_requests(base_ms: u64, n: u32) -> Vec<(String, Vec<u8>)> {
    const MS: u64 = 1_000_000;
    let mut out = Vec::new();
    let mut k = 0;
    while k < n {
        let (mut front, mut back) = (Vec::new(), Vec::new());
        for t in k..(k + 25).min(n) {
            // Never all zero (invalid); the last 8 bytes pick the shard.
            let mut trace = vec![0x5a; 16];
            trace[..4].copy_from_slice(&t.to_be_bytes());
            trace[8..12].copy_from_slice(&(t.wrapping_mul(2_654_435_761)).to_le_bytes());
            let id = |x: u32| -> Vec<u8> {
                let mut v = vec![0u8; 8];
                v[..4].copy_from_slice(&t.to_be_bytes());
                v[4..].copy_from_slice(&x.to_be_bytes());
                v
            };
            let end = (base_ms + 37 * u64::from(t)) * MS;
            let fail = t % 5 == 0;
            let elapsed = (20 + u64::from(t % 13) * 7) * MS;
            let status = if fail { 500 } else { 200 };
            let mk = |sid: u32,
                      parent: Option<u32>,
                      name: &str,
                      kind: span::SpanKind,
                      s: u64,
                      e: u64| Span {
                trace_id: trace.clone(),
                span_id: id(sid),
                parent_span_id: parent.map(id).unwrap_or_default(),
                name: name.into(),
                kind: kind as i32,
                start_time_unix_nano: s,
                end_time_unix_nano: e,
                ..Span::default()
            };
            let mut root = mk(
                1,
                None,
                &format!("GET /checkout/{}", t % 3),
                span::SpanKind::Server,
                end - elapsed,
                end,
            );
            root.attributes = vec![
                kv("http.response.status_code", iv(status)),
                kv("enduser.id", sv(&format!("u{}", t % 7))),
                kv("client.address", sv(&format!("10.0.0.{}", t % 11))),
                kv("service.instance.id", sv("f-1")),
                kv("host.name", sv("web")),
                kv("process.pid", iv(4242)),
                kv("thread.id", iv(i64::from(t % 4) + 1)),
            ];
            let mut call = mk(
                2,
                Some(1),
                "POST",
                span::SpanKind::Client,
                end - elapsed + 2 * MS,
                end - 3 * MS,
            );
            call.attributes = vec![kv("url.full", sv("http://back:8080/orders"))];
            let mut served = mk(
                3,
                Some(2),
                "POST /orders",
                span::SpanKind::Server,
                end - elapsed + 3 * MS,
                end - 4 * MS,
            );
            served.attributes = vec![
                kv("http.response.status_code", iv(status)),
                kv("service.instance.id", sv("b-1")),
                kv("host.name", sv("app")),
            ];
            let mut sql = mk(
                4,
                Some(3),
                "INSERT shop.orders",
                span::SpanKind::Client,
                end - elapsed + 5 * MS,
                end - 6 * MS - u64::from(t % 3) * MS,
            );
            sql.attributes = vec![
                kv("db.system", sv("mysql")),
                kv("db.name", sv("shop")),
                kv("db.statement", sv("INSERT INTO orders VALUES (?)")),
            ];
            if fail {
                served = super::support::failed(served, "java.sql.SQLException", "deadlock");
            }
            front.extend([root, call]);
            back.extend([served, sql]);
        }
        out.push(("front".to_owned(), proto(&request("front", front))));
        out.push(("back".to_owned(), proto(&request("back", back))));
        k += 25;
    }
    out
}

/// An OTLP/JSON metrics request: `jvm.threads` of `service` at the given
/// UNIX ms.
pub fn metrics_json(service: &str, points_ms: &[(u64, i64)]) -> String {
    let points: Vec<String> = points_ms
        .iter()
        .map(|(t, v)| format!(r#"{{"timeUnixNano":"{}","asInt":"{v}"}}"#, t * 1_000_000))
        .collect();
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},
        "scopeMetrics":[{{"metrics":[{{"name":"jvm.threads","unit":"{{thread}}","gauge":{{"dataPoints":[{}]}}}}]}}]}}]}}"#,
        points.join(",")
    )
}
