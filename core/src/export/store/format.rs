//! The on-disk format of a segment file.
//!
//! ```text
//! segment = header record*
//! header  = "OSPREYSG" (8 bytes) | format version (u32 LE)
//! record  = payload length (u32 LE) | CRC-32 of payload (u32 LE) | payload
//! payload = kind (u8) | bincode 2 body (serde, standard config)
//! ```
//!
//! The files, headers and frames are [`crate::seglog`]'s, described by
//! [`FORMAT`]; this module owns the payloads.
//!
//! Kinds: [`KIND_NAMES`] (`Vec<(u32, String)>`, written before the first
//! use of each name in the segment, so every segment can be read alone),
//! [`KIND_RESOURCE`] ([`Resource`](crate::model::Resource)),
//! [`KIND_TRANSACTION_V2`] ([`TransactionRecordV2`], read only),
//! [`KIND_AGGREGATE`] ([`SecondAggregate`](crate::model::SecondAggregate)),
//! from version 2 [`KIND_METRICS`] (`Vec<`[`MetricRecord`](crate::model::MetricRecord)`>`,
//! the sampled metrics of one batch) and [`KIND_ACTIVE`]
//! ([`ActiveSnapshot`](crate::model::ActiveSnapshot)), and from version 3
//! [`KIND_TRANSACTION`] ([`TransactionRecord`], with busy times). Readers
//! skip kinds they do not know.
//!
//! Versions: 1 had kinds 1 to 4; 2 adds kinds 5 and 6 and changes nothing
//! else; 3 writes transactions as kind 7 (records gained `busy_ns`) instead
//! of kind 3, which it still reads. A version-3 reader reads every earlier
//! segment unchanged.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{
    Attribute, ErrorInfo, SpanId, SpanKind, StepKind, StepRecord, TraceId, TransactionRecord,
};
use crate::names::NameId;
use crate::seglog::{self, SegmentFormat};

/// The local store's segment files: `seg-<unix ms>-<sequence>.osp`, magic
/// `OSPREYSG`, version 3 written, versions 1 to 3 read.
pub const FORMAT: SegmentFormat = SegmentFormat {
    magic: *b"OSPREYSG",
    prefix: "seg-",
    suffix: ".osp",
    version: 3,
    min_version: 1,
};

/// Payload kind: interned name definitions.
pub const KIND_NAMES: u8 = 1;
/// Payload kind: the process resource.
pub const KIND_RESOURCE: u8 = 2;
/// Payload kind (versions 1 and 2, read only): one finished transaction
/// as [`TransactionRecordV2`].
pub const KIND_TRANSACTION_V2: u8 = 3;
/// Payload kind: one per-second aggregate.
pub const KIND_AGGREGATE: u8 = 4;
/// Payload kind (version 2): the sampled metric points of one batch.
pub const KIND_METRICS: u8 = 5;
/// Payload kind (version 2): the transactions in flight at one moment.
pub const KIND_ACTIVE: u8 = 6;
/// Payload kind (version 3): one finished transaction.
pub const KIND_TRANSACTION: u8 = 7;

/// A transaction as versions 1 and 2 wrote it ([`KIND_TRANSACTION_V2`]):
/// [`TransactionRecord`] before records carried busy times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransactionRecordV2 {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: Option<SpanId>,
    kind: SpanKind,
    name: NameId,
    start_unix_ns: u64,
    elapsed_ns: u64,
    error: Option<ErrorInfo>,
    attributes: Vec<Attribute>,
    steps: Vec<StepRecordV2>,
    dropped_steps: u32,
    repaired: bool,
    sampled: bool,
    thread_id: u64,
}

/// A step as versions 1 and 2 wrote it (see [`TransactionRecordV2`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct StepRecordV2 {
    span_id: SpanId,
    parent: Option<u32>,
    depth: u16,
    kind: StepKind,
    name: NameId,
    start_offset_ns: u64,
    elapsed_ns: u64,
    error: Option<Box<ErrorInfo>>,
    attributes: Vec<Attribute>,
    repaired: bool,
}

impl From<TransactionRecordV2> for TransactionRecord {
    fn from(t: TransactionRecordV2) -> Self {
        let steps = t.steps.into_iter().map(|s| StepRecord {
            span_id: s.span_id,
            parent: s.parent,
            depth: s.depth,
            kind: s.kind,
            name: s.name,
            start_offset_ns: s.start_offset_ns,
            elapsed_ns: s.elapsed_ns,
            // Then an attribute, which it still is.
            busy_ns: None,
            error: s.error,
            attributes: s.attributes,
            repaired: s.repaired,
        });
        TransactionRecord {
            trace_id: t.trace_id,
            span_id: t.span_id,
            parent_span_id: t.parent_span_id,
            kind: t.kind,
            name: t.name,
            start_unix_ns: t.start_unix_ns,
            elapsed_ns: t.elapsed_ns,
            busy_ns: None,
            error: t.error,
            attributes: t.attributes,
            steps: steps.collect(),
            dropped_steps: t.dropped_steps,
            repaired: t.repaired,
            sampled: t.sampled,
            thread_id: t.thread_id,
        }
    }
}

impl TransactionRecordV2 {
    /// `t` as versions 1 and 2 wrote it, for tests of old segments: busy
    /// times, which they did not carry, are left out.
    pub fn of(t: &TransactionRecord) -> Self {
        let steps = t.steps.iter().map(|s| StepRecordV2 {
            span_id: s.span_id,
            parent: s.parent,
            depth: s.depth,
            kind: s.kind,
            name: s.name,
            start_offset_ns: s.start_offset_ns,
            elapsed_ns: s.elapsed_ns,
            error: s.error.clone(),
            attributes: s.attributes.clone(),
            repaired: s.repaired,
        });
        Self {
            trace_id: t.trace_id,
            span_id: t.span_id,
            parent_span_id: t.parent_span_id,
            kind: t.kind,
            name: t.name,
            start_unix_ns: t.start_unix_ns,
            elapsed_ns: t.elapsed_ns,
            error: t.error.clone(),
            attributes: t.attributes.clone(),
            steps: steps.collect(),
            dropped_steps: t.dropped_steps,
            repaired: t.repaired,
            sampled: t.sampled,
            thread_id: t.thread_id,
        }
    }
}

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Appends one framed record of `kind` holding `value` to `out`; on error
/// `out` is left as it was.
pub fn encode_record<T: Serialize + ?Sized>(
    kind: u8,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    seglog::encode_frame(kind, out, |body| {
        bincode::serde::encode_into_std_write(value, body, bincode_config()).map(|_| ())
    })
    .map_err(|e| e.to_string())
}

/// Decodes a payload body (after the kind byte).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice(body, bincode_config())
        .map(|(v, _)| v)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_keep_the_bytes_and_names_of_earlier_releases() {
        assert_eq!(FORMAT.header(), *b"OSPREYSG\x03\0\0\0");
        assert_eq!(FORMAT.header_of_version(1), *b"OSPREYSG\x01\0\0\0");
        assert_eq!(
            FORMAT.file_name(1_764_000_000_000, 7),
            "seg-0001764000000000-0000000007.osp"
        );
    }

    #[test]
    fn frame_carries_length_and_crc_of_payload() {
        let mut out = Vec::new();
        encode_record(KIND_NAMES, &vec![(1u32, "x")], &mut out).unwrap();
        let len = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(out.len(), 8 + len);
        let crc = u32::from_le_bytes(out[4..8].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&out[8..]));
        assert_eq!(out[8], KIND_NAMES);
        let names: Vec<(u32, String)> = decode_body(&out[9..]).unwrap();
        assert_eq!(names, vec![(1, "x".to_owned())]);
    }
}
