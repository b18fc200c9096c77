//! The query API's parameters through the server's router: the first byte
//! picks the endpoint, the rest is its query string (or `/api/tree/{id}`'s
//! id). Never a 5xx; a 400 says why.
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
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    harness().check_query(selector, rest);
});
