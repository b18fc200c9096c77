//! The SQL, URL and inline-secret sanitisers on any text: never panics, idempotent, and
//! the name interned for a statement is its sanitised text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osprey::collector::sanitize;
use osprey::names::{self, NameKind};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let sql = sanitize::sql(&text).into_owned();
    assert_eq!(sanitize::sql(&sql), sql, "sql not idempotent for {text:?}");
    let url = sanitize::url(&text).into_owned();
    assert_eq!(sanitize::url(&url), url, "url not idempotent for {text:?}");
    let route = sanitize::url_route(&text).into_owned();
    assert_eq!(sanitize::url_route(&route), route, "url_route not idempotent for {text:?}");
    let inline = sanitize::inline_secrets(&text).into_owned();
    assert_eq!(sanitize::inline_secrets(&inline), inline, "inline_secrets not idempotent for {text:?}");
    let kind = NameKind::guess(&text);
    let _ = names::clean(&text, kind);
    let _ = sanitize::is_secret_key(&text);
    // Keep the process-wide table from filling during a long run: intern
    // only short inputs.
    if text.len() < 64 {
        let id = names::intern_as(&text, NameKind::Sql);
        if !names::is_overflow(id) {
            let cleaned = sanitize::sql(&text);
            assert_eq!(&*names::resolve(id), names::truncate(&cleaned));
        }
    }
});
