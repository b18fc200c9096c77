//! The index file of a sealed segment: written once when the segment stops
//! taking writes, read lazily and in parts through the [`PartCache`] after.
//!
//! ```text
//! file   = "OSPRYIDX" | version (u32 LE) | header length (u32 LE) | header | parts
//! header = IndexHeader (protobuf, below): counts, time ranges, the block
//!          directory, where each part lies, the instances seen
//! parts  = row blocks        zstd(RowBlock): ≤ 4 096 transactions, by (end, seq)
//!          strings           zstd(StringTable): every service, endpoint,
//!                            client, user and instance text; rows hold ids
//!          aggregates        zstd(AggList): one mergeable row per second
//!          edges             zstd(EdgeList): one row per second and edge
//!          metrics           zstd(MetricList)
//!          active            zstd(ActiveList): every active-services report
//!          trace / span keys Bloom filters and sorted tables, in 256
//!                            partitions by a hash of the key, raw (ids
//!                            are random: they do not compress)
//! ```
//!
//! Everything is protobuf (prost), so a field can be added under a new
//! number without a new file version; the numbers below are frozen. A
//! lookup of a trace reads one Bloom partition (tens of bytes to a few KB)
//! of each segment and, on a hit, one table partition; a query over a time
//! window reads the block directory (in memory) and only the blocks whose
//! end-time range and counters can match.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use osprey::model::{SpanId, TraceId};
use prost::Message;

use super::agg::{EdgeRow, ProtoForm, SecondAgg};
use super::cache::{Part, PartCache, PartKey, StringTab};
use crate::index::{Index, Txn};
use crate::record::{MetricKind, MetricPoint};
use crate::storage::{ActiveReport, InstanceJson, TargetKind, TxnFilter, TxnRow};

/// First bytes of an index file.
pub const MAGIC: [u8; 8] = *b"OSPRYIDX";
/// Version written; readers accept it and every older one.
pub const VERSION: u32 = 1;
/// File name suffix, appended to the segment's name.
pub const SUFFIX: &str = ".osx";
/// Transactions per row block.
pub const BLOCK_ROWS: usize = 4_096;
/// Partitions of the key filters and tables (by a hash of the key).
const PARTS: usize = 256;
/// Bloom filter bits per key, and probes.
const BLOOM_BITS_PER_KEY: usize = 10;
const BLOOM_PROBES: u64 = 7;
/// zstd level of the parts.
const ZSTD_LEVEL: i32 = 3;
/// Largest decompressed part accepted (a corrupt length cannot allocate more).
const MAX_PART_BYTES: usize = 512 << 20;

/// Where a part lies in the file.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct PartRef {
    /// Byte offset.
    #[prost(uint64, tag = "1")]
    pub offset: u64,
    /// Length in bytes (compressed when the part is).
    #[prost(uint64, tag = "2")]
    pub len: u64,
}

/// One row block in the directory.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct BlockRef {
    /// Where it lies.
    #[prost(message, optional, tag = "1")]
    pub at: Option<PartRef>,
    /// Rows in it.
    #[prost(uint32, tag = "2")]
    pub rows: u32,
    /// Smallest end, UNIX ns.
    #[prost(uint64, tag = "3")]
    pub min_end_ns: u64,
    /// Largest end, UNIX ns.
    #[prost(uint64, tag = "4")]
    pub max_end_ns: u64,
    /// Largest elapsed, ns.
    #[prost(uint64, tag = "5")]
    pub max_elapsed_ns: u64,
    /// Failed transactions in it.
    #[prost(uint32, tag = "6")]
    pub errors: u32,
    /// Smallest and largest sequence number.
    #[prost(uint64, tag = "7")]
    pub min_seq: u64,
    /// Largest sequence number.
    #[prost(uint64, tag = "8")]
    pub max_seq: u64,
    /// A Bloom filter of the client-IP and user string ids in the block
    /// (raw bits): a filter on one client or user skips blocks without it.
    #[prost(message, optional, tag = "9")]
    pub visitors: Option<PartRef>,
}

/// A key filter and table: Bloom filter partitions of equal size, then the
/// sorted `(key, value)` entries, `offsets[p]..offsets[p + 1]` being
/// partition `p`'s entries.
#[derive(Clone, PartialEq, Message)]
pub struct KeyTable {
    /// The Bloom filter: `PARTS` partitions of `bloom_part_bytes` each.
    #[prost(message, optional, tag = "1")]
    pub bloom: Option<PartRef>,
    /// Bytes per Bloom partition.
    #[prost(uint32, tag = "2")]
    pub bloom_part_bytes: u32,
    /// The entries.
    #[prost(message, optional, tag = "3")]
    pub entries: Option<PartRef>,
    /// Bytes per entry (key bytes + 8 for the value).
    #[prost(uint32, tag = "4")]
    pub entry_bytes: u32,
    /// First entry of each partition, and the total, `PARTS + 1` values.
    #[prost(uint32, repeated, tag = "5")]
    pub offsets: Vec<u32>,
}

/// What one process of a service did in this segment.
#[derive(Clone, PartialEq, Message)]
pub struct InstanceRec {
    /// Service.
    #[prost(string, tag = "1")]
    pub service: String,
    /// `service.instance.id`.
    #[prost(string, tag = "2")]
    pub instance: String,
    /// `host.name`.
    #[prost(string, optional, tag = "3")]
    pub host: Option<String>,
    /// `process.pid`.
    #[prost(int64, optional, tag = "4")]
    pub pid: Option<i64>,
    /// First end seen, UNIX ms.
    #[prost(uint64, tag = "5")]
    pub first_seen_ms: u64,
    /// Last end seen, UNIX ms.
    #[prost(uint64, tag = "6")]
    pub last_seen_ms: u64,
    /// Transactions.
    #[prost(uint64, tag = "7")]
    pub transactions: u64,
    /// Failed ones.
    #[prost(uint64, tag = "8")]
    pub errors: u64,
    /// Summaries (tree not kept).
    #[prost(uint64, tag = "9")]
    pub summaries: u64,
}

/// The header: everything a query plans with, kept in memory per segment.
#[derive(Clone, PartialEq, Message)]
pub struct IndexHeader {
    /// Sequence number of the segment.
    #[prost(uint64, tag = "1")]
    pub segment: u64,
    /// Transactions.
    #[prost(uint64, tag = "2")]
    pub rows: u64,
    /// Smallest end of a transaction, UNIX ns.
    #[prost(uint64, tag = "3")]
    pub min_end_ns: u64,
    /// Largest end, UNIX ns.
    #[prost(uint64, tag = "4")]
    pub max_end_ns: u64,
    /// Largest elapsed, ns.
    #[prost(uint64, tag = "5")]
    pub max_elapsed_ns: u64,
    /// Failed transactions.
    #[prost(uint64, tag = "6")]
    pub errors: u64,
    /// Smallest transaction sequence number.
    #[prost(uint64, tag = "7")]
    pub min_seq: u64,
    /// Largest.
    #[prost(uint64, tag = "8")]
    pub max_seq: u64,
    /// Row blocks, by end.
    #[prost(message, repeated, tag = "9")]
    pub blocks: Vec<BlockRef>,
    /// The string table.
    #[prost(message, optional, tag = "10")]
    pub strings: Option<PartRef>,
    /// Per-second aggregates, and their second range.
    #[prost(message, optional, tag = "11")]
    pub aggs: Option<PartRef>,
    /// First second with an aggregate.
    #[prost(uint64, tag = "12")]
    pub agg_min_s: u64,
    /// Last second with an aggregate.
    #[prost(uint64, tag = "13")]
    pub agg_max_s: u64,
    /// Server-map edges per second.
    #[prost(message, optional, tag = "14")]
    pub edges: Option<PartRef>,
    /// First second with an edge.
    #[prost(uint64, tag = "15")]
    pub edge_min_s: u64,
    /// Last second with an edge.
    #[prost(uint64, tag = "16")]
    pub edge_max_s: u64,
    /// Metric points.
    #[prost(message, optional, tag = "17")]
    pub metrics: Option<PartRef>,
    /// Earliest point, UNIX ns.
    #[prost(uint64, tag = "18")]
    pub metric_min_ns: u64,
    /// Latest point, UNIX ns.
    #[prost(uint64, tag = "19")]
    pub metric_max_ns: u64,
    /// Active-services reports.
    #[prost(message, optional, tag = "20")]
    pub active: Option<PartRef>,
    /// Earliest report, UNIX ms.
    #[prost(uint64, tag = "21")]
    pub active_min_ms: u64,
    /// Latest report, UNIX ms.
    #[prost(uint64, tag = "22")]
    pub active_max_ms: u64,
    /// Trace id → record offset (every record holding spans of the trace).
    #[prost(message, optional, tag = "23")]
    pub trace_records: Option<KeyTable>,
    /// Trace id → row (the trace's transactions).
    #[prost(message, optional, tag = "24")]
    pub trace_rows: Option<KeyTable>,
    /// Root span id → row.
    #[prost(message, optional, tag = "25")]
    pub span_rows: Option<KeyTable>,
    /// Instances seen.
    #[prost(message, repeated, tag = "26")]
    pub instances: Vec<InstanceRec>,
    /// Spans indexed.
    #[prost(uint64, tag = "27")]
    pub spans: u64,
}

/// One transaction in a row block; text fields are string-table ids
/// (0 = none, `n` = entry `n - 1`).
#[derive(Clone, PartialEq, Message)]
pub struct RowRec {
    /// Ingest sequence number.
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    /// Trace id, first 8 bytes (little-endian); tag 2 is not used (two
    /// fixed words decode without an allocation per row).
    #[prost(fixed64, tag = "17")]
    pub trace_lo: u64,
    /// Trace id, last 8 bytes.
    #[prost(fixed64, tag = "18")]
    pub trace_hi: u64,
    /// Root span id.
    #[prost(fixed64, tag = "3")]
    pub span_id: u64,
    /// Parent span id, 0 when none.
    #[prost(fixed64, tag = "4")]
    pub parent: u64,
    /// Service id.
    #[prost(uint32, tag = "5")]
    pub service: u32,
    /// Endpoint id.
    #[prost(uint32, tag = "6")]
    pub endpoint: u32,
    /// Start, UNIX ns.
    #[prost(uint64, tag = "7")]
    pub start_ns: u64,
    /// Elapsed, ns.
    #[prost(uint64, tag = "8")]
    pub elapsed_ns: u64,
    /// Failed.
    #[prost(bool, tag = "9")]
    pub error: bool,
    /// Client IP id.
    #[prost(uint32, tag = "10")]
    pub client_ip: u32,
    /// User id.
    #[prost(uint32, tag = "11")]
    pub user: u32,
    /// HTTP status.
    #[prost(uint32, tag = "12")]
    pub http_status: u32,
    /// Thread id.
    #[prost(uint64, tag = "13")]
    pub thread: u64,
    /// Instance id.
    #[prost(uint32, tag = "14")]
    pub instance: u32,
    /// Summary only.
    #[prost(bool, tag = "15")]
    pub tree_omitted: bool,
    /// Offset of the record holding the root span.
    #[prost(uint64, tag = "16")]
    pub offset: u64,
}

impl RowRec {
    fn end_ns(&self) -> u64 {
        self.start_ns.saturating_add(self.elapsed_ns)
    }

    fn trace(&self) -> TraceId {
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&self.trace_lo.to_le_bytes());
        t[8..].copy_from_slice(&self.trace_hi.to_le_bytes());
        TraceId(t)
    }

    fn words(t: TraceId) -> (u64, u64) {
        let lo = u64::from_le_bytes(t.0[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(t.0[8..].try_into().expect("8 bytes"));
        (lo, hi)
    }
}

/// A row block.
#[derive(Clone, PartialEq, Message)]
pub struct RowBlock {
    /// Rows by (end, seq).
    #[prost(message, repeated, tag = "1")]
    pub rows: Vec<RowRec>,
}

/// The string table: the texts sorted and concatenated, so a reader
/// neither allocates per string nor hashes them (id `n` is the `n`-th
/// text; a text's id is found by binary search). Tag 1 is not used.
#[derive(Clone, PartialEq, Message)]
pub struct StringTable {
    /// The texts, sorted, back to back (UTF-8).
    #[prost(bytes = "vec", tag = "2")]
    pub blob: Vec<u8>,
    /// The end offset of each text in `blob`.
    #[prost(uint32, repeated, tag = "3")]
    pub ends: Vec<u32>,
}

/// Per-second aggregates.
#[derive(Clone, PartialEq, Message)]
pub struct AggList {
    /// Encoded [`SecondAgg`]s, by second.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub rows: Vec<Vec<u8>>,
}

/// Edges per second; caller and callee are string-table ids.
#[derive(Clone, PartialEq, Message)]
pub struct EdgeList {
    /// Encoded [`EdgeRow`]s.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub rows: Vec<Vec<u8>>,
}

/// One metric point.
#[derive(Clone, PartialEq, Message)]
pub struct MetricRec {
    /// Service.
    #[prost(string, tag = "1")]
    pub service: String,
    /// Name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Unit.
    #[prost(string, tag = "3")]
    pub unit: String,
    /// 0 gauge, 1 sum, 2 histogram.
    #[prost(uint32, tag = "4")]
    pub kind: u32,
    /// Attributes, `k=v` sorted, joined by `,`.
    #[prost(string, tag = "5")]
    pub attributes: String,
    /// Time, UNIX ns.
    #[prost(uint64, tag = "6")]
    pub time_ns: u64,
    /// Value.
    #[prost(double, tag = "7")]
    pub value: f64,
    /// Observation count (histograms).
    #[prost(uint64, tag = "8")]
    pub count: u64,
    /// `service.instance.id` ("" when none, and in older files).
    #[prost(string, tag = "9")]
    pub instance: String,
    /// `host.name` ("" when none, and in older files).
    #[prost(string, tag = "10")]
    pub host: String,
}

/// Metric points.
#[derive(Clone, PartialEq, Message)]
pub struct MetricList {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub points: Vec<MetricRec>,
}

/// Active-services reports, each as its JSON document (the shape agents
/// send and `/api/active` answers).
#[derive(Clone, PartialEq, Message)]
pub struct ActiveList {
    /// Reports by arrival.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub reports: Vec<Vec<u8>>,
}

/// What a segment brought, gathered for sealing.
pub struct SealInput<'a> {
    /// Sequence number of the segment.
    pub segment: u64,
    /// The segment's transactions, spans and derived data.
    pub index: &'a Index,
    /// The active-services reports that arrived while it was written.
    pub active: &'a [ActiveReport],
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Decodes one protobuf message of a part.
fn message<M: Message + Default>(raw: &[u8]) -> io::Result<M> {
    M::decode(raw).map_err(|e| bad(e.to_string()))
}

/// Decodes every encoded row of a list part.
fn rows_of<T: ProtoForm>(rows: &[Vec<u8>]) -> io::Result<Vec<T>> {
    rows.iter()
        .map(|r| T::decode(r).map_err(|e| bad(e.to_string())))
        .collect()
}

fn other_part() -> io::Error {
    bad("cache holds another part")
}

fn compress(raw: &[u8]) -> io::Result<Vec<u8>> {
    zstd::bulk::compress(raw, ZSTD_LEVEL)
}

/// Decompresses a part, refusing more than [`MAX_PART_BYTES`].
fn decompress(z: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut dec = zstd::stream::read::Decoder::new(z)?;
    let n = io::copy(
        &mut io::Read::take(&mut dec, MAX_PART_BYTES as u64 + 1),
        &mut out,
    )?;
    if n > MAX_PART_BYTES as u64 {
        return Err(bad("index part larger than allowed"));
    }
    Ok(out)
}

/// The string table being built: every text first, then ids in sorted
/// order.
#[derive(Default)]
struct Strings {
    ids: std::collections::HashMap<Arc<str>, u32>,
}

impl Strings {
    /// A table of `texts` (any order, repeats allowed).
    fn of<'a>(texts: impl Iterator<Item = &'a str>) -> (Self, StringTable) {
        let mut sorted: Vec<&str> = texts.collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut table = StringTable::default();
        let mut ids = std::collections::HashMap::with_capacity(sorted.len());
        for (i, t) in sorted.into_iter().enumerate() {
            table.blob.extend_from_slice(t.as_bytes());
            table.ends.push(table.blob.len() as u32);
            ids.insert(Arc::from(t), i as u32 + 1);
        }
        (Self { ids }, table)
    }

    fn id(&self, s: &str) -> u32 {
        self.ids.get(s).copied().unwrap_or(0)
    }

    fn opt(&self, s: Option<&Arc<str>>) -> u32 {
        s.map_or(0, |s| self.id(s))
    }
}

/// Appends parts to the file body while remembering where they lie.
struct Body {
    bytes: Vec<u8>,
}

impl Body {
    fn put(&mut self, part: &[u8]) -> PartRef {
        let at = PartRef {
            offset: self.bytes.len() as u64,
            len: part.len() as u64,
        };
        self.bytes.extend_from_slice(part);
        at
    }

    fn put_z(&mut self, raw: &[u8]) -> io::Result<PartRef> {
        Ok(self.put(&compress(raw)?))
    }
}

/// MurmurHash3's 64-bit finaliser.
fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Two hashes of a key. Ids are mixed rather than used as they are: agents
/// and tests also make sequential ones, which would crowd one partition.
fn key_hash(key: &[u8]) -> (u64, u64) {
    let (mut a, mut b) = (0x9E37_79B9_7F4A_7C15u64, 0xC2B2_AE3D_27D4_EB4Fu64);
    for chunk in key.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        a = fmix(a ^ x);
        b = fmix(b.wrapping_add(x).rotate_left(31));
    }
    (a, b | 1)
}

/// The partition of a key (the top byte of its first hash).
fn partition(key: &[u8]) -> usize {
    (key_hash(key).0 >> 56) as usize
}

/// The Bloom filter's probe base and step for a key.
fn probes(key: &[u8]) -> (u64, u64) {
    key_hash(key)
}

/// A Bloom filter of string ids, ~10 bits an id (a power of two).
fn id_filter(ids: &[u32]) -> Vec<u8> {
    let mut distinct = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let bytes = (distinct.len() * BLOOM_BITS_PER_KEY)
        .div_ceil(8)
        .next_power_of_two()
        .max(8);
    let mut bits = vec![0u8; bytes];
    for id in distinct {
        let (a, b) = key_hash(&u64::from(id).to_le_bytes());
        for j in 0..BLOOM_PROBES {
            let bit = a.wrapping_add(j.wrapping_mul(b)) % (bytes as u64 * 8);
            bits[(bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    bits
}

/// Whether `filter` (from [`id_filter`]) may hold `id`.
fn id_filter_has(filter: &[u8], id: u32) -> bool {
    if filter.is_empty() {
        return true;
    }
    let bits = filter.len() as u64 * 8;
    let (a, b) = key_hash(&u64::from(id).to_le_bytes());
    (0..BLOOM_PROBES).all(|j| {
        let bit = a.wrapping_add(j.wrapping_mul(b)) % bits;
        filter[(bit / 8) as usize] & (1 << (bit % 8)) != 0
    })
}

/// Builds a [`KeyTable`] over `entries` (key bytes, value).
fn key_table(body: &mut Body, mut entries: Vec<(Vec<u8>, u64)>) -> KeyTable {
    // By partition, then key: a partition's entries are one sorted run.
    entries.sort_by_cached_key(|(k, v)| (partition(k), k.clone(), *v));
    entries.dedup();
    let key_len = entries.first().map_or(8, |e| e.0.len());
    let mut counts = [0usize; PARTS];
    for (k, _) in &entries {
        counts[partition(k)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    let part_bytes = (max * BLOOM_BITS_PER_KEY).div_ceil(8).max(8);
    let mut bloom = vec![0u8; part_bytes * PARTS];
    let bits = (part_bytes * 8) as u64;
    let mut table = Vec::with_capacity(entries.len() * (key_len + 8));
    let mut offsets = Vec::with_capacity(PARTS + 1);
    let mut next = 0usize;
    for (i, (k, v)) in entries.iter().enumerate() {
        while next <= partition(k) {
            offsets.push(i as u32);
            next += 1;
        }
        let (a, b) = probes(k);
        let base = partition(k) * part_bytes;
        for j in 0..BLOOM_PROBES {
            let bit = a.wrapping_add(j.wrapping_mul(b)) % bits;
            bloom[base + (bit / 8) as usize] |= 1 << (bit % 8);
        }
        table.extend_from_slice(k);
        table.extend_from_slice(&v.to_le_bytes());
    }
    while offsets.len() <= PARTS {
        offsets.push(entries.len() as u32);
    }
    KeyTable {
        bloom: Some(body.put(&bloom)),
        bloom_part_bytes: part_bytes as u32,
        entries: Some(body.put(&table)),
        entry_bytes: (key_len + 8) as u32,
        offsets,
    }
}

/// Writes the index file of segment `input.segment` to `path` (through a
/// temporary file renamed into place, so a crash leaves either no index —
/// the segment is replayed and sealed again — or a whole one).
pub fn write_index(path: &Path, input: &SealInput<'_>) -> io::Result<IndexHeader> {
    let index = input.index;
    let mut rows: Vec<&Txn> = index.rows().collect();
    rows.sort_by_key(|t| (t.end_ns(), t.seq));
    let edges = index.edge_aggs(0, u64::MAX);
    let (strings, table) = Strings::of(
        rows.iter()
            .flat_map(|t| {
                [
                    Some(&t.service),
                    Some(&t.endpoint),
                    t.client_ip.as_ref(),
                    t.user.as_ref(),
                    t.instance.as_ref(),
                ]
            })
            .flatten()
            .chain(edges.iter().flat_map(|e| [&e.caller, &e.callee]))
            .map(|s| &**s),
    );
    let mut body = Body { bytes: Vec::new() };
    let mut h = IndexHeader {
        segment: input.segment,
        rows: rows.len() as u64,
        min_end_ns: rows.first().map_or(0, |t| t.end_ns()),
        max_end_ns: rows.last().map_or(0, |t| t.end_ns()),
        min_seq: rows.iter().map(|t| t.seq).min().unwrap_or(0),
        max_seq: rows.iter().map(|t| t.seq).max().unwrap_or(0),
        spans: index.stats().spans_indexed,
        ..IndexHeader::default()
    };
    let mut trace_rows = Vec::with_capacity(rows.len());
    let mut span_rows = Vec::with_capacity(rows.len());
    let mut raw = Vec::new();
    for (b, chunk) in rows.chunks(BLOCK_ROWS).enumerate() {
        let mut block = RowBlock::default();
        let mut r = BlockRef {
            rows: chunk.len() as u32,
            min_end_ns: chunk[0].end_ns(),
            max_end_ns: chunk[chunk.len() - 1].end_ns(),
            min_seq: u64::MAX,
            ..BlockRef::default()
        };
        for (i, t) in chunk.iter().enumerate() {
            let row = (b * BLOCK_ROWS + i) as u64;
            trace_rows.push((t.trace_id.0.to_vec(), row));
            span_rows.push((t.span_id.0.to_vec(), row));
            r.max_elapsed_ns = r.max_elapsed_ns.max(t.elapsed_ns);
            r.errors += u32::from(t.error);
            r.min_seq = r.min_seq.min(t.seq);
            r.max_seq = r.max_seq.max(t.seq);
            block.rows.push(RowRec {
                seq: t.seq,
                trace_lo: RowRec::words(t.trace_id).0,
                trace_hi: RowRec::words(t.trace_id).1,
                span_id: u64::from_le_bytes(t.span_id.0),
                parent: t.parent.map_or(0, |p| u64::from_le_bytes(p.0)),
                service: strings.id(&t.service),
                endpoint: strings.id(&t.endpoint),
                start_ns: t.start_ns,
                elapsed_ns: t.elapsed_ns,
                error: t.error,
                client_ip: strings.opt(t.client_ip.as_ref()),
                user: strings.opt(t.user.as_ref()),
                http_status: u32::from(t.http_status),
                thread: t.thread,
                instance: strings.opt(t.instance.as_ref()),
                tree_omitted: t.tree_omitted,
                offset: t.loc.offset,
            });
        }
        let ids: Vec<u32> = block
            .rows
            .iter()
            .flat_map(|x| [x.client_ip, x.user])
            .filter(|id| *id != 0)
            .collect();
        r.visitors = Some(body.put(&id_filter(&ids)));
        h.max_elapsed_ns = h.max_elapsed_ns.max(r.max_elapsed_ns);
        h.errors += u64::from(r.errors);
        raw.clear();
        block.encode(&mut raw).map_err(|e| bad(e.to_string()))?;
        r.at = Some(body.put_z(&raw)?);
        h.blocks.push(r);
    }

    let aggs = index.second_aggs(0, u64::MAX);
    h.agg_min_s = aggs.first().map_or(0, |a| a.second);
    h.agg_max_s = aggs.last().map_or(0, |a| a.second);
    let list = AggList {
        rows: aggs.iter().map(SecondAgg::encode).collect(),
    };
    h.aggs = Some(body.put_z(&list.encode_to_vec())?);

    h.edge_min_s = edges.iter().map(|e| e.second).min().unwrap_or(0);
    h.edge_max_s = edges.iter().map(|e| e.second).max().unwrap_or(0);
    let list = EdgeList {
        rows: edges
            .iter()
            .map(|e| {
                EdgeRow {
                    second: e.second,
                    caller: strings.id(&e.caller),
                    callee: strings.id(&e.callee),
                    kind: kind_code(e.kind),
                    agg: e.agg.clone(),
                }
                .encode()
            })
            .collect(),
    };
    h.edges = Some(body.put_z(&list.encode_to_vec())?);

    let points = index.metric_points();
    h.metric_min_ns = points.iter().map(|p| p.time_ns).min().unwrap_or(0);
    h.metric_max_ns = points.iter().map(|p| p.time_ns).max().unwrap_or(0);
    let list = MetricList {
        points: points.iter().map(metric_rec).collect(),
    };
    h.metrics = Some(body.put_z(&list.encode_to_vec())?);

    h.active_min_ms = input
        .active
        .iter()
        .map(|a| a.received_ms)
        .min()
        .unwrap_or(0);
    h.active_max_ms = input
        .active
        .iter()
        .map(|a| a.received_ms)
        .max()
        .unwrap_or(0);
    let list = ActiveList {
        reports: input
            .active
            .iter()
            .map(|a| serde_json::to_vec(a).map_err(|e| bad(e.to_string())))
            .collect::<io::Result<_>>()?,
    };
    h.active = Some(body.put_z(&list.encode_to_vec())?);

    let records: Vec<(Vec<u8>, u64)> = index
        .trace_records()
        .flat_map(|(t, locs)| locs.iter().map(move |l| (t.0.to_vec(), l.offset)))
        .collect();
    h.trace_records = Some(key_table(&mut body, records));
    h.trace_rows = Some(key_table(&mut body, trace_rows));
    h.span_rows = Some(key_table(&mut body, span_rows));

    h.instances = index
        .instances(None)
        .into_iter()
        .map(|i| InstanceRec {
            service: i.service,
            instance: i.instance,
            host: i.host,
            pid: i.pid,
            first_seen_ms: i.first_seen_ms,
            last_seen_ms: i.last_seen_ms,
            transactions: i.transactions,
            errors: i.errors,
            summaries: i.summaries,
        })
        .collect();
    h.strings = Some(body.put_z(&table.encode_to_vec())?);

    let head = h.encode_to_vec();
    let tmp = path.with_extension("osx-tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&MAGIC)?;
    f.write_all(&VERSION.to_le_bytes())?;
    f.write_all(&(head.len() as u32).to_le_bytes())?;
    f.write_all(&head)?;
    f.write_all(&body.bytes)?;
    f.sync_data()?;
    drop(f);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(h)
}

fn kind_code(k: TargetKind) -> u32 {
    match k {
        TargetKind::Service => 0,
        TargetKind::Database => 1,
        TargetKind::External => 2,
        TargetKind::Unknown => 3,
    }
}

/// The target kind of a stored code (unknown codes read as `Unknown`).
pub fn kind_of(code: u32) -> TargetKind {
    match code {
        0 => TargetKind::Service,
        1 => TargetKind::Database,
        2 => TargetKind::External,
        _ => TargetKind::Unknown,
    }
}

fn metric_rec(p: &MetricPoint) -> MetricRec {
    MetricRec {
        service: p.service.clone(),
        name: p.name.clone(),
        unit: p.unit.clone(),
        kind: match p.kind {
            MetricKind::Gauge => 0,
            MetricKind::Sum => 1,
            MetricKind::Histogram => 2,
        },
        attributes: p.attributes.clone(),
        time_ns: p.time_ns,
        value: p.value,
        count: p.count,
        instance: p.instance.clone(),
        host: p.host.clone(),
    }
}

fn metric_point(r: MetricRec) -> MetricPoint {
    MetricPoint {
        service: r.service,
        name: r.name,
        unit: r.unit,
        kind: match r.kind {
            1 => MetricKind::Sum,
            2 => MetricKind::Histogram,
            _ => MetricKind::Gauge,
        },
        attributes: r.attributes,
        time_ns: r.time_ns,
        value: r.value,
        count: r.count,
        instance: r.instance,
        host: r.host,
    }
}

/// An edge row with its caller and callee names.
pub type NamedEdge = (Arc<str>, Arc<str>, EdgeRow);

/// A sealed segment, open for queries: its header in memory, its parts
/// read on demand through the cache.
pub struct SealedSegment {
    header: IndexHeader,
    /// Offset of the body in the file.
    body_at: u64,
    file: File,
    /// Path of the index file.
    pub path: PathBuf,
    bytes: u64,
}

/// What [`SealedSegment::transactions`]' visitor answers.
pub enum Visit {
    /// Go on.
    More,
    /// Stop here.
    Done,
}

impl SealedSegment {
    /// Opens the index file at `path`, reading its header only.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let bytes = file.metadata()?.len();
        let mut fixed = [0u8; 16];
        file.read_exact_at(&mut fixed, 0)
            .map_err(|_| bad("index file shorter than its header"))?;
        if fixed[..8] != MAGIC {
            return Err(bad("not an index file (bad magic)"));
        }
        let version = u32::from_le_bytes(fixed[8..12].try_into().expect("4 bytes"));
        if version == 0 || version > VERSION {
            return Err(bad(format!("index version {version} is not supported")));
        }
        let hl = u32::from_le_bytes(fixed[12..16].try_into().expect("4 bytes")) as u64;
        if 16 + hl > bytes {
            return Err(bad("index header longer than the file"));
        }
        let mut head = vec![0u8; hl as usize];
        file.read_exact_at(&mut head, 16)?;
        let header = IndexHeader::decode(&head[..]).map_err(|e| bad(e.to_string()))?;
        let body_at = 16 + hl;
        let s = Self {
            header,
            body_at,
            file,
            path: path.to_path_buf(),
            bytes,
        };
        s.check()?;
        Ok(s)
    }

    /// Every part must lie inside the file.
    fn check(&self) -> io::Result<()> {
        let body = self.bytes - self.body_at;
        let h = &self.header;
        let mut parts: Vec<Option<PartRef>> = vec![h.strings, h.aggs, h.edges, h.metrics, h.active];
        parts.extend(h.blocks.iter().flat_map(|b| [b.at, b.visitors]));
        for t in [&h.trace_records, &h.trace_rows, &h.span_rows]
            .into_iter()
            .flatten()
        {
            parts.push(t.bloom);
            parts.push(t.entries);
            if t.offsets.len() != PARTS + 1 {
                return Err(bad("key table without its partition offsets"));
            }
        }
        for p in parts.into_iter().flatten() {
            if p.offset.checked_add(p.len).is_none_or(|end| end > body) {
                return Err(bad("index part outside the file"));
            }
        }
        Ok(())
    }

    /// The header.
    pub fn header(&self) -> &IndexHeader {
        &self.header
    }

    /// Size of the index file.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn read(&self, at: PartRef) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; at.len as usize];
        self.file
            .read_exact_at(&mut buf, self.body_at + at.offset)?;
        Ok(buf)
    }

    fn read_z(&self, at: Option<PartRef>) -> io::Result<Vec<u8>> {
        match at {
            Some(at) if at.len > 0 => decompress(&self.read(at)?),
            _ => Ok(Vec::new()),
        }
    }

    /// Part `id` (lying at `at`) from the cache, or read, decompressed
    /// and decoded by `decode`.
    fn part(
        &self,
        cache: &PartCache,
        id: u32,
        at: Option<PartRef>,
        decode: impl FnOnce(&[u8]) -> io::Result<Part>,
    ) -> io::Result<Part> {
        cache.get_or_load(self.key(id), || decode(&self.read_z(at)?))
    }

    fn key(&self, part: u32) -> PartKey {
        PartKey {
            segment: self.header.segment,
            part,
        }
    }

    /// The string table.
    fn strings(&self, cache: &PartCache) -> io::Result<Arc<StringTab>> {
        let part = self.part(cache, PART_STRINGS, self.header.strings, |raw| {
            let t = message::<StringTable>(raw)?;
            Ok(Part::Strings(Arc::new(StringTab::new(t.blob, t.ends)?)))
        })?;
        match part {
            Part::Strings(s) => Ok(s),
            _ => Err(other_part()),
        }
    }

    fn block(&self, cache: &PartCache, b: usize) -> io::Result<Arc<Vec<RowRec>>> {
        let at = self.header.blocks[b].at;
        let part = self.part(cache, PART_BLOCKS + b as u32, at, |raw| {
            Ok(Part::Rows(Arc::new(message::<RowBlock>(raw)?.rows)))
        })?;
        match part {
            Part::Rows(r) => Ok(r),
            _ => Err(other_part()),
        }
    }

    fn row(&self, strings: &StringTab, r: &RowRec) -> io::Result<TxnRow> {
        let s = |id: u32| strings.get(id);
        Ok(TxnRow {
            seq: r.seq,
            trace_id: r.trace(),
            span_id: SpanId(r.span_id.to_le_bytes()),
            parent: (r.parent != 0).then(|| SpanId(r.parent.to_le_bytes())),
            service: s(r.service)?.unwrap_or_else(|| Arc::from("")),
            endpoint: s(r.endpoint)?.unwrap_or_else(|| Arc::from("")),
            start_ns: r.start_ns,
            elapsed_ns: r.elapsed_ns,
            error: r.error,
            client_ip: s(r.client_ip)?,
            user: s(r.user)?,
            http_status: u16::try_from(r.http_status).unwrap_or(0),
            thread: r.thread,
            instance: s(r.instance)?,
            tree_omitted: r.tree_omitted,
        })
    }

    /// Visits the transactions matching `f`, newest end first (ties:
    /// newest ingested first), until `visit` answers [`Visit::Done`].
    pub fn transactions(
        &self,
        cache: &PartCache,
        f: &TxnFilter,
        visit: &mut dyn FnMut(TxnRow) -> Visit,
    ) -> io::Result<Visit> {
        let h = &self.header;
        let from = f.from_ns.unwrap_or(0);
        // Rows at the cursor's end may still follow it (smaller seq).
        let to = f
            .to_ns
            .unwrap_or(u64::MAX)
            .min(f.before.map_or(u64::MAX, |b| b.end_ns.saturating_add(1)));
        if h.rows == 0
            || h.max_end_ns < from
            || h.min_end_ns >= to
            || (f.error_only && h.errors == 0)
            || f.min_elapsed_ns.is_some_and(|m| h.max_elapsed_ns < m)
        {
            return Ok(Visit::More);
        }
        let strings = self.strings(cache)?;
        // A text filter the segment never saw prunes it whole.
        let want = |v: &Option<String>| -> Option<Option<u32>> {
            match v {
                None => Some(None),
                Some(s) => strings.find(s).map(Some),
            }
        };
        let (Some(service), Some(endpoint), Some(client), Some(user), Some(instance)) = (
            want(&f.service),
            want(&f.endpoint),
            want(&f.client_ip),
            want(&f.user),
            want(&f.instance),
        ) else {
            return Ok(Visit::More);
        };
        let matches = |r: &RowRec| {
            let end = r.end_ns();
            end >= from
                && end < to
                && f.min_elapsed_ns.is_none_or(|m| r.elapsed_ns >= m)
                && f.max_elapsed_ns.is_none_or(|m| r.elapsed_ns <= m)
                && (!f.error_only || r.error)
                && service.is_none_or(|id| r.service == id)
                && endpoint.is_none_or(|id| r.endpoint == id)
                && client.is_none_or(|id| r.client_ip == id)
                && user.is_none_or(|id| r.user == id)
                && instance.is_none_or(|id| r.instance == id)
                && f.http_status.is_none_or(|h| r.http_status == u32::from(h))
                && f.trace_id.is_none_or(|t| r.trace() == t)
                && f.before.is_none_or(|b| (end, r.seq) < (b.end_ns, b.seq))
        };
        for (b, meta) in h.blocks.iter().enumerate().rev() {
            if meta.max_end_ns < from
                || meta.min_end_ns >= to
                || (f.error_only && meta.errors == 0)
                || f.min_elapsed_ns.is_some_and(|m| meta.max_elapsed_ns < m)
            {
                continue;
            }
            if let Some(at) = meta.visitors.filter(|_| client.is_some() || user.is_some()) {
                let filter = self.read(at)?;
                if [client, user]
                    .into_iter()
                    .flatten()
                    .any(|id| !id_filter_has(&filter, id))
                {
                    continue;
                }
            }
            let rows = self.block(cache, b)?;
            for r in rows.iter().rev().filter(|r| matches(r)) {
                if let Visit::Done = visit(self.row(&strings, r)?) {
                    return Ok(Visit::Done);
                }
            }
        }
        Ok(Visit::More)
    }

    /// Transactions with a sequence number above `cursor`.
    pub fn since(&self, cache: &PartCache, cursor: u64) -> io::Result<Vec<TxnRow>> {
        if self.header.max_seq <= cursor {
            return Ok(Vec::new());
        }
        let strings = self.strings(cache)?;
        let mut out = Vec::new();
        for (b, meta) in self.header.blocks.iter().enumerate() {
            if meta.max_seq <= cursor {
                continue;
            }
            for r in self.block(cache, b)?.iter().filter(|r| r.seq > cursor) {
                out.push(self.row(&strings, r)?);
            }
        }
        Ok(out)
    }

    /// Values stored under `key` in `table`.
    fn lookup(&self, table: &Option<KeyTable>, key: &[u8]) -> io::Result<Vec<u64>> {
        let Some(t) = table else {
            return Ok(Vec::new());
        };
        let p = partition(key);
        let (Some(bloom), Some(entries)) = (t.bloom, t.entries) else {
            return Ok(Vec::new());
        };
        let pb = t.bloom_part_bytes as u64;
        let mut part = vec![0u8; pb as usize];
        if pb == 0 || (p as u64 + 1) * pb > bloom.len {
            return Err(bad("bloom partition outside its part"));
        }
        self.file
            .read_exact_at(&mut part, self.body_at + bloom.offset + p as u64 * pb)?;
        let bits = pb * 8;
        let (a, b) = probes(key);
        let hit = (0..BLOOM_PROBES).all(|j| {
            let bit = a.wrapping_add(j.wrapping_mul(b)) % bits;
            part[(bit / 8) as usize] & (1 << (bit % 8)) != 0
        });
        if !hit {
            return Ok(Vec::new());
        }
        let eb = t.entry_bytes as u64;
        let (lo, hi) = (t.offsets[p] as u64, t.offsets[p + 1] as u64);
        if eb != key.len() as u64 + 8 || hi < lo || hi * eb > entries.len {
            return Err(bad("key table entries outside their part"));
        }
        let mut buf = vec![0u8; ((hi - lo) * eb) as usize];
        self.file
            .read_exact_at(&mut buf, self.body_at + entries.offset + lo * eb)?;
        let kl = key.len();
        let n = buf.len() / eb as usize;
        let at = |i: usize| &buf[i * eb as usize..i * eb as usize + kl];
        let first = {
            let (mut l, mut h) = (0, n);
            while l < h {
                let m = (l + h) / 2;
                if at(m) < key {
                    l = m + 1;
                } else {
                    h = m;
                }
            }
            l
        };
        Ok((first..n)
            .take_while(|&i| at(i) == key)
            .map(|i| {
                let v = &buf[i * eb as usize + kl..(i + 1) * eb as usize];
                u64::from_le_bytes(v.try_into().expect("8-byte value"))
            })
            .collect())
    }

    fn rows_at(&self, cache: &PartCache, rows: Vec<u64>) -> io::Result<Vec<(TxnRow, u64)>> {
        let strings = self.strings(cache)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (b, i) = (row as usize / BLOCK_ROWS, row as usize % BLOCK_ROWS);
            if b >= self.header.blocks.len() {
                return Err(bad("key table names a row past the blocks"));
            }
            let block = self.block(cache, b)?;
            let r = block
                .get(i)
                .ok_or_else(|| bad("key table names a row past its block"))?;
            out.push((self.row(&strings, r)?, r.offset));
        }
        Ok(out)
    }

    /// The transaction whose root span is `id`, with its record offset.
    pub fn by_span(&self, cache: &PartCache, id: SpanId) -> io::Result<Option<(TxnRow, u64)>> {
        let rows = self.lookup(&self.header.span_rows, &id.0)?;
        Ok(self
            .rows_at(cache, rows)?
            .into_iter()
            .find(|(t, _)| t.span_id == id))
    }

    /// The transactions of `trace` in this segment.
    pub fn trace_rows(&self, cache: &PartCache, trace: TraceId) -> io::Result<Vec<TxnRow>> {
        let rows = self.lookup(&self.header.trace_rows, &trace.0)?;
        Ok(self
            .rows_at(cache, rows)?
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| t.trace_id == trace)
            .collect())
    }

    /// Offsets of the records holding spans of `trace`.
    pub fn trace_records(&self, trace: TraceId) -> io::Result<Vec<u64>> {
        self.lookup(&self.header.trace_records, &trace.0)
    }

    /// Per-second aggregates of seconds `from_s..=to_s`.
    pub fn aggs(&self, cache: &PartCache, from_s: u64, to_s: u64) -> io::Result<Vec<SecondAgg>> {
        let h = &self.header;
        if h.aggs.is_none_or(|a| a.len == 0) || h.agg_max_s < from_s || h.agg_min_s > to_s {
            return Ok(Vec::new());
        }
        let part = self.part(cache, PART_AGGS, h.aggs, |raw| {
            let rows = rows_of(&message::<AggList>(raw)?.rows)?;
            Ok(Part::Aggs(Arc::new(rows)))
        })?;
        let Part::Aggs(rows) = part else {
            return Err(other_part());
        };
        let lo = rows.partition_point(|a| a.second < from_s);
        let hi = rows.partition_point(|a| a.second <= to_s);
        Ok(rows[lo..hi].to_vec())
    }

    /// Edges of seconds `from_s..=to_s`, with caller and callee names.
    pub fn edges(&self, cache: &PartCache, from_s: u64, to_s: u64) -> io::Result<Vec<NamedEdge>> {
        let h = &self.header;
        if h.edges.is_none_or(|a| a.len == 0) || h.edge_max_s < from_s || h.edge_min_s > to_s {
            return Ok(Vec::new());
        }
        let part = self.part(cache, PART_EDGES, h.edges, |raw| {
            let rows = rows_of(&message::<EdgeList>(raw)?.rows)?;
            Ok(Part::Edges(Arc::new(rows)))
        })?;
        let Part::Edges(rows) = part else {
            return Err(other_part());
        };
        let strings = self.strings(cache)?;
        let name = |id: u32| strings.get(id)?.ok_or_else(|| bad("edge names no string"));
        rows.iter()
            .filter(|e| e.second >= from_s && e.second <= to_s)
            .map(|e| Ok((name(e.caller)?, name(e.callee)?, e.clone())))
            .collect()
    }

    /// Metric points in `[from_ns, to_ns)` of `service`/`name` when given.
    pub fn metrics(
        &self,
        cache: &PartCache,
        service: Option<&str>,
        name: Option<&str>,
        from_ns: u64,
        to_ns: u64,
    ) -> io::Result<Vec<MetricPoint>> {
        let h = &self.header;
        if h.metrics.is_none_or(|a| a.len == 0)
            || h.metric_max_ns < from_ns
            || h.metric_min_ns >= to_ns
        {
            return Ok(Vec::new());
        }
        let part = self.part(cache, PART_METRICS, h.metrics, |raw| {
            let list = message::<MetricList>(raw)?;
            Ok(Part::Metrics(Arc::new(
                list.points.into_iter().map(metric_point).collect(),
            )))
        })?;
        let Part::Metrics(points) = part else {
            return Err(other_part());
        };
        Ok(points
            .iter()
            .filter(|p| {
                p.time_ns >= from_ns
                    && p.time_ns < to_ns
                    && service.is_none_or(|s| s == p.service)
                    && name.is_none_or(|n| n == p.name)
            })
            .cloned()
            .collect())
    }

    /// Active-services reports received in `[from_ms, to_ms]`.
    pub fn active(
        &self,
        cache: &PartCache,
        from_ms: u64,
        to_ms: u64,
    ) -> io::Result<Vec<ActiveReport>> {
        let h = &self.header;
        if h.active.is_none_or(|a| a.len == 0)
            || h.active_max_ms < from_ms
            || h.active_min_ms > to_ms
        {
            return Ok(Vec::new());
        }
        let part = self.part(cache, PART_ACTIVE, h.active, |raw| {
            let reports = message::<ActiveList>(raw)?
                .reports
                .iter()
                .map(|r| serde_json::from_slice(r).map_err(|e| bad(e.to_string())))
                .collect::<io::Result<Vec<ActiveReport>>>()?;
            Ok(Part::Active(Arc::new(reports)))
        })?;
        let Part::Active(reports) = part else {
            return Err(other_part());
        };
        Ok(reports
            .iter()
            .filter(|r| r.received_ms >= from_ms && r.received_ms <= to_ms)
            .cloned()
            .collect())
    }

    /// The instances seen, as `/api/instances` rows.
    pub fn instances(&self) -> impl Iterator<Item = InstanceJson> + '_ {
        self.header.instances.iter().map(|i| InstanceJson {
            service: i.service.clone(),
            instance: i.instance.clone(),
            host: i.host.clone(),
            pid: i.pid,
            first_seen_ms: i.first_seen_ms,
            last_seen_ms: i.last_seen_ms,
            transactions: i.transactions,
            errors: i.errors,
            summaries: i.summaries,
        })
    }
}

/// Cache part ids of a segment.
const PART_STRINGS: u32 = 0;
const PART_AGGS: u32 = 1;
const PART_EDGES: u32 = 2;
const PART_METRICS: u32 = 3;
const PART_ACTIVE: u32 = 4;
const PART_BLOCKS: u32 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment file holding only `table`'s parts, opened for lookups.
    fn table_segment(entries: Vec<(Vec<u8>, u64)>) -> (tempfile::TempDir, SealedSegment, u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut body = Body { bytes: Vec::new() };
        let table = key_table(&mut body, entries);
        let header = IndexHeader {
            trace_records: Some(table.clone()),
            trace_rows: Some(table.clone()),
            span_rows: Some(table),
            ..IndexHeader::default()
        };
        let head = header.encode_to_vec();
        let path = dir.path().join("t.osx");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(head.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&head);
        bytes.extend_from_slice(&body.bytes);
        fs::write(&path, &bytes).unwrap();
        let size = body.bytes.len() as u64;
        (dir, SealedSegment::open(&path).unwrap(), size)
    }

    #[test]
    fn sequential_ids_spread_over_the_partitions_and_are_all_found() {
        // Ids as a test or a simple agent makes them: a counter.
        let n = 50_000u64;
        let key = |i: u64| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&i.to_be_bytes());
            k.to_vec()
        };
        let entries = (0..n).map(|i| (key(i), i * 10)).collect();
        let (_dir, seg, size) = table_segment(entries);
        // 24 bytes an entry plus about 10 bits of filter, not a filter
        // sized for every key in one partition.
        assert!(size < n * 30, "{size} bytes for {n} keys");
        for i in (0..n).step_by(97) {
            assert_eq!(
                seg.lookup(&seg.header.trace_rows, &key(i)).unwrap(),
                vec![i * 10]
            );
        }
        let false_hits = (n..n + 10_000)
            .filter(|&i| {
                !seg.lookup(&seg.header.trace_rows, &key(i))
                    .unwrap()
                    .is_empty()
            })
            .count();
        assert_eq!(false_hits, 0, "a miss never returns a value");
    }

    #[test]
    fn a_block_filter_holds_its_ids_and_rejects_most_others() {
        let ids: Vec<u32> = (1..=4_000).map(|i| i * 3).collect();
        let f = id_filter(&ids);
        assert!(ids.iter().all(|&id| id_filter_has(&f, id)));
        let false_hits = (1..=4_000u32)
            .map(|i| i * 3 + 1)
            .filter(|&id| id_filter_has(&f, id))
            .count();
        assert!(false_hits < 120, "{false_hits} of 4 000 (≈ 1 % expected)");
        assert!(id_filter_has(&[], 7), "no filter: every block may match");
    }

    #[test]
    fn a_corrupt_header_or_a_part_outside_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.osx");
        fs::write(&path, b"NOTANIDX\x01\0\0\0\0\0\0\0").unwrap();
        assert!(SealedSegment::open(&path).is_err());
        let header = IndexHeader {
            strings: Some(PartRef {
                offset: 0,
                len: 1 << 20,
            }),
            ..IndexHeader::default()
        };
        let head = header.encode_to_vec();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(head.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&head);
        fs::write(&path, &bytes).unwrap();
        let e = SealedSegment::open(&path).err().expect("refused");
        assert!(e.to_string().contains("outside the file"), "{e}");
    }
}
