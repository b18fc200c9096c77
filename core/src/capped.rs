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

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::{AttrValue, ErrorInfo};

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

/// The longest prefix of `text` that fits in `max` bytes with
/// [`CUT_MARK`] after it, and `true`; or `text` itself and `false` when it
/// fits whole. `max` is at least the mark's length.
pub fn prefix(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    CUT.fetch_add(1, Ordering::Relaxed);
    (
        &text[..floor_char_boundary(text, max.saturating_sub(CUT_MARK.len()))],
        true,
    )
}

/// Cuts `text` to at most `max` bytes, ending it with [`CUT_MARK`] when it
/// was longer, and gives back the memory it no longer needs.
pub fn cap(text: &mut String, max: usize) {
    let (head, cut) = prefix(text, max);
    if cut {
        let end = head.len();
        text.truncate(end);
        text.push_str(CUT_MARK);
        text.shrink_to_fit();
    }
}

/// Writes `value`'s `Debug` to `out`, keeping `out` within `max` bytes: the
/// formatting stops where the bound is reached (the rest of a large value
/// is never formatted) and the text ends with [`CUT_MARK`]. True when it
/// was cut.
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
        max,
        full: false,
    };
    // An error here is the writer's own: the bound was reached.
    let _ = fmt::write(&mut writer, format_args!("{value:?}"));
    writer.full
}

/// A `fmt::Write` that, once `out` would pass `max` bytes, keeps what fits,
/// marks the cut and fails from then on.
struct Writer<'a> {
    out: &'a mut String,
    max: usize,
    full: bool,
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.full {
            return Err(fmt::Error);
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
        Err(fmt::Error)
    }
}

/// Holds a string value within [`MAX_VALUE_BYTES`].
pub(crate) fn cap_value(value: &mut AttrValue) {
    if let AttrValue::Str(text) = value {
        cap(text, MAX_VALUE_BYTES);
    }
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
    fn debug_output_stops_at_the_bound() {
        struct Endless;
        impl fmt::Debug for Endless {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                loop {
                    f.write_str("more ")?;
                }
            }
        }
        let mut out = "message ".to_owned();
        write_debug(&mut out, &Endless, 40);
        assert!(out.len() <= 40 && out.ends_with(CUT_MARK), "{out}");
        assert!(out.starts_with("message more more"));
        let mut whole = String::new();
        write_debug(&mut whole, &"fits", 40);
        assert_eq!(whole, "\"fits\"");
    }
}
