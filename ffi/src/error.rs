//! Result codes, their texts, and the per-thread last-error message.

use std::cell::RefCell;
use std::ffi::{CString, c_char};

use osprey::{DetachError, InitError, RecordError};

/// Result of every fallible `osprey_*` function. The numeric values are
/// stable: new codes are only ever appended.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum osprey_result {
    /// Success.
    OSPREY_OK = 0,
    /// A required pointer argument was NULL.
    OSPREY_ERR_NULL = 1,
    /// A string argument was not valid UTF-8.
    OSPREY_ERR_UTF8 = 2,
    /// The configuration text was rejected (unknown key, bad value,
    /// malformed item, exporter that cannot be created); the last error
    /// names the key.
    OSPREY_ERR_CONFIG = 3,
    /// Osprey is not running: `osprey_init` was not called or
    /// `osprey_shutdown` already ran.
    OSPREY_ERR_NOT_RUNNING = 4,
    /// `osprey_init` was called while Osprey was already running.
    OSPREY_ERR_ALREADY_RUNNING = 5,
    /// This thread has no open transaction.
    OSPREY_ERR_NO_TRANSACTION = 6,
    /// This thread already has an open transaction.
    OSPREY_ERR_ALREADY_ACTIVE = 7,
    /// A flush or shutdown did not finish within its timeout.
    OSPREY_ERR_TIMEOUT = 8,
    /// An argument was out of range (an unknown kind, for example).
    OSPREY_ERR_INVALID = 9,
    /// Osprey panicked internally; the call had no effect or a partial one.
    /// Please report it.
    OSPREY_ERR_PANIC = 10,
    /// An output buffer was too small; nothing was written.
    OSPREY_ERR_BUFFER_TOO_SMALL = 11,
    /// An operating-system resource (a thread) could not be obtained.
    OSPREY_ERR_INTERNAL = 12,
    /// A bound was reached (too many detached transactions); nothing changed.
    OSPREY_ERR_LIMIT = 13,
    /// A bounded queue was full: the data (a metric sample set) was dropped
    /// and counted.
    OSPREY_ERR_QUEUE_FULL = 14,
}

use osprey_result::*;

impl osprey_result {
    /// Every code, in numeric order.
    pub(crate) const ALL: [osprey_result; 15] = [
        OSPREY_OK,
        OSPREY_ERR_NULL,
        OSPREY_ERR_UTF8,
        OSPREY_ERR_CONFIG,
        OSPREY_ERR_NOT_RUNNING,
        OSPREY_ERR_ALREADY_RUNNING,
        OSPREY_ERR_NO_TRANSACTION,
        OSPREY_ERR_ALREADY_ACTIVE,
        OSPREY_ERR_TIMEOUT,
        OSPREY_ERR_INVALID,
        OSPREY_ERR_PANIC,
        OSPREY_ERR_BUFFER_TOO_SMALL,
        OSPREY_ERR_INTERNAL,
        OSPREY_ERR_LIMIT,
        OSPREY_ERR_QUEUE_FULL,
    ];

    /// The code for a numeric value; `None` when no code has that value.
    pub fn from_raw(value: i64) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| *c as i64 == value)
    }

    /// A NUL-terminated, static description.
    pub fn text(self) -> &'static std::ffi::CStr {
        match self {
            OSPREY_OK => c"ok",
            OSPREY_ERR_NULL => c"a required pointer argument was NULL",
            OSPREY_ERR_UTF8 => c"a string argument was not valid UTF-8",
            OSPREY_ERR_CONFIG => c"the configuration was rejected",
            OSPREY_ERR_NOT_RUNNING => c"osprey is not running",
            OSPREY_ERR_ALREADY_RUNNING => c"osprey is already running",
            OSPREY_ERR_NO_TRANSACTION => c"this thread has no open transaction",
            OSPREY_ERR_ALREADY_ACTIVE => c"this thread already has an open transaction",
            OSPREY_ERR_TIMEOUT => c"timed out",
            OSPREY_ERR_INVALID => c"an argument was out of range",
            OSPREY_ERR_PANIC => c"internal error (panic)",
            OSPREY_ERR_BUFFER_TOO_SMALL => c"the output buffer is too small",
            OSPREY_ERR_INTERNAL => c"an operating-system resource could not be obtained",
            OSPREY_ERR_LIMIT => c"a limit was reached",
            OSPREY_ERR_QUEUE_FULL => c"a queue was full; the data was dropped and counted",
        }
    }
}

/// Text for values that are not a code.
pub(crate) const UNKNOWN_TEXT: &std::ffi::CStr = c"unknown result code";

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records `message` as this thread's last error and returns `code`, so
/// error paths read `return fail(CODE, ...)`.
#[cold]
pub(crate) fn fail(code: osprey_result, message: impl Into<String>) -> osprey_result {
    set_last_error(message.into());
    code
}

/// Replaces this thread's last-error text (interior NULs become spaces).
pub(crate) fn set_last_error(message: String) {
    let mut bytes = message.into_bytes();
    for b in &mut bytes {
        if *b == 0 {
            *b = b' ';
        }
    }
    let text = CString::new(bytes).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(text);
        }
    });
}

/// Pointer to this thread's last-error text; valid until the next failing
/// call on this thread. Empty (never NULL) when nothing failed yet.
pub(crate) fn last_error_ptr() -> *const c_char {
    // The CString's heap buffer does not move until `set_last_error`
    // replaces it on this same thread.
    LAST_ERROR
        .try_with(|slot| {
            slot.try_borrow()
                .ok()
                .and_then(|s| s.as_ref().map(|c| c.as_ptr()))
        })
        .ok()
        .flatten()
        .unwrap_or(c"".as_ptr())
}

/// The code for a recording error, recording its text.
pub(crate) fn record_error(e: RecordError) -> osprey_result {
    let code = match e {
        RecordError::NotRunning => OSPREY_ERR_NOT_RUNNING,
        RecordError::AlreadyActive => OSPREY_ERR_ALREADY_ACTIVE,
        RecordError::NoTransaction => OSPREY_ERR_NO_TRANSACTION,
    };
    fail(code, e.to_string())
}

/// The code for a detach/attach error, recording its text.
pub(crate) fn detach_error(e: DetachError) -> osprey_result {
    let code = match e {
        DetachError::NoTransaction => OSPREY_ERR_NO_TRANSACTION,
        DetachError::Full => OSPREY_ERR_LIMIT,
        DetachError::UnknownId => OSPREY_ERR_INVALID,
    };
    fail(code, e.to_string())
}

/// The code for a refused metric definition or sample set, recording its
/// text.
pub(crate) fn metrics_error(e: osprey::metrics::MetricsError) -> osprey_result {
    use osprey::metrics::MetricsError;
    let code = match e {
        MetricsError::NotRunning => OSPREY_ERR_NOT_RUNNING,
        MetricsError::QueueFull => OSPREY_ERR_QUEUE_FULL,
        MetricsError::TooManySeries | MetricsError::Invalid(_) => OSPREY_ERR_INVALID,
    };
    fail(code, e.to_string())
}

/// The code for a start-up error, recording its text.
pub(crate) fn init_error(e: InitError) -> osprey_result {
    let code = match &e {
        InitError::AlreadyRunning => OSPREY_ERR_ALREADY_RUNNING,
        InitError::Config(_) => OSPREY_ERR_CONFIG,
        InitError::Spawn(_) => OSPREY_ERR_INTERNAL,
    };
    fail(code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn codes_are_stable_and_have_distinct_texts() {
        for (i, code) in osprey_result::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code:?} moved");
            assert_eq!(osprey_result::from_raw(i as i64), Some(*code));
        }
        let mut texts: Vec<_> = osprey_result::ALL.iter().map(|c| c.text()).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), osprey_result::ALL.len());
        assert_eq!(osprey_result::from_raw(-1), None);
        assert_eq!(
            osprey_result::from_raw(osprey_result::ALL.len() as i64),
            None
        );
    }

    #[test]
    fn last_error_is_per_thread_and_survives_success() {
        assert_eq!(fail(OSPREY_ERR_INVALID, "bad\0kind"), OSPREY_ERR_INVALID);
        // SAFETY: the pointer is valid until the next failure on this thread.
        let text = unsafe { CStr::from_ptr(last_error_ptr()) };
        assert_eq!(text.to_str().unwrap(), "bad kind");
        std::thread::spawn(|| {
            // SAFETY: as above.
            let other = unsafe { CStr::from_ptr(last_error_ptr()) };
            assert_eq!(other.to_bytes(), b"");
        })
        .join()
        .unwrap();
    }
}
