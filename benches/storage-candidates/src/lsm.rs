//! Candidate (c): fjall 2 (an LSM tree; lz4 block compression).
//!
//! Partitions: `txn` keyed by (end µs, seq) big-endian → the summary
//! (explicit schema); `trace` keyed by (trace id, seq) → end µs, the
//! secondary key; `spans` keyed by seq → the encoded spans (32 KiB blocks
//! so lz4 sees many spans at once); `agg` keyed by (second, service, n).
//! One write batch per request, `persist(SyncAll)` per fsync batch.
//! Memory knobs: block cache (SC_CACHE_MB, default 64 MiB), write buffer
//! (`max_write_buffer_size`, 64 MiB), journal (`max_journaling_size`,
//! default 512 MiB, which bounds the replay at open).

use std::path::Path;

use fjall::{Config, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode};

use crate::model::{self, AggRow, Dec, Filter, Span, Summary, Txn};
use crate::{Dot, Reader, Res, Writer};

struct Parts {
    ks: Keyspace,
    txn: PartitionHandle,
    trace: PartitionHandle,
    spans: PartitionHandle,
    agg: PartitionHandle,
}

fn open(dir: &Path) -> Res<Parts> {
    let mb: u64 = std::env::var("SC_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let ks = Config::new(dir.join("fjall"))
        .cache_size(mb << 20)
        .max_write_buffer_size(64 << 20)
        .open()?;
    let txn = ks.open_partition("txn", PartitionCreateOptions::default())?;
    let trace = ks.open_partition("trace", PartitionCreateOptions::default())?;
    let spans = ks.open_partition(
        "spans",
        PartitionCreateOptions::default().block_size(32 * 1024),
    )?;
    let agg = ks.open_partition("agg", PartitionCreateOptions::default())?;
    Ok(Parts {
        ks,
        txn,
        trace,
        spans,
        agg,
    })
}

fn txn_key(end_us: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&end_us.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The write side.
pub struct LsmWriter {
    p: Parts,
    raw: Vec<u8>,
    agg_n: u64,
}

impl LsmWriter {
    /// A new keyspace in `dir`.
    pub fn create(dir: &Path) -> Res<Self> {
        Ok(Self {
            p: open(dir)?,
            raw: Vec::new(),
            agg_n: 0,
        })
    }
}

impl Writer for LsmWriter {
    fn append(&mut self, txns: &[Txn], aggs: &[AggRow]) -> Res<()> {
        let mut b = self.p.ks.batch();
        for t in txns {
            let s = &t.s;
            self.raw.clear();
            model::encode_summary(s, &mut self.raw);
            b.insert(
                &self.p.txn,
                txn_key(s.end_us, s.seq).to_vec(),
                self.raw.clone(),
            );
            let mut tk = s.trace_id.to_vec();
            tk.extend_from_slice(&s.seq.to_be_bytes());
            b.insert(&self.p.trace, tk, s.end_us.to_be_bytes().to_vec());
            self.raw.clear();
            model::encode_spans(&t.spans, &mut self.raw);
            b.insert(
                &self.p.spans,
                s.seq.to_be_bytes().to_vec(),
                self.raw.clone(),
            );
        }
        for a in aggs {
            let mut k = a.sec.to_be_bytes().to_vec();
            k.extend_from_slice(&a.service.to_be_bytes());
            k.extend_from_slice(&self.agg_n.to_be_bytes());
            self.agg_n += 1;
            let mut v = Vec::new();
            a.encode(&mut v);
            b.insert(&self.p.agg, k, v);
        }
        b.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Res<()> {
        self.p.ks.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}

/// The read side.
pub struct LsmReader {
    p: Parts,
}

impl LsmReader {
    /// Opens (and recovers) the keyspace in `dir`.
    pub fn open(dir: &Path) -> Res<Self> {
        Ok(Self { p: open(dir)? })
    }
}

fn dec_summary(v: &[u8]) -> Res<Summary> {
    model::decode_summary(&mut Dec::new(v)).map_err(|_| "malformed summary".into())
}

impl Reader for LsmReader {
    fn xlog(&mut self, from_us: u64, to_us: u64, f: &mut dyn FnMut(Dot)) -> Res<()> {
        for kv in self.p.txn.range(txn_key(from_us, 0)..txn_key(to_us, 0)) {
            let (_, v) = kv?;
            let s = dec_summary(&v)?;
            f(Dot::from(&s));
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
        for kv in self.p.txn.range(txn_key(from_us, 0)..txn_key(to_us, 0)) {
            let (_, v) = kv?;
            let s = dec_summary(&v)?;
            if filter.accepts(&s) {
                out.push(s);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn trace(&mut self, trace_id: &[u8; 16]) -> Res<Vec<(Summary, Vec<Span>)>> {
        let mut out = Vec::new();
        for kv in self.p.trace.prefix(trace_id) {
            let (k, v) = kv?;
            let seq = u64::from_be_bytes(k[16..24].try_into()?);
            let end = u64::from_be_bytes(v[..8].try_into()?);
            let s = dec_summary(
                &self
                    .p
                    .txn
                    .get(txn_key(end, seq))?
                    .ok_or("dangling trace key")?,
            )?;
            let raw = self
                .p
                .spans
                .get(seq.to_be_bytes())?
                .ok_or("missing spans")?;
            let spans = model::decode_spans(&mut Dec::new(&raw)).map_err(|_| "malformed spans")?;
            out.push((s, spans));
        }
        Ok(out)
    }

    fn aggs(&mut self, from_s: u64, to_s: u64) -> Res<Vec<AggRow>> {
        let mut out = Vec::new();
        for kv in self.p.agg.range(from_s.to_be_bytes()..to_s.to_be_bytes()) {
            let (_, v) = kv?;
            out.push(AggRow::decode(&v));
        }
        Ok(out)
    }
}
