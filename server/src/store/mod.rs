//! The server's embedded store: append-only segment files of CRC-framed
//! records (one per trace of each acknowledged request, all of a request in
//! one `write(2)`), rolled by time window and size, deleted by age and
//! total size.
//!
//! ```text
//! segment = header record*
//! header  = "OSPRYSRV" (8 bytes) | format version (u32 LE)
//! record  = payload length (u32 LE) | CRC-32 of payload (u32 LE) | payload
//! payload = kind (u8) | body
//! ```
//!
//! Payload kinds:
//! - [`KIND_STORED`] (30, written since version 2): one zstd frame (level
//!   [`ZSTD_LEVEL`]) of a protobuf [`StoredRecord`], the explicit, evolvable
//!   schema of [`schema`];
//! - [`KIND_SPANS`] (20) and [`KIND_METRICS`] (21), written by version 1: a
//!   bincode 2 body of [`Batch`]; still read, never written.
//!
//! Kind 30 compresses each record alone (records are read one by one, by
//! position). A zstd frame compressed with a trained dictionary names it in
//! its header (dictID); this version writes frames without one (dictID 0),
//! which leaves room to add trained dictionaries later: zstd finds far more
//! repetition across records than inside one.
//!
//! Versions: 1 wrote kinds 20 and 21; 2 writes kind 30. A version-2 reader
//! reads both (a store written by an older server keeps working); an older
//! reader skips version-2 segments as a whole instead of failing record by
//! record.
//!
//! Files, headers, frames, rolling and retention are the core's segment
//! log ([`osprey::seglog`]), shared with the agent's local store; only the
//! [`FORMAT`] differs (magic `OSPRYSRV`, names `srv-<unix ms>-<sequence>.oss`),
//! so neither store mistakes the other's segments for its own. This module
//! owns the payloads.

mod compress;
mod reader;
pub mod schema;
mod writer;

pub use reader::{Issue, ReadFrame, read_frame_at, scan_segment};
pub use schema::StoredRecord;
pub use writer::{SegmentInfo, Store, StoreConfig};

use crate::record::Batch;
use osprey::export::store::format;
use osprey::seglog::{self, MAX_PAYLOAD_BYTES, SegmentFormat};
use prost::Message;

/// The server's segment files: magic `OSPRYSRV`, version 2 written,
/// versions 1 and 2 read, named `srv-<unix ms, 16 digits>-<sequence, 10 digits>.oss`.
pub const FORMAT: SegmentFormat = SegmentFormat {
    magic: *b"OSPRYSRV",
    prefix: "srv-",
    suffix: ".oss",
    version: 2,
    min_version: 1,
};
/// Record kind (version 1, read only): a bincode batch of spans.
pub const KIND_SPANS: u8 = 20;
/// Record kind (version 1, read only): a bincode batch of metric points.
pub const KIND_METRICS: u8 = 21;
/// Record kind (version 2): a zstd-compressed protobuf [`StoredRecord`].
pub const KIND_STORED: u8 = 30;
/// zstd level of [`KIND_STORED`] records.
pub const ZSTD_LEVEL: i32 = 3;
/// Largest decompressed [`KIND_STORED`] body: larger ones (a zstd bomb, or
/// a record no writer of this format produces) are refused.
pub const MAX_DECODED_BYTES: usize = MAX_PAYLOAD_BYTES as usize;

/// Where a record lies: segment sequence number and byte offset of its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    /// Sequence number of the segment (from its file name).
    pub segment: u64,
    /// Offset of the frame in the file.
    pub offset: u64,
}

/// Appends the framed [`KIND_STORED`] record for `batch` to `out`; on error
/// `out` is left as it was.
pub fn encode_batch(batch: &Batch, out: &mut Vec<u8>) -> Result<(), String> {
    let record = StoredRecord::from(batch);
    let plain_len = record.encoded_len();
    if plain_len > MAX_DECODED_BYTES {
        return Err(format!(
            "record of {plain_len} bytes is too large (limit {MAX_DECODED_BYTES})"
        ));
    }
    seglog::encode_frame(KIND_STORED, out, |body| {
        compress::with_scratch(|plain| {
            record
                .encode(plain)
                .map_err(|e| format!("cannot encode record: {e}"))?;
            compress::compress_into(plain, body)
        })
    })
    .map_err(|e| e.to_string())
}

/// Decodes a payload (kind byte first): [`KIND_STORED`], or the version-1
/// bincode kinds.
pub fn decode_payload(payload: &[u8]) -> Result<Batch, String> {
    match payload.first() {
        Some(&KIND_STORED) => {
            let plain = compress::decompress_capped(&payload[1..], MAX_DECODED_BYTES)?;
            let record = StoredRecord::decode(plain.as_slice())
                .map_err(|e| format!("undecodable stored record: {e}"))?;
            Batch::try_from(record).map_err(|e| e.to_string())
        }
        Some(&KIND_SPANS) | Some(&KIND_METRICS) => format::decode_body(&payload[1..]),
        Some(k) => Err(format!("unknown record kind {k}")),
        None => Err("empty record".into()),
    }
}

#[cfg(test)]
mod tests;
