//! Candidate (d): Parquet through arrow-rs, behind a write-ahead log.
//!
//! Parquet files are immutable, so acknowledged requests go to `wal.log`
//! (frames as in the segment log, fsync per batch) and to an in-memory
//! buffer; every `SC_PQ_TXNS` transactions (default 20 000) or hour of end
//! times the buffer becomes three files (`txn-`, `spans-`, `agg-` + the
//! first and last end µs) written with zstd, row-group statistics and Bloom
//! filters on `trace_id` and `client_ip`, and the WAL starts over. Queries
//! prune files by name, row groups by statistics and Bloom filters, then
//! read only the projected columns. At open the WAL is replayed (bounded by
//! the buffer size).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{ReaderProperties, WriterProperties};
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

use crate::model::{self, AGG_BYTES, AggRow, Dec, Filter, HIST_N, Span, Summary, Txn};
use crate::{Dot, Reader, Res, Writer};

const HOUR_US: u64 = 3_600_000_000;

// Column order of the txn files.
const T_NAMES: [&str; 18] = [
    "seq",
    "trace_id",
    "span_id",
    "service",
    "instance",
    "endpoint",
    "end_us",
    "elapsed_us",
    "error",
    "status",
    "client_ip",
    "user",
    "thread",
    "sql_count",
    "sql_us",
    "call_count",
    "call_us",
    "cpu_us",
];
const T_SEQ: usize = 0;
const T_TRACE: usize = 1;
const T_SPAN: usize = 2;
const T_ENDPOINT: usize = 5;
const T_END: usize = 6;
const T_ELAPSED: usize = 7;
const T_ERROR: usize = 8;
const T_IP: usize = 10;

fn txn_schema() -> Arc<Schema> {
    Arc::new(Schema::new(
        T_NAMES
            .iter()
            .map(|&n| {
                let t = match n {
                    "seq" | "end_us" | "client_ip" => DataType::Int64,
                    "trace_id" => DataType::FixedSizeBinary(16),
                    "span_id" => DataType::FixedSizeBinary(8),
                    "error" => DataType::Boolean,
                    _ => DataType::Int32,
                };
                Field::new(n, t, false)
            })
            .collect::<Vec<_>>(),
    ))
}

fn spans_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("parent", DataType::Int32, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Int32, false),
        Field::new("start_off_us", DataType::Int32, false),
        Field::new("dur_us", DataType::Int32, false),
        Field::new("error", DataType::Boolean, false),
        Field::new("attrs", DataType::Utf8, false),
    ]))
}

fn agg_schema() -> Arc<Schema> {
    let mut f = vec![
        Field::new("sec", DataType::Int64, false),
        Field::new("sum_us", DataType::Int64, false),
    ];
    for n in ["service", "count", "errors", "max_us"] {
        f.push(Field::new(n, DataType::Int32, false));
    }
    for i in 0..HIST_N {
        f.push(Field::new(format!("h{i}"), DataType::Int32, false));
    }
    Arc::new(Schema::new(f))
}

fn i32s(v: impl Iterator<Item = u32>) -> ArrayRef {
    Arc::new(Int32Array::from(v.map(|x| x as i32).collect::<Vec<_>>()))
}

fn i64s(v: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(Int64Array::from(v.map(|x| x as i64).collect::<Vec<_>>()))
}

fn write_parquet(path: &Path, batch: &RecordBatch, props: WriterProperties) -> Res<()> {
    let tmp = path.with_extension("tmp");
    let f = File::create(&tmp)?;
    let mut w = ArrowWriter::try_new(f.try_clone()?, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    f.sync_all()?;
    fs::rename(tmp, path)?;
    Ok(())
}

fn props(rows_per_group: usize) -> parquet::file::properties::WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
        .set_max_row_group_row_count(Some(rows_per_group))
}

fn attrs_text(s: &Span) -> String {
    let mut t = String::new();
    for (k, v) in &s.attrs {
        t.push_str(k);
        t.push('\u{1f}');
        t.push_str(v);
        t.push('\u{1e}');
    }
    t
}

fn flush_files(dir: &Path, txns: &[Txn], aggs: &[AggRow]) -> Res<()> {
    let (Some(first), Some(last)) = (txns.first(), txns.last()) else {
        return Ok(());
    };
    let tag = format!("{:016}-{:016}", first.s.end_us, last.s.end_us);
    let s = || txns.iter().map(|t| &t.s);
    let cols: Vec<ArrayRef> = vec![
        i64s(s().map(|x| x.seq)),
        Arc::new(FixedSizeBinaryArray::try_from_iter(
            s().map(|x| x.trace_id),
        )?),
        Arc::new(FixedSizeBinaryArray::try_from_iter(s().map(|x| x.span_id))?),
        i32s(s().map(|x| x.service)),
        i32s(s().map(|x| x.instance)),
        i32s(s().map(|x| x.endpoint)),
        i64s(s().map(|x| x.end_us)),
        i32s(s().map(|x| x.elapsed_us)),
        Arc::new(BooleanArray::from(s().map(|x| x.error).collect::<Vec<_>>())),
        i32s(s().map(|x| x.status as u32)),
        i64s(s().map(|x| x.client_ip as u64)),
        i32s(s().map(|x| x.user)),
        i32s(s().map(|x| x.thread)),
        i32s(s().map(|x| x.sql_count)),
        i32s(s().map(|x| x.sql_us)),
        i32s(s().map(|x| x.call_count)),
        i32s(s().map(|x| x.call_us)),
        i32s(s().map(|x| x.cpu_us)),
    ];
    let p = props(8192)
        .set_column_bloom_filter_enabled(ColumnPath::from("trace_id"), true)
        .set_column_bloom_filter_enabled(ColumnPath::from("client_ip"), true)
        .build();
    write_parquet(
        &dir.join(format!("txn-{tag}.parquet")),
        &RecordBatch::try_new(txn_schema(), cols)?,
        p,
    )?;

    let sp = || {
        txns.iter()
            .flat_map(|t| t.spans.iter().map(move |s| (t.s.seq, s)))
    };
    let cols: Vec<ArrayRef> = vec![
        i64s(sp().map(|(q, _)| q)),
        Arc::new(FixedSizeBinaryArray::try_from_iter(
            sp().map(|(_, s)| s.span_id),
        )?),
        i32s(sp().map(|(_, s)| s.parent as u32)),
        Arc::new(StringArray::from(
            sp().map(|(_, s)| s.name.clone()).collect::<Vec<_>>(),
        )),
        i32s(sp().map(|(_, s)| s.kind as u32)),
        i32s(sp().map(|(_, s)| s.start_off_us)),
        i32s(sp().map(|(_, s)| s.dur_us)),
        Arc::new(BooleanArray::from(
            sp().map(|(_, s)| s.error).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            sp().map(|(_, s)| attrs_text(s)).collect::<Vec<_>>(),
        )),
    ];
    write_parquet(
        &dir.join(format!("spans-{tag}.parquet")),
        &RecordBatch::try_new(spans_schema(), cols)?,
        props(65536).build(),
    )?;

    let a = || aggs.iter();
    let mut cols: Vec<ArrayRef> = vec![
        i64s(a().map(|x| x.sec)),
        i64s(a().map(|x| x.sum_us)),
        i32s(a().map(|x| x.service)),
        i32s(a().map(|x| x.count)),
        i32s(a().map(|x| x.errors)),
        i32s(a().map(|x| x.max_us)),
    ];
    for i in 0..HIST_N {
        cols.push(i32s(a().map(|x| x.hist[i])));
    }
    let agg_min = aggs.iter().map(|a| a.sec).min().unwrap_or(0);
    let agg_max = aggs.iter().map(|a| a.sec).max().unwrap_or(0);
    write_parquet(
        &dir.join(format!("agg-{agg_min:016}-{agg_max:016}-{tag}.parquet")),
        &RecordBatch::try_new(agg_schema(), cols)?,
        props(1 << 20).build(),
    )?;
    Ok(())
}

/// The write side.
pub struct PqWriter {
    dir: PathBuf,
    wal: File,
    buf: Vec<Txn>,
    aggs: Vec<AggRow>,
    hour: Option<u64>,
    cap: usize,
    raw: Vec<u8>,
}

fn wal_path(dir: &Path) -> PathBuf {
    dir.join("wal.log")
}

fn new_wal(dir: &Path) -> Res<File> {
    Ok(OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(wal_path(dir))?)
}

impl PqWriter {
    /// A new store in `dir`.
    pub fn create(dir: &Path) -> Res<Self> {
        let cap = std::env::var("SC_PQ_TXNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        Ok(Self {
            dir: dir.to_path_buf(),
            wal: new_wal(dir)?,
            buf: Vec::new(),
            aggs: Vec::new(),
            hour: None,
            cap,
            raw: Vec::new(),
        })
    }
}

impl Writer for PqWriter {
    fn append(&mut self, txns: &[Txn], aggs: &[AggRow]) -> Res<()> {
        if let Some(t) = txns.first() {
            let h = t.s.end_us / HOUR_US;
            if self.hour.is_some_and(|x| x != h) || self.buf.len() >= self.cap {
                self.wal.sync_data()?;
                flush_files(&self.dir, &self.buf, &self.aggs)?;
                self.buf.clear();
                self.aggs.clear();
                self.wal = new_wal(&self.dir)?;
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
        let z = zstd::bulk::compress(&self.raw, 1)?;
        self.wal.write_all(&crate::seglog::frame(&z))?;
        self.buf.extend_from_slice(txns);
        self.aggs.extend_from_slice(aggs);
        Ok(())
    }

    fn sync(&mut self) -> Res<()> {
        self.wal.sync_data()?;
        Ok(())
    }
}

// ----------------------------------------------------------------- reader

struct PqFile {
    min_end: u64,
    max_end: u64,
    txn: PathBuf,
    spans: PathBuf,
}

/// The read side.
pub struct PqReader {
    files: Vec<PqFile>,
    agg_files: Vec<(u64, u64, PathBuf)>,
    mem: Vec<(Summary, Vec<Span>)>,
    mem_aggs: Vec<AggRow>,
}

fn stat_i64(s: Option<&Statistics>) -> Option<(i64, i64)> {
    match s? {
        Statistics::Int64(v) => Some((*v.min_opt()?, *v.max_opt()?)),
        Statistics::Int32(v) => Some((*v.min_opt()? as i64, *v.max_opt()? as i64)),
        Statistics::Boolean(v) => Some((*v.min_opt()? as i64, *v.max_opt()? as i64)),
        _ => None,
    }
}

fn col_i64(b: &RecordBatch, name: &str) -> Res<Vec<i64>> {
    let a = b.column_by_name(name).ok_or("missing column")?;
    if let Some(x) = a.as_any().downcast_ref::<Int64Array>() {
        return Ok(x.values().to_vec());
    }
    if let Some(x) = a.as_any().downcast_ref::<Int32Array>() {
        return Ok(x.values().iter().map(|&v| v as u32 as i64).collect());
    }
    if let Some(x) = a.as_any().downcast_ref::<BooleanArray>() {
        return Ok((0..x.len()).map(|i| x.value(i) as i64).collect());
    }
    Err("unexpected column type".into())
}

fn col_fsb<const N: usize>(b: &RecordBatch, name: &str) -> Res<Vec<[u8; N]>> {
    let a = b.column_by_name(name).ok_or("missing column")?;
    let x = a
        .as_any()
        .downcast_ref::<FixedSizeBinaryArray>()
        .ok_or("not fixed binary")?;
    Ok((0..x.len())
        .map(|i| x.value(i).try_into().unwrap())
        .collect())
}

/// Reads the projected columns of row groups `groups` of `path`.
fn read_groups(path: &Path, groups: Vec<usize>, cols: &[usize]) -> Res<Vec<RecordBatch>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let mask = ProjectionMask::roots(b.parquet_schema(), cols.iter().copied());
    let r = b
        .with_row_groups(groups)
        .with_projection(mask)
        .with_batch_size(16384)
        .build()?;
    Ok(r.collect::<Result<Vec<_>, _>>()?)
}

fn summaries(b: &RecordBatch) -> Res<Vec<Summary>> {
    let c: Vec<Vec<i64>> = T_NAMES
        .iter()
        .map(|n| {
            if matches!(*n, "trace_id" | "span_id") {
                Ok(Vec::new())
            } else {
                col_i64(b, n)
            }
        })
        .collect::<Res<_>>()?;
    let tr = col_fsb::<16>(b, "trace_id")?;
    let sp = col_fsb::<8>(b, "span_id")?;
    Ok((0..b.num_rows())
        .map(|i| Summary {
            seq: c[0][i] as u64,
            trace_id: tr[i],
            span_id: sp[i],
            service: c[3][i] as u32,
            instance: c[4][i] as u32,
            endpoint: c[5][i] as u32,
            end_us: c[6][i] as u64,
            elapsed_us: c[7][i] as u32,
            error: c[8][i] != 0,
            status: c[9][i] as u16,
            client_ip: c[10][i] as u32,
            user: c[11][i] as u32,
            thread: c[12][i] as u32,
            sql_count: c[13][i] as u32,
            sql_us: c[14][i] as u32,
            call_count: c[15][i] as u32,
            call_us: c[16][i] as u32,
            cpu_us: c[17][i] as u32,
        })
        .collect())
}

fn bloom_reader(path: &Path) -> Res<SerializedFileReader<File>> {
    let opts = ReadOptionsBuilder::new()
        .with_reader_properties(
            ReaderProperties::builder()
                .set_read_bloom_filter(true)
                .build(),
        )
        .build();
    Ok(SerializedFileReader::new_with_options(
        File::open(path)?,
        opts,
    )?)
}

impl PqReader {
    /// Opens `dir`: lists the files and replays the WAL.
    pub fn open(dir: &Path) -> Res<Self> {
        let mut files = Vec::new();
        let mut agg_files = Vec::new();
        for e in fs::read_dir(dir)? {
            let name = e?.file_name().into_string().unwrap_or_default();
            let Some(stem) = name.strip_suffix(".parquet") else {
                continue;
            };
            if let Some(tag) = stem.strip_prefix("txn-") {
                let (a, b) = tag.split_once('-').ok_or("bad name")?;
                files.push(PqFile {
                    min_end: a.parse()?,
                    max_end: b.parse()?,
                    txn: dir.join(&name),
                    spans: dir.join(format!("spans-{tag}.parquet")),
                });
            } else if let Some(tag) = stem.strip_prefix("agg-") {
                let mut it = tag.split('-');
                let a: u64 = it.next().ok_or("bad name")?.parse()?;
                let b: u64 = it.next().ok_or("bad name")?.parse()?;
                agg_files.push((a, b, dir.join(&name)));
            }
        }
        files.sort_by_key(|f| f.min_end);
        let mut mem = Vec::new();
        let mut mem_aggs = Vec::new();
        crate::seglog::replay(&wal_path(dir), |_, raw| {
            let mut d = Dec::new(raw);
            for _ in 0..d.var().map_err(|_| "malformed")? {
                let s = model::decode_summary(&mut d).map_err(|_| "malformed")?;
                let sp = model::decode_spans(&mut d).map_err(|_| "malformed")?;
                mem.push((s, sp));
            }
            for _ in 0..d.var().map_err(|_| "malformed")? {
                mem_aggs.push(AggRow::decode(d.raw(AGG_BYTES).map_err(|_| "malformed")?));
            }
            Ok(())
        })?;
        Ok(Self {
            files,
            agg_files,
            mem,
            mem_aggs,
        })
    }

    fn overlapping(&self, from_us: u64, to_us: u64) -> impl Iterator<Item = &PqFile> {
        self.files
            .iter()
            .filter(move |f| f.max_end >= from_us && f.min_end < to_us)
    }
}

/// Row groups of `r` whose `end_us` statistics overlap `[from, to)` and
/// which `keep` accepts.
fn groups(
    r: &SerializedFileReader<File>,
    from: u64,
    to: u64,
    mut keep: impl FnMut(usize, &dyn RowGroupReader) -> bool,
) -> Vec<usize> {
    let md = r.metadata();
    (0..md.num_row_groups())
        .filter(|&g| {
            let rg = md.row_group(g);
            let Some((lo, hi)) = stat_i64(rg.column(T_END).statistics()) else {
                return true;
            };
            hi as u64 >= from
                && (lo as u64) < to
                && r.get_row_group(g).is_ok_and(|rr| keep(g, rr.as_ref()))
        })
        .collect()
}

impl Reader for PqReader {
    fn xlog(&mut self, from_us: u64, to_us: u64, f: &mut dyn FnMut(Dot)) -> Res<()> {
        for file in self.overlapping(from_us, to_us) {
            let r = SerializedFileReader::new(File::open(&file.txn)?)?;
            let gs = groups(&r, from_us, to_us, |_, _| true);
            for b in read_groups(&file.txn, gs, &[T_SEQ, T_SPAN, T_END, T_ELAPSED, T_ERROR])? {
                let (seq, end, el, er) = (
                    col_i64(&b, "seq")?,
                    col_i64(&b, "end_us")?,
                    col_i64(&b, "elapsed_us")?,
                    col_i64(&b, "error")?,
                );
                let sp = col_fsb::<8>(&b, "span_id")?;
                for i in 0..b.num_rows() {
                    let e = end[i] as u64;
                    if e >= from_us && e < to_us {
                        f(Dot {
                            end_us: e,
                            elapsed_us: el[i] as u32,
                            error: er[i] != 0,
                            seq: seq[i] as u64,
                            span_id: sp[i],
                        });
                    }
                }
            }
        }
        for (s, _) in self
            .mem
            .iter()
            .filter(|(s, _)| s.end_us >= from_us && s.end_us < to_us)
        {
            f(Dot::from(s));
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
        for file in self.overlapping(from_us, to_us) {
            let r = bloom_reader(&file.txn)?;
            let md = r.metadata().clone();
            let gs = groups(&r, from_us, to_us, |g, rr| {
                let st = |c: usize| stat_i64(md.row_group(g).column(c).statistics());
                match filter {
                    Filter::ErrorsOf(e) => {
                        st(T_ERROR).is_none_or(|(_, hi)| hi != 0)
                            && st(T_ENDPOINT)
                                .is_none_or(|(lo, hi)| lo <= e as i64 && e as i64 <= hi)
                    }
                    Filter::SlowerThan(us) => st(T_ELAPSED).is_none_or(|(_, hi)| hi as u32 > us),
                    Filter::ClientIp(ip) => rr
                        .get_column_bloom_filter(T_IP)
                        .is_none_or(|b| b.check(&(ip as i64))),
                }
            });
            for b in read_groups(&file.txn, gs, &(0..T_NAMES.len()).collect::<Vec<_>>())? {
                for s in summaries(&b)? {
                    if s.end_us >= from_us && s.end_us < to_us && filter.accepts(&s) {
                        out.push(s);
                        if out.len() == limit {
                            return Ok(out);
                        }
                    }
                }
            }
        }
        for (s, _) in &self.mem {
            if s.end_us >= from_us && s.end_us < to_us && filter.accepts(s) {
                out.push(s.clone());
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn trace(&mut self, trace_id: &[u8; 16]) -> Res<Vec<(Summary, Vec<Span>)>> {
        let mut out = Vec::new();
        for file in &self.files {
            let r = bloom_reader(&file.txn)?;
            let gs = groups(&r, 0, u64::MAX, |_, rr| {
                rr.get_column_bloom_filter(T_TRACE)
                    .is_none_or(|b| b.check(&trace_id[..]))
            });
            let mut found = Vec::new();
            for b in read_groups(&file.txn, gs, &(0..T_NAMES.len()).collect::<Vec<_>>())? {
                found.extend(
                    summaries(&b)?
                        .into_iter()
                        .filter(|s| &s.trace_id == trace_id),
                );
            }
            if found.is_empty() {
                continue;
            }
            // Spans: row groups whose seq statistics cover a wanted seq.
            let sr = SerializedFileReader::new(File::open(&file.spans)?)?;
            let md = sr.metadata();
            let sg: Vec<usize> = (0..md.num_row_groups())
                .filter(|&g| {
                    stat_i64(md.row_group(g).column(0).statistics()).is_none_or(|(lo, hi)| {
                        found.iter().any(|s| (lo..=hi).contains(&(s.seq as i64)))
                    })
                })
                .collect();
            let mut spans: Vec<Vec<Span>> = vec![Vec::new(); found.len()];
            for b in read_groups(&file.spans, sg, &(0..9).collect::<Vec<_>>())? {
                let seq = col_i64(&b, "seq")?;
                let ids = col_fsb::<8>(&b, "span_id")?;
                let (parent, kind, off, dur, err) = (
                    col_i64(&b, "parent")?,
                    col_i64(&b, "kind")?,
                    col_i64(&b, "start_off_us")?,
                    col_i64(&b, "dur_us")?,
                    col_i64(&b, "error")?,
                );
                let name = b
                    .column_by_name("name")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or("name")?;
                let attrs = b
                    .column_by_name("attrs")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or("attrs")?;
                for i in 0..b.num_rows() {
                    if let Some(j) = found.iter().position(|s| s.seq as i64 == seq[i]) {
                        spans[j].push(Span {
                            span_id: ids[i],
                            parent: parent[i] as u8,
                            name: name.value(i).to_string(),
                            kind: kind[i] as u8,
                            start_off_us: off[i] as u32,
                            dur_us: dur[i] as u32,
                            error: err[i] != 0,
                            attrs: attrs
                                .value(i)
                                .split_terminator('\u{1e}')
                                .filter_map(|kv| kv.split_once('\u{1f}'))
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect(),
                        });
                    }
                }
            }
            out.extend(found.into_iter().zip(spans));
        }
        out.extend(
            self.mem
                .iter()
                .filter(|(s, _)| &s.trace_id == trace_id)
                .cloned(),
        );
        Ok(out)
    }

    fn aggs(&mut self, from_s: u64, to_s: u64) -> Res<Vec<AggRow>> {
        let mut out = Vec::new();
        for (lo, hi, path) in &self.agg_files {
            if *hi < from_s || *lo >= to_s {
                continue;
            }
            let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?.build()?;
            for b in b {
                let b = b?;
                let c: Vec<Vec<i64>> = b
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| col_i64(&b, f.name()))
                    .collect::<Res<_>>()?;
                // Columns by position: one row reads all of them.
                #[allow(clippy::needless_range_loop)]
                for i in 0..b.num_rows() {
                    let sec = c[0][i] as u64;
                    if sec < from_s || sec >= to_s {
                        continue;
                    }
                    let mut hist = [0u32; HIST_N];
                    for (j, h) in hist.iter_mut().enumerate() {
                        *h = c[6 + j][i] as u32;
                    }
                    out.push(AggRow {
                        sec,
                        sum_us: c[1][i] as u64,
                        service: c[2][i] as u32,
                        count: c[3][i] as u32,
                        errors: c[4][i] as u32,
                        max_us: c[5][i] as u32,
                        hist,
                    });
                }
            }
        }
        out.extend(
            self.mem_aggs
                .iter()
                .filter(|a| a.sec >= from_s && a.sec < to_s)
                .cloned(),
        );
        Ok(out)
    }
}
