//! The embedded backend: every acknowledged request in the segment log
//! ([`crate::store`]), answered from two tiers.
//!
//! - **Hot**: the segment taking writes (and any not yet sealed) is indexed
//!   in memory by [`crate::index::Index`], exactly as it arrives. Its size
//!   is bounded: the store starts a new segment when the hot one holds
//!   [`IndexConfig::max_transactions`] transactions or covers
//!   [`StoreConfig::segment_window`].
//! - **Sealed**: once a segment stops taking writes, the maintenance pass
//!   writes its index file ([`super::disk::sealed`]: transaction rows in
//!   blocks, per-second aggregates, server-map edges, metric points,
//!   active-services reports, trace and span key tables) and drops the hot
//!   copy. Sealed segments are queried from disk through one byte-bounded
//!   cache ([`super::disk::cache::PartCache`]), so memory does not grow
//!   with retention.
//!
//! Every query asks both tiers and merges. At open, sealed segments are
//! known by their index headers alone; only segments without an index
//! (the one being written at a crash) are replayed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use osprey::model::{SpanId, TraceId};
use parking_lot::{Mutex, RwLock};

use super::disk::agg::{EdgeAgg, SecondAgg, merge_seconds, window_stats};
use super::disk::cache::PartCache;
use super::disk::sealed::{self, SealInput, SealedSegment, Visit};
use super::rollup::{self, MinuteAgg, NS_PER_MIN, RollupBuilder, SegmentRollup};
use super::{
    ActiveReport, AppendAck, EdgeJson, IndexStats, IngestBatch, InstanceJson, RetentionReport,
    SecondStats, SeriesJson, SeriesQuery, Status, Storage, StorageError, StorageResult, TargetKind,
    TxnFilter, TxnPage, TxnRow, newest_first,
};
use crate::index::Index;
use crate::record::{Batch, MetricPoint, SpanRec};
use crate::store::{self, Issue, Loc, Store};
/// The backend's settings: segments and retention, and memory budgets.
pub use crate::{index::IndexConfig, store::StoreConfig};

/// Spans packed into one record (one compressed frame) at most, unless a
/// single trace has more.
const SPANS_PER_RECORD: usize = 2_048;
/// Limits of the active-services board.
const MAX_ACTIVE_SERVICES: usize = 256;
const MAX_ACTIVE_PER_SERVICE: usize = 1_000;
/// Most damage reports kept after start-up.
const MAX_ISSUES: usize = 1_000;
/// A service's active-services report stays in force this long (agents
/// report every second); replay shows the latest one at most this old.
const ACTIVE_IN_FORCE_MS: u64 = 5_000;
/// `latest_only` metric queries without a start look back this far.
const LATEST_LOOKBACK_NS: u64 = 3_600 * NS_PER_S;
const NS_PER_S: u64 = 1_000_000_000;

/// A segment still indexed in memory.
struct HotSegment {
    segment: u64,
    index: Index,
    active: Vec<ActiveReport>,
}

type Hot = Arc<RwLock<HotSegment>>;

/// Both tiers, oldest segment first in each.
#[derive(Default)]
struct Tiers {
    hot: Vec<Hot>,
    sealed: Vec<Arc<SealedSegment>>,
    /// Instances of the sealed segments, merged.
    sealed_instances: BTreeMap<(String, String), InstanceJson>,
}

/// A snapshot of the tiers a query runs over.
struct View {
    hot: Vec<Hot>,
    sealed: Vec<Arc<SealedSegment>>,
}

/// The segment log, the hot indexes and the sealed segments behind
/// [`Storage`].
pub struct EmbeddedStorage {
    store_config: StoreConfig,
    index_config: IndexConfig,
    store: Mutex<Store>,
    tiers: RwLock<Tiers>,
    cache: PartCache,
    /// The sequence number the next hot segment starts at.
    next_seq: AtomicU64,
    /// Transactions that ended before this are outside retention.
    cutoff_ns: AtomicU64,
    issues: Mutex<Vec<Issue>>,
    board: Mutex<BTreeMap<String, ActiveReport>>,
    written: AtomicU64,
    /// One seal at a time.
    sealing: Mutex<()>,
}

fn index_path(dir: &Path, segment_name: &str) -> PathBuf {
    dir.join(format!("{segment_name}{}", sealed::SUFFIX))
}

impl EmbeddedStorage {
    /// Opens the store in `store.dir` and applies retention. Sealed
    /// segments are opened by their index headers; a segment without an
    /// index is replayed (damaged records skipped, reported in the status
    /// and logged), and sealed at once unless it is the newest.
    pub fn open(store: StoreConfig, index: IndexConfig) -> io::Result<Self> {
        let mut segments = Store::open(store.clone())?;
        segments.enforce_retention(Store::now_ms());
        let this = Self {
            cache: PartCache::new(index.cache_bytes),
            store_config: store.clone(),
            index_config: index,
            store: Mutex::new(segments),
            tiers: RwLock::new(Tiers::default()),
            next_seq: AtomicU64::new(1),
            cutoff_ns: AtomicU64::new(0),
            issues: Mutex::new(Vec::new()),
            board: Mutex::new(BTreeMap::new()),
            written: AtomicU64::new(0),
            sealing: Mutex::new(()),
        };
        let infos: Vec<_> = this.store.lock().segments().cloned().collect();
        let names: HashSet<String> = infos
            .iter()
            .map(|s| format!("{}{}", s.name, sealed::SUFFIX))
            .collect();
        this.remove_orphan_indexes(&names);
        let mut unsealed = Vec::new();
        for seg in &infos {
            let path = index_path(&store.dir, &seg.name);
            if !path.exists() {
                unsealed.push(seg.clone());
                continue;
            }
            match SealedSegment::open(&path) {
                Ok(s) => {
                    let max = s.header().max_seq;
                    this.next_seq.fetch_max(max + 1, Ordering::Relaxed);
                    this.add_sealed(Arc::new(s), None);
                }
                Err(e) => {
                    this.note_issue(&path, 0, format!("index unreadable ({e}); rebuilt"));
                    unsealed.push(seg.clone());
                }
            }
        }
        let last = unsealed.len().saturating_sub(1);
        for (i, seg) in unsealed.iter().enumerate() {
            let hot = this.replay(&store.dir.join(&seg.name), seg.seq);
            this.tiers.write().hot.push(hot.clone());
            if i < last {
                this.seal(&hot)?;
            }
        }
        Ok(this)
    }

    fn remove_orphan_indexes(&self, keep: &HashSet<String>) {
        let Ok(dir) = fs::read_dir(&self.store_config.dir) else {
            return;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stale_tmp = name.ends_with(".osx-tmp");
            let orphan_rollup = name
                .strip_suffix(rollup::SUFFIX)
                .is_some_and(|index| !keep.contains(index));
            if stale_tmp
                || orphan_rollup
                || (name.ends_with(sealed::SUFFIX) && !keep.contains(&name))
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// Indexes the records of segment `segment` into a new hot segment.
    fn replay(&self, path: &Path, segment: u64) -> Hot {
        let mut hot = self.new_hot(segment);
        let found = store::scan_segment(path, |f| match store::decode_payload(&f.payload) {
            Ok(batch) => {
                let loc = Loc {
                    segment,
                    offset: f.offset,
                };
                Self::index_record(&mut hot, loc, batch);
            }
            Err(e) => self.note_issue(path, f.offset, format!("undecodable record: {e}")),
        });
        for i in found {
            self.note_issue(path, i.offset, i.problem);
        }
        self.next_seq
            .fetch_max(hot.index.next_seq(), Ordering::Relaxed);
        Arc::new(RwLock::new(hot))
    }

    fn new_hot(&self, segment: u64) -> HotSegment {
        let mut cfg = self.index_config.clone();
        // The roll happens at `max_transactions`; the index cap is a
        // backstop for a segment that grows past it in one request.
        cfg.max_transactions = cfg.max_transactions.saturating_mul(2).max(1_024);
        HotSegment {
            segment,
            index: Index::starting_at(cfg, self.next_seq.load(Ordering::Relaxed)),
            active: Vec::new(),
        }
    }

    fn index_record(hot: &mut HotSegment, loc: Loc, batch: Batch) {
        match batch {
            Batch::Spans(s) => hot.index.add_spans(loc, &s),
            Batch::Metrics(m) => hot.index.add_metrics(&m),
            Batch::Active(a) => hot.active.push(a),
        }
    }

    /// Adds a sealed segment and, in the same step, drops the hot copy it
    /// replaces (`replaces`), so no query sees the segment twice or not at
    /// all.
    fn add_sealed(&self, s: Arc<SealedSegment>, replaces: Option<&Hot>) {
        let mut tiers = self.tiers.write();
        if let Some(hot) = replaces {
            tiers.hot.retain(|h| !Arc::ptr_eq(h, hot));
        }
        for i in s.instances() {
            merge_instance(
                &mut tiers.sealed_instances,
                (i.service.clone(), i.instance.clone()),
                i,
            );
        }
        let at = tiers
            .sealed
            .partition_point(|x| x.header().segment < s.header().segment);
        tiers.sealed.insert(at, s);
    }

    /// Writes the index of `hot` and moves it to the sealed tier.
    fn seal(&self, hot: &Hot) -> io::Result<()> {
        let _one = self.sealing.lock();
        let segment = hot.read().segment;
        let Some(name) = self
            .store
            .lock()
            .segments()
            .find(|s| s.seq == segment)
            .map(|s| s.name.clone())
        else {
            // Deleted by retention meanwhile.
            self.tiers.write().hot.retain(|h| !Arc::ptr_eq(h, hot));
            return Ok(());
        };
        let path = index_path(&self.store_config.dir, &name);
        {
            let h = hot.read();
            sealed::write_index(
                &path,
                &SealInput {
                    segment,
                    index: &h.index,
                    active: &h.active,
                },
            )?;
            let mut b = RollupBuilder::default();
            h.index.rows().for_each(|t| b.add(t));
            if let Err(e) = write_rollup(&path, &b.finish()) {
                // Built again from the index file when a report needs it.
                eprintln!("osprey: store: cannot write the rollup of {name}: {e}");
            }
        }
        let s = Arc::new(SealedSegment::open(&path)?);
        self.add_sealed(s, Some(hot));
        Ok(())
    }

    /// Seals every hot segment that no longer takes writes.
    pub fn seal_ready(&self) -> io::Result<usize> {
        let active = self.store.lock().active_seq();
        let ready: Vec<Hot> = self
            .tiers
            .read()
            .hot
            .iter()
            .filter(|h| Some(h.read().segment) != active)
            .cloned()
            .collect();
        for h in &ready {
            self.seal(h)?;
        }
        Ok(ready.len())
    }

    /// Closes the segment taking writes and seals everything (tests, and
    /// an orderly shutdown).
    pub fn seal_all(&self) -> io::Result<usize> {
        self.store.lock().close_active();
        self.seal_ready()
    }

    fn view(&self) -> View {
        let t = self.tiers.read();
        View {
            hot: t.hot.clone(),
            sealed: t.sealed.clone(),
        }
    }

    /// The filter clipped to retention.
    fn clip(&self, f: &TxnFilter) -> TxnFilter {
        let cutoff = self.cutoff_ns.load(Ordering::Relaxed);
        let mut f = f.clone();
        if cutoff > 0 {
            f.from_ns = Some(f.from_ns.map_or(cutoff, |x| x.max(cutoff)));
        }
        f
    }

    /// The spans of a request in as few records as fit
    /// [`SPANS_PER_RECORD`], each trace whole and its spans together
    /// (traces in first-seen order), then one record for the metrics. A
    /// record is compressed as one zstd frame, so many transactions per
    /// record compress several times better than one (measured in
    /// BENCHMARKS.md); reading a call tree decompresses its record.
    fn records(batch: IngestBatch) -> Vec<Batch> {
        let mut order: Vec<TraceId> = Vec::new();
        let mut by_trace: HashMap<TraceId, Vec<SpanRec>> = HashMap::new();
        for s in batch.spans {
            by_trace
                .entry(s.trace_id)
                .or_insert_with(|| {
                    order.push(s.trace_id);
                    Vec::new()
                })
                .push(s);
        }
        let mut records: Vec<Batch> = Vec::new();
        let mut current: Vec<SpanRec> = Vec::new();
        for spans in order.iter().filter_map(|t| by_trace.remove(t)) {
            if !current.is_empty() && current.len() + spans.len() > SPANS_PER_RECORD {
                records.push(Batch::Spans(std::mem::take(&mut current)));
            }
            current.extend(spans);
        }
        if !current.is_empty() {
            records.push(Batch::Spans(current));
        }
        if !batch.metrics.is_empty() {
            records.push(Batch::Metrics(batch.metrics));
        }
        records
    }

    /// Writes `records` and indexes them in the hot segment they went to;
    /// past the hot budget, the store starts a new segment for the next.
    fn write(&self, records: Vec<Batch>) -> io::Result<()> {
        let mut store = self.store.lock();
        let locs = store.append_all(&records)?;
        self.written
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let Some(segment) = locs.first().map(|l| l.segment) else {
            return Ok(());
        };
        let hot = self.hot_for(segment);
        let mut h = hot.write();
        for (loc, record) in locs.into_iter().zip(records) {
            Self::index_record(&mut h, loc, record);
        }
        self.next_seq.store(h.index.next_seq(), Ordering::Relaxed);
        if h.index.stats().transactions >= self.index_config.max_transactions {
            store.close_active();
        }
        Ok(())
    }

    /// The hot segment of `segment`, created when it is new.
    fn hot_for(&self, segment: u64) -> Hot {
        if let Some(h) = self
            .tiers
            .read()
            .hot
            .iter()
            .rev()
            .find(|h| h.read().segment == segment)
        {
            return h.clone();
        }
        let hot = Arc::new(RwLock::new(self.new_hot(segment)));
        self.tiers.write().hot.push(hot.clone());
        hot
    }

    fn note_issue(&self, path: &Path, offset: u64, problem: String) {
        let segment = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprintln!("osprey: store: {segment} @{offset}: {problem}");
        let mut issues = self.issues.lock();
        if issues.len() < MAX_ISSUES {
            issues.push(Issue {
                segment,
                offset,
                problem,
            });
        }
    }

    /// Reads the records at `locs` and keeps the spans of `trace`.
    fn spans_at(&self, trace: TraceId, locs: &[Loc], out: &mut Vec<SpanRec>) {
        let paths: Vec<_> = {
            let store = self.store.lock();
            locs.iter()
                .map(|l| (store.segment_path(l.segment), l.offset))
                .collect()
        };
        let mut seen: HashSet<SpanId> = out.iter().map(|s| s.span_id).collect();
        for (path, offset) in paths {
            let Some(path) = path else { continue };
            match store::read_frame_at(&path, offset).map(|p| store::decode_payload(&p)) {
                Ok(Ok(Batch::Spans(spans))) => out.extend(
                    spans
                        .into_iter()
                        .filter(|s| s.trace_id == trace && seen.insert(s.span_id)),
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => self.note_issue(&path, offset, e),
                Err(e) => self.note_issue(&path, offset, e.to_string()),
            }
        }
    }

    /// The rollup of sealed segment `s`: its file, or built from its rows
    /// (and written) when the file is missing or damaged.
    fn sealed_rollup(&self, s: &SealedSegment) -> io::Result<SegmentRollup> {
        let path = rollup_path(&s.path);
        match fs::read(&path) {
            Ok(bytes) => match SegmentRollup::decode_file(&bytes) {
                Ok(r) => return Ok(r),
                Err(e) => self.note_issue(&path, 0, format!("{e}; rebuilt")),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut b = RollupBuilder::default();
        s.transactions(&self.cache, &TxnFilter::default(), &mut |row| {
            b.add(&row);
            Visit::More
        })?;
        let r = b.finish();
        if let Err(e) = write_rollup(&s.path, &r) {
            eprintln!("osprey: store: cannot write {}: {e}", path.display());
        }
        Ok(r)
    }

    /// The bytes of decoded index parts held, and the budget.
    pub fn cache_usage(&self) -> (u64, u64) {
        self.cache.usage()
    }
}

fn merge_instance(
    map: &mut BTreeMap<(String, String), InstanceJson>,
    key: (String, String),
    i: InstanceJson,
) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, i);
        }
        Some(e) => {
            if i.last_seen_ms >= e.last_seen_ms {
                e.host = i.host.or(e.host.take());
                e.pid = i.pid.or(e.pid);
            }
            e.first_seen_ms = e.first_seen_ms.min(i.first_seen_ms);
            e.last_seen_ms = e.last_seen_ms.max(i.last_seen_ms);
            e.transactions += i.transactions;
            e.errors += i.errors;
            e.summaries += i.summaries;
        }
    }
}

/// The rollup file of the index file `index`.
fn rollup_path(index: &Path) -> PathBuf {
    let mut p = index.as_os_str().to_owned();
    p.push(rollup::SUFFIX);
    PathBuf::from(p)
}

/// Writes the rollup of the segment whose index file is `index`, whole or
/// not at all (a temporary file renamed; a stale one is removed at open).
fn write_rollup(index: &Path, r: &SegmentRollup) -> io::Result<()> {
    let path = rollup_path(index);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".osx-tmp");
    fs::write(&tmp, r.encode())?;
    fs::rename(&tmp, &path)
}

fn storage_io(e: io::Error) -> StorageError {
    match e.kind() {
        io::ErrorKind::InvalidData => StorageError::Corrupt {
            what: e.to_string(),
        },
        _ => StorageError::Io(e),
    }
}

impl Storage for EmbeddedStorage {
    fn backend(&self) -> &'static str {
        "segment-log"
    }

    /// All records of the batch go in one write; the hot index is updated
    /// after it, under the store lock, so ingest order is index order.
    fn append(&self, batch: IngestBatch) -> StorageResult<AppendAck> {
        let mut ack = AppendAck {
            records: 0,
            spans: batch.spans.len() as u64,
            metric_points: batch.metrics.len() as u64,
        };
        let records = Self::records(batch);
        if records.is_empty() {
            return Ok(ack);
        }
        ack.records = records.len() as u64;
        self.write(records)?;
        Ok(ack)
    }

    fn transactions(&self, filter: &TxnFilter, limit: usize) -> StorageResult<TxnPage> {
        let f = self.clip(filter);
        let cursor = self.next_seq.load(Ordering::Relaxed).saturating_sub(1);
        if let Some(trace) = f.trace_id {
            // The key tables find a trace's few rows without a scan.
            let mut rows = self.trace_transactions(trace)?;
            rows.retain(|r| f.matches(r));
            rows.sort_by(newest_first);
            rows.truncate(limit);
            return Ok(TxnPage {
                cursor,
                transactions: rows,
            });
        }
        let view = self.view();
        let mut rows: Vec<TxnRow> = Vec::new();
        for h in &view.hot {
            let h = h.read();
            rows.extend(h.index.transactions(&f, limit).into_iter().map(|t| t.row()));
        }
        rows.sort_by(newest_first);
        rows.truncate(limit);
        let mut sealed = view.sealed.clone();
        sealed.sort_by_key(|s| std::cmp::Reverse(s.header().max_end_ns));
        for s in &sealed {
            // The k-th newest so far is newer than anything left: done.
            if rows.len() >= limit
                && rows
                    .last()
                    .is_some_and(|r| r.end_ns() > s.header().max_end_ns)
            {
                break;
            }
            let floor = if rows.len() >= limit {
                rows.last().map(TxnRow::end_ns)
            } else {
                None
            };
            let mut taken = 0;
            s.transactions(&self.cache, &f, &mut |row| {
                if floor.is_some_and(|fl| row.end_ns() < fl) || taken >= limit {
                    return Visit::Done;
                }
                taken += 1;
                rows.push(row);
                Visit::More
            })
            .map_err(storage_io)?;
            // Most segments of a long range add nothing: no re-sort then.
            if taken > 0 {
                rows.sort_by(newest_first);
                rows.truncate(limit);
            }
        }
        Ok(TxnPage {
            cursor,
            transactions: rows,
        })
    }

    fn since(&self, cursor: u64, limit: usize) -> StorageResult<TxnPage> {
        let view = self.view();
        let newest = self.next_seq.load(Ordering::Relaxed).saturating_sub(1);
        let mut rows: Vec<TxnRow> = Vec::new();
        for h in &view.hot {
            let h = h.read();
            rows.extend(h.index.since(cursor, limit).into_iter().map(|t| t.row()));
        }
        let hot_floor = rows.iter().map(|r| r.seq).min();
        for s in view.sealed.iter().rev() {
            if s.header().max_seq <= cursor {
                continue;
            }
            if hot_floor.is_some_and(|f| s.header().max_seq < f) && rows.len() >= limit {
                break;
            }
            rows.extend(s.since(&self.cache, cursor).map_err(storage_io)?);
        }
        rows.sort_by_key(|r| r.seq);
        rows.dedup_by_key(|r| r.seq);
        rows.truncate(limit);
        Ok(TxnPage {
            cursor: newest,
            transactions: rows,
        })
    }

    fn transaction(&self, id: SpanId) -> StorageResult<Option<TxnRow>> {
        let view = self.view();
        for h in view.hot.iter().rev() {
            if let Some(t) = h.read().index.by_span(id) {
                return Ok(Some(t.row()));
            }
        }
        for s in view.sealed.iter().rev() {
            if let Some((t, _)) = s.by_span(&self.cache, id).map_err(storage_io)? {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    fn trace_transactions(&self, trace: TraceId) -> StorageResult<Vec<TxnRow>> {
        let view = self.view();
        let mut rows: Vec<TxnRow> = Vec::new();
        for s in &view.sealed {
            rows.extend(s.trace_rows(&self.cache, trace).map_err(storage_io)?);
        }
        for h in &view.hot {
            rows.extend(h.read().index.of_trace(trace).into_iter().map(|t| t.row()));
        }
        let mut seen = HashSet::new();
        rows.retain(|r| seen.insert(r.span_id));
        rows.sort_by_key(|t| t.start_ns);
        Ok(rows)
    }

    fn trace_spans(&self, trace: TraceId) -> StorageResult<Vec<SpanRec>> {
        let view = self.view();
        let mut locs: Vec<Loc> = Vec::new();
        for s in &view.sealed {
            let segment = s.header().segment;
            locs.extend(
                s.trace_records(trace)
                    .map_err(storage_io)?
                    .into_iter()
                    .map(|offset| Loc { segment, offset }),
            );
        }
        for h in &view.hot {
            locs.extend(h.read().index.trace_locations(trace));
        }
        let mut out = Vec::new();
        self.spans_at(trace, &locs, &mut out);
        Ok(out)
    }

    fn seconds(&self, from_s: u64, to_s: u64, window_s: u64) -> StorageResult<Vec<SecondStats>> {
        if to_s < from_s {
            return Ok(Vec::new());
        }
        let window_s = window_s.max(1);
        let cutoff_s = self.cutoff_ns.load(Ordering::Relaxed).div_ceil(NS_PER_S);
        let lo = from_s.saturating_sub(window_s - 1).max(cutoff_s);
        let view = self.view();
        let mut aggs: Vec<SecondAgg> = Vec::new();
        for s in &view.sealed {
            aggs.extend(s.aggs(&self.cache, lo, to_s).map_err(storage_io)?);
        }
        for h in &view.hot {
            aggs.extend(h.read().index.second_aggs(lo, to_s));
        }
        Ok(window_stats(&merge_seconds(aggs), from_s, to_s, window_s))
    }

    fn server_map(&self, from_ns: u64, to_ns: u64) -> StorageResult<Vec<EdgeJson>> {
        let from_ns = from_ns.max(self.cutoff_ns.load(Ordering::Relaxed));
        if to_ns <= from_ns {
            return Ok(Vec::new());
        }
        type Key = (Arc<str>, Arc<str>, TargetKind);
        let mut groups: BTreeMap<Key, EdgeAgg> = BTreeMap::new();
        let view = self.view();
        // Sealed segments keep edges per second: whole seconds of the window.
        let (from_s, to_s) = (from_ns / NS_PER_S, (to_ns - 1) / NS_PER_S);
        for s in &view.sealed {
            for (caller, callee, e) in s.edges(&self.cache, from_s, to_s).map_err(storage_io)? {
                groups
                    .entry((caller, callee, sealed::kind_of(e.kind)))
                    .or_default()
                    .merge(&e.agg);
            }
        }
        for h in &view.hot {
            for e in h.read().index.edge_aggs(from_ns, to_ns) {
                groups
                    .entry((e.caller, e.callee, e.kind))
                    .or_default()
                    .merge(&e.agg);
            }
        }
        Ok(groups
            .into_iter()
            .map(|((caller, callee, kind), a)| {
                a.to_edge(caller.to_string(), callee.to_string(), kind)
            })
            .collect())
    }

    fn series(&self, q: &SeriesQuery) -> StorageResult<Vec<SeriesJson>> {
        let view = self.view();
        let to = q.to_ns.unwrap_or(u64::MAX);
        let from = match (q.from_ns, q.latest_only) {
            (Some(f), _) => f,
            (None, true) if to != u64::MAX => to.saturating_sub(LATEST_LOOKBACK_NS),
            (None, _) => 0,
        }
        .max(self.cutoff_ns.load(Ordering::Relaxed));
        let mut points: Vec<MetricPoint> = Vec::new();
        for s in &view.sealed {
            points.extend(
                s.metrics(
                    &self.cache,
                    q.service.as_deref(),
                    q.name.as_deref(),
                    from,
                    to,
                )
                .map_err(storage_io)?,
            );
        }
        type Key = (String, String, String, String, String);
        let mut series: BTreeMap<Key, SeriesJson> = BTreeMap::new();
        let mut add = |s: SeriesJson| {
            let key = s.key();
            match series.get_mut(&key) {
                Some(e) => e.points.extend(s.points),
                None => {
                    series.insert(key, s);
                }
            }
        };
        for p in points {
            if q.instance.as_deref().is_some_and(|i| i != p.instance) {
                continue;
            }
            add(SeriesJson {
                service: p.service,
                name: p.name,
                attributes: p.attributes,
                unit: p.unit,
                kind: p.kind,
                points: vec![(p.time_ns / 1_000_000, p.value, p.count)],
                instance: p.instance,
                host: p.host,
            });
        }
        let hot_q = SeriesQuery {
            from_ns: Some(from),
            ..q.clone()
        };
        for h in &view.hot {
            for s in h.read().index.series(&hot_q) {
                add(s);
            }
        }
        Ok(series
            .into_values()
            .map(|mut s| {
                s.points.sort_by_key(|p| p.0);
                if q.latest_only {
                    s.points = s.points.pop().into_iter().collect();
                }
                s
            })
            .collect())
    }

    fn instances(&self, service: Option<&str>) -> StorageResult<Vec<InstanceJson>> {
        let (mut map, hot) = {
            let t = self.tiers.read();
            (t.sealed_instances.clone(), t.hot.clone())
        };
        for h in &hot {
            for i in h.read().index.instances(None) {
                merge_instance(&mut map, (i.service.clone(), i.instance.clone()), i);
            }
        }
        let mut out: Vec<InstanceJson> = map
            .into_values()
            .filter(|i| service.is_none_or(|s| i.service == s))
            .collect();
        crate::storage::sort_instances(&mut out);
        Ok(out)
    }

    /// The latest report of each service is kept for `/api/active` (at
    /// most 256 services and 1,000 transactions each; a new service past
    /// the cap is ignored), and every report is logged for replay.
    fn report_active(&self, mut report: ActiveReport) -> StorageResult<()> {
        report.transactions.truncate(MAX_ACTIVE_PER_SERVICE);
        {
            let mut board = self.board.lock();
            if board.len() >= MAX_ACTIVE_SERVICES && !board.contains_key(&report.service) {
                return Ok(());
            }
            board.insert(report.service.clone(), report.clone());
        }
        self.write(vec![Batch::Active(report)])?;
        Ok(())
    }

    fn active(&self) -> StorageResult<Vec<ActiveReport>> {
        Ok(self.board.lock().values().cloned().collect())
    }

    /// The latest report of each service received during `second` or at
    /// most five seconds before it.
    fn active_at(&self, second: u64) -> StorageResult<Vec<ActiveReport>> {
        let to_ms = second.saturating_mul(1_000) + 999;
        let from_ms = (second.saturating_mul(1_000)).saturating_sub(ACTIVE_IN_FORCE_MS);
        let view = self.view();
        let mut latest: BTreeMap<String, ActiveReport> = BTreeMap::new();
        let mut keep = |r: ActiveReport| {
            if latest
                .get(&r.service)
                .is_none_or(|x| x.received_ms <= r.received_ms)
            {
                latest.insert(r.service.clone(), r);
            }
        };
        for s in &view.sealed {
            for r in s.active(&self.cache, from_ms, to_ms).map_err(storage_io)? {
                keep(r);
            }
        }
        for h in &view.hot {
            for r in h
                .read()
                .active
                .iter()
                .filter(|r| r.received_ms >= from_ms && r.received_ms <= to_ms)
            {
                keep(r.clone());
            }
        }
        Ok(latest.into_values().collect())
    }

    /// Seals the segments that stopped taking writes, then deletes whole
    /// segments (by age of their last write, then by total size) with
    /// their indexes, and hides every transaction, call and metric point
    /// that ended before the age limit.
    fn apply_retention(&self, now_ms: u64) -> StorageResult<RetentionReport> {
        if let Err(e) = self.seal_ready() {
            eprintln!("osprey: store: sealing failed (retried at the next pass): {e}");
        }
        // Retention also runs when the store rolls to a new segment: drop
        // every segment the store no longer has, whenever it went.
        let live: HashSet<u64> = {
            let mut store = self.store.lock();
            store.enforce_retention(now_ms);
            store.segments().map(|s| s.seq).collect()
        };
        let mut gone: Vec<u64> = Vec::new();
        {
            let mut t = self.tiers.write();
            t.sealed.retain(|s| {
                let keep = live.contains(&s.header().segment);
                if !keep {
                    gone.push(s.header().segment);
                    for p in [s.path.clone(), rollup_path(&s.path)] {
                        if let Err(e) = fs::remove_file(&p)
                            && e.kind() != io::ErrorKind::NotFound
                        {
                            eprintln!("osprey: store: cannot delete {}: {e}", p.display());
                        }
                    }
                }
                keep
            });
            t.hot.retain(|h| {
                let segment = h.read().segment;
                let keep = live.contains(&segment);
                if !keep {
                    gone.push(segment);
                }
                keep
            });
            if !gone.is_empty() {
                let mut map = BTreeMap::new();
                for s in &t.sealed {
                    for i in s.instances() {
                        merge_instance(&mut map, (i.service.clone(), i.instance.clone()), i);
                    }
                }
                t.sealed_instances = map;
            }
        }
        for d in &gone {
            self.cache.forget(*d);
        }
        let cutoff = now_ms
            .saturating_sub(self.store_config.max_age.as_millis() as u64)
            .saturating_mul(1_000_000);
        self.cutoff_ns.fetch_max(cutoff, Ordering::Relaxed);
        Ok(RetentionReport {
            partitions_removed: gone.len() as u64,
        })
    }

    /// Sealed segments answer from their rollup files, hot ones from
    /// their rows; minutes before the retention cutoff are not covered.
    fn minute_rollup(
        &self,
        service: &str,
        from_minute: u64,
        to_minute: u64,
        visit: &mut dyn FnMut(&MinuteAgg),
    ) -> StorageResult<Option<std::ops::Range<u64>>> {
        let cutoff = self.cutoff_ns.load(Ordering::Relaxed);
        let from = from_minute.max(cutoff.div_ceil(NS_PER_MIN)).min(to_minute);
        let (lo, hi) = (from * NS_PER_MIN, to_minute * NS_PER_MIN);
        let view = self.view();
        for s in &view.sealed {
            let h = s.header();
            if h.rows == 0 || h.max_end_ns < lo || h.min_end_ns >= hi {
                continue;
            }
            let r = self.sealed_rollup(s).map_err(storage_io)?;
            r.minutes_of(service, from, to_minute).for_each(&mut *visit);
        }
        for h in &view.hot {
            let mut b = RollupBuilder::default();
            h.read()
                .index
                .rows()
                .filter(|t| &*t.service == service && (lo..hi).contains(&t.end_ns()))
                .for_each(|t| b.add(t));
            b.finish()
                .minutes_of(service, from, to_minute)
                .for_each(&mut *visit);
        }
        Ok(Some(from..to_minute))
    }

    fn status(&self) -> Status {
        let (segments, store_bytes) = {
            let s = self.store.lock();
            (s.segments().cloned().collect(), s.total_bytes())
        };
        let view = self.view();
        let mut index = IndexStats::default();
        for h in &view.hot {
            let st = h.read().index.stats();
            index.transactions += st.transactions;
            index.evicted_transactions += st.evicted_transactions;
            index.edges += st.edges;
            index.series = index.series.max(st.series);
            index.dropped_metric_points += st.dropped_metric_points;
            index.spans_indexed += st.spans_indexed;
        }
        for s in &view.sealed {
            index.transactions += s.header().rows as usize;
            index.spans_indexed += s.header().spans;
        }
        index.hot_segments = view.hot.len();
        index.sealed_segments = view.sealed.len();
        (index.cache_bytes, index.cache_budget_bytes) = self.cache.usage();
        Status {
            segments,
            store_bytes: store_bytes + view.sealed.iter().map(|s| s.bytes()).sum::<u64>(),
            issues: self.issues.lock().clone(),
            index,
            records_written: self.written.load(Ordering::Relaxed),
        }
    }
}
