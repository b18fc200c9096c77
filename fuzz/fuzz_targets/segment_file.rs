//! The store's segment reader as start-up runs it (frames, checksums,
//! record decoding): first byte even, the rest is the whole file; odd, the
//! rest edits a real segment file (`inputs::edit`).
#![no_main]

#[allow(dead_code)]
#[path = "../../server/tests/support/inputs.rs"]
mod inputs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| inputs::shared().segment_input(data));
