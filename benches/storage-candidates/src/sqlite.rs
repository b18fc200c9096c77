//! Candidate (b): SQLite through rusqlite (bundled), WAL mode,
//! `synchronous=FULL` (a commit is durable), one transaction per fsync batch.
//!
//! Tables: `txn` (one row per transaction, integer columns, indexes on the
//! end time and the trace id), `spans` (the transaction's spans, zstd of the
//! explicit schema, keyed by the txn row id), `agg` (per second and service,
//! `WITHOUT ROWID`). Memory knob: `cache_size` (SC_CACHE_MB, default 64 MiB)
//! and `mmap_size=0`.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::model::{self, AggRow, Dec, Filter, HIST_N, Span, Summary, Txn};
use crate::{Dot, Reader, Res, Writer};

fn connect(dir: &Path) -> Res<Connection> {
    let c = Connection::open(dir.join("osprey.db"))?;
    let mb: i64 = std::env::var("SC_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    c.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-{}; PRAGMA mmap_size=0;",
        mb * 1024
    ))?;
    Ok(c)
}

const SUMMARY_COLS: &str = "seq, trace_id, span_id, service, instance, endpoint, end_us, elapsed_us, error, status, client_ip, user, thread, sql_count, sql_us, call_count, call_us, cpu_us";

/// The write side.
pub struct SqlWriter {
    c: Connection,
    in_tx: bool,
    raw: Vec<u8>,
    zc: zstd::bulk::Compressor<'static>,
}

impl SqlWriter {
    /// A new database in `dir`.
    pub fn create(dir: &Path) -> Res<Self> {
        let c = connect(dir)?;
        let hist: Vec<String> = (0..HIST_N).map(|i| format!("h{i} INTEGER")).collect();
        c.execute_batch(&format!(
            "CREATE TABLE txn(seq INTEGER PRIMARY KEY, trace_id BLOB, span_id BLOB, service INTEGER, instance INTEGER,
               endpoint INTEGER, end_us INTEGER, elapsed_us INTEGER, error INTEGER, status INTEGER, client_ip INTEGER,
               user INTEGER, thread INTEGER, sql_count INTEGER, sql_us INTEGER, call_count INTEGER, call_us INTEGER, cpu_us INTEGER);
             CREATE INDEX txn_end ON txn(end_us);
             CREATE INDEX txn_trace ON txn(trace_id);
             CREATE TABLE spans(seq INTEGER PRIMARY KEY, data BLOB);
             CREATE TABLE agg(sec INTEGER, service INTEGER, count INTEGER, errors INTEGER, sum_us INTEGER, max_us INTEGER, {},
               PRIMARY KEY(sec, service)) WITHOUT ROWID;",
            hist.join(", ")
        ))?;
        Ok(Self {
            c,
            in_tx: false,
            raw: Vec::new(),
            zc: zstd::bulk::Compressor::new(3)?,
        })
    }
}

impl Writer for SqlWriter {
    fn append(&mut self, txns: &[Txn], aggs: &[AggRow]) -> Res<()> {
        if !self.in_tx {
            self.c.execute_batch("BEGIN")?;
            self.in_tx = true;
        }
        {
            let mut ins = self.c.prepare_cached(
                "INSERT INTO txn VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?;
            for t in txns {
                let s = &t.s;
                ins.execute(params![
                    s.seq as i64,
                    &s.trace_id[..],
                    &s.span_id[..],
                    s.service,
                    s.instance,
                    s.endpoint,
                    s.end_us as i64,
                    s.elapsed_us,
                    s.error,
                    s.status,
                    s.client_ip,
                    s.user,
                    s.thread,
                    s.sql_count,
                    s.sql_us,
                    s.call_count,
                    s.call_us,
                    s.cpu_us
                ])?;
            }
            let mut sp = self.c.prepare_cached("INSERT INTO spans VALUES (?1, ?2)")?;
            for t in txns {
                self.raw.clear();
                model::encode_spans(&t.spans, &mut self.raw);
                let z = self.zc.compress(&self.raw)?;
                sp.execute(params![t.s.seq as i64, z])?;
            }
            let hist: Vec<String> = (0..HIST_N)
                .map(|i| format!("h{i} = h{i} + excluded.h{i}"))
                .collect();
            let marks: Vec<String> = (7..7 + HIST_N).map(|i| format!("?{i}")).collect();
            let mut ag = self.c.prepare_cached(&format!(
                "INSERT INTO agg VALUES (?1, ?2, ?3, ?4, ?5, ?6, {}) ON CONFLICT(sec, service) DO UPDATE SET
                 count = count + excluded.count, errors = errors + excluded.errors, sum_us = sum_us + excluded.sum_us,
                 max_us = max(max_us, excluded.max_us), {}",
                marks.join(", "),
                hist.join(", ")
            ))?;
            for a in aggs {
                let mut v: Vec<i64> = vec![
                    a.sec as i64,
                    a.service as i64,
                    a.count as i64,
                    a.errors as i64,
                    a.sum_us as i64,
                    a.max_us as i64,
                ];
                v.extend(a.hist.iter().map(|&h| h as i64));
                ag.execute(rusqlite::params_from_iter(v))?;
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> Res<()> {
        if self.in_tx {
            self.c.execute_batch("COMMIT")?;
            self.in_tx = false;
        }
        Ok(())
    }
}

/// The read side.
pub struct SqlReader {
    c: Connection,
}

impl SqlReader {
    /// Opens the database in `dir` (WAL recovery happens here).
    pub fn open(dir: &Path) -> Res<Self> {
        let c = connect(dir)?;
        c.query_row("SELECT count(*) FROM agg WHERE sec = 0", [], |_| Ok(()))?;
        Ok(Self { c })
    }
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<Summary> {
    let trace: Vec<u8> = r.get(1)?;
    let span: Vec<u8> = r.get(2)?;
    Ok(Summary {
        seq: r.get::<_, i64>(0)? as u64,
        trace_id: trace.try_into().unwrap_or_default(),
        span_id: span.try_into().unwrap_or_default(),
        service: r.get(3)?,
        instance: r.get(4)?,
        endpoint: r.get(5)?,
        end_us: r.get::<_, i64>(6)? as u64,
        elapsed_us: r.get(7)?,
        error: r.get(8)?,
        status: r.get(9)?,
        client_ip: r.get(10)?,
        user: r.get(11)?,
        thread: r.get(12)?,
        sql_count: r.get(13)?,
        sql_us: r.get(14)?,
        call_count: r.get(15)?,
        call_us: r.get(16)?,
        cpu_us: r.get(17)?,
    })
}

impl Reader for SqlReader {
    fn xlog(&mut self, from_us: u64, to_us: u64, f: &mut dyn FnMut(Dot)) -> Res<()> {
        let mut st = self.c.prepare_cached(
            "SELECT end_us, elapsed_us, error, seq, span_id FROM txn WHERE end_us >= ?1 AND end_us < ?2 ORDER BY end_us, seq",
        )?;
        let mut rows = st.query(params![from_us as i64, to_us as i64])?;
        while let Some(r) = rows.next()? {
            let sp: [u8; 8] = r.get_ref(4)?.as_blob()?.try_into().unwrap_or_default();
            f(Dot {
                end_us: r.get::<_, i64>(0)? as u64,
                elapsed_us: r.get(1)?,
                error: r.get(2)?,
                seq: r.get::<_, i64>(3)? as u64,
                span_id: sp,
            });
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
        let (cond, arg): (&str, i64) = match filter {
            Filter::ErrorsOf(e) => ("error = 1 AND endpoint = ?3", e as i64),
            Filter::SlowerThan(us) => ("elapsed_us > ?3", us as i64),
            Filter::ClientIp(ip) => ("client_ip = ?3", ip as i64),
        };
        let mut st = self.c.prepare_cached(&format!(
            "SELECT {SUMMARY_COLS} FROM txn WHERE end_us >= ?1 AND end_us < ?2 AND {cond} ORDER BY end_us, seq LIMIT ?4"
        ))?;
        let rows = st.query_map(
            params![from_us as i64, to_us as i64, arg, limit as i64],
            summary,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn trace(&mut self, trace_id: &[u8; 16]) -> Res<Vec<(Summary, Vec<Span>)>> {
        let mut st = self.c.prepare_cached(&format!(
            "SELECT {SUMMARY_COLS}, s.data FROM txn JOIN spans s USING (seq) WHERE trace_id = ?1 ORDER BY seq"
        ))?;
        let mut rows = st.query(params![&trace_id[..]])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let s = summary(r)?;
            let raw = zstd::stream::decode_all(r.get_ref(18)?.as_blob()?)?;
            let spans = model::decode_spans(&mut Dec::new(&raw)).map_err(|_| "malformed spans")?;
            out.push((s, spans));
        }
        Ok(out)
    }

    fn aggs(&mut self, from_s: u64, to_s: u64) -> Res<Vec<AggRow>> {
        let mut st = self
            .c
            .prepare_cached("SELECT * FROM agg WHERE sec >= ?1 AND sec < ?2")?;
        let rows = st.query_map(params![from_s as i64, to_s as i64], |r| {
            let mut hist = [0u32; HIST_N];
            for (i, h) in hist.iter_mut().enumerate() {
                *h = r.get(6 + i)?;
            }
            Ok(AggRow {
                sec: r.get::<_, i64>(0)? as u64,
                service: r.get(1)?,
                count: r.get(2)?,
                errors: r.get(3)?,
                sum_us: r.get::<_, i64>(4)? as u64,
                max_us: r.get(5)?,
                hist,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
