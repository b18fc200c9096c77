//! The configuration parser: `key=value` text (the C ABI's and the agent's
//! `osprey_init` argument) and the same pairs as environment variables.
//! Never panics; an accepted text gives a configuration, anything else a
//! `ConfigError` that renders.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use osprey::Config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Config::from_pairs_str(&text) {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // The same items as OSPREY_* / OTEL_* variables.
    let env: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if let Err(e) = Config::default().with_env(|k| env.get(k).cloned()) {
        let _ = e.to_string();
    }
});
