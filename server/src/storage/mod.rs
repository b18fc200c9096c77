//! The seam between the server and where its data lives: the [`Storage`]
//! trait, the plain types that cross it ([`types`]) and today's backend,
//! [`embedded::EmbeddedStorage`] (the segment store of [`crate::store`]
//! plus the in-memory indexes of [`crate::index`]).
//!
//! Everything above it — OTLP ingest (HTTP and gRPC), the query API, the
//! CLI's import, retention and `/api/status` — goes through
//! [`crate::app::App`], which holds an `Arc<dyn Storage>`; nothing else
//! touches the store or the indexes. Another backend (ClickHouse, next
//! issue) implements this trait and is handed to
//! [`App::with_storage`](crate::app::App::with_storage). `server/STORAGE.md`
//! is the proposal this trait is cut from, and what the disk-backed
//! engine will add (streaming with an ordered cursor, per-second active
//! snapshots): this version answers exactly what the server answers today.
//!
//! The trait is synchronous and object-safe: handlers call it from
//! blocking tasks, and every method may be called from many threads at once.

pub mod clickhouse;
pub mod disk;
pub mod embedded;
pub mod rollup;
#[cfg(test)]
mod tests;
pub mod types;

use std::fmt;

use osprey::model::{SpanId, TraceId};

use crate::record::SpanRec;
pub use types::*;

/// Storage behind the server. Every method may be called from many
/// threads at once; results are plain data.
pub trait Storage: Send + Sync + 'static {
    /// A short name for logs and status ("segment-log", "clickhouse").
    fn backend(&self) -> &'static str;

    /// Stores what one request brought. When it returns `Ok`, the data is
    /// durable as configured (embedded: in the segment file, synced with
    /// `fsync`; it survives `kill -9`) and visible to every query that
    /// starts later. Derived data (transaction summaries, per-second
    /// aggregates, server-map calls, metric series) is updated here. An
    /// empty batch stores nothing.
    fn append(&self, batch: IngestBatch) -> StorageResult<AppendAck>;

    /// Transactions matching `filter`, newest end first (ties: newest
    /// ingested first), at most `limit`, with the live cursor.
    fn transactions(&self, filter: &TxnFilter, limit: usize) -> StorageResult<TxnPage>;

    /// Transactions ingested after the live cursor `cursor`, oldest first,
    /// at most `limit`, with the newest cursor.
    fn since(&self, cursor: u64, limit: usize) -> StorageResult<TxnPage>;

    /// The transaction whose root span is `id`, `None` when unknown.
    fn transaction(&self, id: SpanId) -> StorageResult<Option<TxnRow>>;

    /// The transactions of a trace, by start (empty when unknown).
    fn trace_transactions(&self, trace: TraceId) -> StorageResult<Vec<TxnRow>>;

    /// Every stored span of `trace` (each span once), from which call
    /// trees are built. Damaged records are skipped and reported in
    /// [`Storage::status`], not failed.
    fn trace_spans(&self, trace: TraceId) -> StorageResult<Vec<SpanRec>>;

    /// Per-second statistics for seconds `from_s..=to_s`, concurrent users
    /// counted over the `window_s` seconds ending at each second.
    fn seconds(&self, from_s: u64, to_s: u64, window_s: u64) -> StorageResult<Vec<SecondStats>>;

    /// Server-map edges of calls ending in `[from_ns, to_ns)`.
    fn server_map(&self, from_ns: u64, to_ns: u64) -> StorageResult<Vec<EdgeJson>>;

    /// Metric series matching `q` (the inspector).
    fn series(&self, q: &SeriesQuery) -> StorageResult<Vec<SeriesJson>>;

    /// The instances (`service.instance.id`) of `service`, of every service
    /// when `None`, by service then latest seen first.
    fn instances(&self, service: Option<&str>) -> StorageResult<Vec<InstanceJson>>;

    /// Replaces the active-services report of `report.service`;
    /// `report.received_ms` is already set.
    fn report_active(&self, report: ActiveReport) -> StorageResult<()>;

    /// The latest active-services report of every service.
    fn active(&self) -> StorageResult<Vec<ActiveReport>>;

    /// The active-services reports in force at UNIX second `second`
    /// (replay). The embedded backend keeps only the latest report of each
    /// service and answers [`StorageError::Unsupported`].
    fn active_at(&self, second: u64) -> StorageResult<Vec<ActiveReport>>;

    /// Deletes what the configured retention (age, total bytes) no longer
    /// keeps, as of `now_ms`, and forgets it in every answer; called at
    /// open and periodically.
    fn apply_retention(&self, now_ms: u64) -> StorageResult<RetentionReport>;

    /// Sizes, counters and damage found, for `/api/status`.
    fn status(&self) -> Status;

    /// The parts of the data this backend cannot reach now (a sharded
    /// backend's shards that are down), named; answers leave their data
    /// out and the API says so. Empty by default.
    fn missing(&self) -> Vec<String> {
        Vec::new()
    }

    /// Visits the per-minute rollups ([`rollup::MinuteAgg`]) of `service`
    /// for the UNIX minutes `from_minute..to_minute`, in no particular
    /// order; a minute may come in several parts (one per segment), which
    /// add up. Answers the minutes covered — the start may be later than
    /// asked when retention cut the range; the caller reads the rows of
    /// the rest — or `None` when this backend keeps no rollups (the
    /// default: reports then read every row).
    fn minute_rollup(
        &self,
        service: &str,
        from_minute: u64,
        to_minute: u64,
        visit: &mut dyn FnMut(&rollup::MinuteAgg),
    ) -> StorageResult<Option<std::ops::Range<u64>>> {
        let _ = (service, from_minute, to_minute, visit);
        Ok(None)
    }
}

/// Rows newest end first, ties newest ingested first: the order of
/// [`Storage::transactions`].
pub fn newest_first(a: &TxnRow, b: &TxnRow) -> std::cmp::Ordering {
    (b.end_ns(), b.seq).cmp(&(a.end_ns(), a.seq))
}

/// Result of every storage call.
pub type StorageResult<T> = Result<T, StorageError>;

/// What went wrong in a backend.
#[derive(Debug)]
pub enum StorageError {
    /// The disk or the network failed.
    Io(std::io::Error),
    /// Stored data failed its checksum or schema; `what` names the file/part.
    Corrupt {
        /// The file or part.
        what: String,
    },
    /// The backend is unreachable or overloaded; retry later (ingest answers 503).
    Unavailable(String),
    /// The query cannot be answered as asked.
    InvalidQuery(String),
    /// This backend does not keep what the call asks for (named here).
    Unsupported(&'static str),
}

impl StorageError {
    /// The HTTP status a query answers with when it fails this way.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidQuery(_) => 400,
            Self::Unsupported(_) => 501,
            Self::Unavailable(_) => 503,
            Self::Io(_) | Self::Corrupt { .. } => 500,
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // As the I/O error reads: the ingest answers quote it.
            Self::Io(e) => e.fmt(f),
            Self::Corrupt { what } => write!(f, "corrupt {what}"),
            Self::Unavailable(m) => write!(f, "storage unavailable: {m}"),
            Self::InvalidQuery(m) => write!(f, "invalid query: {m}"),
            Self::Unsupported(what) => write!(f, "not kept by this storage backend: {what}"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// Queries of a [`Storage`] that panic on a backend error instead of
/// returning it: for tests and benchmarks ([`crate::app::App::read`]),
/// where a failure must stop the run. The server itself uses the trait.
pub struct ReadView<'a>(pub &'a dyn Storage);

impl ReadView<'_> {
    /// [`Storage::transactions`]' rows.
    ///
    /// # Panics
    /// When the backend fails.
    pub fn transactions(&self, filter: &TxnFilter, limit: usize) -> Vec<TxnRow> {
        expect(self.0.transactions(filter, limit)).transactions
    }

    /// [`Storage::seconds`].
    ///
    /// # Panics
    /// When the backend fails.
    pub fn seconds(&self, from_s: u64, to_s: u64, window_s: u64) -> Vec<SecondStats> {
        expect(self.0.seconds(from_s, to_s, window_s))
    }

    /// [`Storage::server_map`].
    ///
    /// # Panics
    /// When the backend fails.
    pub fn server_map(&self, from_ns: u64, to_ns: u64) -> Vec<EdgeJson> {
        expect(self.0.server_map(from_ns, to_ns))
    }

    /// [`Storage::series`].
    ///
    /// # Panics
    /// When the backend fails.
    pub fn series(&self, q: &SeriesQuery) -> Vec<SeriesJson> {
        expect(self.0.series(q))
    }
}

fn expect<T>(r: StorageResult<T>) -> T {
    r.unwrap_or_else(|e| panic!("storage query failed: {e}"))
}
