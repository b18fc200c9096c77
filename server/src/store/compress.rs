//! zstd for [`KIND_STORED`](super::KIND_STORED) bodies: one reusable
//! compression and decompression context per thread, and a decompressed
//! size cap checked before anything is allocated, so a zstd bomb is an
//! error, never a memory blow-up.

use std::cell::RefCell;
use std::io::Read;

use zstd::bulk::{Compressor, Decompressor};

use super::ZSTD_LEVEL;

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Scratch buffers above this size are freed after use rather than kept.
const KEEP_SCRATCH_BYTES: usize = 1 << 20;

/// Runs `f` with this thread's empty scratch buffer (for the encoded
/// protobuf before compression).
pub(super) fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let out = f(&mut buf);
            if buf.capacity() > KEEP_SCRATCH_BYTES {
                *buf = Vec::new();
            }
            out
        }
        // Re-entered (not done today): use a fresh buffer.
        Err(_) => f(&mut Vec::new()),
    })
}

/// Appends the zstd frame of `plain` (level [`ZSTD_LEVEL`], content size
/// recorded in the frame header) to `out`.
pub(super) fn compress_into(plain: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let err = |e: std::io::Error| format!("zstd compression failed: {e}");
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(Compressor::new(ZSTD_LEVEL).map_err(err)?),
        };
        let start = out.len();
        out.resize(start + zstd::zstd_safe::compress_bound(plain.len()), 0);
        match compressor.compress_to_buffer(plain, &mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(err(e))
            }
        }
    })
}

/// Decompresses `data` (one or more zstd frames), refusing output larger
/// than `cap` bytes. A frame that declares its size is checked before any
/// allocation and decoded into a buffer of exactly that size; one that does
/// not is streamed and cut off past `cap`.
pub(super) fn decompress_capped(data: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    let too_large = |n: String| format!("zstd body of {n} bytes exceeds the {cap}-byte limit");
    match zstd::zstd_safe::get_frame_content_size(data) {
        Err(_) => Err("not a zstd frame (corrupt or truncated record)".into()),
        Ok(Some(n)) if n > cap as u64 => Err(too_large(n.to_string())),
        Ok(Some(n)) => DECOMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            let decompressor = match slot.as_mut() {
                Some(d) => d,
                None => slot
                    .insert(Decompressor::new().map_err(|e| format!("zstd context failed: {e}"))?),
            };
            // `n` bounds the buffer: more output (later frames) is an error.
            decompressor
                .decompress(data, n as usize)
                .map_err(|e| format!("corrupt zstd body: {e}"))
        }),
        Ok(None) => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data)
                .map_err(|e| format!("zstd context failed: {e}"))?;
            let mut out = Vec::new();
            decoder
                .take(cap as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("corrupt zstd body: {e}"))?;
            if out.len() > cap {
                return Err(too_large(format!("more than {cap}")));
            }
            Ok(out)
        }
    }
}
