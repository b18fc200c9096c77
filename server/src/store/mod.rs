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
//! The frame layout is the core's [`osprey::export::store::format`] one;
//! only the header and the file names differ (`srv-<unix ms>-<sequence>.oss`),
//! so the agent's reader never mistakes a server segment for its own.

mod compress;
mod reader;
pub mod schema;
mod writer;

pub use reader::{Issue, ReadFrame, read_frame_at, scan_segment};
pub use schema::StoredRecord;
pub use writer::{SegmentInfo, Store, StoreConfig};

use crate::record::Batch;
use osprey::export::store::format::{self, FRAME_HEADER_LEN, MAX_PAYLOAD_BYTES};
use prost::Message;

/// First bytes of every server segment.
pub const MAGIC: [u8; 8] = *b"OSPRYSRV";
/// Format version written in the header.
pub const VERSION: u32 = 2;
/// Oldest format version still read.
pub const MIN_VERSION: u32 = 1;
/// Header length in bytes.
pub const HEADER_LEN: u64 = 12;
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

/// File name of segment `seq` created at `unix_ms`.
pub fn segment_name(unix_ms: u64, seq: u64) -> String {
    format!("srv-{unix_ms:016}-{seq:010}.oss")
}

/// `(unix_ms, seq)` of a segment file name.
pub fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let core = name.strip_prefix("srv-")?.strip_suffix(".oss")?;
    let (ms, seq) = core.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// The header bytes.
pub fn header() -> [u8; HEADER_LEN as usize] {
    header_of_version(VERSION)
}

/// The header of a segment of `version` (tests write old segments with it).
pub fn header_of_version(version: u32) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..].copy_from_slice(&version.to_le_bytes());
    h
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
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN as usize]);
    out.push(KIND_STORED);
    let framed = compress::with_scratch(|plain| {
        record
            .encode(plain)
            .map_err(|e| format!("cannot encode record: {e}"))?;
        compress::compress_into(plain, out)
    })
    .and_then(|()| {
        let payload = &out[start + FRAME_HEADER_LEN as usize..];
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| *l <= MAX_PAYLOAD_BYTES)
            .ok_or_else(|| format!("record of {} bytes is too large", payload.len()))?;
        let crc = crc32fast::hash(payload);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    });
    if framed.is_err() {
        out.truncate(start);
    }
    framed
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
