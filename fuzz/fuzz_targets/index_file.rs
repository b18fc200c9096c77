//! The sealed index reader: the file opened and every kind of query run
//! on it. First byte even, the rest is the whole file; odd, the rest edits
//! a real index file (`inputs::edit`).
#![no_main]

#[allow(dead_code)]
#[path = "../../server/tests/support/inputs.rs"]
mod inputs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| inputs::shared().index_input(data));
