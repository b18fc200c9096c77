//! Bounds on the text a transaction carries. A string attribute value or an
//! error message longer than its bound is cut at a character boundary and
//! ends with [`CUT_MARK`], so one oversized value (a large argument's
//! `Debug` recorded by `#[instrument]`, a request body put in an attribute)
//! costs a bounded copy, and never pushes its transaction past the queue's
//! memory budget, which would drop all of it.
//!
//! ```
//! use osprey::capped::{self, CUT_MARK, MAX_VALUE_BYTES};
//!
//! let mut body = "x".repeat(1 << 20);
//! capped::cap(&mut body, MAX_VALUE_BYTES);
//! assert_eq!(body.len(), MAX_VALUE_BYTES);
//! assert!(body.ends_with(CUT_MARK));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::collector::sanitize;
use crate::local::raw::RawName;
use crate::model::{AttrValue, ErrorInfo};
use crate::names;

/// The most bytes a string attribute value or an error message keeps,
/// [`CUT_MARK`] included.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The most bytes an error's stack trace keeps, [`CUT_MARK`] included.
pub const MAX_STACK_BYTES: usize = 16 * 1024;

/// What ends a value that was cut.
pub const CUT_MARK: &str = "…";

static CUT: AtomicU64 = AtomicU64::new(0);

/// How many values were cut since the process started.
pub fn cut_count() -> u64 {
    CUT.load(Ordering::Relaxed)
}

/// `text` within `max` bytes, as the two pieces to write one after the
/// other: the longest prefix that fits with [`CUT_MARK`] after it, and the
/// mark; or `text` itself and `""` when it fits whole. A `max` shorter
/// than the mark counts as the mark's length (here and in [`cap`] and
/// [`write_debug`]).
///
/// ```
/// use osprey::capped::{self, CUT_MARK};
///
/// assert_eq!(capped::prefix("short", 8), ("short", ""));
/// assert_eq!(capped::prefix("much too long", 8), ("much ", CUT_MARK));
/// ```
pub fn prefix(text: &str, max: usize) -> (&str, &'static str) {
    let max = max.max(CUT_MARK.len());
    if text.len() <= max {
        return (text, "");
    }
    CUT.fetch_add(1, Ordering::Relaxed);
    let end = floor_char_boundary(text, max - CUT_MARK.len());
    (&text[..end], CUT_MARK)
}

/// Cuts `text` to at most `max` bytes, ending it with [`CUT_MARK`] when it
/// was longer, and gives back the memory it no longer needs.
pub fn cap(text: &mut String, max: usize) {
    let (head, mark) = prefix(text, max);
    if !mark.is_empty() {
        let end = head.len();
        text.truncate(end);
        text.push_str(mark);
        text.shrink_to_fit();
    }
}

/// Writes `value`'s `Debug` to `out`, keeping `out` (what it held before
/// included) within `max` bytes: past the bound the text ends with
/// [`CUT_MARK`] and the rest is dropped as it is formatted, never held.
/// (The formatting goes on: failing it instead would stop it sooner, but
/// panics in a `Debug` that unwraps its writes.) True when it was cut.
///
/// ```
/// use osprey::capped::{self, CUT_MARK};
///
/// let mut out = String::new();
/// capped::write_debug(&mut out, &vec![0u8; 100_000], 64);
/// assert!(out.len() <= 64 && out.starts_with("[0, 0") && out.ends_with(CUT_MARK));
/// ```
pub fn write_debug(out: &mut String, value: &dyn fmt::Debug, max: usize) -> bool {
    let mut writer = Writer {
        out,
        max: max.max(CUT_MARK.len()),
        full: false,
    };
    // The writer never fails; an error is the value's own, and what it
    // wrote so far is kept.
    let _ = fmt::write(&mut writer, format_args!("{value:?}"));
    if writer.full {
        writer.out.shrink_to_fit();
    }
    writer.full
}

/// A `fmt::Write` that, once `out` would pass `max` bytes, keeps what fits,
/// marks the cut and drops everything after.
struct Writer<'a> {
    out: &'a mut String,
    max: usize,
    full: bool,
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.full {
            return Ok(());
        }
        if self.out.len() + s.len() <= self.max {
            self.out.push_str(s);
            return Ok(());
        }
        self.full = true;
        CUT.fetch_add(1, Ordering::Relaxed);
        let room = self.max.saturating_sub(self.out.len());
        self.out.push_str(&s[..floor_char_boundary(s, room)]);
        let end = floor_char_boundary(self.out, self.max.saturating_sub(CUT_MARK.len()));
        self.out.truncate(end);
        self.out.push_str(CUT_MARK);
        Ok(())
    }
}

/// Holds a string value recorded under `key` within [`MAX_VALUE_BYTES`],
/// cleaning it first when it is longer (see [`clean_oversized`]).
pub(crate) fn cap_value(key: &RawName, value: &mut AttrValue) {
    if let AttrValue::Str(text) = value
        && text.len() > MAX_VALUE_BYTES
    {
        if let Cow::Owned(clean) = clean_oversized(key, text) {
            *text = clean;
        }
        cap(text, MAX_VALUE_BYTES);
    }
}

/// `value` recorded under `key`, cleaned first by the sanitiser's rule for
/// that key (SQL text, a URL, a query string) when it is too long to keep
/// whole: what survives the cut is then the start of the cleaned text (a
/// long `IN (1, 2, …)` list is `IN (?)`), not a cut inside the raw one.
/// The collector's sanitiser cleans it again, which changes nothing.
pub(crate) fn clean_oversized<'a>(key: &RawName, value: &'a str) -> Cow<'a, str> {
    if value.len() <= MAX_VALUE_BYTES {
        return Cow::Borrowed(value);
    }
    let rule = match key {
        RawName::Static(key) => sanitize::structured_rule(key),
        RawName::Id(id) => sanitize::structured_rule(&names::resolve(*id)),
    };
    rule.map_or(Cow::Borrowed(value), |clean| clean(value))
}

/// Holds an error's kind and message within [`MAX_VALUE_BYTES`] and its
/// stack within [`MAX_STACK_BYTES`].
pub(crate) fn cap_error(error: &mut ErrorInfo) {
    cap(&mut error.kind, MAX_VALUE_BYTES);
    cap(&mut error.message, MAX_VALUE_BYTES);
    cap(&mut error.stack, MAX_STACK_BYTES);
}

/// The largest character boundary of `text` at or before `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_at_a_character_boundary() {
        let mut short = "héllo".to_owned();
        cap(&mut short, 16);
        assert_eq!(short, "héllo");
        // 'é' is two bytes: a cut inside it backs off to before it.
        let mut long = "aé".repeat(10);
        cap(&mut long, 8);
        assert!(long.len() <= 8 && long.ends_with(CUT_MARK), "{long}");
        assert_eq!(long, "aéa…");
        assert!(long.capacity() < 16, "the rest given back");
    }

    #[test]
    fn debug_output_is_kept_up_to_the_bound() {
        struct Long;
        impl fmt::Debug for Long {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for _ in 0..100_000 {
                    f.write_str("more ")?;
                }
                Ok(())
            }
        }
        let mut out = "message ".to_owned();
        assert!(write_debug(&mut out, &Long, 40));
        assert!(out.len() <= 40 && out.ends_with(CUT_MARK), "{out}");
        assert!(out.starts_with("message more more"));
        let mut whole = String::new();
        write_debug(&mut whole, &"fits", 40);
        assert_eq!(whole, "\"fits\"");
    }

    #[test]
    fn a_debug_that_unwraps_its_writes_does_not_panic_at_the_bound() {
        struct Unwrapping;
        impl fmt::Debug for Unwrapping {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for _ in 0..1000 {
                    f.write_str("0123456789").unwrap();
                }
                Ok(())
            }
        }
        let mut out = String::new();
        assert!(write_debug(&mut out, &Unwrapping, 64));
        assert!(out.len() <= 64 && out.ends_with(CUT_MARK));
        assert!(out.capacity() < 128, "the rest given back");
    }

    #[test]
    fn a_bound_below_the_mark_keeps_the_mark() {
        let mut text = "abcdef".to_owned();
        cap(&mut text, 1);
        assert_eq!(text, CUT_MARK);
    }
}
