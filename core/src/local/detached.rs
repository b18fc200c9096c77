//! Transactions parked off their thread: a request whose work continues
//! asynchronously (a servlet's `startAsync`, a dispatch to another pool)
//! leaves its thread with the transaction still open, and the thread that
//! completes the request picks it up again.
//!
//! Parking and picking up happen once per asynchronous request, never per
//! step, so a mutex-guarded map is fine here. The map is bounded: past
//! [`MAX_DETACHED`] parked transactions, `detach` refuses and the caller
//! ends the transaction on the spot.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::raw::RawTransaction;
use super::recorder::{self, RecordError};

/// Parked transactions kept at most; a request left pending forever (a
/// lost async listener) can therefore hold only a bounded amount of memory.
pub const MAX_DETACHED: usize = 4096;

struct Parked {
    next_id: u64,
    by_id: HashMap<u64, Box<RawTransaction>>,
}

static PARKED: Mutex<Option<Parked>> = Mutex::new(None);

/// Why a transaction could not be parked or picked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetachError {
    /// This thread has no open transaction to park.
    NoTransaction,
    /// [`MAX_DETACHED`] transactions are parked already.
    Full,
    /// No parked transaction has this id (never issued, or picked up already).
    UnknownId,
}

impl std::fmt::Display for DetachError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoTransaction => f.write_str("this thread has no open transaction to detach"),
            Self::Full => write!(f, "{MAX_DETACHED} transactions are detached already"),
            Self::UnknownId => f.write_str(
                "no detached transaction has this id (never issued, or attached already)",
            ),
        }
    }
}

impl std::error::Error for DetachError {}

impl From<RecordError> for DetachError {
    fn from(_: RecordError) -> Self {
        Self::NoTransaction
    }
}

/// Takes this thread's open transaction off the thread and parks it;
/// returns its id (never 0). The thread is then free to begin another.
pub(crate) fn detach() -> Result<u64, DetachError> {
    // Without a transaction, no lock: a virtual thread's every unmount asks.
    if !recorder::is_active() {
        return Err(DetachError::NoTransaction);
    }
    let mut parked = PARKED.lock();
    let parked = parked.get_or_insert_with(|| Parked {
        next_id: 1,
        by_id: HashMap::new(),
    });
    if parked.by_id.len() >= MAX_DETACHED {
        return Err(DetachError::Full);
    }
    let txn = recorder::take_active().ok_or(DetachError::NoTransaction)?;
    Ok(park(parked, txn))
}

/// Makes the parked transaction `id` this thread's open transaction. A
/// transaction this thread had open is parked in its place and its id
/// returned (give it to `attach` again once done), else 0.
pub(crate) fn attach(id: u64) -> Result<u64, DetachError> {
    let mut parked = PARKED.lock();
    let parked = parked.as_mut().ok_or(DetachError::UnknownId)?;
    let txn = parked.by_id.remove(&id).ok_or(DetachError::UnknownId)?;
    // A swap, not a new entry: the cap does not apply.
    Ok(match recorder::replace_active(txn) {
        Some(previous) => park(parked, previous),
        None => 0,
    })
}

/// Parked transactions right now.
pub(crate) fn parked_count() -> usize {
    PARKED.lock().as_ref().map_or(0, |p| p.by_id.len())
}

fn park(parked: &mut Parked, txn: Box<RawTransaction>) -> u64 {
    let id = parked.next_id;
    parked.next_id += 1;
    parked.by_id.insert(id, txn);
    id
}
