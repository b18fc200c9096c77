//! The one panic boundary: every `extern "C"` body runs inside
//! [`ffi_boundary!`], so no unwind ever crosses into C.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

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
    match catch_unwind(AssertUnwindSafe(body)) {
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
    set_last_error(format!("internal error: {message}"));
    T::after_panic()
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
