//! The command line: `serve`, `tail`, `tree`, `at`, `import`, `host`, and
//! the auth files: `key add|remove|list`, `user add|remove|list`.

mod auth;
mod error;
pub mod host;
mod remote;
mod report;

pub use error::CliError;

pub use remote::RemoteArgs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::app::{App, ServerConfig};
use crate::tree::TreeJson;

/// Osprey's server and terminal helpers.
#[derive(Parser, Debug)]
#[command(name = "osprey", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
// Parsed once at start-up: boxing `Serve` would save nothing that matters.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Receive OTLP (HTTP and gRPC), store it and answer the query API.
    Serve {
        /// Address to listen on: OTLP/HTTP, OTLP/gRPC, the API and the viewer.
        #[arg(long, default_value = "127.0.0.1:4318")]
        listen: SocketAddr,
        /// A second address serving the same (the OTLP/gRPC default port), or `off`.
        #[arg(long, default_value = "127.0.0.1:4317")]
        grpc_listen: String,
        /// Data directory.
        #[arg(long, default_value = "./osprey-server-data")]
        data: PathBuf,
        /// Delete segments older than this (`90s`, `30m`, `12h`, `7d`).
        #[arg(long, default_value = "7d", value_parser = parse_duration)]
        retention_age: Duration,
        /// Delete the oldest segments while the store is larger (bytes).
        #[arg(long, default_value_t = 4 << 30)]
        retention_bytes: u64,
        /// Wall-clock time one segment covers before it is sealed to disk.
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        segment_window: Duration,
        /// Largest segment (bytes).
        #[arg(long, default_value_t = 64 << 20)]
        segment_bytes: u64,
        /// Largest request body (bytes, as sent); larger is 413.
        #[arg(long, default_value_t = 16 << 20)]
        max_body_bytes: usize,
        /// Largest body after gzip decompression (bytes); larger is 413.
        #[arg(long, default_value_t = 64 << 20)]
        max_decompressed_bytes: usize,
        /// Transactions indexed in memory for the segment being written
        /// (about 500 B each); past it the segment is sealed to disk.
        #[arg(long, default_value_t = 200_000)]
        max_transactions: usize,
        /// Bytes of decoded index parts cached for queries over sealed
        /// segments (with the previous option, what bounds memory).
        #[arg(long, default_value_t = 256 << 20)]
        cache_bytes: u64,
        /// fdatasync every record before answering (survives power loss, slower).
        #[arg(long)]
        fsync: bool,
        /// Serve TLS with this certificate chain (PEM; needs --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// Private key of --tls-cert (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Require keys and logins even with no users or keys in the data
        /// directory yet (auth is on anyway when there are some).
        #[arg(long)]
        auth: bool,
        /// Header that carries ingest API keys (`authorization` takes `Bearer <key>`).
        #[arg(long, default_value = "authorization")]
        api_key_header: String,
        /// How long a login lasts.
        #[arg(long, default_value = "12h", value_parser = parse_duration)]
        session_ttl: Duration,
        /// Failed logins allowed per client IP and per user name per minute.
        #[arg(long, default_value_t = 5)]
        login_failures: usize,
        /// Most connections at once; more are closed at once.
        #[arg(long, default_value_t = 1024)]
        max_connections: usize,
        /// Time for a TLS handshake and for each request's headers.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        header_timeout: Duration,
        /// Time to receive a request body once its headers are in.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        body_timeout: Duration,
        /// Listen on a non-loopback address without TLS or without auth
        /// (anyone who can reach it can read and send everything).
        #[arg(long)]
        insecure: bool,
        /// Alert rules (TOML; default `<data>/alerts.toml`, saved there
        /// when admins edit them in the viewer).
        #[arg(long)]
        alert_rules: Option<PathBuf>,
        /// Alert notifiers: webhooks, Slack, e-mail, Alertmanager (TOML;
        /// default `<data>/notifiers.toml`).
        #[arg(long)]
        alert_notifiers: Option<PathBuf>,
        /// Where the data lives: the embedded store in --data (default), or
        /// `clickhouse://host:8123[,host2:8123...]/db[?cluster=name]` (see
        /// server/CLICKHOUSE.md; create the schema with `osprey storage migrate`).
        #[arg(long)]
        storage: Option<String>,
        /// With ClickHouse: most bytes buffered on disk (in --data) while a
        /// shard is unreachable; past it ingest answers 503.
        #[arg(long, default_value_t = 1 << 30)]
        storage_buffer_bytes: u64,
        /// Send the reports this JSON file schedules by e-mail (see
        /// `osprey_server::report::schedule`).
        #[arg(long)]
        reports: Option<PathBuf>,
    },
    /// Manage an external storage backend's schema.
    Storage {
        /// What to do.
        #[command(subcommand)]
        action: StorageAction,
    },
    /// Manage ingest API keys (stored hashed in `<data>/auth/keys.json`).
    Key {
        /// What to do.
        #[command(subcommand)]
        action: KeyAction,
        /// Server data directory.
        #[arg(long, global = true, default_value = "./osprey-server-data")]
        data: PathBuf,
    },
    /// Manage viewer users (argon2 hashes in `<data>/auth/users.json`).
    User {
        /// What to do.
        #[command(subcommand)]
        action: UserAction,
        /// Server data directory.
        #[arg(long, global = true, default_value = "./osprey-server-data")]
        data: PathBuf,
    },
    /// Print transactions as they arrive at a running server.
    Tail {
        /// The server.
        #[command(flatten)]
        remote: RemoteArgs,
        /// Poll interval in ms.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
    },
    /// Print the call tree of a transaction (16 hex digits) or trace (32).
    Tree {
        /// Transaction or trace id.
        id: String,
        /// The server.
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Print the state at one second (UNIX ms or RFC 3339 UTC).
    At {
        /// The time.
        time: String,
        /// The server.
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Write a service's report (trends, top endpoints, slowest
    /// transactions, top SQL, JVM and host) as HTML, CSV or PDF.
    Report(report::ReportArgs),
    /// Import an agent's local store directory into a server data directory
    /// (the server must not be running on that directory).
    Import {
        /// The agent's store directory (`./osprey-data`).
        dir: PathBuf,
        /// Server data directory.
        #[arg(long, default_value = "./osprey-server-data")]
        data: PathBuf,
    },
    /// Send this machine's host and container metrics (CPU, load, memory,
    /// disks, network, TCP, top processes, cgroup v2) to a server over OTLP
    /// once a second, for machines without an instrumented application.
    Host(host::HostArgs),
}

/// `osprey key ...`.
#[derive(Subcommand, Debug)]
pub enum KeyAction {
    /// Make a key and print it (once: only its hash is kept).
    Add {
        /// Only accept data of these services (comma-separated); default any.
        #[arg(long, value_delimiter = ',')]
        service: Vec<String>,
        /// A label to recognise the key by.
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a key by id or name (a running server refuses it at once).
    Remove {
        /// The id (from `key list`) or name.
        key: String,
    },
    /// List the keys (ids, names, services; never the keys).
    List,
}

/// `osprey user ...`.
#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Add a user; the password is read from standard input (a prompt
    /// without echo on a terminal), never from the command line.
    Add {
        /// Login name.
        name: String,
        /// `viewer` (reads everything) or `admin` (also changes state).
        #[arg(long, default_value = "viewer")]
        role: crate::auth::Role,
    },
    /// Remove a user (their sessions end at once).
    Remove {
        /// Login name.
        name: String,
    },
    /// List the users and their roles.
    List,
}

/// `90s`, `30m`, `12h`, `7d` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, CliError> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| CliError::bad("not a duration", s))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(CliError::UnknownUnit(s.to_owned())),
    };
    Ok(Duration::from_secs(secs))
}

/// One XLog line: end time, service, endpoint, elapsed, error, trace id.
pub fn xlog_line(
    end_ms: u64,
    service: &str,
    endpoint: &str,
    elapsed_ms: f64,
    error: bool,
    trace: &str,
    id: &str,
) -> String {
    format!(
        "{} {service} {endpoint} {elapsed_ms:.3} ms{} trace={trace} id={id}",
        crate::time::format_ms(end_ms),
        if error { " ERROR" } else { "" }
    )
}

/// `osprey storage` subcommands.
#[derive(Subcommand, Debug)]
pub enum StorageAction {
    /// Create or upgrade the ClickHouse schema on every shard (idempotent).
    Migrate {
        /// `clickhouse://host:8123[,host2:8123...]/db[?cluster=name]`.
        #[arg(long)]
        storage: String,
    },
}

/// The ClickHouse settings of `--storage` (`None` for the embedded store).
fn clickhouse_config(
    storage: Option<&str>,
    data: &std::path::Path,
) -> Result<Option<crate::storage::clickhouse::ClickHouseConfig>, CliError> {
    match storage {
        None | Some("embedded") => Ok(None),
        Some(url) => {
            crate::storage::clickhouse::ClickHouseConfig::parse(url, data.join("clickhouse-buffer"))
                .map(Some)
                .map_err(|e| {
                    CliError::bad(
                        "--storage: expected embedded or clickhouse://host:port/db",
                        &e.0,
                    )
                })
        }
    }
}

/// Runs a parsed command line; the error is printed by `main`.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve {
            listen,
            grpc_listen,
            data,
            retention_age,
            retention_bytes,
            segment_window,
            segment_bytes,
            max_body_bytes,
            max_decompressed_bytes,
            max_transactions,
            cache_bytes,
            fsync,
            tls_cert,
            tls_key,
            auth,
            api_key_header,
            session_ttl,
            login_failures,
            max_connections,
            header_timeout,
            body_timeout,
            insecure,
            reports,
            storage,
            storage_buffer_bytes,
            alert_rules,
            alert_notifiers,
        } => {
            let clickhouse = clickhouse_config(storage.as_deref(), &data)?;
            let mut cfg = ServerConfig::new(data);
            cfg.clickhouse = clickhouse.map(|mut c| {
                c.max_age = retention_age;
                c.spool_max_bytes = storage_buffer_bytes;
                c
            });
            cfg.store.max_age = retention_age;
            cfg.store.max_bytes = retention_bytes;
            cfg.store.segment_window = segment_window;
            cfg.store.segment_bytes = segment_bytes.max(4096);
            cfg.store.fsync = fsync;
            cfg.max_body_bytes = max_body_bytes;
            cfg.max_decompressed_bytes = max_decompressed_bytes;
            cfg.index.max_transactions = max_transactions.max(1);
            cfg.index.cache_bytes = cache_bytes;
            cfg.net.tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(crate::api::TlsFiles { cert, key }),
                _ => None,
            };
            cfg.net.grpc_listen = match grpc_listen.as_str() {
                "off" | "" => None,
                a => Some(
                    a.parse()
                        .map_err(|_| CliError::bad("--grpc-listen: not an address or `off`", a))?,
                ),
            };
            cfg.net.max_connections = max_connections.max(1);
            cfg.net.header_timeout = header_timeout;
            cfg.net.body_timeout = body_timeout;
            cfg.auth.force = auth;
            cfg.alerts.rules = alert_rules;
            cfg.alerts.notifiers = alert_notifiers;
            cfg.auth.key_header = api_key_header
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| CliError::bad("not a header name", api_key_header.as_str()))?;
            cfg.auth.session_ttl = session_ttl;
            cfg.auth.login_failures = login_failures.max(1);
            let auth_on = auth || crate::auth::configured(&cfg.store.dir)?;
            for address in std::iter::once(listen).chain(cfg.net.grpc_listen) {
                auth::check_exposure(address, cfg.net.tls.is_some(), auth_on, insecure)?;
            }
            let schedule = reports
                .as_deref()
                .map(crate::report::schedule::Schedule::load)
                .transpose()?;
            let data_dir = cfg.store.dir.clone();
            let running = crate::api::start(cfg, listen).map_err(CliError::io("cannot start"))?;
            let _reports = match schedule {
                Some(s) => Some(
                    s.start(running.app.clone(), &data_dir)
                        .map_err(CliError::io("cannot start the report schedule"))?,
                ),
                None => None,
            };
            let st = running.app.status();
            if let Some(a) = running.grpc_addr {
                eprintln!("osprey: OTLP/gRPC also on {a}");
            }
            println!(
                "osprey: listening on {} ({} transactions from {} segments, {} issues)",
                running.base_url(),
                st.index.transactions,
                st.segments.len(),
                st.issues.len()
            );
            auth::report(&running.auth);
            loop {
                std::thread::park();
            }
        }
        Command::Tail {
            remote,
            interval_ms,
        } => {
            let remote = remote::Remote::connect(&remote)?;
            // Start at the newest transaction: only what arrives later is printed.
            let mut cursor = remote.get_json("/api/transactions?limit=0")?["cursor"]
                .as_u64()
                .unwrap_or(0);
            loop {
                match remote.get_json(&format!("/api/xlog?since={cursor}&limit=10000")) {
                    Ok(v) => {
                        let n = v["id"].as_array().map_or(0, Vec::len);
                        for i in 0..n {
                            println!(
                                "{}",
                                xlog_line(
                                    v["end_ms"][i].as_u64().unwrap_or(0),
                                    v["service"][i].as_str().unwrap_or(""),
                                    v["endpoint"][i].as_str().unwrap_or(""),
                                    v["elapsed_ms"][i].as_f64().unwrap_or(0.0),
                                    v["error"][i].as_bool().unwrap_or(false),
                                    v["trace_id"][i].as_str().unwrap_or(""),
                                    v["id"][i].as_str().unwrap_or(""),
                                )
                            );
                        }
                        cursor = v["cursor"].as_u64().unwrap_or(cursor);
                    }
                    Err(e) => eprintln!("osprey tail: {e}"),
                }
                std::thread::sleep(Duration::from_millis(interval_ms.max(50)));
            }
        }
        Command::Tree { id, remote } => {
            let v = remote::Remote::connect(&remote)?.get_json(&format!("/api/tree/{id}"))?;
            let trees: Vec<TreeJson> =
                serde_json::from_value(v["transactions"].clone()).map_err(|e| {
                    CliError::Remote {
                        request: format!("GET /api/tree/{id}"),
                        message: format!("unexpected answer: {e}"),
                    }
                })?;
            for t in &trees {
                print!("{}", crate::tree::render(t));
            }
            Ok(())
        }
        Command::At { time, remote } => {
            let ns =
                crate::time::parse(&time).ok_or_else(|| CliError::bad("not a time", &*time))?;
            let v = remote::Remote::connect(&remote)?
                .get_json(&format!("/api/at?t={}", ns / 1_000_000))?;
            print!("{}", render_at(&v));
            Ok(())
        }
        Command::Storage {
            action: StorageAction::Migrate { storage },
        } => {
            let cfg = clickhouse_config(Some(&storage), std::path::Path::new("."))?
                .ok_or_else(|| CliError::bad("--storage: nothing to migrate", &*storage))?;
            let done = crate::storage::clickhouse::migrate(&cfg)
                .map_err(|e| CliError::Storage(e.into()))?;
            for m in done {
                let (major, minor) = m.server;
                let retention = if m.ttl {
                    "table TTL"
                } else {
                    "day partitions dropped by osprey serve"
                };
                println!(
                    "{}: schema version {} -> {} (ClickHouse {major}.{minor}, retention: {retention})",
                    m.shard, m.from, m.to
                );
            }
            Ok(())
        }
        Command::Host(args) => host::run(args),
        Command::Report(args) => report::run(args),
        Command::Key { action, data } => auth::key(action, &data),
        Command::User { action, data } => auth::user(action, &data),
        Command::Import { dir, data } => {
            let found = crate::ingest::import::read_agent_store(&dir)
                .map_err(CliError::io(format!("cannot read {}", dir.display())))?;
            for issue in &found.issues {
                eprintln!("osprey import: skipped damage: {issue}");
            }
            let app = App::open(ServerConfig::new(&data))
                .map_err(CliError::io(format!("cannot open {}", data.display())))?;
            for chunk in found.spans.chunks(4096) {
                app.ingest_spans(chunk.to_vec())
                    .map_err(CliError::Storage)?;
            }
            println!(
                "imported {} transactions ({} spans) into {}",
                found.transactions,
                found.spans.len(),
                data.display()
            );
            Ok(())
        }
    }
}

/// Renders `/api/at` for the terminal.
pub fn render_at(v: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let second = v["second"].as_u64().unwrap_or(0);
    let a = &v["aggregate"];
    let _ = writeln!(
        out,
        "{} tps={} errors={} avg={:.3} ms max={:.3} ms concurrent_users={}",
        crate::time::format_ms(second * 1000),
        a["count"].as_u64().unwrap_or(0),
        a["errors"].as_u64().unwrap_or(0),
        a["elapsed_avg_ms"].as_f64().unwrap_or(0.0),
        a["elapsed_max_ms"].as_f64().unwrap_or(0.0),
        a["concurrent_users"].as_u64().unwrap_or(0),
    );
    for t in v["transactions"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {}",
            xlog_line(
                t["end_ms"].as_u64().unwrap_or(0),
                t["service"].as_str().unwrap_or(""),
                t["endpoint"].as_str().unwrap_or(""),
                t["elapsed_ms"].as_f64().unwrap_or(0.0),
                t["error"].as_bool().unwrap_or(false),
                t["trace_id"].as_str().unwrap_or(""),
                t["id"].as_str().unwrap_or(""),
            )
        );
    }
    for e in v["edges"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  edge {} -> {} ({}) count={} errors={} p95={:.3} ms",
            e["caller"].as_str().unwrap_or(""),
            e["callee"].as_str().unwrap_or(""),
            e["callee_kind"].as_str().unwrap_or(""),
            e["count"].as_u64().unwrap_or(0),
            e["errors"].as_u64().unwrap_or(0),
            e["p95_ms"].as_f64().unwrap_or(0.0),
        );
    }
    for s in v["metrics"].as_array().into_iter().flatten() {
        if let Some(p) = s["points"].as_array().and_then(|p| p.last()) {
            let _ = writeln!(
                out,
                "  metric {} {}{{{}}} = {} {}",
                s["service"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or(""),
                s["attributes"].as_str().unwrap_or(""),
                p[1],
                s["unit"].as_str().unwrap_or(""),
            );
        }
    }
    out
}
