//! The byte-bounded cache of decoded index parts shared by every sealed
//! segment: what bounds the memory of queries whatever the retention.
//!
//! quick_cache (CLOCK-Pro, sharded, weighted) rather than a hand-written
//! LRU: concurrent readers, one loader per missing key, and a weight per
//! entry so the budget is in bytes.

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

/// A segment's string table: sorted texts back to back, found by id in
/// O(1) and by text by binary search, with no allocation per string.
#[derive(Debug, Default)]
pub struct StringTab {
    blob: String,
    ends: Vec<u32>,
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

impl StringTab {
    /// The table of `blob` split at `ends`; an error unless the blob is
    /// UTF-8, the ends rise within it and fall on character boundaries.
    pub fn new(blob: Vec<u8>, ends: Vec<u32>) -> io::Result<Self> {
        let blob = String::from_utf8(blob).map_err(|_| corrupt("string table is not UTF-8"))?;
        let mut prev = 0usize;
        for &e in &ends {
            let e = e as usize;
            if e < prev || e > blob.len() || !blob.is_char_boundary(e) {
                return Err(corrupt("string table offsets out of order"));
            }
            prev = e;
        }
        Ok(Self { blob, ends })
    }

    fn text(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.blob[start..self.ends[i] as usize]
    }

    /// The text of id `id` (`None` for 0), an error for an id past the table.
    pub fn get(&self, id: u32) -> io::Result<Option<Arc<str>>> {
        if id == 0 {
            return Ok(None);
        }
        let i = id as usize - 1;
        if i >= self.ends.len() {
            return Err(corrupt("index names a string its table lacks"));
        }
        Ok(Some(Arc::from(self.text(i))))
    }

    /// The id of `text`, `None` when the segment never saw it.
    pub fn find(&self, text: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0, self.ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.text(mid).cmp(text) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32 + 1),
            }
        }
        None
    }

    fn bytes(&self) -> usize {
        self.blob.len() + self.ends.len() * 4
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
            Part::Strings(s) => s.bytes(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_table_answers_by_id_and_by_text_and_refuses_bad_offsets() {
        let texts = ["10.0.0.1", "GET /a", "shop", "ü-user"];
        let mut blob = Vec::new();
        let mut ends = Vec::new();
        for t in texts {
            blob.extend_from_slice(t.as_bytes());
            ends.push(blob.len() as u32);
        }
        let tab = StringTab::new(blob.clone(), ends.clone()).unwrap();
        for (i, t) in texts.iter().enumerate() {
            let id = i as u32 + 1;
            assert_eq!(tab.get(id).unwrap().as_deref(), Some(*t));
            assert_eq!(tab.find(t), Some(id));
        }
        assert_eq!(tab.get(0).unwrap(), None);
        assert!(tab.get(5).is_err(), "past the table");
        assert_eq!(tab.find("GET /b"), None);
        assert_eq!(tab.find(""), None);
        // Offsets that fall inside a character, go backwards or past the end.
        let inside = vec![ends[0], ends[1], ends[2], ends[2] + 1];
        assert!(StringTab::new(blob.clone(), inside).is_err());
        assert!(StringTab::new(blob.clone(), vec![5, 3]).is_err());
        assert!(StringTab::new(blob.clone(), vec![ends[3] + 1]).is_err());
        assert!(StringTab::new(vec![0xff], vec![1]).is_err(), "not UTF-8");
    }
}
