//! Reads segment files back: records in write order, names resolved, and
//! damaged records skipped and reported instead of failing the whole read.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{
    self, KIND_ACTIVE, KIND_AGGREGATE, KIND_METRICS, KIND_NAMES, KIND_RESOURCE, KIND_TRANSACTION,
};
use crate::model::{ActiveSnapshot, MetricRecord, Resource, SecondAggregate, TransactionRecord};
use crate::names::NameId;

/// Reads the segments of a store directory, oldest first.
///
/// ```no_run
/// use osprey::export::store::{StoreReader, StoredRecord};
///
/// let reader = StoreReader::open("osprey-data")?;
/// let mut records = reader.records();
/// for record in &mut records {
///     if let StoredRecord::Transaction(t) = record {
///         println!("{} {} ns", t.name(t.record.name), t.record.elapsed_ns);
///     }
/// }
/// assert!(records.issues().is_empty(), "damaged: {:?}", records.issues());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StoreReader {
    segments: Vec<PathBuf>,
}

impl StoreReader {
    /// Lists the segment files of `dir` in creation order. Other files are
    /// ignored; a missing directory is an error.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if let Some(key) = name.to_str().and_then(format::parse_segment_file_name) {
                found.push((key, entry.path()));
            }
        }
        found.sort();
        Ok(Self {
            segments: found.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// The segment files, oldest first.
    pub fn segments(&self) -> &[PathBuf] {
        &self.segments
    }

    /// Iterates over every record of every segment.
    pub fn records(&self) -> Records {
        Records {
            pending: self.segments.clone().into_iter(),
            cursor: None,
            issues: Vec::new(),
            last: None,
        }
    }

    /// Reads every sampled-metrics record; the issues found on the way are
    /// returned beside them.
    pub fn metrics(&self) -> (Vec<StoredMetrics>, Vec<ReadIssue>) {
        let mut records = self.records();
        let metrics = records
            .by_ref()
            .filter_map(|r| match r {
                StoredRecord::Metrics(m) => Some(m),
                _ => None,
            })
            .collect();
        (metrics, records.issues)
    }

    /// Reads every transaction (a convenience over [`StoreReader::records`]);
    /// the issues found on the way are returned beside them.
    pub fn transactions(&self) -> (Vec<StoredTransaction>, Vec<ReadIssue>) {
        let mut records = self.records();
        let txns = records
            .by_ref()
            .filter_map(StoredRecord::into_transaction)
            .collect();
        (txns, records.issues)
    }
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredRecord {
    /// The process resource, written at the start of each segment and
    /// whenever it changed.
    Resource(Arc<Resource>),
    /// A finished transaction (sampled or not).
    Transaction(StoredTransaction),
    /// Per-second counts.
    Aggregate(SecondAggregate),
    /// Sampled metric points of one batch (format version 2).
    Metrics(StoredMetrics),
    /// The transactions in flight at one moment (format version 2).
    Active(ActiveSnapshot),
}

impl StoredRecord {
    /// The transaction, if this record is one.
    pub fn into_transaction(self) -> Option<StoredTransaction> {
        match self {
            Self::Transaction(t) => Some(t),
            _ => None,
        }
    }
}

/// A transaction read back, with the names its ids stand for.
///
/// The [`NameId`]s in `record` are those of the writing process; resolve
/// them with [`StoredTransaction::name`], never with
/// [`crate::names::resolve`].
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTransaction {
    /// The record as written.
    pub record: TransactionRecord,
    /// The resource in force when it was written, if the segment has one.
    pub resource: Option<Arc<Resource>>,
    names: HashMap<NameId, Arc<str>>,
}

impl StoredTransaction {
    /// The name behind `id` as the writer knew it; `"?"` when the segment
    /// did not define it (its definition was lost to corruption).
    pub fn name(&self, id: NameId) -> &str {
        self.names.get(&id).map_or("?", |n| n)
    }

    /// The transaction's endpoint or operation name.
    pub fn endpoint(&self) -> &str {
        self.name(self.record.name)
    }
}

/// Sampled metric points read back (the JVM inspector's heap, GC, threads,
/// classes, CPU), with the names their ids stand for.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMetrics {
    /// The points as written, in sampling order.
    pub records: Vec<MetricRecord>,
    /// The resource in force when they were written, if the segment has one.
    pub resource: Option<Arc<Resource>>,
    names: HashMap<NameId, Arc<str>>,
}

impl StoredMetrics {
    /// The name behind `id` (metric name, unit, attribute key) as the
    /// writer knew it; `"?"` when the segment did not define it.
    pub fn name(&self, id: NameId) -> &str {
        self.names.get(&id).map_or("?", |n| n)
    }

    /// The points named `metric`.
    pub fn named<'a>(&'a self, metric: &'a str) -> impl Iterator<Item = &'a MetricRecord> + 'a {
        self.records
            .iter()
            .filter(move |r| self.name(r.name) == metric)
    }
}

/// Where a record or a problem lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordPosition {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset of the record's frame (or of the damage) in the file.
    pub offset: u64,
}

/// What was wrong with a part of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file does not start with the segment magic; it was skipped.
    BadHeader,
    /// Written by a newer format version; the segment was skipped.
    UnsupportedVersion(u32),
    /// The file ends inside a record (a crash mid-write, or the writer is
    /// still appending to this segment); the rest of the segment is
    /// ignored, earlier records are intact.
    TornTail,
    /// A record's checksum does not match; that record was skipped.
    BadChecksum,
    /// A record's length field is impossible; the rest of the segment is
    /// ignored.
    BadLength(u32),
    /// Checksum fine but the body does not decode; the record was skipped.
    Undecodable(String),
    /// A record kind this reader does not know (written by a newer
    /// version); skipped.
    UnknownKind(u8),
    /// The file could not be read.
    Io(String),
}

/// A damaged or unreadable part of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadIssue {
    /// Where.
    pub position: RecordPosition,
    /// What.
    pub problem: Problem,
}

/// Iterator over the records of a [`StoreReader`]; see [`Records::issues`]
/// for what was skipped.
#[derive(Debug)]
pub struct Records {
    pending: std::vec::IntoIter<PathBuf>,
    cursor: Option<Cursor>,
    issues: Vec<ReadIssue>,
    last: Option<RecordPosition>,
}

impl Records {
    /// Problems met so far, in reading order.
    pub fn issues(&self) -> &[ReadIssue] {
        &self.issues
    }

    /// True when some segment ended in a torn record.
    pub fn corrupt_tail(&self) -> bool {
        self.issues.iter().any(|i| i.problem == Problem::TornTail)
    }

    /// Position of the record returned last.
    pub fn last_position(&self) -> Option<&RecordPosition> {
        self.last.as_ref()
    }

    fn issue(&mut self, segment: &Path, offset: u64, problem: Problem) {
        self.issues.push(ReadIssue {
            position: RecordPosition {
                segment: segment.to_owned(),
                offset,
            },
            problem,
        });
    }

    fn open_next(&mut self) -> bool {
        let Some(path) = self.pending.next() else {
            return false;
        };
        match Cursor::open(&path) {
            Ok(Ok(cursor)) => self.cursor = Some(cursor),
            Ok(Err(problem)) => self.issue(&path, 0, problem),
            Err(e) => self.issue(&path, 0, Problem::Io(e.to_string())),
        }
        true
    }
}

impl Iterator for Records {
    type Item = StoredRecord;

    fn next(&mut self) -> Option<StoredRecord> {
        loop {
            let Some(cursor) = self.cursor.as_mut() else {
                if self.open_next() {
                    continue;
                }
                return None;
            };
            let offset = cursor.offset;
            let payload = match cursor.next_frame() {
                Frame::Payload(payload) => payload,
                Frame::End => {
                    self.cursor = None;
                    continue;
                }
                Frame::Skip(problem) => {
                    let path = cursor.path.clone();
                    self.issue(&path, offset, problem);
                    continue;
                }
                Frame::Stop(problem) => {
                    let path = cursor.path.clone();
                    self.cursor = None;
                    self.issue(&path, offset, problem);
                    continue;
                }
            };
            match cursor.decode(payload[0], &payload[1..]) {
                Ok(Some(record)) => {
                    self.last = Some(RecordPosition {
                        segment: cursor.path.clone(),
                        offset,
                    });
                    return Some(record);
                }
                Ok(None) => {}
                Err(problem) => {
                    let path = cursor.path.clone();
                    self.issue(&path, offset, problem);
                }
            }
        }
    }
}

/// Reading state within one segment.
#[derive(Debug)]
struct Cursor {
    path: PathBuf,
    file: BufReader<File>,
    offset: u64,
    len: u64,
    names: HashMap<NameId, Arc<str>>,
    resource: Option<Arc<Resource>>,
}

enum Frame {
    /// Kind byte, then body.
    Payload(Vec<u8>),
    End,
    Skip(Problem),
    Stop(Problem),
}

impl Cursor {
    /// Opens a segment and checks its header; the inner error says why the
    /// segment is unusable.
    fn open(path: &Path) -> io::Result<Result<Self, Problem>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut file = BufReader::with_capacity(64 * 1024, file);
        let mut header = [0u8; format::HEADER_LEN as usize];
        if len < format::HEADER_LEN {
            return Ok(Err(Problem::TornTail));
        }
        file.read_exact(&mut header)?;
        if header[..8] != format::MAGIC {
            return Ok(Err(Problem::BadHeader));
        }
        let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if !(format::MIN_FORMAT_VERSION..=format::FORMAT_VERSION).contains(&version) {
            return Ok(Err(Problem::UnsupportedVersion(version)));
        }
        Ok(Ok(Self {
            path: path.to_owned(),
            file,
            offset: format::HEADER_LEN,
            len,
            names: HashMap::new(),
            resource: None,
        }))
    }

    fn next_frame(&mut self) -> Frame {
        let remaining = self.len - self.offset;
        if remaining == 0 {
            return Frame::End;
        }
        if remaining < format::FRAME_HEADER_LEN {
            return Frame::Stop(Problem::TornTail);
        }
        let mut head = [0u8; format::FRAME_HEADER_LEN as usize];
        if let Err(e) = self.file.read_exact(&mut head) {
            return Frame::Stop(Problem::Io(e.to_string()));
        }
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        if len == 0 || len > format::MAX_PAYLOAD_BYTES {
            return Frame::Stop(Problem::BadLength(len));
        }
        if u64::from(len) > remaining - format::FRAME_HEADER_LEN {
            return Frame::Stop(Problem::TornTail);
        }
        let mut payload = vec![0u8; len as usize];
        if let Err(e) = self.file.read_exact(&mut payload) {
            return Frame::Stop(Problem::Io(e.to_string()));
        }
        self.offset += format::FRAME_HEADER_LEN + u64::from(len);
        if crc32fast::hash(&payload) != crc {
            return Frame::Skip(Problem::BadChecksum);
        }
        Frame::Payload(payload)
    }

    /// Decodes a payload; name definitions update the segment's table and
    /// yield nothing.
    fn decode(&mut self, kind: u8, body: &[u8]) -> Result<Option<StoredRecord>, Problem> {
        let undecodable = Problem::Undecodable;
        match kind {
            KIND_NAMES => {
                let defs: Vec<(u32, String)> = format::decode_body(body).map_err(undecodable)?;
                for (id, name) in defs {
                    self.names.insert(NameId(id), Arc::from(name));
                }
                Ok(None)
            }
            KIND_RESOURCE => {
                let resource: Arc<Resource> =
                    Arc::new(format::decode_body(body).map_err(undecodable)?);
                self.resource = Some(resource.clone());
                Ok(Some(StoredRecord::Resource(resource)))
            }
            KIND_TRANSACTION => {
                let record: TransactionRecord = format::decode_body(body).map_err(undecodable)?;
                let names = self.names_of(&record);
                Ok(Some(StoredRecord::Transaction(StoredTransaction {
                    record,
                    resource: self.resource.clone(),
                    names,
                })))
            }
            KIND_AGGREGATE => Ok(Some(StoredRecord::Aggregate(
                format::decode_body(body).map_err(undecodable)?,
            ))),
            KIND_METRICS => {
                let records: Vec<MetricRecord> = format::decode_body(body).map_err(undecodable)?;
                let mut names = HashMap::new();
                for r in &records {
                    let ids = [r.name, r.unit].into_iter();
                    for id in ids.chain(r.attributes.iter().map(|a| a.key)) {
                        if let Some(n) = self.names.get(&id) {
                            names.insert(id, n.clone());
                        }
                    }
                }
                Ok(Some(StoredRecord::Metrics(StoredMetrics {
                    records,
                    resource: self.resource.clone(),
                    names,
                })))
            }
            KIND_ACTIVE => Ok(Some(StoredRecord::Active(
                format::decode_body(body).map_err(undecodable)?,
            ))),
            other => Err(Problem::UnknownKind(other)),
        }
    }

    /// The subset of the segment's names that `record` uses.
    fn names_of(&self, record: &TransactionRecord) -> HashMap<NameId, Arc<str>> {
        let mut out = HashMap::new();
        let mut add = |id: NameId| {
            if let Some(n) = self.names.get(&id) {
                out.insert(id, n.clone());
            }
        };
        add(record.name);
        record.attributes.iter().for_each(|a| add(a.key));
        for step in &record.steps {
            add(step.name);
            step.attributes.iter().for_each(|a| add(a.key));
        }
        out
    }
}
