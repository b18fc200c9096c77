//! The query API's parameters through the server's router: the first byte
//! picks the endpoint, the rest is its query string (or `/api/tree/{id}`'s
//! id). Never a 5xx; a 400 says why.
#![no_main]

#[allow(dead_code)]
#[path = "../../server/tests/support/inputs.rs"]
mod inputs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&selector, rest)) = data.split_first() {
        inputs::shared().check_query(selector, rest);
    }
});
