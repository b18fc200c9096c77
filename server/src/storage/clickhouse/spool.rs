//! The on-disk buffer of one shard: what could not be inserted while the
//! shard was unreachable, replayed in order once it is back.
//!
//! Built on the project's segment log ([`osprey::seglog`]): one frame per
//! batch (kind [`FRAME_KIND`]; the body is the batch's tables, each a
//! name and its `RowBinary` rows), every append `fdatasync`ed before the
//! ingest request is answered. Replay reads the oldest segment frame by
//! frame, inserts each, and deletes the segment once every frame is in
//! ClickHouse; a frame that fails stops the replay there (the position is
//! kept, the next pass resumes at it). A crash during replay re-sends the
//! frames of the segment being replayed (at-least-once: duplicates are
//! possible, losses are not). Damaged frames are skipped and counted.
//!
//! The frame kind is the schema version of its rows: a buffer left by a
//! build of schema version 1 (kind 1) is replayed by this one with its
//! `metrics` rows given the column version 2 added, so upgrading while
//! ClickHouse is down loses nothing.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use osprey::seglog::{self, LogConfig, SegmentFormat, SegmentLog, SegmentReader};
use parking_lot::Mutex;

use super::ChError;
use super::rowbinary::{RowReader, RowWriter};
use super::rows::ShardInserts;

/// The kind byte of a buffered batch: the schema version of its rows.
pub const FRAME_KIND: u8 = 2;

/// The kind of the batches a build of schema version 1 buffered.
const FRAME_KIND_V1: u8 = 1;

const FORMAT: SegmentFormat = SegmentFormat {
    magic: *b"OSPRCHB1",
    prefix: "chbuf-",
    suffix: ".log",
    version: 1,
    min_version: 1,
};

/// One shard's buffer.
pub struct Spool {
    dir: PathBuf,
    log: Mutex<SegmentLog>,
    /// Where the replay of the oldest segment stopped: (segment, offset).
    resume: Mutex<Option<(u64, u64)>>,
    /// Frames skipped as damaged.
    damaged: AtomicU64,
    /// Batches replayed into ClickHouse.
    replayed: AtomicU64,
}

/// Why a batch was not buffered.
#[derive(Debug)]
pub enum SpoolError {
    /// The buffer holds its cap already.
    Full,
    /// Writing failed.
    Io(io::Error),
}

fn encode(inserts: &ShardInserts) -> Result<Vec<u8>, io::Error> {
    encode_kind(FRAME_KIND, inserts)
}

fn encode_kind(kind: u8, inserts: &ShardInserts) -> Result<Vec<u8>, io::Error> {
    let mut frames = Vec::new();
    seglog::encode_frame(kind, &mut frames, |out| {
        for (table, rows) in &inserts.tables {
            out.push(table.len() as u8);
            out.extend_from_slice(table.as_bytes());
            out.extend_from_slice(&(rows.len() as u64).to_le_bytes());
            out.extend_from_slice(rows);
        }
        Ok::<(), io::Error>(())
    })
    .map_err(|e| io::Error::other(format!("{e:?}")))?;
    Ok(frames)
}

fn decode(payload: &[u8]) -> Option<ShardInserts> {
    let (&kind, mut rest) = payload.split_first()?;
    if kind != FRAME_KIND && kind != FRAME_KIND_V1 {
        return None;
    }
    let mut tables = Vec::new();
    while let Some((&n, r)) = rest.split_first() {
        let name = std::str::from_utf8(r.get(..n as usize)?).ok()?.to_owned();
        let r = &r[n as usize..];
        let len = u64::from_le_bytes(r.get(..8)?.try_into().ok()?) as usize;
        let mut rows = r.get(8..8usize.checked_add(len)?)?.to_vec();
        rest = &r[8 + len..];
        if kind == FRAME_KIND_V1 && name == "metrics" {
            rows = metrics_v1_to_v2(&rows)?;
        }
        tables.push((name, rows));
    }
    Some(ShardInserts { tables })
}

/// `metrics` rows of schema version 1 (day, service, name, unit, kind,
/// attributes, time_ns, value, count) as version 2's: the same, then an
/// empty `instance` and `host`.
fn metrics_v1_to_v2(rows: &[u8]) -> Option<Vec<u8>> {
    let mut r = RowReader::new(rows);
    let mut w = RowWriter::new();
    while !r.done() {
        w.u16(r.u16().ok()?);
        for _ in 0..3 {
            w.bytes(r.bytes().ok()?);
        }
        w.u8(r.u8().ok()?);
        w.bytes(r.bytes().ok()?);
        w.u64(r.u64().ok()?);
        w.f64(r.f64().ok()?);
        w.u64(r.u64().ok()?);
        w.str("");
        w.str("");
        w.end_row();
    }
    Some(w.buf)
}

impl Spool {
    /// Opens (creating) the buffer in `dir`; what a previous run left
    /// there is replayed.
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        let log = Self::open_log(&dir)?;
        Ok(Self {
            dir,
            log: Mutex::new(log),
            resume: Mutex::new(None),
            damaged: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
        })
    }

    fn open_log(dir: &PathBuf) -> io::Result<SegmentLog> {
        let mut cfg = LogConfig::new(dir);
        cfg.fsync = true;
        cfg.segment_bytes = 16 << 20;
        // Never deleted by size: the cap refuses new batches instead.
        cfg.max_bytes = u64::MAX;
        SegmentLog::open(FORMAT, cfg)
    }

    /// Bytes buffered.
    pub fn bytes(&self) -> u64 {
        self.log.lock().total_bytes()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.bytes() == 0
    }

    /// (batches replayed, damaged frames skipped) since start.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.replayed.load(Ordering::Relaxed),
            self.damaged.load(Ordering::Relaxed),
        )
    }

    /// The buffer's segments.
    pub fn segments(&self) -> Vec<seglog::SegmentInfo> {
        self.log.lock().segments().cloned().collect()
    }

    /// Buffers `inserts` durably unless that would take the buffer past
    /// `cap` bytes.
    pub fn push(&self, inserts: &ShardInserts, cap: u64) -> Result<(), SpoolError> {
        let frames = encode(inserts).map_err(SpoolError::Io)?;
        let mut log = self.log.lock();
        if log.total_bytes().saturating_add(frames.len() as u64) > cap {
            return Err(SpoolError::Full);
        }
        let now = seglog::now_ms();
        if log.roll_due(now, frames.len() as u64) {
            log.roll(now).map_err(SpoolError::Io)?;
        }
        log.append(&frames, now).map_err(SpoolError::Io)?;
        Ok(())
    }

    /// Sends every buffered batch, oldest first, with `send`; stops at
    /// the first failure (returned; the next call resumes there).
    pub fn replay(
        &self,
        mut send: impl FnMut(&ShardInserts) -> Result<(), ChError>,
    ) -> Result<(), ChError> {
        loop {
            let oldest = {
                let mut log = self.log.lock();
                let first = log.segments().next().cloned();
                match first {
                    None => return Ok(()),
                    Some(s) => {
                        if log.active_seq() == Some(s.seq) {
                            // Later batches go to a new segment meanwhile.
                            log.close_active()
                                .map_err(|e| ChError::Spool(e.to_string()))?;
                        }
                        s
                    }
                }
            };
            let path = self.dir.join(&oldest.name);
            let from = match *self.resume.lock() {
                Some((seg, off)) if seg == oldest.seq => off,
                _ => 0,
            };
            match SegmentReader::open(&FORMAT, &path) {
                Err(_) => {
                    self.damaged.fetch_add(1, Ordering::Relaxed);
                }
                Ok(reader) => {
                    for frame in reader {
                        let Ok(frame) = frame else {
                            self.damaged.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        if frame.offset < from {
                            continue;
                        }
                        let Some(inserts) = decode(&frame.payload) else {
                            self.damaged.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        if let Err(e) = send(&inserts) {
                            *self.resume.lock() = Some((oldest.seq, frame.offset));
                            return Err(e);
                        }
                        self.replayed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // Every frame of the segment is in ClickHouse: forget it.
            let mut log = self.log.lock();
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                return Err(ChError::Spool(format!(
                    "cannot delete {}: {e}",
                    path.display()
                )));
            }
            let active = log.active_seq().is_some();
            if active {
                log.close_active()
                    .map_err(|e| ChError::Spool(e.to_string()))?;
            }
            *log = Self::open_log(&self.dir).map_err(|e| ChError::Spool(e.to_string()))?;
            *self.resume.lock() = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: u8) -> ShardInserts {
        ShardInserts {
            tables: vec![("spans".into(), vec![n; 10]), ("calls".into(), vec![n])],
        }
    }

    #[test]
    fn batches_replay_in_order_resume_after_a_failure_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path().join("s")).unwrap();
        for n in 0..3 {
            spool.push(&batch(n), 1 << 20).unwrap();
        }
        assert!(matches!(spool.push(&batch(9), 10), Err(SpoolError::Full)));
        let mut sent = Vec::new();
        let e = spool.replay(|b| {
            if b == &batch(1) && sent.len() == 1 {
                return Err(ChError::Unreachable("down".into()));
            }
            sent.push(b.clone());
            Ok(())
        });
        assert!(e.is_err());
        assert_eq!(sent, [batch(0)]);
        drop(spool);
        // A restart replays from the segment's start (at least once).
        let spool = Spool::open(dir.path().join("s")).unwrap();
        spool.push(&batch(3), 1 << 20).unwrap();
        let mut sent = Vec::new();
        spool
            .replay(|b| {
                sent.push(b.clone());
                Ok(())
            })
            .unwrap();
        assert_eq!(sent, [batch(0), batch(1), batch(2), batch(3)]);
        assert!(spool.is_empty());
        assert_eq!(spool.counters(), (4, 0));
    }

    #[test]
    fn a_buffer_of_schema_version_1_replays_with_the_metrics_columns_of_version_2() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path().join("s")).unwrap();
        let metric = |w: &mut RowWriter, v: f64| {
            w.u16(20_000);
            for s in ["shop", "jvm.threads", "{thread}"] {
                w.str(s);
            }
            w.u8(1);
            w.str("");
            w.u64(7);
            w.f64(v);
            w.u64(0);
        };
        let mut v1 = RowWriter::new();
        metric(&mut v1, 1.0);
        metric(&mut v1, 2.0);
        let old = ShardInserts {
            tables: vec![
                ("metrics".into(), v1.buf.clone()),
                ("spans".into(), vec![5; 3]),
            ],
        };
        // As the version 1 build wrote it.
        let frame = encode_kind(FRAME_KIND_V1, &old).unwrap();
        spool.log.lock().append(&frame, seglog::now_ms()).unwrap();
        spool.push(&batch(1), 1 << 20).unwrap();
        let mut sent = Vec::new();
        spool
            .replay(|b| {
                sent.push(b.clone());
                Ok(())
            })
            .unwrap();
        let mut v2 = RowWriter::new();
        for v in [1.0, 2.0] {
            metric(&mut v2, v);
            v2.str(""); // instance
            v2.str(""); // host
        }
        assert_eq!(
            sent,
            [
                ShardInserts {
                    tables: vec![("metrics".into(), v2.buf), ("spans".into(), vec![5; 3])],
                },
                batch(1)
            ]
        );
        assert_eq!(spool.counters(), (2, 0));
        // A damaged version 1 body is counted, not sent.
        let bad = ShardInserts {
            tables: vec![("metrics".into(), v1.buf[..v1.buf.len() - 1].to_vec())],
        };
        let frame = encode_kind(FRAME_KIND_V1, &bad).unwrap();
        spool.log.lock().append(&frame, seglog::now_ms()).unwrap();
        spool.replay(|_| panic!("nothing to send")).unwrap();
        assert_eq!(spool.counters(), (2, 1));
    }
}
