//! Osprey's own diagnostics: one line on stderr, prefixed `osprey:`, rate
//! limited so a failing collector cannot flood the application's log.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const REPEAT_AFTER: Duration = Duration::from_secs(60);

fn last_logged() -> &'static Mutex<HashMap<String, Instant>> {
    static LAST: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    LAST.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Logs `message` unless a message with the same `topic` was logged in the
/// last minute. Never called from the recording hot path.
pub fn warn(topic: &str, message: &str) {
    warn_logged(topic, message);
}

/// [`warn`], saying whether the line went out now (or would have, with
/// `OSPREY_QUIET` set): false when the topic's minute was not over.
pub fn warn_logged(topic: &str, message: &str) -> bool {
    if std::env::var_os("OSPREY_QUIET").is_some() {
        return true;
    }
    let now = Instant::now();
    {
        let mut last = last_logged().lock();
        if last
            .get(topic)
            .is_some_and(|t| now.duration_since(*t) < REPEAT_AFTER)
        {
            return false;
        }
        last.insert(topic.to_owned(), now);
    }
    // Never panic (as `eprintln!` does) when stderr is closed or broken.
    let _ = writeln!(std::io::stderr().lock(), "osprey: {message}");
    true
}
