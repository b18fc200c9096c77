//! The one panic boundary: every `extern "C"` body runs inside
//! [`ffi_boundary!`], so no unwind ever crosses into C.

use std::any::Any;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::time::Instant;

use crate::error::{osprey_result, set_last_error};

/// What an `extern "C"` function returns when its body panicked.
pub(crate) trait PanicValue {
    /// The value returned after a panic.
    fn after_panic() -> Self;
}

impl PanicValue for osprey_result {
    fn after_panic() -> Self {
        osprey_result::OSPREY_ERR_PANIC
    }
}

impl PanicValue for bool {
    fn after_panic() -> Self {
        false
    }
}

impl PanicValue for i32 {
    fn after_panic() -> Self {
        osprey_result::OSPREY_ERR_PANIC as i32
    }
}

impl PanicValue for i64 {
    fn after_panic() -> Self {
        0
    }
}

impl PanicValue for () {
    fn after_panic() -> Self {}
}

impl PanicValue for jni_sys::jobject {
    fn after_panic() -> Self {
        std::ptr::null_mut()
    }
}

impl PanicValue for *const std::ffi::c_char {
    fn after_panic() -> Self {
        osprey_result::OSPREY_ERR_PANIC.text().as_ptr()
    }
}

/// Runs `body`, turning a panic into [`PanicValue::after_panic`] and the
/// panic message into this thread's last error. `catch_unwind` costs
/// nothing on the path that does not panic.
#[inline(always)]
pub(crate) fn guard<T: PanicValue>(body: impl FnOnce() -> T) -> T {
    install_quiet_hook();
    match catch_unwind(AssertUnwindSafe(|| {
        #[cfg(any(debug_assertions, feature = "fault-inject"))]
        crate::fault::maybe_fail();
        body()
    })) {
        Ok(value) => value,
        Err(payload) => panicked(payload),
    }
}

#[cold]
#[inline(never)]
fn panicked<T: PanicValue>(payload: Box<dyn Any + Send>) -> T {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    // Dropping a payload whose destructor panics would unwind from here.
    std::mem::forget(payload);
    log_once_a_minute(&message);
    set_last_error(format!("internal error: {message}"));
    T::after_panic()
}

/// One line on stderr for the first caught panic of each minute, with how
/// many more were caught since the last line: a bug inside libosprey must
/// neither go unseen nor flood the application's log (`OSPREY_QUIET`
/// silences it, as it does Osprey's other diagnostics).
fn log_once_a_minute(message: &str) {
    if std::env::var_os("OSPREY_QUIET").is_some() {
        return;
    }
    static SINCE_LOGGED: AtomicU64 = AtomicU64::new(0);
    static LAST_SECOND: AtomicU64 = AtomicU64::new(0);
    let now = START.get_or_init(Instant::now).elapsed().as_secs() + 1;
    let more = SINCE_LOGGED.fetch_add(1, Ordering::Relaxed);
    let last = LAST_SECOND.load(Ordering::Relaxed);
    if (last == 0 || now >= last + 60)
        && LAST_SECOND
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        SINCE_LOGGED.store(0, Ordering::Relaxed);
        let earlier = if more > 0 {
            format!(" ({more} more since the last report)")
        } else {
            String::new()
        };
        let _ = writeln!(
            std::io::stderr().lock(),
            "osprey: internal error in libosprey, the call was skipped and the application \
             goes on: {message}{earlier}"
        );
    }
}

static START: OnceLock<Instant> = OnceLock::new();

/// Keeps Rust's default panic message (several lines, per panic) off the
/// application's stderr for panics inside libosprey: on its own threads
/// (`osprey-*`) and in its own code, which [`guard`] and the exporter
/// workers catch and report in one line each. Other panics go to the
/// previous hook. Installed by the first call through [`guard`] (after
/// that, checking costs one atomic load).
#[inline(always)]
pub(crate) fn install_quiet_hook() {
    if cfg!(test) {
        return;
    }
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_our_thread = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("osprey"));
            let in_our_code = info.location().is_some_and(|l| {
                l.file().starts_with("ffi/src/") || l.file().starts_with("core/src/")
            });
            if !(on_our_thread || in_our_code) {
                previous(info);
            }
        }));
    });
}

/// Wraps the body of an `extern "C"` function: `ffi_boundary!({ ... })`.
macro_rules! ffi_boundary {
    ($body:block) => {
        $crate::panic::guard(move || $body)
    };
}
pub(crate) use ffi_boundary;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::last_error_ptr;
    use std::ffi::{CStr, c_char};

    fn boom() -> osprey_result {
        ffi_boundary!({
            if std::hint::black_box(true) {
                panic!("kaboom {}", 42);
            }
            osprey_result::OSPREY_OK
        })
    }

    #[test]
    fn a_panic_becomes_err_panic_with_its_message() {
        assert_eq!(boom(), osprey_result::OSPREY_ERR_PANIC);
        // SAFETY: valid until the next failing call on this thread.
        let text = unsafe { CStr::from_ptr(last_error_ptr()) };
        assert_eq!(text.to_str().unwrap(), "internal error: kaboom 42");
    }

    #[test]
    fn a_panic_in_a_pointer_returning_body_gives_a_static_text() {
        let p: *const c_char = ffi_boundary!({ panic!("static str payload") });
        // SAFETY: after_panic returns a static C string.
        let text = unsafe { CStr::from_ptr(p) };
        assert_eq!(text, osprey_result::OSPREY_ERR_PANIC.text());
    }

    #[test]
    fn no_panic_passes_the_value_through() {
        let r = ffi_boundary!({ osprey_result::OSPREY_ERR_TIMEOUT });
        assert_eq!(r, osprey_result::OSPREY_ERR_TIMEOUT);
    }
}
