//! Steps whose end another thread reports. An asynchronous call (Java's
//! `HttpClient.sendAsync`) starts on the transaction's thread and completes
//! on a pool thread: its step is entered and exited on the transaction's
//! thread as usual, and a [`DeferredEnd`] shared with the completing thread
//! then carries the real end and outcome, which the collector reads when it
//! converts the transaction. A call still running then keeps the end its
//! step was exited with and is marked incomplete.
//!
//! At most [`MAX_OUTSTANDING`] ends are handed out and not yet completed, so
//! a caller that never completes them (a future that never finishes) cannot
//! grow memory without bound.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::clock;
use crate::model::ErrorInfo;

/// Most deferred ends outstanding (handed out, not completed) at once.
pub const MAX_OUTSTANDING: usize = 4096;

static OUTSTANDING: AtomicUsize = AtomicUsize::new(0);

/// The end of a step, written once by the thread that completes it.
#[derive(Debug)]
pub struct DeferredEnd {
    /// Clock ticks; 0 until completed.
    end: AtomicU64,
    /// An HTTP status, or 0.
    status: AtomicI64,
    error: Mutex<Option<ErrorInfo>>,
}

impl DeferredEnd {
    /// A fresh end counted as outstanding, or `None` at the limit.
    pub(crate) fn reserve() -> Option<Self> {
        let taken = OUTSTANDING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_OUTSTANDING).then_some(n + 1)
        });
        taken.ok().map(|_| Self {
            end: AtomicU64::new(0),
            status: AtomicI64::new(0),
            error: Mutex::new(None),
        })
    }

    /// How many ends are handed out and not yet completed.
    pub fn outstanding() -> usize {
        OUTSTANDING.load(Ordering::Relaxed)
    }

    /// Records the outcome, now: an HTTP `status` (0: none) and the error,
    /// if the call failed. Only the first call counts.
    pub fn complete(&self, status: i64, mut error: Option<ErrorInfo>) {
        if let Some(error) = &mut error {
            crate::capped::cap_error(error);
        }
        let mut slot = self.error.lock();
        if self.end.load(Ordering::Acquire) != 0 {
            return;
        }
        *slot = error;
        self.status.store(status, Ordering::Relaxed);
        self.end.store(clock::now().max(1), Ordering::Release);
        OUTSTANDING.fetch_sub(1, Ordering::AcqRel);
    }

    /// End ticks, status and error once completed.
    pub(crate) fn outcome(&self) -> Option<(u64, i64, Option<ErrorInfo>)> {
        let end = self.end.load(Ordering::Acquire);
        if end == 0 {
            return None;
        }
        let error = self.error.lock().clone();
        Some((end, self.status.load(Ordering::Relaxed), error))
    }
}
