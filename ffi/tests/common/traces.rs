//! Reading back the transactions of HTTP requests the Java agent's
//! end-to-end tests made: waiting for their SERVER spans, finding the one
//! of a path, and the steps under a span in start order.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::{Span, span};
use osprey_testkit::Receiver;
use osprey_testkit::spans::str_attr;

use super::java::{received, status_code};

fn is_server_of(s: &Span, path: &str) -> bool {
    s.kind == span::SpanKind::Server as i32 && str_attr(&s.attributes, "url.path") == Some(path)
}

/// All spans the receiver holds once each of `paths` has a SERVER span
/// with that `url.path` (waits up to 20 s; returns what it holds then).
pub fn spans_with_servers(receiver: &Receiver, paths: &[&str]) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans = received(receiver);
        let done = paths
            .iter()
            .all(|p| spans.iter().any(|s| is_server_of(s, p)));
        if done || Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The SERVER span whose `url.path` is `path`; fails the test (listing the
/// spans' names) when there is none.
pub fn server_span<'a>(spans: &'a [Span], path: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| is_server_of(s, path))
        .unwrap_or_else(|| {
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            panic!("no SERVER span for {path} among {names:?}")
        })
}

/// Each span's name and `thread.name`, for failure messages.
pub fn names_and_threads(spans: &[Span]) -> Vec<(&str, &str)> {
    spans
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                str_attr(&s.attributes, "thread.name").unwrap_or(""),
            )
        })
        .collect()
}

/// The spans directly under `parent` in its trace, in start order.
pub fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    let mut out: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == parent.trace_id && s.parent_span_id == parent.span_id)
        .collect();
    out.sort_by_key(|s| s.start_time_unix_nano);
    out
}

/// Each span's name and whether it failed (status ERROR).
pub fn outline(spans: &[&Span]) -> Vec<(String, bool)> {
    spans
        .iter()
        .map(|s| (s.name.clone(), status_code(s) == 2))
        .collect()
}

/// The [`outline`] of the steps directly under `parent`.
pub fn steps_of(spans: &[Span], parent: &Span) -> Vec<(String, bool)> {
    outline(&children(spans, parent))
}

/// An expected [`outline`]: `(name, failed)` pairs as owned names.
pub fn steps(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
    pairs.iter().map(|(n, f)| ((*n).to_owned(), *f)).collect()
}
