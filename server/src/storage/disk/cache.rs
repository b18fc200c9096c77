//! The byte-bounded cache of decoded index parts shared by every sealed
//! segment: what bounds the memory of queries whatever the retention.
//!
//! quick_cache (CLOCK-Pro, sharded, weighted) rather than a hand-written
//! LRU: concurrent readers, one loader per missing key, and a weight per
//! entry so the budget is in bytes.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use super::agg::{EdgeRow, SecondAgg};
use super::sealed::RowRec;
use crate::record::MetricPoint;
use crate::storage::ActiveReport;

/// A segment's part: which segment, which part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartKey {
    /// Segment sequence number.
    pub segment: u64,
    /// Part id within the segment.
    pub part: u32,
}

/// A segment's string table, by id and by text.
#[derive(Debug, Default)]
pub struct StringTab {
    /// Id `n` is `list[n - 1]`.
    pub list: Vec<Arc<str>>,
    /// Text → id.
    pub ids: HashMap<Arc<str>, u32>,
}

impl StringTab {
    /// The table of `list`.
    pub fn new(list: Vec<Arc<str>>) -> Self {
        let ids = list
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32 + 1))
            .collect();
        Self { list, ids }
    }

    /// The text of id `id` (`None` for 0), an error for an id past the table.
    pub fn get(&self, id: u32) -> io::Result<Option<Arc<str>>> {
        if id == 0 {
            return Ok(None);
        }
        self.list
            .get(id as usize - 1)
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "index names a string its table lacks",
                )
            })
    }
}

/// A decoded part.
#[derive(Clone, Debug)]
pub enum Part {
    /// The string table.
    Strings(Arc<StringTab>),
    /// A row block.
    Rows(Arc<Vec<RowRec>>),
    /// Per-second aggregates.
    Aggs(Arc<Vec<SecondAgg>>),
    /// Edges per second.
    Edges(Arc<Vec<EdgeRow>>),
    /// Metric points.
    Metrics(Arc<Vec<MetricPoint>>),
    /// Active-services reports.
    Active(Arc<Vec<ActiveReport>>),
}

impl Part {
    /// Approximate bytes held (what the budget counts).
    fn weight(&self) -> u64 {
        let w = match self {
            Part::Strings(s) => s.list.iter().map(|x| x.len() + 56).sum::<usize>(),
            Part::Rows(r) => r.len() * (std::mem::size_of::<RowRec>() + 16),
            Part::Aggs(a) => a.len() * 400,
            Part::Edges(e) => e.len() * 200,
            Part::Metrics(m) => m
                .iter()
                .map(|p| 96 + p.service.len() + p.name.len() + p.unit.len() + p.attributes.len())
                .sum(),
            Part::Active(a) => a.iter().map(|r| 64 + r.transactions.len() * 160).sum(),
        };
        w as u64 + 64
    }
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<PartKey, Part> for ByBytes {
    fn weight(&self, _: &PartKey, part: &Part) -> u64 {
        part.weight()
    }
}

/// Decoded parts of sealed segments, at most `budget` bytes of them.
pub struct PartCache {
    cache: quick_cache::sync::Cache<PartKey, Part, ByBytes>,
    budget: u64,
}

impl PartCache {
    /// A cache holding at most `budget_bytes` of decoded parts.
    pub fn new(budget_bytes: u64) -> Self {
        let budget = budget_bytes.max(1 << 20);
        Self {
            cache: quick_cache::sync::Cache::with_weighter(
                (budget / 100_000).max(64) as usize,
                budget,
                ByBytes,
            ),
            budget,
        }
    }

    /// The part at `key`, loaded by `load` when missing.
    pub fn get_or_load(
        &self,
        key: PartKey,
        load: impl FnOnce() -> io::Result<Part>,
    ) -> io::Result<Part> {
        self.cache.get_or_insert_with(&key, load)
    }

    /// Forgets every part of `segment` (deleted by retention).
    pub fn forget(&self, segment: u64) {
        self.cache.retain(|k, _| k.segment != segment);
    }

    /// Bytes held now, and the budget.
    pub fn usage(&self) -> (u64, u64) {
        (self.cache.weight(), self.budget)
    }
}
