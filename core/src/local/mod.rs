//! Thread-local recording: `!Send` state, no locks. The hot path lives here.

pub(crate) mod deferred;
pub(crate) mod detached;
pub(crate) mod fork;
pub(crate) mod raw;
pub(crate) mod recorder;
pub(crate) mod shared;
pub(crate) mod stash;

pub use deferred::{DeferredEnd, MAX_OUTSTANDING};
pub use detached::{DetachError, MAX_DETACHED};
pub use fork::{Fork, MAX_FORKS};
pub use raw::RawName;
pub use recorder::{Handover, RecordError};
