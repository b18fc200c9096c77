//! The sealed index reader: the file opened and every kind of query run
//! on it. First byte even, the rest is the whole file; odd, the rest edits
//! a real index file (`inputs::edit`).
#![no_main]

#[path = "../../server/tests/support/inputs.rs"]
mod inputs;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn harness() -> &'static inputs::Harness {
    static H: OnceLock<inputs::Harness> = OnceLock::new();
    H.get_or_init(inputs::Harness::new)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let h = harness();
    if mode & 1 == 0 {
        h.check_index(rest);
    } else {
        h.check_index(&inputs::edit(&h.samples.index, rest));
    }
});
