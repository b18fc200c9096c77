//! Candidate (a): our segment log plus one index file per sealed segment.
//!
//! `seg-N.log`: frames `[len u32][crc32 u32][zstd(payload)]`, one per
//! request; the payload is the request's transactions (summary + spans, the
//! explicit schema of `model`) and the aggregate rows that closed. A segment
//! covers one hour of end times (or 64 MiB).
//!
//! `seg-N.idx`, written when the segment is sealed: a header (row count,
//! min/max end, max elapsed, error count, column directory) and columns, each
//! zstd-compressed on its own and loaded lazily through a byte-bounded cache:
//! the summary columns in end order, an endpoint set, Bloom filters of trace
//! ids and client IPs, a sorted trace-id → row table, frame locations and
//! the per-second aggregate rows.
//!
//! The unsealed (active) segment is replayed from its log at open (bounded by
//! the segment size); torn tails are skipped.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{self, AGG_BYTES, AggRow, Dec, Filter, Span, Summary, Txn};
use crate::{Dot, Reader, Res, Writer};

const MAGIC: &[u8; 8] = b"OSPIDX02";

/// Rows per compressed block of the row-aligned columns (`SC_SEG_BLOCK`,
/// default 8 192): a hit decompresses one block of each column it needs.
fn block_rows() -> usize {
    std::env::var("SC_SEG_BLOCK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8192)
}

/// Bytes per row of the row-aligned columns `C_ELAPSED..=C_LOC`.
const WIDTH: [usize; 19] = [8, 4, 1, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 16, 8, 8, 8];
const HOUR_US: u64 = 3_600_000_000;
const MAX_SEGMENT: u64 = 64 << 20;

fn level() -> i32 {
    std::env::var("SC_ZSTD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

// Column ids.
const C_END: usize = 0; // u64 delta
const C_ELAPSED: usize = 1; // u32
const C_ERROR: usize = 2; // u8
const C_STATUS: usize = 3; // u16
const C_SERVICE: usize = 4; // u32 ...
const C_INSTANCE: usize = 5;
const C_ENDPOINT: usize = 6;
const C_IP: usize = 7;
const C_USER: usize = 8;
const C_THREAD: usize = 9;
const C_SQLN: usize = 10;
const C_SQLUS: usize = 11;
const C_CALLN: usize = 12;
const C_CALLUS: usize = 13;
const C_CPU: usize = 14;
const C_TRACE: usize = 15; // 16 B
const C_SPANID: usize = 16; // 8 B
const C_SEQ: usize = 17; // u64 delta
const C_LOC: usize = 18; // u64: frame offset << 16 | index
const C_TRACE_TABLE: usize = 19; // sorted (u64 prefix, u32 row)
const C_AGGS: usize = 20;
const C_ENDPOINTS: usize = 21; // sorted distinct u32
const C_TRACE_BLOOM: usize = 22;
const C_IP_BLOOM: usize = 23;
const NCOLS: usize = 24;

/// A summary with where its spans are.
#[derive(Clone)]
struct Row {
    s: Summary,
    loc: u64,
}

fn seg_path(dir: &Path, seq: u64, ext: &str) -> PathBuf {
    dir.join(format!("seg-{seq:08}.{ext}"))
}

// ------------------------------------------------------------------ bloom

/// A Bloom filter, 10 bits a key, 7 probes (≈ 1 % false positives).
fn bloom_build(keys: impl Iterator<Item = u64>, n: usize) -> Vec<u8> {
    let bits = (n.max(1) * 10).next_power_of_two();
    let mut b = vec![0u8; bits / 8];
    for k in keys {
        for i in 0..7 {
            let h = model::mix(k ^ (i as u64).wrapping_mul(0x9E37_79B9)) as usize & (bits - 1);
            b[h / 8] |= 1 << (h % 8);
        }
    }
    b
}

fn bloom_has(b: &[u8], k: u64) -> bool {
    let bits = b.len() * 8;
    (0..7).all(|i| {
        let h = model::mix(k ^ (i as u64).wrapping_mul(0x9E37_79B9)) as usize & (bits - 1);
        b[h / 8] & (1 << (h % 8)) != 0
    })
}

/// Partitions of the trace-id filter.
const TRACE_PARTS: usize = 64;

/// The partition of a trace key (its top six bits).
fn trace_part(k: u64) -> usize {
    (k >> 58) as usize
}

fn trace_key(t: &[u8; 16]) -> u64 {
    u64::from_le_bytes(t[..8].try_into().unwrap())
}

// ----------------------------------------------------------------- writer

/// The write side.
pub struct SegWriter {
    dir: PathBuf,
    seq: u64,
    file: File,
    len: u64,
    hour: Option<u64>,
    rows: Vec<Row>,
    aggs: Vec<AggRow>,
    raw: Vec<u8>,
    zc: zstd::bulk::Compressor<'static>,
}

impl SegWriter {
    /// A new store in `dir`.
    pub fn create(dir: &Path) -> Res<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(seg_path(dir, 0, "log"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            seq: 0,
            file,
            len: 0,
            hour: None,
            rows: Vec::new(),
            aggs: Vec::new(),
            raw: Vec::new(),
            zc: zstd::bulk::Compressor::new(level())?,
        })
    }

    fn roll(&mut self) -> Res<()> {
        self.file.sync_data()?;
        write_index(&self.dir, self.seq, &mut self.rows, &self.aggs)?;
        self.rows.clear();
        self.aggs.clear();
        self.seq += 1;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(seg_path(&self.dir, self.seq, "log"))?;
        self.len = 0;
        Ok(())
    }
}

impl Writer for SegWriter {
    fn append(&mut self, txns: &[Txn], aggs: &[AggRow]) -> Res<()> {
        if let Some(t) = txns.first() {
            let h = t.s.end_us / HOUR_US;
            if self.hour.is_some_and(|x| x != h) || self.len > MAX_SEGMENT {
                self.roll()?;
            }
            self.hour = Some(h);
        }
        self.raw.clear();
        model::put_var(&mut self.raw, txns.len() as u64);
        for t in txns {
            model::encode_txn(t, &mut self.raw);
        }
        model::put_var(&mut self.raw, aggs.len() as u64);
        for a in aggs {
            a.encode(&mut self.raw);
        }
        let z = self.zc.compress(&self.raw)?;
        let off = self.len;
        let frame = frame(&z);
        self.file.write_all(&frame)?;
        self.len += frame.len() as u64;
        for (i, t) in txns.iter().enumerate() {
            self.rows.push(Row {
                s: t.s.clone(),
                loc: off << 16 | i as u64,
            });
        }
        self.aggs.extend_from_slice(aggs);
        Ok(())
    }

    fn sync(&mut self) -> Res<()> {
        self.file.sync_data()?;
        Ok(())
    }
}

fn put_col(cols: &mut [Vec<u8>], c: usize, bytes: Vec<u8>) {
    cols[c] = bytes;
}

fn u32s(rows: &[Row], f: impl Fn(&Summary) -> u32) -> Vec<u8> {
    rows.iter().flat_map(|r| f(&r.s).to_le_bytes()).collect()
}

fn write_index(dir: &Path, seq: u64, rows: &mut [Row], aggs: &[AggRow]) -> Res<()> {
    rows.sort_by_key(|r| (r.s.end_us, r.s.seq));
    let n = rows.len();
    let mut cols: Vec<Vec<u8>> = vec![Vec::new(); NCOLS];
    let min_end = rows.first().map_or(0, |r| r.s.end_us);
    let max_end = rows.last().map_or(0, |r| r.s.end_us);
    let mut prev = min_end;
    put_col(
        &mut cols,
        C_END,
        rows.iter()
            .flat_map(|r| {
                let d = r.s.end_us - prev;
                prev = r.s.end_us;
                d.to_le_bytes()
            })
            .collect(),
    );
    put_col(&mut cols, C_ELAPSED, u32s(rows, |s| s.elapsed_us));
    put_col(
        &mut cols,
        C_ERROR,
        rows.iter().map(|r| r.s.error as u8).collect(),
    );
    put_col(
        &mut cols,
        C_STATUS,
        rows.iter().flat_map(|r| r.s.status.to_le_bytes()).collect(),
    );
    put_col(&mut cols, C_SERVICE, u32s(rows, |s| s.service));
    put_col(&mut cols, C_INSTANCE, u32s(rows, |s| s.instance));
    put_col(&mut cols, C_ENDPOINT, u32s(rows, |s| s.endpoint));
    put_col(&mut cols, C_IP, u32s(rows, |s| s.client_ip));
    put_col(&mut cols, C_USER, u32s(rows, |s| s.user));
    put_col(&mut cols, C_THREAD, u32s(rows, |s| s.thread));
    put_col(&mut cols, C_SQLN, u32s(rows, |s| s.sql_count));
    put_col(&mut cols, C_SQLUS, u32s(rows, |s| s.sql_us));
    put_col(&mut cols, C_CALLN, u32s(rows, |s| s.call_count));
    put_col(&mut cols, C_CALLUS, u32s(rows, |s| s.call_us));
    put_col(&mut cols, C_CPU, u32s(rows, |s| s.cpu_us));
    put_col(
        &mut cols,
        C_TRACE,
        rows.iter().flat_map(|r| r.s.trace_id).collect(),
    );
    put_col(
        &mut cols,
        C_SPANID,
        rows.iter().flat_map(|r| r.s.span_id).collect(),
    );
    let seq0 = rows.first().map_or(0, |r| r.s.seq);
    put_col(
        &mut cols,
        C_SEQ,
        rows.iter()
            .flat_map(|r| (r.s.seq - seq0).to_le_bytes())
            .collect(),
    );
    put_col(
        &mut cols,
        C_LOC,
        rows.iter().flat_map(|r| r.loc.to_le_bytes()).collect(),
    );
    let mut tt: Vec<(u64, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (trace_key(&r.s.trace_id), i as u32))
        .collect();
    tt.sort_unstable();
    put_col(
        &mut cols,
        C_TRACE_TABLE,
        tt.iter()
            .flat_map(|(k, r)| k.to_le_bytes().into_iter().chain(r.to_le_bytes()))
            .collect(),
    );
    let mut ab = Vec::with_capacity(aggs.len() * AGG_BYTES);
    for a in aggs {
        a.encode(&mut ab);
    }
    put_col(&mut cols, C_AGGS, ab);
    let mut eps: Vec<u32> = rows.iter().map(|r| r.s.endpoint).collect();
    eps.sort_unstable();
    eps.dedup();
    put_col(
        &mut cols,
        C_ENDPOINTS,
        eps.iter().flat_map(|e| e.to_le_bytes()).collect(),
    );
    // The trace-id filter in 64 partitions by the key's top bits, one block
    // each: a lookup reads ≈ 2 KB of a segment's index, not the whole filter.
    let mut parts: Vec<Vec<u64>> = vec![Vec::new(); TRACE_PARTS];
    for r in rows.iter() {
        let k = trace_key(&r.s.trace_id);
        parts[trace_part(k)].push(k);
    }
    let per = parts.iter().map(Vec::len).max().unwrap_or(0);
    let tb: Vec<u8> = parts
        .iter()
        .flat_map(|p| bloom_build(p.iter().copied(), per))
        .collect();
    let trace_chunk = tb.len() / TRACE_PARTS;
    put_col(&mut cols, C_TRACE_BLOOM, tb);
    put_col(
        &mut cols,
        C_IP_BLOOM,
        bloom_build(rows.iter().map(|r| r.s.client_ip as u64), n),
    );

    let max_elapsed = rows.iter().map(|r| r.s.elapsed_us).max().unwrap_or(0);
    let errors = rows.iter().filter(|r| r.s.error).count() as u32;
    let agg_min = aggs.iter().map(|a| a.sec).min().unwrap_or(u64::MAX);
    let agg_max = aggs.iter().map(|a| a.sec).max().unwrap_or(0);
    let mut body = Vec::new();
    let mut dirent: Vec<Vec<(u64, u32, u32)>> = Vec::new();
    let zc_level = level();
    let br = block_rows();
    for (ci, c) in cols.iter().enumerate() {
        let chunk = if (C_ELAPSED..=C_LOC).contains(&ci) {
            br * WIDTH[ci]
        } else if ci == C_TRACE_BLOOM {
            trace_chunk
        } else {
            c.len().max(1)
        };
        let mut blocks = Vec::new();
        for part in c.chunks(chunk).chain(c.is_empty().then_some(&[][..])) {
            let z = zstd::bulk::compress(part, zc_level)?;
            blocks.push((body.len() as u64, z.len() as u32, part.len() as u32));
            body.extend_from_slice(&z);
        }
        dirent.push(blocks);
    }
    let mut head = Vec::new();
    for v in [
        n as u64,
        min_end,
        max_end,
        max_elapsed as u64,
        errors as u64,
        seq0,
        agg_min,
        agg_max,
        br as u64,
    ] {
        head.extend_from_slice(&v.to_le_bytes());
    }
    for blocks in dirent {
        head.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
        for (off, len, raw) in blocks {
            head.extend_from_slice(&off.to_le_bytes());
            head.extend_from_slice(&len.to_le_bytes());
            head.extend_from_slice(&raw.to_le_bytes());
        }
    }
    let tmp = seg_path(dir, seq, "idx.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(MAGIC)?;
    f.write_all(&(head.len() as u32).to_le_bytes())?;
    f.write_all(&head)?;
    f.write_all(&body)?;
    f.sync_data()?;
    fs::rename(&tmp, seg_path(dir, seq, "idx"))?;
    Ok(())
}

// ----------------------------------------------------------------- reader

struct SegMeta {
    seq: u64,
    rows: usize,
    min_end: u64,
    max_end: u64,
    max_elapsed: u32,
    errors: u32,
    seq0: u64,
    agg_min: u64,
    agg_max: u64,
    body_at: u64,
    block_rows: usize,
    cols: Vec<Vec<(u64, u32, u32)>>,
}

/// A byte-bounded cache of decompressed columns (the memory knob:
/// `SC_CACHE_MB`, default 64). Crude eviction: oldest insertion first.
struct Cache {
    map: HashMap<(u64, usize, usize), Arc<Vec<u8>>>,
    order: std::collections::VecDeque<(u64, usize, usize)>,
    bytes: usize,
    budget: usize,
}

impl Cache {
    fn get(&mut self, dir: &Path, m: &SegMeta, c: usize, b: usize) -> Res<Arc<Vec<u8>>> {
        if let Some(v) = self.map.get(&(m.seq, c, b)) {
            return Ok(v.clone());
        }
        let (off, len, raw) = *m.cols[c].get(b).ok_or("block past the column")?;
        let f = File::open(seg_path(dir, m.seq, "idx"))?;
        let mut z = vec![0u8; len as usize];
        f.read_exact_at(&mut z, m.body_at + off)?;
        let v = Arc::new(zstd::bulk::decompress(&z, raw as usize)?);
        self.bytes += v.len();
        self.map.insert((m.seq, c, b), v.clone());
        self.order.push_back((m.seq, c, b));
        while self.bytes > self.budget {
            let Some(k) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.map.remove(&k) {
                self.bytes -= old.len();
            }
        }
        Ok(v)
    }
}

/// The read side.
pub struct SegReader {
    dir: PathBuf,
    sealed: Vec<SegMeta>,
    active: Vec<(u64, Vec<Row>)>,
    active_aggs: Vec<AggRow>,
    cache: Cache,
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap())
}

fn read_meta(dir: &Path, seq: u64) -> Res<SegMeta> {
    let mut f = File::open(seg_path(dir, seq, "idx"))?;
    let mut m = [0u8; 12];
    f.read_exact(&mut m)?;
    if &m[..8] != MAGIC {
        return Err("bad index magic".into());
    }
    let hl = u32::from_le_bytes(m[8..12].try_into().unwrap()) as usize;
    let mut h = vec![0u8; hl];
    f.read_exact(&mut h)?;
    let mut at = 72;
    let mut cols = Vec::with_capacity(NCOLS);
    for _ in 0..NCOLS {
        let n =
            u32::from_le_bytes(h.get(at..at + 4).ok_or("short index header")?.try_into()?) as usize;
        at += 4;
        let mut blocks = Vec::with_capacity(n);
        for _ in 0..n {
            let b = h.get(at..at + 16).ok_or("short index header")?;
            blocks.push((
                u64::from_le_bytes(b[..8].try_into()?),
                u32::from_le_bytes(b[8..12].try_into()?),
                u32::from_le_bytes(b[12..16].try_into()?),
            ));
            at += 16;
        }
        cols.push(blocks);
    }
    Ok(SegMeta {
        seq,
        rows: u64_at(&h, 0) as usize,
        min_end: u64_at(&h, 1),
        max_end: u64_at(&h, 2),
        max_elapsed: u64_at(&h, 3) as u32,
        errors: u64_at(&h, 4) as u32,
        seq0: u64_at(&h, 5),
        agg_min: u64_at(&h, 6),
        agg_max: u64_at(&h, 7),
        body_at: 12 + hl as u64,
        block_rows: u64_at(&h, 8) as usize,
        cols,
    })
}

/// One log frame: `[len u32][crc32 u32][z]`.
pub(crate) fn frame(z: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(z.len() + 8);
    frame.extend_from_slice(&(z.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(z).to_le_bytes());
    frame.extend_from_slice(z);
    frame
}

/// Replays a log: every intact frame, decompressed, with its offset,
/// stopping at a torn or corrupt tail.
pub(crate) fn replay(path: &Path, mut f: impl FnMut(u64, &[u8]) -> Res<()>) -> Res<()> {
    let mut file = File::open(path)?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let mut off = 0usize;
    while off + 8 <= buf.len() {
        let len = u32::from_le_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(buf[off + 4..off + 8].try_into().unwrap());
        let Some(z) = buf.get(off + 8..off + 8 + len) else {
            break;
        };
        if crc32fast::hash(z) != crc {
            break;
        }
        let raw = zstd::stream::decode_all(z)?;
        f(off as u64, &raw)?;
        off += 8 + len;
    }
    Ok(())
}

fn read_frame(dir: &Path, seq: u64, off: u64) -> Res<Vec<u8>> {
    let mut f = File::open(seg_path(dir, seq, "log"))?;
    f.seek(SeekFrom::Start(off))?;
    let mut h = [0u8; 8];
    f.read_exact(&mut h)?;
    let len = u32::from_le_bytes(h[..4].try_into().unwrap()) as usize;
    let mut z = vec![0u8; len];
    f.read_exact(&mut z)?;
    if crc32fast::hash(&z) != u32::from_le_bytes(h[4..].try_into().unwrap()) {
        return Err("corrupt frame".into());
    }
    Ok(zstd::stream::decode_all(&z[..])?)
}

impl SegReader {
    /// Opens `dir`: reads the index headers and replays unsealed segments.
    pub fn open(dir: &Path) -> Res<Self> {
        let mut seqs: Vec<(u64, bool)> = Vec::new();
        for e in fs::read_dir(dir)? {
            let name = e?.file_name().into_string().unwrap_or_default();
            if let Some(s) = name
                .strip_prefix("seg-")
                .and_then(|s| s.strip_suffix(".log"))
            {
                let seq: u64 = s.parse()?;
                seqs.push((seq, seg_path(dir, seq, "idx").exists()));
            }
        }
        seqs.sort();
        let mut sealed = Vec::new();
        let mut active = Vec::new();
        let mut active_aggs = Vec::new();
        for (seq, has_idx) in seqs {
            if has_idx {
                sealed.push(read_meta(dir, seq)?);
                continue;
            }
            let mut rows = Vec::new();
            replay(&seg_path(dir, seq, "log"), |off, raw| {
                let mut d = Dec::new(raw);
                let n = d.var().map_err(|_| "malformed")?;
                for i in 0..n {
                    let s = model::decode_summary(&mut d).map_err(|_| "malformed")?;
                    model::decode_spans(&mut d).map_err(|_| "malformed")?;
                    rows.push(Row {
                        s,
                        loc: off << 16 | i,
                    });
                }
                let na = d.var().map_err(|_| "malformed")?;
                for _ in 0..na {
                    active_aggs.push(AggRow::decode(d.raw(AGG_BYTES).map_err(|_| "malformed")?));
                }
                Ok(())
            })?;
            rows.sort_by_key(|r| (r.s.end_us, r.s.seq));
            active.push((seq, rows));
        }
        let budget = std::env::var("SC_CACHE_MB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64usize)
            << 20;
        Ok(Self {
            dir: dir.to_path_buf(),
            sealed,
            active,
            active_aggs,
            cache: Cache {
                map: HashMap::new(),
                order: Default::default(),
                bytes: 0,
                budget,
            },
        })
    }

    /// An unblocked column of segment `i`.
    fn col(&mut self, i: usize, c: usize) -> Res<Arc<Vec<u8>>> {
        self.cache.get(&self.dir, &self.sealed[i], c, 0)
    }

    /// The block of row-aligned column `c` that holds row `r`, and the
    /// row's index in it.
    fn at(&mut self, i: usize, c: usize, r: usize) -> Res<(Arc<Vec<u8>>, usize)> {
        let br = self.sealed[i].block_rows;
        Ok((
            self.cache.get(&self.dir, &self.sealed[i], c, r / br)?,
            r % br,
        ))
    }

    /// The first row after the block that holds `r`.
    fn block_end(&self, i: usize, r: usize) -> usize {
        let br = self.sealed[i].block_rows;
        (r / br + 1) * br
    }

    /// End times of segment `i`, decoded.
    fn ends(&mut self, i: usize) -> Res<Vec<u64>> {
        let d = self.col(i, C_END)?;
        let mut prev = self.sealed[i].min_end;
        Ok((0..self.sealed[i].rows)
            .map(|r| {
                prev += u64_at(&d, r);
                prev
            })
            .collect())
    }

    fn summary(&mut self, i: usize, r: usize, end: u64) -> Res<Summary> {
        let seq0 = self.sealed[i].seq0;
        let g = |s: &mut Self, c: usize| -> Res<u32> {
            let (b, j) = s.at(i, c, r)?;
            Ok(u32_at(&b, j))
        };
        let (sq, j) = self.at(i, C_SEQ, r)?;
        let seq = seq0 + u64_at(&sq, j);
        let (tr, j) = self.at(i, C_TRACE, r)?;
        let trace_id = tr[16 * j..16 * j + 16].try_into().unwrap();
        let (sp, j) = self.at(i, C_SPANID, r)?;
        let span_id = sp[8 * j..8 * j + 8].try_into().unwrap();
        let (er, j) = self.at(i, C_ERROR, r)?;
        let error = er[j] != 0;
        let (st, j) = self.at(i, C_STATUS, r)?;
        let status = u16::from_le_bytes(st[2 * j..2 * j + 2].try_into().unwrap());
        Ok(Summary {
            seq,
            trace_id,
            span_id,
            service: g(self, C_SERVICE)?,
            instance: g(self, C_INSTANCE)?,
            endpoint: g(self, C_ENDPOINT)?,
            end_us: end,
            elapsed_us: g(self, C_ELAPSED)?,
            error,
            status,
            client_ip: g(self, C_IP)?,
            user: g(self, C_USER)?,
            thread: g(self, C_THREAD)?,
            sql_count: g(self, C_SQLN)?,
            sql_us: g(self, C_SQLUS)?,
            call_count: g(self, C_CALLN)?,
            call_us: g(self, C_CALLUS)?,
            cpu_us: g(self, C_CPU)?,
        })
    }

    fn overlapping(&self, from_us: u64, to_us: u64) -> Vec<usize> {
        (0..self.sealed.len())
            .filter(|&i| self.sealed[i].max_end >= from_us && self.sealed[i].min_end < to_us)
            .collect()
    }

    fn spans_at(&self, seq: u64, loc: u64) -> Res<Vec<Span>> {
        let raw = read_frame(&self.dir, seq, loc >> 16)?;
        let mut d = Dec::new(&raw);
        let n = d.var().map_err(|_| "malformed")?;
        for i in 0..n {
            model::decode_summary(&mut d).map_err(|_| "malformed")?;
            let sp = model::decode_spans(&mut d).map_err(|_| "malformed")?;
            if i == loc & 0xFFFF {
                return Ok(sp);
            }
        }
        Err("location past the frame".into())
    }
}

impl Reader for SegReader {
    fn xlog(&mut self, from_us: u64, to_us: u64, f: &mut dyn FnMut(Dot)) -> Res<()> {
        for i in self.overlapping(from_us, to_us) {
            let ends = self.ends(i)?;
            let seq0 = self.sealed[i].seq0;
            let lo = ends.partition_point(|&e| e < from_us);
            let hi = ends.partition_point(|&e| e < to_us);
            let mut r = lo;
            while r < hi {
                let stop = self.block_end(i, r).min(hi);
                let (el, j0) = self.at(i, C_ELAPSED, r)?;
                let (er, _) = self.at(i, C_ERROR, r)?;
                let (sq, _) = self.at(i, C_SEQ, r)?;
                let (sp, _) = self.at(i, C_SPANID, r)?;
                for (k, end_us) in ends[r..stop].iter().enumerate() {
                    let j = j0 + k;
                    f(Dot {
                        end_us: *end_us,
                        elapsed_us: u32_at(&el, j),
                        error: er[j] != 0,
                        seq: seq0 + u64_at(&sq, j),
                        span_id: sp[8 * j..8 * j + 8].try_into().unwrap(),
                    });
                }
                r = stop;
            }
        }
        for (_, rows) in &self.active {
            for r in rows
                .iter()
                .filter(|r| r.s.end_us >= from_us && r.s.end_us < to_us)
            {
                f(Dot::from(&r.s));
            }
        }
        Ok(())
    }

    fn first_page(
        &mut self,
        from_us: u64,
        to_us: u64,
        filter: Filter,
        limit: usize,
    ) -> Res<Vec<Summary>> {
        let mut out = Vec::new();
        for i in self.overlapping(from_us, to_us) {
            let m = &self.sealed[i];
            // Segment-level pruning from the header and the filters.
            let skip = match filter {
                Filter::ErrorsOf(e) => {
                    m.errors == 0 || {
                        let eps = self.col(i, C_ENDPOINTS)?;
                        !(0..eps.len() / 4).any(|j| u32_at(&eps, j) == e)
                    }
                }
                Filter::SlowerThan(us) => m.max_elapsed <= us,
                Filter::ClientIp(ip) => !bloom_has(&self.col(i, C_IP_BLOOM)?, ip as u64),
            };
            if skip {
                continue;
            }
            let ends = self.ends(i)?;
            let lo = ends.partition_point(|&e| e < from_us);
            let hi = ends.partition_point(|&e| e < to_us);
            let mut r = lo;
            while r < hi {
                let stop = self.block_end(i, r).min(hi);
                let hits: Vec<usize> = match filter {
                    Filter::ErrorsOf(e) => {
                        let ((er, j0), (ep, _)) =
                            (self.at(i, C_ERROR, r)?, self.at(i, C_ENDPOINT, r)?);
                        (r..stop)
                            .filter(|&x| er[j0 + x - r] != 0 && u32_at(&ep, j0 + x - r) == e)
                            .collect()
                    }
                    Filter::SlowerThan(us) => {
                        let (el, j0) = self.at(i, C_ELAPSED, r)?;
                        (r..stop)
                            .filter(|&x| u32_at(&el, j0 + x - r) > us)
                            .collect()
                    }
                    Filter::ClientIp(ip) => {
                        let (c, j0) = self.at(i, C_IP, r)?;
                        (r..stop)
                            .filter(|&x| u32_at(&c, j0 + x - r) == ip)
                            .collect()
                    }
                };
                for x in hits {
                    out.push(self.summary(i, x, ends[x])?);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
                r = stop;
            }
        }
        for (_, rows) in &self.active {
            for r in rows
                .iter()
                .filter(|r| r.s.end_us >= from_us && r.s.end_us < to_us && filter.accepts(&r.s))
            {
                out.push(r.s.clone());
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    fn trace(&mut self, trace_id: &[u8; 16]) -> Res<Vec<(Summary, Vec<Span>)>> {
        let key = trace_key(trace_id);
        let mut out = Vec::new();
        for i in 0..self.sealed.len() {
            let part =
                self.cache
                    .get(&self.dir, &self.sealed[i], C_TRACE_BLOOM, trace_part(key))?;
            if !bloom_has(&part, key) {
                continue;
            }
            let tt = self.col(i, C_TRACE_TABLE)?;
            let n = tt.len() / 12;
            let at = |j: usize| u64::from_le_bytes(tt[12 * j..12 * j + 8].try_into().unwrap());
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if at(mid) < key {
                    lo = mid + 1
                } else {
                    hi = mid
                }
            }
            let mut rows = Vec::new();
            while lo < n && at(lo) == key {
                rows.push(
                    u32::from_le_bytes(tt[12 * lo + 8..12 * lo + 12].try_into().unwrap()) as usize,
                );
                lo += 1;
            }
            rows.sort_unstable();
            for r in rows {
                let (tr, j) = self.at(i, C_TRACE, r)?;
                if &tr[16 * j..16 * j + 16] != trace_id {
                    continue;
                }
                let ends = self.ends(i)?;
                let s = self.summary(i, r, ends[r])?;
                let (lc, j) = self.at(i, C_LOC, r)?;
                let loc = u64_at(&lc, j);
                let seq = self.sealed[i].seq;
                out.push((s, self.spans_at(seq, loc)?));
            }
        }
        for (seq, rows) in &self.active {
            for r in rows.iter().filter(|r| &r.s.trace_id == trace_id) {
                out.push((r.s.clone(), self.spans_at(*seq, r.loc)?));
            }
        }
        Ok(out)
    }

    fn aggs(&mut self, from_s: u64, to_s: u64) -> Res<Vec<AggRow>> {
        let mut out = Vec::new();
        for i in 0..self.sealed.len() {
            let m = &self.sealed[i];
            if m.agg_max < from_s || m.agg_min >= to_s {
                continue;
            }
            let b = self.col(i, C_AGGS)?;
            out.extend(
                b.chunks_exact(AGG_BYTES)
                    .map(AggRow::decode)
                    .filter(|a| a.sec >= from_s && a.sec < to_s),
            );
        }
        out.extend(
            self.active_aggs
                .iter()
                .filter(|a| a.sec >= from_s && a.sec < to_s)
                .cloned(),
        );
        Ok(out)
    }
}
