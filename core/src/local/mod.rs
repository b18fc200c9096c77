//! Thread-local recording: `!Send` state, no locks. The hot path lives here.

pub(crate) mod raw;
pub(crate) mod recorder;

pub use raw::RawName;
pub use recorder::{Handover, RecordError};
