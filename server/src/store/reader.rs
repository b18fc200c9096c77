//! Reads segment files through the core's segment log: a full scan at
//! start-up and single records by position for call trees. Damage is
//! reported, never fatal.

use std::path::Path;

use osprey::seglog;
use serde::Serialize;

use super::FORMAT;

pub use osprey::seglog::{Frame as ReadFrame, read_frame_at};

/// A damaged part of a segment, as shown by `/api/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Segment file name.
    pub segment: String,
    /// Byte offset of the damage.
    pub offset: u64,
    /// What was wrong and what was skipped.
    pub problem: String,
}

/// Reads every intact frame of `path` in order, calling `each` for it.
/// Returns the issues met: a bad header skips the file, a checksum
/// mismatch skips one record, a torn tail or impossible length ends the
/// scan of that file.
pub fn scan_segment(path: &Path, each: impl FnMut(ReadFrame)) -> Vec<Issue> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    seglog::scan_segment(&FORMAT, path, each)
        .into_iter()
        .map(|i| Issue {
            segment: name.clone(),
            offset: i.offset,
            problem: i.problem.to_string(),
        })
        .collect()
}
