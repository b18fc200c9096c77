//! Reads segment files back: records in write order, names resolved, and
//! damaged records skipped and reported instead of failing the whole read.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{
    self, FORMAT, KIND_ACTIVE, KIND_AGGREGATE, KIND_METRICS, KIND_NAMES, KIND_RESOURCE,
    KIND_TRANSACTION, KIND_TRANSACTION_V2, TransactionRecordV2,
};
use crate::model::{ActiveSnapshot, MetricRecord, Resource, SecondAggregate, TransactionRecord};
use crate::names::NameId;
use crate::seglog::{self, FrameProblem, SegmentReader};

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
        let dir = dir.as_ref();
        let segments = seglog::list_segments(&FORMAT, dir)?
            .into_iter()
            .map(|s| dir.join(s.name))
            .collect();
        Ok(Self { segments })
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
        match SegmentReader::open(&FORMAT, &path) {
            Ok(frames) => {
                self.cursor = Some(Cursor {
                    frames,
                    names: HashMap::new(),
                    resource: None,
                })
            }
            Err(issue) => self.issue(&path, issue.offset, problem_of(issue.problem)),
        }
        true
    }
}

/// The store's name for damage the segment log found.
fn problem_of(problem: FrameProblem) -> Problem {
    match problem {
        FrameProblem::ShortHeader | FrameProblem::TornTail => Problem::TornTail,
        FrameProblem::BadMagic => Problem::BadHeader,
        FrameProblem::UnsupportedVersion(v) => Problem::UnsupportedVersion(v),
        FrameProblem::BadChecksum => Problem::BadChecksum,
        FrameProblem::BadLength(len) => Problem::BadLength(len),
        FrameProblem::Io(e) => Problem::Io(e),
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
            let frame = match cursor.frames.next() {
                Some(Ok(frame)) => frame,
                None => {
                    self.cursor = None;
                    continue;
                }
                Some(Err(issue)) => {
                    let path = cursor.frames.path().to_owned();
                    self.issue(&path, issue.offset, problem_of(issue.problem));
                    continue;
                }
            };
            let (offset, payload) = (frame.offset, frame.payload);
            match cursor.decode(payload[0], &payload[1..]) {
                Ok(Some(record)) => {
                    self.last = Some(RecordPosition {
                        segment: cursor.frames.path().to_owned(),
                        offset,
                    });
                    return Some(record);
                }
                Ok(None) => {}
                Err(problem) => {
                    let path = cursor.frames.path().to_owned();
                    self.issue(&path, offset, problem);
                }
            }
        }
    }
}

/// Reading state within one segment.
#[derive(Debug)]
struct Cursor {
    frames: SegmentReader,
    names: HashMap<NameId, Arc<str>>,
    resource: Option<Arc<Resource>>,
}

impl Cursor {
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
            KIND_TRANSACTION | KIND_TRANSACTION_V2 => {
                let record: TransactionRecord = if kind == KIND_TRANSACTION {
                    format::decode_body(body).map_err(undecodable)?
                } else {
                    format::decode_body::<TransactionRecordV2>(body)
                        .map_err(undecodable)?
                        .into()
                };
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
