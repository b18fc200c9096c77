//! The ClickHouse backend: `osprey serve --storage clickhouse://host:8123/db`.
//!
//! Any number of `osprey serve` processes ingest into and query the same
//! ClickHouse server or cluster; each holds no state of its own beyond
//! its on-disk buffer ([`spool`]), so a load balancer can send any request
//! to any of them.
//!
//! - [`config`]: the `clickhouse://` URL (shards, database, cluster).
//! - [`schema`]: the tables, their DDL for old (18.16) and new servers, the
//!   schema version table and `osprey storage migrate`.
//! - [`rows`]: what a batch becomes: `RowBinary` bodies per shard and
//!   table, with the derived rows (transaction summaries, lookups,
//!   per-second aggregates, server-map calls) built at ingest.
//! - [`http`], [`rowbinary`]: the HTTP interface (through `ureq`, already
//!   the CLI's client) and the row format both ways. The `clickhouse`
//!   crate was not used: it is async (the trait is synchronous) and its
//!   current releases target servers newer than 18.16.
//! - [`spool`]: back-pressure. An insert that fails is buffered on disk
//!   (fsynced before the request is answered) and replayed in order by a
//!   background thread; only when the buffer holds its cap does ingest
//!   answer 503 (with `Retry-After`), and those refusals are counted.
//! - [`query`]: SQL building blocks and the decoding of the answers;
//!   `read` (every query of the trait, retention, status) and `write`
//!   (group commit per shard ([`commit`]), inserts, buffering, replay,
//!   shard health) hold the two paths.
//!
//! Answers equal the embedded backend's on the same data, except for the
//! `seq` numbers: here a transaction's `seq` is its ingest time in ms
//! times 2 048 plus a per-process counter (below 2^53, so the viewer's
//! JavaScript reads it exactly), unique per process, increasing across
//! processes as their clocks do.

pub mod commit;
pub mod config;
pub mod http;
pub mod query;
mod read;
pub mod rowbinary;
pub mod rows;
pub mod schema;
pub mod spool;
#[cfg(test)]
mod tests;
mod write;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use osprey::model::{SpanId, TraceId};
use parking_lot::Mutex;

pub use config::ClickHouseConfig;
use http::Http;
use query::{bytes_lit, date_of, lit, read_all};
use rows::ShardInserts;
use spool::{Spool, SpoolError};

use super::disk::agg::{EdgeAgg, ProtoForm, SecondAgg, merge_seconds, window_stats};
use super::{
    ActiveReport, AppendAck, EdgeJson, IndexStats, IngestBatch, InstanceJson, Issue,
    RetentionReport, SecondStats, SeriesJson, SeriesQuery, Status, Storage, StorageError,
    StorageResult, TargetKind, TxnFilter, TxnPage, TxnRow, newest_first,
};
use crate::record::{MetricKind, SpanRec};

const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MS: u64 = 1_000_000;
/// As the embedded backend: a report stays in force this long.
const ACTIVE_IN_FORCE_MS: u64 = 5_000;
/// As the embedded backend: `latest_only` without a start looks back this far.
const LATEST_LOOKBACK_NS: u64 = 3_600 * NS_PER_S;
/// How often the buffers are replayed while they hold something.
const REPLAY_EVERY: Duration = Duration::from_millis(500);

/// What went wrong talking to ClickHouse.
#[derive(Debug)]
pub enum ChError {
    /// The server did not answer (down, refused, timed out).
    Unreachable(String),
    /// The server answered with an error.
    Server(String),
    /// An answer was not what the schema says.
    Decode(String),
    /// The schema is missing or of another version.
    Schema(String),
    /// The on-disk buffer failed.
    Spool(String),
}

impl fmt::Display for ChError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(m) => write!(f, "ClickHouse unreachable: {m}"),
            Self::Server(m) => write!(f, "ClickHouse error: {m}"),
            Self::Decode(m) => write!(f, "unexpected ClickHouse answer: {m}"),
            Self::Schema(m) => write!(f, "ClickHouse schema: {m}"),
            Self::Spool(m) => write!(f, "ClickHouse buffer: {m}"),
        }
    }
}

impl std::error::Error for ChError {}

impl From<ChError> for StorageError {
    fn from(e: ChError) -> Self {
        match e {
            ChError::Unreachable(_) => StorageError::Unavailable(e.to_string()),
            ChError::Decode(m) => StorageError::Corrupt { what: m },
            other => StorageError::Io(std::io::Error::other(other.to_string())),
        }
    }
}

/// How statements reach a ClickHouse server: HTTP ([`http::Http`]) in
/// production; the tests also run every statement through an embedded
/// current ClickHouse (chdb).
pub trait Transport: Send + Sync {
    /// Runs `sql` on `shard` (`http://host:port`) with `database` as the
    /// default database and `settings`; the answer's bytes.
    fn query(
        &self,
        shard: &str,
        database: Option<&str>,
        sql: &str,
        settings: &[(&str, &str)],
    ) -> Result<Vec<u8>, ChError>;

    /// Inserts `rows` (`RowBinary`, in the columns' order) into
    /// `database.table` on `shard`.
    fn insert(&self, shard: &str, database: &str, table: &str, rows: &[u8]) -> Result<(), ChError>;
}

/// Counters of the write path.
#[derive(Default)]
struct Counters {
    /// Inserts (one per table and shard) sent or buffered.
    records: AtomicU64,
    /// Batches buffered because a shard failed.
    buffered: AtomicU64,
    /// Batches refused (503) because a buffer was full.
    refused: AtomicU64,
}

struct Inner {
    cfg: ClickHouseConfig,
    http: Box<dyn Transport>,
    spools: Vec<Spool>,
    /// Group commit, per shard.
    committers: Vec<commit::Committer>,
    /// The last transaction sequence number handed out.
    last_seq: AtomicU64,
    /// Round-robin shard for rows that belong to no trace.
    spare: AtomicU64,
    /// Transactions that ended before this are outside retention.
    cutoff_ns: AtomicU64,
    /// Shards whose last insert or replay failed (by index), with why.
    down: Mutex<BTreeMap<usize, String>>,
    /// Whether each shard removes old days by table TTL (by index;
    /// asked, and the TTL set, at the first retention pass reaching it).
    ttl: Mutex<BTreeMap<usize, bool>>,
    counters: Counters,
    stop: AtomicBool,
}

/// The ClickHouse backend behind [`Storage`].
pub struct ClickHouseStorage {
    inner: Arc<Inner>,
    replayer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ClickHouseStorage {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.replayer.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl ClickHouseStorage {
    /// Connects to `cfg`'s shards, checks the schema version of those
    /// reachable (`osprey storage migrate` creates it), opens the
    /// buffers and starts replaying what they hold.
    pub fn open(cfg: ClickHouseConfig) -> Result<Self, ChError> {
        let http = Box::new(Http::new(&cfg));
        Self::with_transport(cfg, http)
    }

    /// [`open`](Self::open) over another transport.
    pub fn with_transport(
        cfg: ClickHouseConfig,
        http: Box<dyn Transport>,
    ) -> Result<Self, ChError> {
        schema::check(&*http, &cfg)?;
        let spools = (0..cfg.shards.len())
            .map(|i| Spool::open(cfg.spool_dir.join(format!("shard-{i}"))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ChError::Spool(e.to_string()))?;
        let inner = Arc::new(Inner {
            cfg,
            http,
            committers: spools
                .iter()
                .map(|_| commit::Committer::default())
                .collect(),
            spools,
            last_seq: AtomicU64::new(0),
            spare: AtomicU64::new(0),
            cutoff_ns: AtomicU64::new(0),
            down: Mutex::new(BTreeMap::new()),
            ttl: Mutex::new(BTreeMap::new()),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&inner);
        let replayer = std::thread::Builder::new()
            .name("osprey-ch-replay".into())
            .spawn(move || write::replay_loop(weak))
            .map_err(|e| ChError::Spool(e.to_string()))?;
        Ok(Self {
            inner,
            replayer: Some(replayer),
        })
    }

    /// Replays every buffer now; true when all are empty after it.
    pub fn flush_buffers(&self) -> bool {
        self.inner.replay_all()
    }

    /// Bytes held in the on-disk buffers.
    pub fn buffered_bytes(&self) -> u64 {
        self.inner.spools.iter().map(Spool::bytes).sum()
    }
}

impl Inner {
    fn db(&self) -> &str {
        &self.cfg.database
    }

    /// A query on the first shard (through the `Distributed` tables when
    /// sharded, skipping shards that are down).
    fn select(&self, sql: &str) -> Result<Vec<u8>, ChError> {
        let sql = format!("{sql} FORMAT RowBinary");
        let settings: &[(&str, &str)] = if self.cfg.sharded() {
            &[("skip_unavailable_shards", "1")]
        } else {
            &[]
        };
        let mut last = None;
        // Any shard can answer a query on the Distributed tables.
        for shard in &self.cfg.shards {
            match self.http.query(shard, Some(self.db()), &sql, settings) {
                Ok(b) => return Ok(b),
                Err(ChError::Unreachable(m)) => last = Some(ChError::Unreachable(m)),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ChError::Unreachable("no shard".into())))
    }
}

/// `osprey storage migrate`: creates or upgrades the schema on every shard.
pub fn migrate(cfg: &ClickHouseConfig) -> Result<Vec<schema::Migrated>, ChError> {
    schema::migrate(&Http::new(cfg), cfg)
}
